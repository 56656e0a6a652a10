"""Metadata values as people read them, computed in one place so `stats`, `rename` and `show` agree.

``camera_name`` follows what digiKam and ExifTool users expect: the brand once, then the model
("OLYMPUS E-M5", not "OLYMPUS IMAGING CORP. E-M5"; "KODAK DX6490", not "EASTMAN KODAK COMPANY KODAK DX6490").
"""

from __future__ import annotations

import re

# Make strings as cameras write them -> the brand people use. Matched on the upper-cased make with
# punctuation collapsed; anything else has its corporate words removed (see _brand).
_BRANDS = {
    "EASTMAN KODAK COMPANY": "KODAK", "KODAK": "KODAK",
    "OLYMPUS IMAGING CORP": "OLYMPUS", "OLYMPUS CORPORATION": "OLYMPUS", "OLYMPUS OPTICAL CO LTD": "OLYMPUS",
    "OM DIGITAL SOLUTIONS": "OM SYSTEM",
    "NIKON CORPORATION": "NIKON", "NIKON": "NIKON",
    "SAMSUNG TECHWIN": "SAMSUNG", "SAMSUNG TECHWIN CO": "SAMSUNG", "SAMSUNG ELECTRONICS": "SAMSUNG",
    "PENTAX CORPORATION": "PENTAX", "ASAHI OPTICAL CO LTD": "PENTAX",
    "RICOH IMAGING COMPANY LTD": "RICOH", "RICOH IMAGING COMPANY": "RICOH",
    "MINOLTA CO LTD": "Minolta", "KONICA MINOLTA CAMERA INC": "Konica Minolta", "KONICA MINOLTA": "Konica Minolta",
    "CASIO COMPUTER CO LTD": "CASIO", "SEIKO EPSON CORP": "EPSON", "HEWLETT-PACKARD": "HP",
    "LG ELECTRONICS": "LG", "LEICA CAMERA AG": "Leica", "SANYO ELECTRIC CO LTD": "SANYO",
    "SONY ERICSSON": "Sony Ericsson", "HTC CORPORATION": "HTC", "SIGMA CORPORATION": "SIGMA",
    "FUJI PHOTO FILM CO LTD": "FUJIFILM",
}
_CORPORATE = {"CORPORATION", "CORP", "COMPANY", "CO", "LTD", "LIMITED", "INC", "IMAGING", "OPTICAL", "ELECTRIC",
              "ELECTRONICS", "AG", "GMBH", "TECHWIN", "DIGITAL", "CAMERA", "SOLUTIONS"}


def _clean(text: str | None) -> str:
    return re.sub(r"\s+", " ", (text or "").replace("\x00", " ")).strip()


def _key(make: str) -> str:
    return re.sub(r"[\s,.]+", " ", make.upper()).strip()


def _brand(make: str) -> str:
    key = _key(make)
    if key in _BRANDS:
        return _BRANDS[key]
    words = [w for w in re.split(r"[\s,]+", make) if w]
    kept = [w for w in words if w.upper().strip(".") not in _CORPORATE]
    return " ".join(kept) if kept else make


def camera_name(make: str | None, model: str | None) -> str | None:
    """The one display name of a camera: the brand, then the model without the brand repeated.

    "Canon" + "Canon EOS 40D" -> "Canon EOS 40D"; "OLYMPUS IMAGING CORP." + "E-M5" -> "OLYMPUS E-M5";
    "EASTMAN KODAK COMPANY" + "KODAK DX6490 ZOOM DIGITAL CAMERA" -> "KODAK DX6490 ZOOM DIGITAL CAMERA";
    "Apple" + "iPhone 6" -> "Apple iPhone 6"; None when neither is known.
    """
    make, model = _clean(make), _clean(model)
    if not make and not model:
        return None
    if not make:
        return model
    brand = _brand(make)
    if not model:
        return brand
    upper = model.upper()
    for prefix in (brand.upper(), make.upper(), brand.split()[0].upper()):
        if upper == prefix or upper.startswith(prefix + " ") or upper.startswith(prefix + "-"):
            return model
    first = upper.split()[0]
    if first in {w.upper() for w in re.split(r"[\s,]+", make) if w} - _CORPORATE:
        return model  # "NIKON CORPORATION" + "NIKON D70", "Minolta Co., Ltd." + "MINOLTA DiMAGE 7"
    return f"{brand} {model}"


def exposure_text(seconds: float | None) -> str | None:
    """1/75 s, 1/4000 s, 0.5 s, 2 s, 30 s."""
    if seconds is None or seconds <= 0:
        return None
    if seconds < 0.3:  # shutter speeds are reciprocals: show the nearest 1/N
        return f"1/{round(1 / seconds):d} s"
    from fractions import Fraction  # imported when used: `stats` never formats an exposure

    frac = Fraction(seconds).limit_denominator(10)
    return f"{float(frac):g} s"


def aperture_text(f_number: float | None) -> str | None:
    return f"f/{f_number:.1f}".replace(".0", "") if f_number else None


def focal_length_text(mm: float | None, mm_35: float | None = None) -> str | None:
    if not mm:
        return None
    text = f"{mm:.1f}".rstrip("0").rstrip(".") + " mm"
    if mm_35 and abs(mm_35 - mm) > 0.5:
        text += f" ({mm_35:.0f} mm in 35 mm terms)"
    return text


_FLASH_MODE = {1: "compulsory", 2: "off", 3: "auto"}
_FLASH_RETURN = {2: "no strobe return", 3: "strobe return"}


def flash_text(value: int | None) -> str | None:
    """The EXIF Flash bit field in words: "flash fired, red-eye", "flash did not fire, auto", "no flash"."""
    if value is None:
        return None
    if value & 0x20:
        return "no flash"
    parts = ["flash fired" if value & 0x01 else "flash did not fire"]
    mode = _FLASH_MODE.get((value >> 3) & 0x3)
    if mode:
        parts.append(mode)
    if value & 0x40:
        parts.append("red-eye")
    ret = _FLASH_RETURN.get((value >> 1) & 0x3)
    if ret and value & 0x01:
        parts.append(ret)
    return ", ".join(parts)


def file_size_text(size: int | None) -> str | None:
    if size is None:
        return None
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return None


__all__ = ["aperture_text", "camera_name", "exposure_text", "file_size_text", "flash_text", "focal_length_text"]
