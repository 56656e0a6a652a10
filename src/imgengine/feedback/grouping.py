"""Group error records by a stable fingerprint: the same bug in a thousand photos is one group.

The fingerprint is the record's own when it names the plugin's source line (plugin platform records);
otherwise it is recomputed from the exception type, the stage, the innermost user frame parsed from the
traceback and the normalised message, so that older records of a plugin's bug still group by *its* line
rather than by the engine line that called the plugin.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..logs.session import fingerprint as make_fingerprint
from ..logs.session import normalise_message
from .records import innermost_user_frame, parse_time


@dataclass
class ErrorGroup:
    fingerprint: str
    exception_type: str
    stage: str
    message: str                      # the latest record's message (one line)
    normalised: str                   # the message with paths, numbers and quoted names removed
    plugin: str | None = None
    plugin_version: str | None = None
    source_file: str | None = None    # the failing line in user code (absolute path), when known
    source_line: int | None = None
    source_sha256: str | None = None  # the source file's hash when the error was logged, when recorded
    count: int = 0
    files: list[str] = field(default_factory=list)          # distinct photos, first seen first
    runs: dict[str, int] = field(default_factory=dict)      # run id -> errors in that run (ordered)
    first_seen: str | None = None
    last_seen: str | None = None
    traceback: str = ""
    raw_messages: list[str] = field(default_factory=list)   # up to 5 distinct raw messages
    last_offset: int = -1             # where its latest record starts in errors.jsonl

    @property
    def trend(self) -> str:
        """How the last run compares with the one before: new, rising, falling, steady."""
        counts = list(self.runs.values())
        if len(counts) < 2:
            return "new"
        last, before = counts[-1], counts[-2]
        return "rising" if last > before else "falling" if last < before else "steady"

    def last_seen_time(self) -> dt.datetime | None:
        return parse_time(self.last_seen)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint, "exception_type": self.exception_type, "stage": self.stage,
            "message": self.message, "normalised_message": self.normalised, "plugin": self.plugin,
            "plugin_version": self.plugin_version, "source_file": self.source_file,
            "source_line": self.source_line, "count": self.count, "files_affected": len(self.files),
            "files": self.files[:50], "runs": self.runs, "trend": self.trend, "first_seen": self.first_seen,
            "last_seen": self.last_seen, "traceback": self.traceback,
        }


def _location(rec: dict[str, Any]) -> tuple[str | None, int | None]:
    src, line = rec.get("source_file"), rec.get("source_line")
    if src and line:
        try:
            return str(src), int(line)
        except (TypeError, ValueError):
            pass
    frame = innermost_user_frame(rec.get("traceback", ""))
    if frame is not None:
        return frame.file, frame.line
    return None, None


def _key(rec: dict[str, Any], src: str | None, line: int | None) -> str:
    if rec.get("source_file") or src is None:
        return str(rec.get("fingerprint"))
    # an older record names imgengine's own calling line: fingerprint the user's line instead
    return make_fingerprint(str(rec.get("exception_type")), str(rec.get("stage")), f"{src}:{line}",
                            _original_message(rec))


def _original_message(rec: dict[str, Any]) -> str:
    """The exception's own message: the last line of the traceback (the record's message may carry the
    photo's name in front)."""
    lines = [ln for ln in (rec.get("traceback") or "").strip().splitlines() if ln.strip()]
    if lines:
        last = lines[-1]
        etype = str(rec.get("exception_type") or "")
        head, sep, rest = last.partition(": ")
        if sep and head.rsplit(".", 1)[-1] == etype:
            return rest
        if last.strip().rsplit(".", 1)[-1] == etype:
            return ""
    return str(rec.get("message") or "")


def group_key(rec: dict[str, Any]) -> str:
    """The fingerprint a record groups under (see the module docstring)."""
    src, line = _location(rec)
    return _key(rec, src, line)


def group_errors(records: Iterable[dict[str, Any]]) -> list[ErrorGroup]:
    """Groups, most frequent first."""
    groups: dict[str, ErrorGroup] = {}
    seen_files: dict[str, set[str]] = {}
    for rec in records:
        src, line = _location(rec)
        key = _key(rec, src, line)
        g = groups.get(key)
        message = _original_message(rec)
        if g is None:
            g = groups[key] = ErrorGroup(
                fingerprint=key, exception_type=str(rec.get("exception_type") or "?"),
                stage=str(rec.get("stage") or "?"), message=message, normalised=normalise_message(message),
                first_seen=rec.get("time"))
            seen_files[key] = set()
        g.count += 1
        g.last_offset = max(g.last_offset, int(rec.get("_offset", -1)))
        g.message = message
        g.traceback = rec.get("traceback") or g.traceback
        g.last_seen = rec.get("time") or g.last_seen
        g.plugin = rec.get("plugin") or g.plugin
        g.plugin_version = rec.get("plugin_version") or g.plugin_version
        g.source_file, g.source_line = (os.path.abspath(src) if src else None), line
        g.source_sha256 = rec.get("source_sha256") or g.source_sha256
        run = str(rec.get("run_id") or "?")
        g.runs[run] = g.runs.get(run, 0) + 1
        f = rec.get("file")
        if f and f not in seen_files[key]:
            seen_files[key].add(f)
            g.files.append(f)
        if message not in g.raw_messages and len(g.raw_messages) < 5:
            g.raw_messages.append(message)
    return sorted(groups.values(), key=lambda g: (-g.count, g.first_seen or ""))


def photo_path(shown: str) -> Path:
    """The real path of a photo from its display form (undecodable bytes are written as \\xNN)."""
    if os.path.lexists(shown) or "\\x" not in shown:
        return Path(shown)
    raw = shown.encode("utf-8").decode("unicode_escape").encode("latin-1", "surrogateescape")
    try:
        return Path(os.fsdecode(raw))
    except (UnicodeError, ValueError):
        return Path(shown)
