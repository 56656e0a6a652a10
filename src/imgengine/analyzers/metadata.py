"""Metadata analyzer: EXIF, GPS, camera, lens, dates, keywords, read from the header only (no pixel decode).

Sources, in ExifTool's order of preference: EXIF first, then XMP, then IPTC; ``date_source`` names the
tag the capture date came from. EXIF and XMP are found wherever the container keeps them (JPEG APP1
including extended XMP, APP13 IPTC, TIFF IFDs, PNG eXIf/iTXt, WebP EXIF/XMP chunks, HEIF items through
pillow-heif). Broken metadata never raises: what can be read is returned and each problem is one line in
``warnings``. Agreement with ExifTool is measured by ``benchmarks/compare_exiftool.py``.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import mmap
import os
import re
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ..core.iptc import parse_iptc
from ..core.maker_notes import iso_from_maker_notes, lens_from_maker_notes
from ..core.metadata_segments import MetadataBlocks, find_metadata_blocks
from ..core.tiff_ifd import Rational, TiffIfdReader
from ..core.xmp import parse_xmp
from ..metadata.sidecar import read_sidecar
from ..metadata.values import camera_name
from .base import AnalysisInput, Analyzer, Result


@dataclass(frozen=True)
class MetadataResult(Result):
    make: str | None = None                   # EXIF Make, trailing NULs/whitespace stripped
    model: str | None = None                  # EXIF Model as written (may repeat the make)
    lens_model: str | None = None
    software: str | None = None
    artist: str | None = None
    copyright: str | None = None
    datetime_original: str | None = None      # ISO 8601, with sub-seconds and offset when known
    create_date: str | None = None
    date_source: str | None = None            # e.g. "EXIF:DateTimeOriginal", "XMP:DateCreated"
    gps_latitude: float | None = None         # signed decimal degrees
    gps_longitude: float | None = None
    gps_altitude: float | None = None         # metres, negative below sea level
    gps_time: str | None = None               # ISO 8601 UTC
    orientation: int | None = None
    width: int | None = None                  # stored pixel dimensions
    height: int | None = None
    upright_width: int | None = None          # after applying orientation
    upright_height: int | None = None
    iso: int | None = None
    exposure_time: float | None = None        # seconds
    f_number: float | None = None
    focal_length: float | None = None         # mm
    focal_length_35mm: float | None = None
    flash: int | None = None                  # raw EXIF Flash value
    flash_fired: bool | None = None
    keywords: tuple[str, ...] = ()
    hierarchical_keywords: tuple[str, ...] = ()   # lr:hierarchicalSubject ("Places|France|Paris")
    title: str | None = None
    description: str | None = None
    rating: int | None = None
    label: str | None = None                  # XMP colour label (Lightroom/digiKam: Red, Yellow, ...)
    has_exif: bool = False
    has_xmp: bool = False
    has_iptc: bool = False
    warnings: tuple[str, ...] = field(default_factory=tuple)
    camera: str | None = None                 # display name: make + model without repeating the make
    sidecar_stamp: str | None = None          # "name:size:mtime_ns" of the XMP sidecar read, if any


class MetadataAnalyzer(Analyzer):
    name = "metadata"
    version = "2"                             # 2: stamps the XMP sidecar it read (see reads_sidecars)
    reads_sidecars = True
    needs_pixels = False
    description = "EXIF/XMP/IPTC: camera, lens, dates, GPS, exposure, keywords"
    csv_fields = {"make": "make", "model": "model", "lens": "lens_model", "datetime_original": "datetime_original",
                  "gps_latitude": "gps_latitude", "gps_longitude": "gps_longitude", "gps_altitude": "gps_altitude",
                  "width": "upright_width", "height": "upright_height", "orientation": "orientation",
                  "iso": "iso", "exposure_time": "exposure_time", "f_number": "f_number",
                  "focal_length": "focal_length", "keywords": "keywords"}

    def analyze(self, item: AnalysisInput) -> MetadataResult:
        # bytes already read for the pixel stages are reused; a metadata-only run maps the file instead,
        # so only the header pages are read from disk
        data = item.data_if_read
        result = read_metadata(data if data is not None else item.photo.path)
        side = read_sidecar(item.photo.path) if item.may_have_sidecar else None
        if side is None:
            return result
        packet, stamp = side
        return dataclasses.replace(with_sidecar(result, packet), sidecar_stamp=stamp)


# fields an XMP sidecar can hold that win over the embedded values (digiKam's rule: sidecar over embedded)
_SIDECAR_FIELDS = ("artist", "copyright", "keywords", "title", "description", "rating", "label",
                   "hierarchical_keywords", "gps_latitude",
                   "gps_longitude", "gps_altitude")


def with_sidecar(result: MetadataResult, packet: bytes) -> MetadataResult:
    """``result`` with the values of the photo's XMP sidecar (``photo.xmp`` / ``photo.EXT.xmp``) on top."""
    warnings: list[str] = []
    side = _build(MetadataBlocks(container="xmp", xmp=[packet]), warnings)
    changes: dict[str, Any] = {f: getattr(side, f) for f in _SIDECAR_FIELDS if getattr(side, f) not in (None, ())}
    if side.datetime_original:
        changes["datetime_original"] = side.datetime_original
        changes["date_source"] = f"sidecar {side.date_source}"
    changes["has_xmp"] = True
    if warnings:
        changes["warnings"] = result.warnings + tuple(f"sidecar: {w}" for w in warnings)
    return dataclasses.replace(result, **changes)


