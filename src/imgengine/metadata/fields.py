"""The field table: each of our fields and where it is written (EXIF tag, XMP property, IPTC dataset),
and ``TagEdit``, the description of one ``tag`` change that every writer backend applies.

The places follow the Metadata Working Group guidelines and what Lightroom, digiKam, darktable and Immich
read: a value with mirrors (title, description, keywords, creator, rights, date) is written to all of them,
so that no program shows a stale copy. Values not named in an edit are left as they are.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from ..errors import UsageError


@dataclass(frozen=True)
class Place:
    exif: tuple[str, ...] = ()         # exiv2 keys
    xmp: tuple[str, ...] = ()
    iptc: tuple[str, ...] = ()
    exiftool: tuple[str, ...] = ()     # ExifTool tag names (HEIC/AVIF through ExifTool)


# our field -> where it lives. Documented in USAGE.md ("Where tag writes each value").
FIELDS: dict[str, Place] = {
    "keywords": Place(xmp=("Xmp.dc.subject",), iptc=("Iptc.Application2.Keywords",),
                      exiftool=("XMP-dc:Subject",)),
    "hierarchical": Place(xmp=("Xmp.lr.hierarchicalSubject", "Xmp.digiKam.TagsList"),
                          exiftool=("XMP-lr:HierarchicalSubject", "XMP-digiKam:TagsList")),
    "title": Place(xmp=("Xmp.dc.title",), iptc=("Iptc.Application2.ObjectName",), exiftool=("XMP-dc:Title",)),
    "description": Place(exif=("Exif.Image.ImageDescription",), xmp=("Xmp.dc.description",),
                         iptc=("Iptc.Application2.Caption",),
                         exiftool=("EXIF:ImageDescription", "XMP-dc:Description")),
    "rating": Place(exif=("Exif.Image.Rating",), xmp=("Xmp.xmp.Rating",), exiftool=("XMP-xmp:Rating",)),
    "label": Place(xmp=("Xmp.xmp.Label",), exiftool=("XMP-xmp:Label",)),
    "artist": Place(exif=("Exif.Image.Artist",), xmp=("Xmp.dc.creator",), iptc=("Iptc.Application2.Byline",),
                    exiftool=("EXIF:Artist", "XMP-dc:Creator")),
    "copyright": Place(exif=("Exif.Image.Copyright",), xmp=("Xmp.dc.rights",),
                       iptc=("Iptc.Application2.Copyright",), exiftool=("EXIF:Copyright", "XMP-dc:Rights")),
    "date": Place(exif=("Exif.Photo.DateTimeOriginal", "Exif.Photo.OffsetTimeOriginal"),
                  xmp=("Xmp.photoshop.DateCreated", "Xmp.exif.DateTimeOriginal"),
                  iptc=("Iptc.Application2.DateCreated", "Iptc.Application2.TimeCreated"),
                  exiftool=("EXIF:DateTimeOriginal", "EXIF:OffsetTimeOriginal")),
    "regions": Place(xmp=("Xmp.mwg-rs.Regions",), exiftool=("XMP-mwg-rs:RegionInfo",)),
    "gps": Place(exif=("Exif.GPSInfo.GPSLatitude", "Exif.GPSInfo.GPSLongitude", "Exif.GPSInfo.GPSAltitude"),
                 xmp=("Xmp.exif.GPSLatitude", "Xmp.exif.GPSLongitude", "Xmp.exif.GPSAltitude"),
                 exiftool=("EXIF:GPSLatitude", "EXIF:GPSLongitude", "EXIF:GPSAltitude")),
}

LABELS = ("Red", "Yellow", "Green", "Blue", "Purple")

# date tags a --shift-time / --timezone moves together (EXIF tag, its offset tag)
SHIFTED_DATES = (("Exif.Photo.DateTimeOriginal", "Exif.Photo.OffsetTimeOriginal"),
                 ("Exif.Photo.DateTimeDigitized", "Exif.Photo.OffsetTimeDigitized"),
                 ("Exif.Image.DateTime", "Exif.Photo.OffsetTime"))
SHIFTED_XMP_DATES = ("Xmp.photoshop.DateCreated", "Xmp.exif.DateTimeOriginal", "Xmp.xmp.CreateDate",
                     "Xmp.exif.DateTimeDigitized", "Xmp.xmp.ModifyDate")


@dataclass(frozen=True)
class CaptureDate:
    """A capture time as the camera keeps it: local clock time plus, when known, its UTC offset."""

    local: datetime                    # naive
    offset: timedelta | None = None

    @property
    def exif(self) -> str:
        return self.local.strftime("%Y:%m:%d %H:%M:%S")

    @property
    def exif_offset(self) -> str | None:
        return format_offset(self.offset) if self.offset is not None else None

    @property
    def xmp(self) -> str:
        text = self.local.strftime("%Y-%m-%dT%H:%M:%S")
        return text + (format_offset(self.offset) if self.offset is not None else "")


def format_offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def parse_offset(text: str) -> timedelta:
    m = re.fullmatch(r"\s*(?:UTC|GMT)?\s*([+-])(\d{1,2}):?(\d{2})?\s*", text or "")
    if not m and (text or "").strip().upper() in ("Z", "UTC", "GMT"):
        return timedelta(0)
    if not m:
        raise UsageError(f"{text!r}: give a UTC offset like +02:00 or -05:30")
    hours, minutes = int(m.group(2)), int(m.group(3) or 0)
    if hours > 14 or minutes >= 60:
        raise UsageError(f"{text!r}: a UTC offset is between -14:00 and +14:00")
    delta = timedelta(hours=hours, minutes=minutes)
    return -delta if m.group(1) == "-" else delta


def parse_capture_date(text: str) -> CaptureDate:
    """``YYYY-MM-DD HH:MM:SS[+hh:mm]`` (also ``T`` or ``:`` separated dates, as EXIF writes them)."""
    m = re.fullmatch(r"\s*(\d{4})[-:](\d{2})[-:](\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?\s*(Z|[+-]\d{2}:?\d{2})?\s*",
                     text or "")
    if not m:
        raise UsageError(f"--date {text!r}: use \"YYYY-MM-DD HH:MM:SS\" with an optional offset like +02:00")
    try:
        local = datetime(*(int(g) for g in m.groups()[:5]), int(m.group(6) or 0))
    except ValueError as exc:
        raise UsageError(f"--date {text!r}: {exc}") from exc
    return CaptureDate(local, parse_offset(m.group(7)) if m.group(7) else None)


_EXIF_DATE = re.compile(r"\s*(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_XMP_DATE = re.compile(r"\s*(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?(.*)$")


def _match_datetime(pattern: re.Pattern[str], value: str | None) -> tuple[datetime, re.Match[str]] | None:
    """Year, month, day, hour, minute and (optional) second from the first six groups of ``pattern``."""
    m = pattern.match(value or "")
    if not m:
        return None
    try:
        return datetime(*(int(g) for g in m.groups()[:5]), int(m.group(6) or 0)), m
    except ValueError:
        return None


def parse_exif_date(value: str | None) -> datetime | None:
    found = _match_datetime(_EXIF_DATE, value)
    return found[0] if found else None


def parse_xmp_date(value: str | None) -> tuple[datetime, str] | None:
    """An XMP date -> (naive local time, the rest of the text after the seconds: fraction and offset)."""
    found = _match_datetime(_XMP_DATE, value)
    return (found[0], found[1].group(7).strip()) if found else None


@dataclass(frozen=True)
class Gps:
    lat: float
    lon: float
    alt: float | None = None


def parse_gps(text: str) -> Gps:
    parts = [p.strip() for p in (text or "").split(",")]
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        nums = []
    if len(nums) not in (2, 3) or not all(math.isfinite(n) for n in nums):
        raise UsageError(f"--gps {text!r}: give LAT,LON or LAT,LON,ALT in decimal degrees and metres")
    if not -90 <= nums[0] <= 90 or not -180 <= nums[1] <= 180:
        raise UsageError(f"--gps {text!r}: latitude is -90..90 and longitude -180..180")
    return Gps(nums[0], nums[1], nums[2] if len(nums) == 3 else None)


def clean_keyword(text: str) -> str:
    """Keywords are one line each; surrounding blanks dropped. Commas, Unicode and emoji are kept."""
    value = " ".join(str(text).split())
    if not value:
        raise UsageError("an empty keyword")
    return value


@dataclass(frozen=True)
class Region:
    """One MWG region (a face): centre and size normalised to the image as stored, before its EXIF
    orientation is applied (what the MWG guidelines, digiKam and Lightroom use)."""

    x: float
    y: float
    w: float
    h: float
    name: str | None = None
    kind: str = "Face"


@dataclass(frozen=True)
class Regions:
    """``mwg-rs:Regions``: the regions and the stored pixel size they apply to (``AppliedToDimensions``).
    An empty ``items`` removes the regions."""

    width: int
    height: int
    items: tuple[Region, ...] = ()


def regions_from_upright(boxes: list[tuple[list[float], str | None]], width: int, height: int,
                         orientation: int | None) -> Regions:
    """MWG regions from boxes ``[x0, y0, x1, y1]`` normalised to the upright image (as the faces analyzer
    stores them): each box is mapped back through the EXIF ``orientation`` to the stored image.
    ``width``/``height``: the stored pixel size."""
    items = []
    for box, name in boxes:
        x0, y0, x1, y1 = (min(max(float(v), 0.0), 1.0) for v in box)
        corners = [_to_stored(x, y, orientation) for x, y in ((x0, y0), (x1, y1))]
        xs, ys = [c[0] for c in corners], [c[1] for c in corners]
        w, h = max(xs) - min(xs), max(ys) - min(ys)
        items.append(Region(round(min(xs) + w / 2, 6), round(min(ys) + h / 2, 6), round(w, 6), round(h, 6),
                            name or None))
    return Regions(int(width), int(height), tuple(items))


def _to_stored(ux: float, uy: float, orientation: int | None) -> tuple[float, float]:
    """A point normalised to the upright image -> the same point normalised to the stored image."""
    return {2: (1 - ux, uy), 3: (1 - ux, 1 - uy), 4: (ux, 1 - uy), 5: (uy, ux), 6: (uy, 1 - ux),
            7: (1 - uy, 1 - ux), 8: (1 - uy, ux)}.get(orientation or 1, (ux, uy))


@dataclass(frozen=True)
class TagEdit:
    """One ``tag`` change. ``None`` means "leave as it is"; an empty string clears a text field.
    A keyword with ``|`` is hierarchical (``Scenes|Beach``): its leaf goes to the flat lists and the
    full path to ``lr:hierarchicalSubject`` (``|``) and ``digiKam:TagsList`` (``/``)."""

    add_keywords: tuple[str, ...] = ()
    remove_keywords: tuple[str, ...] = ()
    title: str | None = None
    description: str | None = None
    rating: int | None = None
    label: str | None = None
    gps: Gps | None = None
    date: CaptureDate | None = None
    shift: timedelta | None = None
    timezone: tzinfo | None = None          # record this zone's UTC offset on every date (clock time kept)
    artist: str | None = None
    copyright: str | None = None
    regions: Regions | None = None           # MWG face regions (XMP only); replaces the photo's regions

    def is_empty(self) -> bool:
        return not (self.add_keywords or self.remove_keywords) and all(
            v is None for v in (self.title, self.description, self.rating, self.label, self.gps, self.date,
                                self.shift, self.timezone, self.artist, self.copyright, self.regions))

    def touches_exif(self) -> bool:
        """Whether the edit changes EXIF (and not only XMP/IPTC): then maker notes are at stake."""
        return any(v is not None for v in (self.description, self.gps, self.date, self.shift, self.timezone,
                                           self.artist, self.copyright))

    def summary(self) -> str:
        parts = []
        if self.add_keywords:
            parts.append("+" + ", +".join(self.add_keywords))
        if self.remove_keywords:
            parts.append("-" + ", -".join(self.remove_keywords))
        for name in ("title", "description", "rating", "label", "artist", "copyright"):
            v = getattr(self, name)
            if v is not None:
                parts.append(f"{name}={v!r}" if isinstance(v, str) else f"{name}={v}")
        if self.gps is not None:
            parts.append(f"gps={self.gps.lat:.6f},{self.gps.lon:.6f}"
                         + (f",{self.gps.alt:g}m" if self.gps.alt is not None else ""))
        if self.date is not None:
            parts.append(f"date={self.date.xmp}")
        if self.shift:
            parts.append(f"shift={'+' if self.shift >= timedelta(0) else '-'}{abs(self.shift)}")
        if self.timezone is not None:
            parts.append(f"timezone={self.timezone}")
        if self.regions is not None:
            names = [r.name for r in self.regions.items if r.name]
            parts.append(f"regions={len(self.regions.items)}" + (f" ({', '.join(names)})" if names else ""))
        return "; ".join(parts)

    def validate(self) -> None:
        if self.rating is not None and not (-1 <= self.rating <= 5):
            raise UsageError(f"--rating {self.rating}: use 0-5 (or -1 for rejected)")
        if self.label is not None and self.label and self.label not in LABELS:
            raise UsageError(f"--label {self.label!r}: use one of {', '.join(LABELS)} (as Lightroom/digiKam)")
        if self.date is not None and self.shift:
            raise UsageError("choose one of --date and --shift-time")


def leaf(keyword: str) -> str:
    return keyword.rsplit("|", 1)[-1].strip()


def split_keywords(keywords: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(flat keywords, hierarchical paths) of an edit's keyword list."""
    flat, paths = [], []
    for k in keywords:
        if "|" in k:
            path = "|".join(p.strip() for p in k.split("|") if p.strip())
            paths.append(path)
            flat.append(leaf(path))
        else:
            flat.append(k)
    return flat, paths


def offset_in(zone: tzinfo, local: datetime) -> timedelta:
    """The UTC offset ``zone`` had at the local time ``local`` (daylight saving included)."""
    off = local.replace(tzinfo=zone).utcoffset()
    return off if off is not None else timedelta(0)
