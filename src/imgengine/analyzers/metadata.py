"""Metadata analyzer: EXIF, GPS, camera, lens, dates, keywords, read from the header only (no pixel decode).

Preliminary implementation over Pillow's EXIF reader; field set is the contract other modules use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

from ..core.decode import register_heif
from .base import AnalysisInput, Analyzer, Result


@dataclass(frozen=True)
class MetadataResult(Result):
    make: str | None = None
    model: str | None = None
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
    title: str | None = None
    description: str | None = None
    rating: int | None = None
    has_exif: bool = False
    has_xmp: bool = False
    has_iptc: bool = False
    warnings: tuple[str, ...] = field(default_factory=tuple)


class MetadataAnalyzer(Analyzer):
    name = "metadata"
    version = "0.1"
    needs_pixels = False
    description = "EXIF/XMP/IPTC: camera, lens, dates, GPS, exposure, keywords"

    def analyze(self, item: AnalysisInput) -> MetadataResult:
        register_heif()
        with Image.open(item.open()) as img:
            w, h = img.size
            exif = img.getexif()
            ifd = exif.get_ifd(0x8769) if exif else {}
            orientation = int(exif.get(0x0112, 1) or 1) if exif else None
        transposed = orientation in (5, 6, 7, 8)
        make = _s(exif.get(0x010F)) if exif else None
        model = _s(exif.get(0x0110)) if exif else None
        dto = _s(ifd.get(0x9003))
        return MetadataResult(
            make=make, model=model, width=w, height=h,
            upright_width=h if transposed else w, upright_height=w if transposed else h,
            orientation=orientation,
            datetime_original=_iso(dto), date_source="EXIF:DateTimeOriginal" if dto else None,
            has_exif=bool(exif),
        )


def _s(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    v = str(v).strip("\x00 ").strip()
    return v or None


def _iso(v: str | None) -> str | None:
    if not v or len(v) < 19:
        return None
    return v[:10].replace(":", "-") + "T" + v[11:19]