# --------------------------------------------------------------------------------------------- tags
IFD0_TAGS = frozenset({0x0100, 0x0101, 0x010E, 0x010F, 0x0110, 0x0112, 0x0131, 0x013B, 0x02BC, 0x4746,
                       0x8298, 0x83BB, 0x8769, 0x8825, 0x9C9B, 0x9C9E})
IFD0_RAW = frozenset({0x02BC, 0x83BB, 0x9C9B, 0x9C9E})
EXIF_TAGS = frozenset({0x829A, 0x829D, 0x8827, 0x9003, 0x9004, 0x9011, 0x9012, 0x9209, 0x920A, 0x9291,
                       0x9292, 0xA405, 0xA434})
MAKER_NOTE = frozenset({0x927C})
GPS_TAGS = frozenset({1, 2, 3, 4, 5, 6, 7, 0x1D})
_TAG_NAMES = {0x010E: "ImageDescription", 0x010F: "Make", 0x0110: "Model", 0x0131: "Software",
              0x013B: "Artist", 0x8298: "Copyright", 0x9003: "DateTimeOriginal", 0x9004: "CreateDate",
              0x9011: "OffsetTimeOriginal", 0x9012: "OffsetTimeDigitized", 0x9291: "SubSecTimeOriginal",
              0x9292: "SubSecTimeDigitized", 0xA434: "LensModel", 0x1D: "GPSDateStamp",
              1: "GPSLatitudeRef", 3: "GPSLongitudeRef"}


def read_metadata(source: bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO) -> MetadataResult:
    """Read the metadata of one image from its bytes, its path (memory-mapped: only the header pages are
    read) or an open binary stream. Never raises for bad metadata; see ``warnings``."""
    warnings: list[str] = []
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                return MetadataResult(warnings=("file is empty",))
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                return _read(mm, warnings)
    if hasattr(source, "read"):
        source = source.read()  # type: ignore[union-attr]
    return _read(source, warnings)


def _read(buf: Any, warnings: list[str]) -> MetadataResult:
    try:
        blocks = find_metadata_blocks(buf, warnings)
        return _build(blocks, warnings)
    except Exception as exc:  # noqa: BLE001 - a case not foreseen must not stop the run: say it, go on
        warnings.append(f"metadata: unexpected {type(exc).__name__}: {exc}")
        return MetadataResult(warnings=tuple(warnings))


