"""ISO and lens name from the maker notes of cameras that leave the EXIF tags empty.

ISO: older Canon and Casio compacts; lens: Olympus (its Equipment IFD). Read only when EXIF and XMP
have no value, so the cost is paid by those files alone. The values are
ExifTool's: Canon's composite ISO (CameraISO when numeric, else BaseISO * AutoISO / 100) and Casio's
raw ISO tag (0x0014).
"""

from __future__ import annotations

import math
import struct
from typing import Any

from .tiff_ifd import TiffIfdReader

_CANON_ISO = {16: 50, 17: 100, 18: 200, 19: 400, 20: 800}


def iso_from_maker_notes(make: str | None, buf: Any, base: int, endian: str, where: tuple[int, int],
                         warnings: list[str]) -> float | None:
    """``where`` is (absolute position, size) of the MakerNote data; offsets count from ``base``."""
    if not make:
        return None
    pos, size = where
    maker = make.upper()
    try:
        if maker.startswith("CANON"):
            return _canon_iso(buf, base, endian, pos, size, warnings)
        if maker.startswith("CASIO"):
            return _casio_iso(buf, base, endian, pos, warnings)
    except (struct.error, IndexError, ValueError, TypeError) as exc:
        warnings.append(f"maker notes: could not be read ({exc})")
    return None


def _canon_iso(buf: Any, base: int, endian: str, pos: int, size: int, warnings: list[str]) -> float | None:
    # Canon ends its maker notes with a TIFF-like footer holding their original offset: when software
    # moved the block, value offsets are still relative to where it was.
    shift = 0
    if size >= 8:
        tail = bytes(buf[pos + size - 8:pos + size])
        if tail[:4] in (b"II*\x00", b"MM\x00*"):
            original = struct.unpack("<L" if tail[:2] == b"II" else ">L", tail[4:])[0]
            shift = (pos - base) - original
    endian = _guess_endian(buf, pos, endian)
    reader = TiffIfdReader(buf, base + shift, warnings, where="Canon maker notes", endian=endian)
    tags, _ = reader.read_ifd(pos - base - shift, frozenset({0x0001, 0x0004}), "Canon maker notes")
    settings, shot = tags.get(0x0001), tags.get(0x0004)
    if isinstance(settings, tuple) and len(settings) > 16:
        raw = settings[16]
        if raw != 0x7FFF:
            iso = raw & 0x3FFF if raw & 0x4000 else _CANON_ISO.get(raw)
            if iso:
                return float(iso)
    if isinstance(shot, tuple) and len(shot) > 2:
        auto_raw, base_raw = (v - 65536 if v >= 32768 else v for v in shot[1:3])
        if base_raw:
            base_iso = math.exp(base_raw / 32 * math.log(2)) * 100 / 32
            auto_iso = math.exp(auto_raw / 32 * math.log(2)) * 100
            return base_iso * auto_iso / 100
    return None


def _casio_iso(buf: Any, base: int, endian: str, pos: int, warnings: list[str]) -> float | None:
    start = pos + 6 if bytes(buf[pos:pos + 4]) in (b"QVC\x00", b"DCI\x00") else pos
    reader = TiffIfdReader(buf, base, warnings, where="Casio maker notes", endian=_guess_endian(buf, start, endian))
    tags, _ = reader.read_ifd(start - base, frozenset({0x0014, 0x3014}), "Casio maker notes")
    value = tags.get(0x3014, tags.get(0x0014))   # ExifTool: the later of the two ISO tags wins
    if isinstance(value, tuple):
        value = value[0] if value else None
    return float(value) if isinstance(value, int) else None


def _guess_endian(buf: Any, pos: int, endian: str) -> str:
    """Maker notes keep the camera's byte order even when software rewrote EXIF in the other one."""
    raw = bytes(buf[pos:pos + 2])
    if len(raw) < 2:
        return endian
    mine, other = struct.unpack(endian + "H", raw)[0], struct.unpack(("<" if endian == ">" else ">") + "H", raw)[0]
    # a count of n < 256 read in the wrong order is n * 256: the smaller reading is the right one
    if mine and (not other or mine <= other):
        return endian
    return "<" if endian == ">" else ">"


def lens_from_maker_notes(make: str | None, buf: Any, where: tuple[int, int], warnings: list[str]) -> str | None:
    """Olympus ("OLYMPUS\\0II" maker notes, offsets from their own start): Equipment IFD, LensModel 0x0203."""
    if not make or not make.upper().startswith("OLYMPUS"):
        return None
    pos, _size = where
    head = bytes(buf[pos:pos + 12])
    if head[:8] != b"OLYMPUS\x00" or head[8:10] not in (b"II", b"MM"):
        return None
    try:
        endian = "<" if head[8:10] == b"II" else ">"
        reader = TiffIfdReader(buf, pos, warnings, where="Olympus maker notes", endian=endian)
        main, _ = reader.read_ifd(12, frozenset({0x2010}), "Olympus maker notes")
        equipment = main.get(0x2010)
        if isinstance(equipment, tuple):
            equipment = equipment[0] if equipment else None
        if not isinstance(equipment, int):
            return None
        tags, _ = reader.read_ifd(equipment, frozenset({0x0203}), "Olympus Equipment")
    except (struct.error, IndexError, ValueError, TypeError) as exc:
        warnings.append(f"maker notes: could not be read ({exc})")
        return None
    lens = tags.get(0x0203)
    if isinstance(lens, bytes):
        text = lens.split(b"\x00", 1)[0].decode("latin-1").strip()
        return text or None
    return None
