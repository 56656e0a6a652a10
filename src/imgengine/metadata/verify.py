"""Checking a write with ExifTool, the reference reader: every value of an edit reads back exactly, and
``exiftool -validate`` finds nothing new. Used by ``tag --verify`` and by the tests."""

from __future__ import annotations

import os
from typing import Any

from .exiftool import ExifTool
from .fields import TagEdit, leaf, split_keywords


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def _first(doc: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if k in doc:
            return doc[k]
    return None


# text values written in XMP and mirrored (MWG): field, XMP, EXIF (embedded), IPTC (JPEG/TIFF), as ExifTool names them
MIRRORED_TEXT = (
    ("title", "XMP-dc:Title", None, "IPTC:ObjectName"),
    ("description", "XMP-dc:Description", "IFD0:ImageDescription", "IPTC:Caption-Abstract"),
    ("artist", "XMP-dc:Creator", "IFD0:Artist", "IPTC:By-line"),
    ("copyright", "XMP-dc:Rights", "IFD0:Copyright", "IPTC:CopyrightNotice"),
)


def readback_problems(doc: dict[str, Any], edit: TagEdit, fmt: str) -> list[str]:
    """What ExifTool's JSON (``-G1 -n``) of the written file gets wrong about ``edit``."""
    problems: list[str] = []
    embedded = fmt != "xmp"
    iptc = fmt in ("jpeg", "tiff")

    def want(cond: bool, what: str) -> None:
        if not cond:
            problems.append(what)

    flat, paths = split_keywords(edit.add_keywords)
    subject = _list(doc.get("XMP-dc:Subject"))
    for k in flat:
        want(k in subject, f"keyword {k!r} not in XMP dc:subject {subject}")
        if iptc:
            want(k in _list(doc.get("IPTC:Keywords")), f"keyword {k!r} not in IPTC Keywords")
    for p in paths:
        want(p in _list(doc.get("XMP-lr:HierarchicalSubject")), f"{p!r} not in lr:hierarchicalSubject")
        want(p.replace("|", "/") in _list(doc.get("XMP-digiKam:TagsList")), f"{p!r} not in digiKam:TagsList")
    for k in edit.remove_keywords:
        want(leaf(k) not in subject, f"removed keyword {k!r} still in dc:subject")
        if iptc:
            want(leaf(k) not in _list(doc.get("IPTC:Keywords")), f"removed keyword {k!r} still in IPTC")
    if iptc and (flat or edit.remove_keywords):
        want(doc.get("IPTC:CodedCharacterSet") in ("UTF8", "\x1b%G"), "IPTC has no UTF-8 character-set marker")
    if edit.rating is not None:
        want(str(doc.get("XMP-xmp:Rating")) == str(edit.rating), f"rating reads {doc.get('XMP-xmp:Rating')!r}")
    if edit.label:
        want(doc.get("XMP-xmp:Label") == edit.label, f"label reads {doc.get('XMP-xmp:Label')!r}")
    for name, xmp, exif, iptc_tag in MIRRORED_TEXT:
        value = getattr(edit, name)
        if not value:
            continue
        found = doc.get(xmp)
        want(value in _list(found) if name == "artist" else found == value, f"{name} reads {found!r} in XMP {xmp}")
        if embedded and exif:
            want(doc.get(exif) == value, f"{name} differs in EXIF {exif}: {doc.get(exif)!r}")
        if iptc and iptc_tag:
            want(value in _list(doc.get(iptc_tag)), f"{name} differs in IPTC {iptc_tag}: {doc.get(iptc_tag)!r}")
    if edit.gps is not None:
        lat = _first(doc, "Composite:GPSLatitude", "XMP-exif:GPSLatitude")
        lon = _first(doc, "Composite:GPSLongitude", "XMP-exif:GPSLongitude")
        ok = lat is not None and lon is not None and abs(float(lat) - edit.gps.lat) < 1e-6 and \
            abs(float(lon) - edit.gps.lon) < 1e-6
        want(ok, f"GPS reads {lat}, {lon} (wrote {edit.gps.lat}, {edit.gps.lon})")
        if edit.gps.alt is not None:
            alt = _first(doc, "Composite:GPSAltitude", "XMP-exif:GPSAltitude")
            ref = _first(doc, "GPS:GPSAltitudeRef", "XMP-exif:GPSAltitudeRef")
            if alt is not None and "Composite:GPSAltitude" not in doc and str(ref) == "1":
                alt = -float(alt)
            want(alt is not None and abs(float(alt) - edit.gps.alt) < 0.01, f"altitude reads {alt}")
    if edit.date is not None:
        if embedded:
            want(doc.get("ExifIFD:DateTimeOriginal") == edit.date.exif,
                 f"DateTimeOriginal reads {doc.get('ExifIFD:DateTimeOriginal')!r}")
            if edit.date.exif_offset:
                want(doc.get("ExifIFD:OffsetTimeOriginal") == edit.date.exif_offset, "OffsetTimeOriginal differs")
        else:
            got = str(doc.get("XMP-exif:DateTimeOriginal") or "")
            want(got.startswith(edit.date.exif) and got.endswith(edit.date.exif_offset or ""),
                 f"XMP DateTimeOriginal reads {got!r}")
    return problems


def warnings_of(et: ExifTool, path: os.PathLike | str) -> list[str]:
    return et.validate(path)


def verify_write(et: ExifTool, path: os.PathLike | str, edit: TagEdit, fmt: str,
                 warnings_before: list[str] | None = None) -> list[str]:
    """Problems with a written file: values that do not read back, and new validation warnings."""
    doc = et.read_json(path, "-n")
    problems = readback_problems(doc, edit, fmt)
    if warnings_before is not None:
        new = new_warnings(warnings_before, et.validate(path))
        if new:
            problems.append(f"exiftool -validate: new warning(s): {'; '.join(new)}")
    return problems


def new_warnings(before: list[str], after: list[str]) -> list[str]:
    """Warnings after a write that were not there before (offsets in ExifTool's maker-note guesses and
    counts aside, the same warning text is the same problem)."""
    import re

    def key(w: str) -> str:
        return re.sub(r"-?\d+", "#", w)

    seen = {key(w) for w in before}
    return [w for w in after if key(w) not in seen]