class _Fields:
    """Collects decoded values; ``text``/``num`` record a warning for wrong types instead of raising."""

    def __init__(self, warnings: list[str]):
        self.warnings = warnings

    def warn(self, msg: str) -> None:
        if msg not in self.warnings:
            self.warnings.append(msg)

    def text(self, value: Any, name: str) -> str | None:
        if value is None:
            return None
        if isinstance(value, (bytes, bytearray)):
            raw = bytes(value).split(b"\x00", 1)[0]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
                self.warn(f"EXIF: {name} is not UTF-8; read as Latin-1")
        elif isinstance(value, str):
            text = value
        else:
            self.warn(f"EXIF: {name} has a wrong type ({type(value).__name__})")
            text = " ".join(str(v) for v in value) if isinstance(value, tuple) else str(value)
        text = text.strip()
        return text or None

    def num(self, value: Any, name: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, tuple):
            if not value:
                return None
            value = value[0]
        if isinstance(value, Rational):
            if value.den == 0:
                if value.num != 0:
                    self.warn(f"EXIF: {name} has a zero denominator")
                return None
            return value.num / value.den
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, (bytes, bytearray, str)):
            text = value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else value
            parsed = parse_number(text)
            if parsed is None:
                self.warn(f"EXIF: {name} is not a number ({text[:40]!r})")
            else:
                self.warn(f"EXIF: {name} has a wrong type (text)")
            return parsed
        return None


def parse_number(text: str) -> float | None:
    """A number written as text: "5.6", "1/250", "28/10"; None if it is none."""
    text = text.strip().strip("\x00").strip()
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            d = float(den)
            return float(num) / d if d else None
        return float(text)
    except ValueError:
        return None


def _int(value: float | None) -> int | None:
    return round(value) if value is not None and math.isfinite(value) and abs(value) < 1e15 else None


