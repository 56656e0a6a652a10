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
    # set when a plugin's code raised: who, which version, and the plugin's own innermost frame
    plugin: str | None = None
    plugin_version: str | None = None
    source_file: str | None = None
    source_line: int | None = None
    source_sha256: str | None = None   # the plugin file's content when it failed: the feedback loop only
                                       # rewrites a file that is still what the error came from

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


def plugin_frame(exc: BaseException, plugin_root: str | None = None) -> tuple[str, int] | None:
    """(file, line) of the innermost traceback frame in the plugin's own code: under ``plugin_root`` when
    given, else the innermost frame outside imgengine (and outside the standard library)."""
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    if plugin_root:
        root = os.path.abspath(plugin_root)
        mine = [f for f in frames if os.path.abspath(f.filename).startswith(root)]
    else:
        stdlib = os.path.dirname(os.__file__)
        mine = [f for f in frames if not f.filename.startswith(_PKG_DIR) and not f.filename.startswith(stdlib)]
    if not mine:
        return None
    return mine[-1].filename, mine[-1].lineno or 0


def error_record(run_id: str, file: str, stage: str, exc: BaseException, *, plugin: str | None = None,
                 plugin_version: str | None = None, plugin_root: str | None = None) -> ErrorRecord:
    """One error, ready for errors.jsonl. With ``plugin`` (a third-party analyzer failed) the record
    names the plugin and its own source line, and the fingerprint is built from that line (and the
    plugin's name), so one plugin bug groups as one however many photos hit it."""
    message = str(exc) or type(exc).__name__
    source = _source_of(exc)
    etype = type(exc).__name__
    source_file = source_line = None
    fp_source = source
    if plugin is not None:
        frame = plugin_frame(exc, plugin_root)
        if frame is not None:
            source_file, source_line = frame
            rel = os.path.relpath(source_file, os.path.dirname(os.path.abspath(plugin_root))) if plugin_root \
                else os.path.basename(source_file)
            # built-in plugins keep the fingerprint of the innermost imgengine frame (stable across releases)
            fp_source = source if source_file.startswith(_PKG_DIR) else f"{plugin}:{rel}:{source_line}"
        else:
            fp_source = f"{plugin}:{source}"
    # the source line of a raise differs by message for our own errors; the type+stage+line is stable
    return ErrorRecord(
        run_id=run_id, time=dt.datetime.now().astimezone().isoformat(timespec="seconds"), file=file,
        stage=stage, exception_type=etype, message=message.splitlines()[0] if message else etype,
        traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        source=source, fingerprint=fingerprint(etype, stage, fp_source, message),
        plugin=plugin, plugin_version=plugin_version, source_file=source_file, source_line=source_line,
        source_sha256=_file_sha256(source_file) if source_file else None,
    )


_TB_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)', re.M)


def plugin_load_record(run_id: str, plugin: str, origin: str, traceback_text: str,
                       version: str | None = None) -> ErrorRecord:
    """A plugin that failed to import, as an errors.jsonl record (stage ``plugin-load``; ``file`` is the
    plugin's path), naming the innermost line of the plugin's own code, so that the feedback loop sees
    a missing dependency like any other plugin bug."""
    last = traceback_text.strip().splitlines()[-1] if traceback_text.strip() else "ImportError"
    head, _, message = last.partition(": ")
    etype = head.rsplit(".", 1)[-1] or "ImportError"
    root = os.path.abspath(origin)
    frames = [(m["file"], int(m["line"])) for m in _TB_FRAME.finditer(traceback_text)
              if os.path.abspath(m["file"]).startswith(root)]
    source_file, source_line = frames[-1] if frames else (None, None)
    source = f"{plugin}:{os.path.basename(source_file)}:{source_line}" if source_file else f"{plugin}:?"
    return ErrorRecord(
        run_id=run_id, time=dt.datetime.now().astimezone().isoformat(timespec="seconds"), file=origin,
        stage="plugin-load", exception_type=etype, message=message or etype, traceback=traceback_text,
        source=source, fingerprint=fingerprint(etype, "plugin-load", source, message),
        plugin=plugin, plugin_version=version, source_file=source_file, source_line=source_line,
        source_sha256=_file_sha256(source_file) if source_file else None,
    )


def _file_sha256(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except OSError:
        return None


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
