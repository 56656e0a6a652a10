"""The per-user run index: every file-changing run, wherever its journal lives, so that `imgengine undo`
and `imgengine history` work from any folder.

The journal itself stays beside the files (``<folder>/.imgengine/journal``), travelling with the drive;
the index (``$XDG_STATE_HOME/imgengine/runs.sqlite``, see ``workspace``) only points at it, with the
command line, the time and the counts. Losing or being unable to write the index never stops a run: the
journals stay the truth and ``--dir``/``--here`` still find them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..workspace import run_index_path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    state_dir TEXT NOT NULL,
    run_id TEXT NOT NULL,
    command TEXT,
    argv TEXT,
    cwd TEXT,
    started_at REAL,
    finished_at REAL,
    status TEXT,
    counts TEXT,
    PRIMARY KEY (state_dir, run_id)
);
CREATE INDEX IF NOT EXISTS runs_started ON runs(started_at);
"""


@dataclass(frozen=True)
class IndexedRun:
    state_dir: Path
    run_id: str
    command: str
    argv: list[str]
    cwd: str | None
    started_at: float
    finished_at: float | None
    status: str
    counts: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"state_dir": str(self.state_dir), "run_id": self.run_id, "command": self.command,
                "argv": self.argv, "cwd": self.cwd, "started_at": self.started_at,
                "finished_at": self.finished_at, "status": self.status, "counts": self.counts}


@contextmanager
def _open(path: Path | None = None, create: bool = True) -> Iterator[sqlite3.Connection | None]:
    path = Path(path) if path is not None else run_index_path()
    if not create and not path.is_file():
        yield None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=10)
    try:
        db.executescript(_SCHEMA)
        with db:
            yield db
    finally:
        db.close()


def register(state_dir: Path, run_id: str, command: str, started_at: float | None = None,
             argv: list[str] | None = None, path: Path | None = None) -> bool:
    """Add a run as it starts. Returns False (and changes nothing) when the index cannot be written."""
    try:
        with _open(path) as db:
            db.execute("INSERT OR REPLACE INTO runs (state_dir, run_id, command, argv, cwd, started_at, status) "
                       "VALUES (?,?,?,?,?,?, 'running')",
                       (os.path.abspath(state_dir), run_id, command,
                        json.dumps(list(sys.argv if argv is None else argv)), _cwd(),
                        time.time() if started_at is None else started_at))
        return True
    except (OSError, sqlite3.Error):
        return False


def finish(state_dir: Path, run_id: str, status: str, counts: dict[str, Any] | None = None,
           path: Path | None = None) -> bool:
    try:
        with _open(path, create=False) as db:
            if db is None:
                return False
            db.execute("UPDATE runs SET finished_at = ?, status = ?, counts = ? WHERE state_dir = ? AND run_id = ?",
                       (time.time(), status, json.dumps(counts or {}), os.path.abspath(state_dir), run_id))
        return True
    except (OSError, sqlite3.Error):
        return False


def runs(path: Path | None = None, under: Path | None = None) -> list[IndexedRun]:
    """Every indexed run, oldest first (only those whose state folder is ``under`` or below it)."""
    try:
        with _open(path, create=False) as db:
            if db is None:
                return []
            rows = db.execute("SELECT state_dir, run_id, command, argv, cwd, started_at, finished_at, status, "
                              "counts FROM runs ORDER BY started_at, run_id").fetchall()
    except (OSError, sqlite3.Error):
        return []
    out = []
    prefix = os.path.abspath(under).rstrip(os.sep) + os.sep if under is not None else None
    for state_dir, run_id, command, argv, cwd, started, finished, status, counts in rows:
        if prefix is not None and not (state_dir + os.sep).startswith(prefix):
            continue
        out.append(IndexedRun(Path(state_dir), run_id, command or "?", json.loads(argv or "[]"), cwd,
                              started or 0.0, finished, status or "?", json.loads(counts or "{}")))
    return out


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:
        return None


__all__ = ["IndexedRun", "finish", "register", "runs"]