def _build(blocks: MetadataBlocks, warnings: list[str]) -> MetadataResult:
    f = _Fields(warnings)
    ifd0: dict[int, Any] = {}
    exif: dict[int, Any] = {}
    gps: dict[int, Any] = {}
    has_exif = False
    reader: TiffIfdReader | None = None
    if blocks.exif is not None:
        buf, base = blocks.exif
        try:
            reader = TiffIfdReader(buf, base, warnings)
            ifd0, _ = reader.read_ifd(reader.first_ifd, IFD0_TAGS, "IFD0", IFD0_RAW)
            has_exif = bool(ifd0)
            for tag, wanted, name, target in ((0x8769, EXIF_TAGS, "ExifIFD", exif), (0x8825, GPS_TAGS, "GPS", gps)):
                ptr = ifd0.get(tag)
                if ptr is None:
                    continue
                if isinstance(ptr, tuple):
                    ptr = ptr[0] if ptr else None
                if not isinstance(ptr, int):
                    f.warn(f"EXIF: wrong type for the {name} pointer; {name} skipped")
                    continue
                sub, _ = reader.read_ifd(ptr, wanted, name, locate=MAKER_NOTE if name == "ExifIFD" else frozenset())
                target.update(sub)
        except (ValueError, IndexError, TypeError, OverflowError) as exc:
            f.warn(f"EXIF: could not be read ({exc})")
    if blocks.container == "tiff":   # XMP and IPTC of a TIFF live in IFD0
        if isinstance(ifd0.get(0x02BC), bytes):
            blocks.xmp.insert(0, ifd0[0x02BC])
        if isinstance(ifd0.get(0x83BB), bytes) and blocks.iptc is None:
            blocks.iptc = ifd0[0x83BB]
        if blocks.width is None:
            blocks.width, blocks.height = _int(f.num(ifd0.get(0x0100), "ImageWidth")), _int(
                f.num(ifd0.get(0x0101), "ImageLength"))

    xmp: dict[str, Any] = {}
    for packet in blocks.xmp:
        for key, value in parse_xmp(packet, warnings).items():
            xmp.setdefault(key, value)
    iptc: dict[str, Any] = parse_iptc(blocks.iptc, warnings) if blocks.iptc else {}

    def etext(ifd: dict[int, Any], tag: int) -> str | None:
        return f.text(ifd.get(tag), _TAG_NAMES.get(tag, f"0x{tag:04x}"))

    def xtext(*names: str) -> str | None:
        for name in names:
            value = xmp.get(name)
            if isinstance(value, list):
                value = value[0] if value else None
            if value is not None and value.strip():
                return value.strip()
        return None

    def xnum(*names: str) -> float | None:
        value = xtext(*names)
        return parse_number(value) if value is not None else None

    def itext(name: str) -> str | None:
        value = iptc.get(name)
        if isinstance(value, list):
            value = "; ".join(v for v in value if v.strip())
        return value.strip() or None if value is not None else None

    ciff = blocks.ciff
    make = etext(ifd0, 0x010F) or xtext("tiff:Make") or ciff.get("Make") or None
    model = etext(ifd0, 0x0110) or xtext("tiff:Model") or ciff.get("Model") or None
    lens_model = etext(exif, 0xA434) or xtext("exifEX:LensModel", "aux:Lens")
    software = etext(ifd0, 0x0131) or xtext("xmp:CreatorTool", "tiff:Software")
    artist = etext(ifd0, 0x013B) or xtext("tiff:Artist", "exif:Artist", "dc:creator") or itext("By-line")
    if artist is None and isinstance(xmp.get("dc:creator"), list):
        artist = "; ".join(xmp["dc:creator"]) or None
    copyright_ = etext(ifd0, 0x8298) or xtext("dc:rights", "exif:Copyright") or itext("CopyrightNotice")

    # dates: EXIF, then XMP, then IPTC; an EXIF date without an offset borrows XMP's for the same time
    dto, dto_src = None, None
    exif_dto = _exif_datetime(etext(exif, 0x9003), etext(exif, 0x9291), etext(exif, 0x9011))
    if exif_dto:
        dto, dto_src = exif_dto, "EXIF:DateTimeOriginal"
    else:
        for name, src in (("exif:DateTimeOriginal", "XMP:DateTimeOriginal"),
                          ("photoshop:DateCreated", "XMP:DateCreated")):
            dto = _xmp_datetime(xtext(name))
            if dto:
                dto_src = src
                break
        if not dto:
            dto = _iptc_datetime(itext("DateCreated"), itext("TimeCreated"))
            dto_src = "IPTC:DateCreated" if dto else None
        if not dto and ciff.get("TimeStamp"):
            dto = _unix_or_text_datetime(str(ciff["TimeStamp"]))
            dto_src = "CIFF:DateTimeOriginal" if dto else None
        if not dto and blocks.picture_info.get("TimeDate"):
            dto = _unix_or_text_datetime(blocks.picture_info["TimeDate"])
            dto_src = "APP12:DateTimeOriginal" if dto else None
    dto = _borrow_offset(dto, _xmp_datetime(xtext("exif:DateTimeOriginal")),
                         _xmp_datetime(xtext("photoshop:DateCreated")))
    create = _exif_datetime(etext(exif, 0x9004), etext(exif, 0x9292), etext(exif, 0x9012))
    create_src = "EXIF:CreateDate" if create else None
    if not create:
        create = _xmp_datetime(xtext("xmp:CreateDate")) or _xmp_datetime(xtext("exif:DateTimeDigitized"))
        create_src = "XMP:CreateDate" if create else None
    create = _borrow_offset(create, _xmp_datetime(xtext("xmp:CreateDate")),
                            _xmp_datetime(xtext("exif:DateTimeDigitized")))
    date_source = dto_src or create_src

    # GPS
    lat = _gps_coord(f, gps.get(2), etext(gps, 1), "GPSLatitude")
    lon = _gps_coord(f, gps.get(4), etext(gps, 3), "GPSLongitude")
    if lat is None or lon is None:
        xlat, xlon = _xmp_coord(xtext("exif:GPSLatitude")), _xmp_coord(xtext("exif:GPSLongitude"))
        if xlat is not None and xlon is not None:
            lat, lon = xlat, xlon
    alt = f.num(gps.get(6), "GPSAltitude")
    if alt is not None:
        ref = gps.get(5)
        ref_value = ref[0] if isinstance(ref, (bytes, tuple)) and ref else ref
        if ref_value == 1 or ref_value == ord("1"):
            alt = -alt
    else:
        alt = xnum("exif:GPSAltitude")
        if alt is not None and xtext("exif:GPSAltitudeRef") == "1":
            alt = -alt
    gps_time = _gps_time(f, etext(gps, 0x1D), gps.get(7))

    # orientation and size
    orientation = _int(f.num(ifd0.get(0x0112), "Orientation"))
    if blocks.heif_exif_orientation:
        orientation = blocks.heif_exif_orientation
    if orientation is None:
        orientation = _int(xnum("tiff:Orientation"))
    if orientation is not None and not 1 <= orientation <= 8:
        f.warn(f"EXIF: Orientation {orientation} is not 1-8; ignored")
        orientation = None
    width, height = blocks.width, blocks.height
    up_w, up_h = width, height
    if blocks.container == "heif":
        if blocks.heif_rotation in (90, 270):
            up_w, up_h = height, width
    elif orientation in (5, 6, 7, 8):
        up_w, up_h = height, width

    # exposure
    iso = _int(f.num(exif.get(0x8827), "ISO"))
    if iso is None:
        iso = _int(xnum("exif:ISOSpeedRatings", "exifEX:PhotographicSensitivity"))
    if lens_model is None and 0x927C in exif and blocks.exif is not None:
        lens_model = lens_from_maker_notes(make, blocks.exif[0], exif[0x927C], warnings)
    if iso is None and reader is not None and 0x927C in exif:
        iso = _int(iso_from_maker_notes(make, reader.buf, reader.base, reader.e, exif[0x927C], warnings))
    # EXIF first, XMP where EXIF lacks the value (ExifTool's order)
    exposure = _first(f.num(exif.get(0x829A), "ExposureTime"), xnum("exif:ExposureTime"))
    fnumber = _first(f.num(exif.get(0x829D), "FNumber"), xnum("exif:FNumber"))
    focal = _first(f.num(exif.get(0x920A), "FocalLength"), xnum("exif:FocalLength"))
    focal35 = _first(f.num(exif.get(0xA405), "FocalLengthIn35mmFormat"), xnum("exif:FocalLengthIn35mmFilm"))
    flash = _int(f.num(exif.get(0x9209), "Flash"))
    if flash is None:
        flash = _int(xnum("exif:Flash")) if xtext("exif:Flash") else _xmp_flash(xmp)
    if focal is None and ciff.get("FocalLength"):
        focal = ciff["FocalLength"] / (ciff.get("FocalUnits") or 1)
    pinfo = blocks.picture_info
    if pinfo:   # APP12 Picture Info, the last resort of cameras older than EXIF 2
        if exposure is None:
            micro = parse_number(pinfo.get("Shutter") or pinfo.get("shtr") or "")
            exposure = micro * 1e-6 if micro is not None else None
        if fnumber is None:
            fnumber = parse_number(re.sub(r"^[A-Za-z ]*", "", pinfo.get("FNumber", "")))
        if flash is None:
            flash = _int(parse_number(pinfo.get("Flash", "")))

    # descriptive
    keywords = _keywords(xmp.get("dc:subject")) or _keywords(iptc.get("Keywords")) or _xp_keywords(ifd0.get(0x9C9E))
    title = xtext("dc:title") or itext("ObjectName") or _xp_text(ifd0.get(0x9C9B))
    description = etext(ifd0, 0x010E) or xtext("dc:description") or itext("Caption-Abstract")
    rating = _int(f.num(ifd0.get(0x4746), "Rating"))
    if rating is None:
        rating = _int(xnum("xmp:Rating"))
    label = xtext("xmp:Label")
    hierarchical = _keywords(xmp.get("lr:hierarchicalSubject"))

    return MetadataResult(
        make=make, model=model, lens_model=lens_model, software=software, artist=artist,
        copyright=copyright_, datetime_original=dto, create_date=create, date_source=date_source,
        gps_latitude=lat, gps_longitude=lon, gps_altitude=alt, gps_time=gps_time,
        orientation=orientation, width=width, height=height, upright_width=up_w, upright_height=up_h,
        iso=iso, exposure_time=exposure, f_number=fnumber, focal_length=focal, focal_length_35mm=focal35,
        flash=flash, flash_fired=bool(flash & 1) if flash is not None else None,
        keywords=keywords, title=title, description=description, rating=rating,
        label=label, hierarchical_keywords=hierarchical, has_exif=has_exif, has_xmp=bool(xmp), has_iptc=bool(iptc),
        warnings=tuple(warnings),
        camera=camera_name(make, model),
    )


