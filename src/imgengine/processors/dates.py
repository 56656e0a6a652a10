"""When was a photo taken? One fallback chain, and the answer says where it came from.

Chain: EXIF DateTimeOriginal -> EXIF CreateDate (DateTimeDigitized) -> an XMP date -> a date in the file
name (``IMG_20190704_183211``, ``PXL_20190704_183211123``, ``Screenshot_20190704-183211``, WhatsApp
``IMG-20190704-WA0001``, ``2019-07-04 18.32.11``...) -> the file's modification time.

Times stay the camera's local wall-clock time: nothing is shifted unless the user asks
(``shift`` = ``--shift-time +1h``; ``timezone`` = ``--timezone Europe/Berlin`` converts times whose UTC
offset is known — EXIF OffsetTime*, an XMP offset, the file mtime — and leaves bare camera times alone).
A date before 1971 or more than a day in the future is not believed: the chain moves on and the note says
why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import UsageError

EARLIEST = datetime(1971, 1, 1)


@dataclass(frozen=True)
class DateInfo:
    value: datetime            # naive = camera local time; aware when the offset is known
    source: str                # "EXIF:DateTimeOriginal", "EXIF:CreateDate", "XMP:...", "filename", "mtime"
    note: str | None = None    # e.g. why earlier sources were not used

    def to_dict(self) -> dict[str, Any]:
        return {"date": self.value.isoformat(), "source": self.source, "note": self.note}


def parse_iso(text: str | None) -> datetime | None:
    """ISO 8601 as the metadata analyzer writes it (also EXIF's ``2019:07:04 18:32:11``)."""
    if not text or not isinstance(text, str):
        return None
    t = text.strip()
    m = re.match(r"^(\d{4})[:-](\d{2})[:-](\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
                 r"\s*(Z|[+-]\d{2}:?\d{2})?$", t)
    if not m:
        return None
    y, mo, d, hh, mm, ss, frac, off = m.groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0),
                      int((frac or "0")[:6].ljust(6, "0")))
    except ValueError:
        return None   # 0000:00:00 00:00:00 and other impossible dates
    if off:
        dt = dt.replace(tzinfo=_offset(off))
    return dt


def _offset(text: str) -> tzinfo:
    from datetime import timezone

    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4])))


# -- dates in file names ------------------------------------------------------------------------------

_NAME_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # IMG_20190704_183211, PXL_20190704_183211123, VID_..., 20190704_183211, Screenshot_20190704-183211,
    # signal-2019-07-04-183211, "2019-07-04 18.32.11", "Screenshot 2019-07-04 at 18.32.11"
    (re.compile(r"(?<!\d)(19[7-9]\d|20\d\d)-?(\d\d)-?(\d\d)[ _T-]?(?:at )?(\d\d)[.:_-]?(\d\d)[.:_-]?(\d\d)"),
     "datetime"),
    # WhatsApp IMG-20190704-WA0001, or any bare 8-digit date
    (re.compile(r"(?<!\d)(19[7-9]\d|20\d\d)-?(\d\d)-?(\d\d)(?!\d)"), "date"),
]


def date_from_name(name: str) -> datetime | None:
    stem = name.rsplit(".", 1)[0]
    for pattern, kind in _NAME_PATTERNS:
        for m in pattern.finditer(stem):
            g = [int(x) for x in m.groups()]
            try:
                if kind == "datetime":
                    return datetime(g[0], g[1], g[2], g[3], g[4], g[5])
                return datetime(g[0], g[1], g[2])
            except ValueError:
                continue
    return None


# -- the chain ----------------------------------------------------------------------------------------


def _plausible(dt: datetime, now: datetime) -> str | None:
    naive = dt.replace(tzinfo=None)
    if naive < EARLIEST:
        return f"{naive:%Y-%m-%d} is before 1971 (an unset camera clock)"
    if naive > now + timedelta(days=1):
        return f"{naive:%Y-%m-%d} is in the future"
    return None


def resolve_date(meta: dict[str, Any] | None, path: Path, mtime_ns: int | None,
                 now: datetime | None = None) -> DateInfo | None:
    """The best date for a photo and its source, walking the chain (see the module docstring)."""
    now = now or datetime.now()
    meta = meta or {}
    rejected: list[str] = []
    candidates: list[tuple[str | None, str]] = []
    # the metadata analyzer's date_source names where datetime_original came from, or, when there is
    # none, where create_date came from (EXIF before XMP before IPTC, as ExifTool prefers)
    named = meta.get("date_source")
    dto = meta.get("datetime_original")
    candidates.append((dto, named or "EXIF:DateTimeOriginal"))
    candidates.append((meta.get("create_date"), named if (named and not dto) else "EXIF:CreateDate"))
    candidates.append((meta.get("xmp_date"), meta.get("xmp_date_source") or "XMP:DateCreated"))
    for text, source in candidates:
        if not text:
            continue
        dt = parse_iso(text)
        if dt is None:
            rejected.append(f"{source} unreadable ({text!r})")
            continue
        why = _plausible(dt, now)
        if why:
            rejected.append(f"{source} {why}")
            continue
        return DateInfo(dt, source, "; ".join(rejected) or None)
    dt = date_from_name(path.name)
    if dt is not None:
        why = _plausible(dt, now)
        if not why:
            return DateInfo(dt, "filename", "; ".join(rejected) or None)
        rejected.append(f"file name {why}")
    if mtime_ns is not None:
        dt = datetime.fromtimestamp(mtime_ns / 1e9, tz=UTC).astimezone()
        why = _plausible(dt, now)
        if not why:
            return DateInfo(dt, "mtime", "; ".join(rejected) or None)
        rejected.append(f"mtime {why}")
    return None if not rejected else DateInfo(datetime.min, "none", "; ".join(rejected))


def parse_shift(text: str | None) -> timedelta:
    """``+1h``, ``-30m``, ``+1d2h``, ``-0:30``, ``+3600s`` -> timedelta."""
    if not text:
        return timedelta(0)
    t = text.strip()
    m = re.fullmatch(r"([+-]?)(\d+):(\d{2})", t)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        return sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
    m = re.fullmatch(r"([+-]?)((?:\d+(?:\.\d+)?[dhms])+)", t)
    if not m:
        raise UsageError(f"--shift-time {text!r}: use a form like +1h, -30m, +1d2h or -0:30")
    sign = -1 if m.group(1) == "-" else 1
    total = timedelta(0)
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)([dhms])", m.group(2)):
        total += timedelta(**{{"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}[unit]: float(num)})
    return sign * total


def parse_timezone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    if re.fullmatch(r"[+-]\d{2}:?\d{2}|Z", name):
        return _offset(name)
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"--timezone {name!r}: not a time zone; use a name like Europe/Berlin or an offset "
                         "like +02:00")


def adjust(info: DateInfo | None, shift: timedelta, tz: tzinfo | None) -> DateInfo | None:
    """Apply the user's shift, then express times with a known offset in ``tz``. Bare camera times have
    no known zone and stay as they are (the user can shift them)."""
    if info is None or info.source == "none":
        return info
    dt = info.value
    if shift:
        dt = dt + shift
    if tz is not None and dt.tzinfo is not None:
        dt = dt.astimezone(tz)
    if dt is info.value:
        return info
    return DateInfo(dt, info.source, info.note)
