"""JPEG container details the exiv2 writer leaves to us: the Photoshop IPTC digest kept current, and
the scan (entropy-coded) data located, so that a lossless rewrite can be checked."""

from __future__ import annotations

import hashlib
import struct

PHOTOSHOP = b"Photoshop 3.0\x00"


def segments(data: bytes):
    """(marker, start of the segment's payload, end) for each segment before the scan."""
    if data[:2] != b"\xff\xd8":
        return
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0xDA or marker == 0xD9:
            return
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        yield marker, pos + 4, pos + 2 + length
        pos += 2 + length


def scan_offset(data: bytes) -> int | None:
    """Where the first SOS marker starts (everything from there on is the compressed picture)."""
    last = None
    for _marker, _start, end in segments(data):
        last = end
    if last is None or data[last:last + 2] != b"\xff\xda":
        return None
    return last


def _resources(block: bytes, base: int):
    pos = 0
    while pos + 12 <= len(block) and block[pos:pos + 4] == b"8BIM":
        (rid,) = struct.unpack(">H", block[pos + 4:pos + 6])
        nlen = block[pos + 6]
        name_end = pos + 7 + nlen
        if (nlen + 1) % 2:
            name_end += 1
        (size,) = struct.unpack(">I", block[name_end:name_end + 4])
        start = name_end + 4
        yield rid, base + start, base + start + size
        pos = start + size + (size % 2)


def refresh_iptc_digest(data: bytes) -> bytes:
    """Photoshop keeps an MD5 of the IPTC block (resource 0x0425) to notice edits by other programs; after
    we change IPTC it must match again, or Photoshop/ExifTool report the XMP as out of sync."""
    iptc = digest = None
    for marker, start, end in segments(data):
        if marker != 0xED or data[start:start + len(PHOTOSHOP)] != PHOTOSHOP:
            continue
        try:
            for rid, rs, re_ in _resources(data[start + len(PHOTOSHOP):end], start + len(PHOTOSHOP)):
                if rid == 0x0404 and iptc is None:
                    iptc = (rs, re_)
                elif rid == 0x0425 and re_ - rs == 16:
                    digest = (rs, re_)
        except (struct.error, IndexError):
            return data
    if iptc is None or digest is None:
        return data
    new = hashlib.md5(data[iptc[0]:iptc[1]]).digest()  # noqa: S324 - Photoshop's own checksum, not security
    if data[digest[0]:digest[1]] == new:
        return data
    return data[:digest[0]] + new + data[digest[1]:]


def _exif_segment(data: bytes) -> tuple[int, int] | None:
    """(start, end) of the whole APP1 Exif segment, marker included."""
    for marker, start, end in segments(data):
        if marker == 0xE1 and data[start:start + 6] == b"Exif\x00\x00":
            return start - 4, end
    return None


def keep_exif_segment(new: bytes, original: bytes) -> bytes:
    """``new`` with its EXIF segment replaced by ``original``'s, byte for byte (EXIF offsets are relative
    to the segment's own TIFF header, so the segment may move). Used when only XMP/IPTC were meant to
    change: libexiv2 re-encodes some maker notes even when nothing in EXIF changed."""
    a, b = _exif_segment(new), _exif_segment(original)
    if a is None or b is None:
        return new
    if new[a[0]:a[1]] == original[b[0]:b[1]]:
        return new
    return new[:a[0]] + original[b[0]:b[1]] + new[a[1]:]


_MS_WRONG = b'xmlns:MicrosoftPhoto="http://ns.microsoft.com/photo/1.0/"'
_MS_RIGHT = b'xmlns:MicrosoftPhoto="http://ns.microsoft.com/photo/1.0" '     # same length: a space instead


def fix_xmp_namespaces(data: bytes, whole_file_is_xmp: bool = False) -> bytes:
    """libexiv2 writes Microsoft's photo namespace with a trailing slash, which Windows and ExifTool do not
    recognise (ExifTool warns "Fixed incorrect URI"); put Microsoft's own URI back, at the same length."""
    if _MS_WRONG not in data:
        return data
    if whole_file_is_xmp:
        return data.replace(_MS_WRONG, _MS_RIGHT)
    out = bytearray(data)
    for marker, start, end in segments(data):
        if marker == 0xE1 and data[start:start + 29] == b"http://ns.adobe.com/xap/1.0/\x00":
            out[start:end] = data[start:end].replace(_MS_WRONG, _MS_RIGHT)
    return bytes(out)


def without_exif(data: bytes) -> bytes:
    """``data`` without its APP1 EXIF segment(s): ``tag --repair`` rebuilds EXIF from nothing when the
    old block cannot be read at all."""
    out, pos = bytearray(), 0
    for marker, start, end in segments(data):
        if marker == 0xE1 and data[start:start + 6] == b"Exif\x00\x00":
            out += data[pos:start - 4]
            pos = end
    out += data[pos:]
    return bytes(out)