_EXIF_DT = re.compile(r"^\s*(\d{4})[:\-/](\d\d)[:\-/](\d\d)(?:[ T](\d\d):(\d\d)(?::(\d\d))?)?")
_XMP_DT = re.compile(r"^\s*(\d{4})(?:[:\-](\d\d)(?:[:\-](\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(\.\d+)?)?)?)?)?"
                     r"\s*(Z|[+-]\d\d:?\d\d)?\s*$")
_OFFSET = re.compile(r"^([+-])(\d\d):?(\d\d)$")


def _date_part(y: str, mo: str | None, d: str | None) -> str | None:
    if y == "0000" or mo == "00" or d == "00":
        return None
    return "-".join(p for p in (y, mo, d) if p)


def _exif_datetime(value: str | None, subsec: str | None, offset: str | None) -> str | None:
    if not value:
        return None
    m = _EXIF_DT.match(value)
    if not m:
        return None
    date = _date_part(m.group(1), m.group(2), m.group(3))
    if date is None:
        return None
    if m.group(4) is None:
        return date
    out = f"{date}T{m.group(4)}:{m.group(5)}:{m.group(6) or '00'}"
    if subsec:
        digits = re.match(r"\d+", subsec.strip())
        if digits:
            out += "." + digits.group(0)
    if offset:
        om = _OFFSET.match(offset.strip())
        if om:
            out += f"{om.group(1)}{om.group(2)}:{om.group(3)}"
    return out


