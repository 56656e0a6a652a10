"""The journal's trash: what "deleted" duplicates still occupy, and emptying it for real.

``duplicates --delete`` (and ``--hardlink``, for the replaced copies' own bytes) moves files into
``<state>/trash/<run-id>/``; ``undo`` brings them back. Those bytes are *not* freed until the trash is
emptied: ``imgengine trash empty [--older-than 30d]`` deletes the runs' trash folders (all, or those of
runs older than the age), and records what it deleted as a run of its own in the journal (command
``trash empty``, with every run id, file count and byte count), so ``history`` shows it. Emptying cannot
be undone: the runs whose trash went can no longer be undone either, and ``undo`` says so per file.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..journal import Journal, history, purge_trash


@dataclass
class TrashRun:
    run_id: str
    files: int
    bytes: int
    trashed_at: float            # when the run that filled it started (else the folder's time)
    command: str | None = None


@dataclass
class EmptyReport:
    run_id: str | None           # the journal run that records the emptying (None: nothing to empty)
    emptied: list[TrashRun] = field(default_factory=list)
    kept: list[TrashRun] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def bytes_freed(self) -> int:
        return sum(t.bytes for t in self.emptied)

    @property
    def files_deleted(self) -> int:
        return sum(t.files for t in self.emptied)

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "files_deleted": self.files_deleted, "bytes_freed": self.bytes_freed,
                "emptied": [t.__dict__ for t in self.emptied], "kept": [t.__dict__ for t in self.kept],
                "problems": self.problems}


def parse_age(text: str) -> float:
    """'30d', '12h', '45m', '2w' or a plain number of days -> seconds. ValueError on anything else."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text or "")
    if not m:
        raise ValueError(f"{text!r}: use a number with s, m, h, d or w (e.g. 30d)")
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "": 86400}[m.group(2)]
    return float(m.group(1)) * unit


def trash_contents(state_dir: Path) -> list[TrashRun]:
    """Every run's trash folder with its file count and bytes (hard links to files elsewhere count 0:
    deleting them frees nothing)."""
    root = Path(state_dir) / "trash"
    if not root.is_dir():
        return []
    runs = {r.run_id: r for r in history(Path(state_dir))}
    out = []
    for entry in sorted(root.iterdir()):
        if not entry.is_dir():
            continue
        files = size = 0
        for folder, _dirs, names in os.walk(entry):
            for name in names:
                try:
                    st = os.lstat(os.path.join(folder, name))
                except OSError:
                    continue
                files += 1
                size += st.st_size if st.st_nlink <= 1 else 0
        info = runs.get(entry.name)
        when = info.started_at if info is not None else entry.stat().st_mtime
        out.append(TrashRun(entry.name, files, size, when, info.command if info else None))
    return out


def empty_trash(state_dir: Path, older_than: float | None = None, now: float | None = None,
                dry_run: bool = False) -> EmptyReport:
    """Delete the trash of every run (or of runs started more than ``older_than`` seconds ago), and
    record it in the journal. With ``dry_run`` nothing is deleted or recorded."""
    now = time.time() if now is None else now
    runs = trash_contents(state_dir)
    chosen = [t for t in runs if older_than is None or now - t.trashed_at >= older_than]
    report = EmptyReport(None, kept=[t for t in runs if t not in chosen])
    if not chosen or dry_run:
        report.emptied = chosen
        return report
    journal = Journal.begin(Path(state_dir), "trash empty", {
        "older_than_s": older_than, "runs": [t.run_id for t in chosen],
        "files": sum(t.files for t in chosen), "bytes": sum(t.bytes for t in chosen)})
    with journal:
        for t in chosen:
            try:
                purge_trash(Path(state_dir), t.run_id)
                report.emptied.append(t)
            except OSError as exc:
                report.problems.append(f"trash of run {t.run_id}: {exc.strerror or exc}")
    report.run_id = journal.run_id
    return report
