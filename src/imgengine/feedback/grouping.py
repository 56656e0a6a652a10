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


class _Keyer:
    """Per-call memo: records of one bug share their traceback text, so each distinct traceback is parsed
    once (and each file name resolved once)."""

    def __init__(self) -> None:
        self.known: dict[str, bool] = {}
        self.by_traceback: dict[tuple[str, str, str, str], tuple[str | None, int | None, str, str]] = {}

    def __call__(self, rec: dict[str, Any]) -> tuple[str | None, int | None, str, str]:
        """(source file, line, the exception's own message, group key) of one record."""
        tb = rec.get("traceback") or ""
        etype, stage = str(rec.get("exception_type") or ""), str(rec.get("stage") or "")
        plugin_src, plugin_line = rec.get("source_file"), rec.get("source_line")
        memo = (tb, etype, stage, str(rec.get("fingerprint")) if plugin_src else "")
        hit = self.by_traceback.get(memo) if tb else None
        if hit is not None and (not plugin_src or (hit[0] == str(plugin_src) and hit[1] == plugin_line)):
            return hit
        message = _original_message(tb, etype, str(rec.get("message") or ""))
        src, line = None, None
        if plugin_src and plugin_line:
            try:
                src, line = str(plugin_src), int(plugin_line)
            except (TypeError, ValueError):
                src = None
        if src is None:
            frame = innermost_user_frame(tb, self.known)
            if frame is not None:
                src, line = frame.file, frame.line
        if plugin_src or src is None:
            key = str(rec.get("fingerprint"))
        else:
            # an older record names imgengine's own calling line: fingerprint the user's line instead
            key = make_fingerprint(etype, stage, f"{src}:{line}", message)
        out = (src, line, message, key)
        if tb and len(self.by_traceback) < 100_000:
            self.by_traceback[memo] = out
        return out


def _original_message(tb: str, etype: str, fallback: str) -> str:
    """The exception's own message: the last line of the traceback (the record's message may carry the
    photo's name in front)."""
    last = tb.rstrip().rsplit("\n", 1)[-1] if tb.strip() else ""
    if last:
        head, sep, rest = last.partition(": ")
        if sep and head.rsplit(".", 1)[-1] == etype:
            return rest
        if last.strip().rsplit(".", 1)[-1] == etype:
            return ""
    return fallback


def group_key(rec: dict[str, Any], keyer: _Keyer | None = None) -> str:
    """The fingerprint a record groups under (see the module docstring); pass one ``keyer`` for many."""
    return (keyer or _Keyer())(rec)[3]


def keyer() -> _Keyer:
    return _Keyer()


def group_errors(records: Iterable[dict[str, Any]]) -> list[ErrorGroup]:
    """Groups, most frequent first."""
    groups: dict[str, ErrorGroup] = {}
    seen_files: dict[str, set[str]] = {}
    key_of = _Keyer()
    for rec in records:
        src, line, message, key = key_of(rec)
        g = groups.get(key)
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
        g.source_file, g.source_line = src, line
        g.source_sha256 = rec.get("source_sha256") or g.source_sha256
        run = str(rec.get("run_id") or "?")
        g.runs[run] = g.runs.get(run, 0) + 1
        f = rec.get("file")
        if f and f not in seen_files[key]:
            seen_files[key].add(f)
            g.files.append(f)
        if message not in g.raw_messages and len(g.raw_messages) < 5:
            g.raw_messages.append(message)
    for g in groups.values():
        g.source_file = os.path.abspath(g.source_file) if g.source_file else None
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