def _xmp_datetime(value: str | None) -> str | None:
    if not value:
        return None
    m = _XMP_DT.match(value)
    if not m:
        return None
    date = _date_part(m.group(1), m.group(2), m.group(3))
    if date is None or m.group(4) is None:
        return date
    out = f"{date}T{m.group(4)}:{m.group(5)}:{m.group(6) or '00'}{m.group(7) or ''}"
    tz = m.group(8)
    if tz == "Z":
        out += "Z"
    elif tz:
        om = _OFFSET.match(tz)
        if om:
            out += f"{om.group(1)}{om.group(2)}:{om.group(3)}"
    return out


def _iptc_datetime(date: str | None, time: str | None) -> str | None:
    if not date or not re.fullmatch(r"\d{8}", date.strip()):
        return None
    d = date.strip()
    out = _date_part(d[:4], d[4:6], d[6:8])
    if out is None:
        return None
    if time:
        tm = re.fullmatch(r"(\d\d)(\d\d)(\d\d)([+-]\d{4})?", time.strip())
        if tm:
            out += f"T{tm.group(1)}:{tm.group(2)}:{tm.group(3)}"
            if tm.group(4):
                out += f"{tm.group(4)[:3]}:{tm.group(4)[3:]}"
    return out


def _unix_or_text_datetime(value: str) -> str | None:
    """APP12's TimeDate: seconds since 1970 (UTC, as ExifTool converts it) or a date string."""
    if value.strip().isdigit():
        try:
            moment = datetime.datetime.fromtimestamp(int(value), tz=datetime.UTC)
        except (OverflowError, OSError, ValueError):
            return None
        return moment.strftime("%Y-%m-%dT%H:%M:%S")
    return _xmp_datetime(value)


def _has_offset(iso: str) -> bool:
    return iso.endswith("Z") or bool(re.search(r"[+-]\d\d:\d\d$", iso))


