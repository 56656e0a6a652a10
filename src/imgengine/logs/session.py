"""Structured session logging.

Every run writes ``<log_dir>/<run_id>.log`` (human), ``<run_id>.json`` (JSON lines, one event per line)
and ``<run_id>_summary.json``, and appends each error to the persistent ``<log_dir>/errors.jsonl``
that the feedback loop reads. An error record carries a *fingerprint*: a stable hash of the exception
type, the stage and the source location where it was raised, with volatile parts of the message
(numbers, paths, quoted names) removed, so that the same bug in a thousand files groups as one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..core.photo import escape_control

_PKG_DIR = str(Path(__file__).resolve().parent.parent)


def new_run_id(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now()
    return now.strftime("%Y%m%d_%H%M%S")


@dataclass
class ErrorRecord:
    run_id: str
    time: str
    file: str
    stage: str
    exception_type: str
    message: str
    traceback: str
    source: str          # "imgengine/analyzers/content.py:42" (innermost frame in our code) or last frame
    fingerprint: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_VOLATILE = [
    (re.compile(r"'[^']*'|\"[^\"]*\""), "'…'"),
    (re.compile(r"(/[^\s:]+)+"), "<path>"),
    (re.compile(r"0x[0-9a-fA-F]+"), "<hex>"),
    (re.compile(r"\d+"), "<n>"),
]


def normalise_message(message: str) -> str:
    first = message.splitlines()[0] if message else ""
    for pattern, repl in _VOLATILE:
        first = pattern.sub(repl, first)
    return first[:200]


def fingerprint(exc_type: str, stage: str, source: str, message: str) -> str:
    text = "|".join([exc_type, stage, source, normalise_message(message)])
    return hashlib.sha1(text.encode("utf-8", "backslashreplace")).hexdigest()[:16]


def _source_of(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    ours = [f for f in frames if f.filename.startswith(_PKG_DIR)]
    frame = (ours or frames or [None])[-1]
    if frame is None:
        return "?"
    fn = frame.filename
    if fn.startswith(_PKG_DIR):
        fn = "imgengine/" + os.path.relpath(fn, _PKG_DIR)
    return f"{fn}:{frame.lineno}"


def error_record(run_id: str, file: str, stage: str, exc: BaseException) -> ErrorRecord:
    message = str(exc) or type(exc).__name__
    source = _source_of(exc)
    etype = type(exc).__name__
    # the source line of a raise differs by message for our own errors; the type+stage+line is stable
    return ErrorRecord(
        run_id=run_id, time=dt.datetime.now().astimezone().isoformat(timespec="seconds"), file=file,
        stage=stage, exception_type=etype, message=message.splitlines()[0] if message else etype,
        traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        source=source, fingerprint=fingerprint(etype, stage, source, message),
    )


class RunLogger:
    """Writes one run's logs. Cheap to call per file; files are line-buffered."""

    def __init__(self, log_dir: Path, run_id: str | None = None, command: str = "analyze"):
        self.log_dir = Path(log_dir)
        self.run_id = run_id or new_run_id()
        self.command = command
        self.errors = 0
        self.write_failed: str | None = None   # the first write error (a full disk): the CLI warns once
        try:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            base = self.log_dir / self.run_id
            suffix = 1
            while base.with_suffix(".log").exists():  # two runs in the same second
                suffix += 1
                base = self.log_dir / f"{self.run_id}_{suffix}"
            self.run_id = base.name
            self._human = open(base.with_suffix(".log"), "a", encoding="utf-8", buffering=1)
            self._json = open(base.with_suffix(".json"), "a", encoding="utf-8", buffering=1)
            self._errors = open(self.log_dir / "errors.jsonl", "a", encoding="utf-8", buffering=1)
            self.summary_path = self.log_dir / f"{self.run_id}_summary.json"
            self.enabled = True
        except OSError:
            # logging must never stop the work; the CLI warns once
            self.enabled = False
            self.summary_path = None

    def event(self, level: str, message: str, **fields: Any) -> None:
        if not self.enabled:
            return
        now = dt.datetime.now().astimezone()
        try:
            # one event, one line: a file name holding a newline cannot forge a line of the log
            self._human.write(f"{now:%Y-%m-%d %H:%M:%S} {level.upper():7} {escape_control(message)}\n")
            self._json.write(json.dumps({"time": now.isoformat(timespec="milliseconds"), "level": level,
                                         "run_id": self.run_id, "message": message, **fields},
                                        ensure_ascii=False, default=str) + "\n")
        except OSError as exc:
            self._failed(exc)

    def info(self, message: str, **fields: Any) -> None:
        self.event("info", message, **fields)

    def warning(self, message: str, **fields: Any) -> None:
        self.event("warning", message, **fields)

    def error(self, record: ErrorRecord) -> None:
        self.errors += 1
        self.event("error", f"{record.file}: [{record.stage}] {record.exception_type}: {record.message}",
                   file=record.file, stage=record.stage, fingerprint=record.fingerprint)
        if self.enabled:
            try:
                self._errors.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
            except OSError as exc:
                self._failed(exc)

    def write_summary(self, summary: dict[str, Any]) -> None:
        if not self.enabled:
            return
        tmp = self.summary_path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps({"run_id": self.run_id, "command": self.command, **summary},
                                      indent=2, ensure_ascii=False, default=str), encoding="utf-8")
            os.replace(tmp, self.summary_path)
        except OSError as exc:
            self._failed(exc)
            try:
                tmp.unlink()
            except OSError:
                pass

    def _failed(self, exc: OSError) -> None:
        if self.write_failed is None:
            self.write_failed = exc.strerror or str(exc)

    def close(self) -> None:
        if self.enabled:
            for fh in (self._human, self._json, self._errors):
                try:
                    fh.close()
                except OSError as exc:  # the last buffered line could not be written
                    self._failed(exc)
            self.enabled = False
