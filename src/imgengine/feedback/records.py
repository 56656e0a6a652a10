"""Reading ``errors.jsonl``: tolerant of partial lines and of records from older versions.

A record written by the plugin platform names the plugin's own innermost frame (``source_file``,
``source_line``); an older record only has the traceback text, from which the innermost frame outside
imgengine, the standard library and site-packages is recovered.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError

_PKG_DIR = str(Path(__file__).resolve().parent.parent)
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>.+)$', re.M)


@functools.cache
def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {str(Path(paths[k]).resolve()) for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    return tuple(sorted(dirs))


@dataclass(frozen=True)
class Frame:
    file: str
    line: int
    function: str


def frames_of(traceback_text: str) -> list[Frame]:
    return [Frame(m["file"], int(m["line"]), m["func"].strip()) for m in _FRAME.finditer(traceback_text or "")]


def is_user_file(filename: str) -> bool:
    """True for a file that is neither imgengine's own package, the standard library, site-packages,
    nor a pseudo-file (``<frozen codecs>``, ``<string>``)."""
    if filename.startswith("<"):
        return False
    try:
        resolved = str(Path(filename).resolve())
    except OSError:
        resolved = filename
    if resolved.startswith(_PKG_DIR + "/") or "site-packages" in resolved or "dist-packages" in resolved:
        return False
    return not any(resolved.startswith(d + "/") for d in _library_dirs())


def innermost_user_frame(traceback_text: str, known: dict[str, bool] | None = None) -> Frame | None:
    """The innermost frame of the traceback that is user code (a plugin), or None. ``known`` caches
    is_user_file per file name across many tracebacks (one resolve() per distinct file)."""
    known = {} if known is None else known
    for f in reversed(frames_of(traceback_text)):
        user = known.get(f.file)
        if user is None:
            user = known[f.file] = is_user_file(f.file)
        if user:
            return f
    return None


def parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return t if t.tzinfo else t.astimezone()


def parse_since(text: str | None, now: dt.datetime | None = None) -> dt.datetime | None:
    """``7d``, ``12h``, ``30m``, ``2w`` or an ISO date → the earliest time to include (None = all)."""
    if not text:
        return None
    now = now or dt.datetime.now().astimezone()
    m = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", text)
    if m:
        unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[m[2]]
        return now - dt.timedelta(**{unit: int(m[1])})
    t = parse_time(text.strip())
    if t is None:
        raise UsageError(f"--since {text!r}: use a duration such as 7d, 12h, 30m or an ISO date")
    return t


def read_error_records(log_dir: Path, since: dt.datetime | None = None) -> Iterator[dict[str, Any]]:
    """Every well-formed record of ``<log_dir>/errors.jsonl`` (a torn last line is skipped). Each gets
    ``_offset``: where its line starts in the file, which orders records exactly (the file is append-only;
    the times have one-second resolution)."""
    path = Path(log_dir) / "errors.jsonl"
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return
    with fh:
        offset = 0
        for raw in fh:
            start, offset = offset, offset + len(raw)
            try:
                rec = json.loads(raw.decode("utf-8", "replace"))
            except json.JSONDecodeError:
                continue
            if not isinstance(rec, dict) or "fingerprint" not in rec:
                continue
            if since is not None:
                t = parse_time(rec.get("time"))
                if t is not None and t < since:
                    continue
            rec["_offset"] = start
            yield rec


def errors_size(log_dir: Path) -> int:
    try:
        return (Path(log_dir) / "errors.jsonl").stat().st_size
    except OSError:
        return 0