def _borrow_offset(value: str | None, *others: str | None) -> str | None:
    """An EXIF time without offset takes the offset of an XMP value for the same local time."""
    if not value or _has_offset(value) or len(value) < 19:
        return value
    for other in others:
        if other and _has_offset(other) and other[:19] == value[:19]:
            tz = "Z" if other.endswith("Z") else other[-6:]
            return value + tz
    return value


def _gps_coord(f: _Fields, value: Any, ref: str | None, name: str) -> float | None:
    if value is None:
        return None
    parts = value if isinstance(value, tuple) else (value,)
    if isinstance(value, (bytes, str)):
        num = f.num(value, name)
        parts = (num,) if num is not None else ()
    total, scale = 0.0, 1.0
    for part in parts[:3]:
        number = f.num(part, name)
        if number is None:
            return None
        total += number / scale
        scale *= 60.0
    if not parts:
        return None
    if ref and ref[:1].upper() in ("S", "W"):
        total = -abs(total)
    return total


_XMP_COORD = re.compile(r"^\s*(\d+(?:\.\d+)?)(?:,(\d+(?:\.\d+)?))?(?:,(\d+(?:\.\d+)?))?\s*([NSEW])\s*$", re.IGNORECASE)


def _xmp_coord(value: str | None) -> float | None:
    if not value:
        return None
    m = _XMP_COORD.match(value)
    if not m:
        return parse_number(value)
    total = float(m.group(1)) + float(m.group(2) or 0) / 60 + float(m.group(3) or 0) / 3600
    return -total if m.group(4).upper() in ("S", "W") else total


def _gps_time(f: _Fields, date: str | None, stamp: Any) -> str | None:
    if not date or stamp is None:
        return None
    m = re.match(r"^\s*(\d{4})[:\-](\d\d)[:\-](\d\d)", date)
    parts = stamp if isinstance(stamp, tuple) else (stamp,)
    if not m or len(parts) != 3:
        return None
    values = [f.num(p, "GPSTimeStamp") for p in parts]
    if any(v is None for v in values):
        return None
    h, mi, s = values  # type: ignore[misc]
    if not (0 <= h < 24 and 0 <= mi < 60 and 0 <= s < 61):
        f.warn("EXIF: GPSTimeStamp is out of range")
        return None
    whole = int(s)
    frac = f"{s - whole:.6f}"[1:].rstrip("0").rstrip(".")
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}T{int(h):02d}:{int(mi):02d}:{whole:02d}{frac}Z"


def _xmp_flash(xmp: dict[str, Any]) -> int | None:
    """XMP writes Flash as a structure (Fired, Return, Mode, Function, RedEyeMode): rebuild the EXIF value."""
    parts = {k.rsplit(":", 1)[-1]: v for k, v in xmp.items() if k.startswith("exif:Flash/")}
    if not parts:
        return None

    def bit(name: str) -> int:
        value = str(parts.get(name, "0")).strip().lower()
        return 1 if value in ("true", "1") else int(value) if value.isdigit() else 0

    return bit("Fired") | (bit("Return") << 1) | (bit("Mode") << 3) | (bit("Function") << 5) | (
        bit("RedEyeMode") << 6)


def _keywords(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    return tuple(v.strip() for v in items if isinstance(v, str) and v.strip())


def _xp_text(value: Any) -> str | None:
    """Windows XP tags (XPTitle, XPKeywords) are UTF-16LE in a BYTE array."""
    if not isinstance(value, bytes):
        return None
    text = value.decode("utf-16-le", "replace").split("\x00", 1)[0].strip()
    return text or None


def _xp_keywords(value: Any) -> tuple[str, ...]:
    text = _xp_text(value)
    return tuple(k.strip() for k in text.split(";") if k.strip()) if text else ()


__all__ = ["MetadataAnalyzer", "MetadataResult", "camera_name", "read_metadata"]


def _first(*values: Any) -> Any:
    """The first value that is not None (0 and "" count as values)."""
    return next((v for v in values if v is not None), None)
