"""Find the EXIF, XMP and IPTC blocks of an image file, wherever its container keeps them, and its size.

Walks only the container structure (JPEG markers up to the scan data, PNG chunks, RIFF chunks, TIFF
IFD0, HEIF boxes): no pixel is decoded. Every step checks its bounds; what is wrong in the file becomes
a line in ``warnings`` and the walk keeps what it found so far.
"""

from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass, field
from typing import Any

XMP_SIG = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_EXT_SIG = b"http://ns.adobe.com/xmp/extension/\x00"
PHOTOSHOP_SIG = b"Photoshop 3.0\x00"

# JPEG start-of-frame markers that carry the image size (not DHT C4, JPG C8, DAC CC)
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


@dataclass
class MetadataBlocks:
    """Where the metadata of one file is: EXIF as (buffer, offset of the TIFF header), XMP packets, IPTC."""

    container: str = "unknown"
    exif: tuple[Any, int] | None = None
    xmp: list[bytes] = field(default_factory=list)
    iptc: bytes | None = None
    width: int | None = None
    height: int | None = None
    # HEIF: the orientation comes from the irot/imir boxes, the size pillow-heif reports is upright
    heif_rotation: int | None = None
    heif_exif_orientation: int | None = None
    # JPEG APP12 "[picture info]" text of some late-1990s cameras (Olympus, Agfa, Polaroid): key -> value
    picture_info: dict[str, str] = field(default_factory=dict)
    # Canon CIFF heap in a JPEG APP0 segment (PowerShot cameras of ~2000): Make, Model, TimeStamp, FocalLength
    ciff: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def find_metadata_blocks(buf: Any, warnings: list[str] | None = None) -> MetadataBlocks:
    """Locate metadata in ``buf`` (bytes or mmap of the whole file)."""
    blocks = MetadataBlocks(warnings=warnings if warnings is not None else [])
    head = bytes(buf[:16])
    try:
        if head[:2] == b"\xff\xd8":
            blocks.container = "jpeg"
            _walk_jpeg(buf, blocks)
        elif head[:8] == b"\x89PNG\r\n\x1a\n":
            blocks.container = "png"
            _walk_png(buf, blocks)
        elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            blocks.container = "webp"
            _walk_webp(buf, blocks)
        elif head[:4] in (b"II*\x00", b"MM\x00*"):
            blocks.container = "tiff"
            blocks.exif = (buf, 0)
        elif head[4:8] == b"ftyp":
            blocks.container = "heif"
            _read_heif(buf, blocks)
        else:
            _read_with_pillow(buf, blocks)
    except Exception as exc:  # noqa: BLE001 - a container we cannot walk: keep what was found, say so
        blocks.warnings.append(f"{blocks.container}: could not read the file structure ({_short(exc)})")
    return blocks


def _short(exc: BaseException) -> str:
    text = re.sub(r" <[^>]* at 0x[0-9a-f]+>", "", f"{type(exc).__name__}: {exc}")
    return text if len(text) <= 160 else text[:157] + "..."


def _walk_jpeg(buf: Any, blocks: MetadataBlocks) -> None:
    n = len(buf)
    pos = 2
    extended: dict[bytes, dict[int, bytes]] = {}
    while pos + 4 <= n:
        if buf[pos] != 0xFF:
            nxt = bytes(buf[pos:min(n, pos + 65536)]).find(b"\xff")
            blocks.warnings.append(f"jpeg: {nxt if nxt >= 0 else 'many'} stray bytes between markers at {pos}")
            if nxt < 0:
                return
            pos += nxt
            continue
        marker = buf[pos + 1]
        if marker == 0xFF:          # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:   # no length
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan: the header is over
            break
        length = (buf[pos + 2] << 8) | buf[pos + 3]
        start, end = pos + 4, pos + 2 + length
        if length < 2 or end > n:
            blocks.warnings.append(f"jpeg: segment 0x{marker:02X} at {pos} runs past the end of the file")
            end = n
        if marker == 0xE1:
            sig = bytes(buf[start:start + 35])
            if sig[:4] == b"Exif" and blocks.exif is None:
                blocks.exif = (buf, start + 6)
            elif sig.startswith(XMP_SIG):
                blocks.xmp.insert(0, bytes(buf[start + len(XMP_SIG):end]))
            elif sig.startswith(XMP_EXT_SIG):
                body = start + len(XMP_EXT_SIG)
                if body + 40 <= end:
                    guid = bytes(buf[body:body + 32])
                    offset = struct.unpack_from(">L", buf, body + 36)[0]
                    extended.setdefault(guid, {})[offset] = bytes(buf[body + 40:end])
        elif (marker == 0xED and blocks.iptc is None
              and bytes(buf[start:start + len(PHOTOSHOP_SIG)]) == PHOTOSHOP_SIG):
            blocks.iptc = iptc_from_photoshop_irb(bytes(buf[start + len(PHOTOSHOP_SIG):end]), blocks.warnings)
        elif marker == 0xE0 and not blocks.ciff and bytes(buf[start + 6:start + 14]) == b"HEAPJPGM":
            blocks.ciff = parse_ciff(bytes(buf[start:end]), blocks.warnings)
        elif marker == 0xEC and not blocks.picture_info:
            segment = bytes(buf[start:end])
            if b"[picture info]" in segment[:256]:
                blocks.picture_info = parse_picture_info(segment)
        elif marker in _SOF and blocks.width is None and start + 5 <= n:
            blocks.height, blocks.width = struct.unpack_from(">HH", buf, start + 1)
        pos = end
    for parts in extended.values():
        blocks.xmp.append(b"".join(parts[k] for k in sorted(parts)))


def parse_ciff(segment: bytes, warnings: list[str]) -> dict[str, Any]:
    """The few CIFF (Canon RAW heap) records we use: MakeModel 0x080a, TimeStamp 0x180e, FocalLength 0x1029."""
    out: dict[str, Any] = {}
    if segment[:2] != b"II" or len(segment) < 14:
        return out
    header = struct.unpack_from("<L", segment, 2)[0]

    def walk(start: int, end: int, depth: int) -> None:
        if depth > 8 or end - start < 6 or end > len(segment):
            return
        table = struct.unpack_from("<L", segment, end - 4)[0] + start
        if table + 2 > end:
            warnings.append("CIFF: directory offset outside its block")
            return
        count = struct.unpack_from("<H", segment, table)[0]
        for i in range(min(count, (end - table - 2) // 10)):
            tag, size, ptr = struct.unpack_from("<HLL", segment, table + 2 + 10 * i)
            if tag & 0x4000:
                at, size = table + 2 + 10 * i + 2, 8
            else:
                at = start + ptr
            if at + size > end:
                continue
            kind, tag_id = tag & 0x3800, tag & 0x3FFF
            if kind in (0x2800, 0x3000):
                walk(at, at + size, depth + 1)
            elif tag_id == 0x080A:
                parts = segment[at:at + size].split(b"\x00")
                out["Make"], out["Model"] = (p.decode("latin-1").strip() for p in (parts + [b"", b""])[:2])
            elif tag_id == 0x180E and size >= 4:
                out["TimeStamp"] = struct.unpack_from("<L", segment, at)[0]
            elif tag_id == 0x1029 and size >= 4:
                out["FocalLength"] = struct.unpack_from("<H", segment, at + 2)[0]
            elif tag_id == 0x102D and size >= 52:
                out["FocalUnits"] = struct.unpack_from("<H", segment, at + 50)[0]

    walk(header, len(segment), 0)
    return out


def parse_picture_info(segment: bytes) -> dict[str, str]:
    """``key=value`` lines of an APP12 Picture Info segment (every section, as ExifTool reads them)."""
    out: dict[str, str] = {}
    for line in segment[segment.find(b"[picture info]"):].splitlines():
        key, sep, value = line.partition(b"=")
        if sep and key.strip() and not key.startswith(b"["):
            out.setdefault(key.strip().decode("latin-1"), value.strip(b"\x00\xff ").decode("latin-1"))
    return out


def iptc_from_photoshop_irb(irb: bytes, warnings: list[str]) -> bytes | None:
    """Return the IPTC-NAA resource (ID 0x0404) of a Photoshop image resource block."""
    pos, n = 0, len(irb)
    while pos + 12 <= n:
        if irb[pos:pos + 4] not in (b"8BIM", b"PHUT", b"AgHg", b"DCSR"):
            warnings.append("iptc: damaged Photoshop resource block")
            return None
        rid = struct.unpack_from(">H", irb, pos + 4)[0]
        name_len = irb[pos + 6]
        pos += 6 + ((name_len + 2) & ~1)            # Pascal name padded to an even length
        if pos + 4 > n:
            break
        size = struct.unpack_from(">L", irb, pos)[0]
        pos += 4
        if rid == 0x0404:
            return irb[pos:pos + size]
        pos += size + (size & 1)
    return None


def _walk_png(buf: Any, blocks: MetadataBlocks) -> None:
    n = len(buf)
    pos = 8
    while pos + 8 <= n:
        length, ctype = struct.unpack_from(">L4s", buf, pos)
        data_start = pos + 8
        if data_start + length > n:
            blocks.warnings.append(f"png: chunk {ctype!r} runs past the end of the file")
            length = n - data_start
        if ctype == b"IHDR" and length >= 8:
            blocks.width, blocks.height = struct.unpack_from(">LL", buf, data_start)
        elif ctype == b"eXIf" and blocks.exif is None:
            chunk = bytes(buf[data_start:data_start + length])
            if chunk[:6] == b"Exif\x00\x00":
                chunk = chunk[6:]
            blocks.exif = (chunk, 0)
        elif ctype == b"iTXt":
            chunk = bytes(buf[data_start:data_start + length])
            if chunk.startswith(b"XML:com.adobe.xmp\x00"):
                packet = _itxt_text(chunk, blocks.warnings)
                if packet is not None:
                    blocks.xmp.append(packet)
        elif ctype == b"IEND":
            break       # eXIf and iTXt may follow the image data, so the walk goes on to IEND
        pos = data_start + length + 4


def _itxt_text(chunk: bytes, warnings: list[str]) -> bytes | None:
    keyword_end = chunk.find(b"\x00")
    compressed = chunk[keyword_end + 1] if keyword_end + 1 < len(chunk) else 0
    rest = chunk[keyword_end + 3:]
    lang_end = rest.find(b"\x00")
    rest = rest[lang_end + 1:]
    tkey_end = rest.find(b"\x00")
    text = rest[tkey_end + 1:]
    if compressed:
        import zlib

        try:
            text = zlib.decompress(text)
        except zlib.error:
            warnings.append("png: compressed XMP chunk is damaged")
            return None
    return text


def _walk_webp(buf: Any, blocks: MetadataBlocks) -> None:
    n = min(len(buf), 8 + struct.unpack_from("<L", buf, 4)[0])
    pos = 12
    while pos + 8 <= n:
        ctype, length = struct.unpack_from("<4sL", buf, pos)
        start = pos + 8
        end = min(start + length, len(buf))
        if ctype == b"VP8X" and length >= 10:
            w = buf[start + 4] | (buf[start + 5] << 8) | (buf[start + 6] << 16)
            h = buf[start + 7] | (buf[start + 8] << 8) | (buf[start + 9] << 16)
            blocks.width, blocks.height = w + 1, h + 1
        elif ctype == b"VP8 " and blocks.width is None and length >= 10:
            w, h = struct.unpack_from("<HH", buf, start + 6)
            blocks.width, blocks.height = w & 0x3FFF, h & 0x3FFF
        elif ctype == b"VP8L" and blocks.width is None and length >= 5:
            bits = struct.unpack_from("<L", buf, start + 1)[0]
            blocks.width, blocks.height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        elif ctype == b"EXIF" and blocks.exif is None:
            chunk = bytes(buf[start:end])
            if chunk[:6] == b"Exif\x00\x00":
                chunk = chunk[6:]
            blocks.exif = (chunk, 0)
        elif ctype == b"XMP ":
            blocks.xmp.append(bytes(buf[start:end]))
        pos = start + length + (length & 1)


def _tiff_start(exif: bytes) -> int:
    """Offset of the TIFF header in an EXIF blob that may or may not start with ``Exif\\0\\0``."""
    for mark in (b"II*\x00", b"MM\x00*"):
        i = exif.find(mark, 0, 64)
        if i >= 0:
            return i
    return 0


def _read_heif(buf: Any, blocks: MetadataBlocks) -> None:
    """HEIF/AVIF: EXIF and XMP through pillow-heif (or Pillow's AVIF), stored size from the ispe box."""
    from PIL import Image

    from .decode import register_heif

    register_heif()
    try:
        _heif_boxes(buf, blocks)
    except Exception as exc:  # noqa: BLE001 - damaged boxes: fall back to pillow-heif's size
        blocks.warnings.append(f"heif: could not read the item properties ({_short(exc)})")
    with Image.open(io.BytesIO(bytes(buf))) as img:
        info = img.info
        if blocks.width is None:
            blocks.width, blocks.height = img.size
        exif = info.get("exif")
        if exif:
            blocks.exif = (exif, _tiff_start(exif))
        orientation = info.get("original_orientation")
        if orientation:
            blocks.heif_exif_orientation = int(orientation)
        xmp = info.get("xmp")
        if xmp:
            blocks.xmp.append(xmp if isinstance(xmp, bytes) else str(xmp).encode("utf-8"))


def _heif_boxes(buf: Any, blocks: MetadataBlocks) -> None:
    """Read the primary item's ispe (stored size) and irot (rotation) from the meta box."""
    n = len(buf)
    meta = _find_box(buf, 0, n, b"meta")
    if meta is None:
        return
    mstart, mend = meta[0] + 4, meta[1]        # meta is a full box: skip version/flags
    pitm = _find_box(buf, mstart, mend, b"pitm")
    primary = None
    if pitm is not None:
        version = buf[pitm[0]]
        primary = struct.unpack_from(">H" if version == 0 else ">L", buf, pitm[0] + 4)[0]
    iprp = _find_box(buf, mstart, mend, b"iprp")
    if iprp is None or primary is None:
        return
    ipco = _find_box(buf, iprp[0], iprp[1], b"ipco")
    ipma = _find_box(buf, iprp[0], iprp[1], b"ipma")
    if ipco is None or ipma is None:
        return
    props: list[tuple[bytes, int, int]] = []
    pos = ipco[0]
    while pos + 8 <= ipco[1]:
        size, btype = struct.unpack_from(">L4s", buf, pos)
        if size < 8:
            break
        props.append((btype, pos + 8, pos + size))
        pos += size
    version, flags = buf[ipma[0]], int.from_bytes(bytes(buf[ipma[0] + 1:ipma[0] + 4]), "big")
    pos = ipma[0] + 4
    count = struct.unpack_from(">L", buf, pos)[0]
    pos += 4
    for _ in range(count):
        if version < 1:
            item = struct.unpack_from(">H", buf, pos)[0]
            pos += 2
        else:
            item = struct.unpack_from(">L", buf, pos)[0]
            pos += 4
        nassoc = buf[pos]
        pos += 1
        indices = []
        for _ in range(nassoc):
            if flags & 1:
                indices.append(struct.unpack_from(">H", buf, pos)[0] & 0x7FFF)
                pos += 2
            else:
                indices.append(buf[pos] & 0x7F)
                pos += 1
        if item != primary:
            continue
        for idx in indices:
            if not 1 <= idx <= len(props):
                continue
            btype, start, _end = props[idx - 1]
            if btype == b"ispe":
                blocks.width, blocks.height = struct.unpack_from(">LL", buf, start + 4)
            elif btype == b"irot":
                blocks.heif_rotation = (buf[start] & 3) * 90
        return


def _find_box(buf: Any, start: int, end: int, want: bytes) -> tuple[int, int] | None:
    pos = start
    while pos + 8 <= end:
        size, btype = struct.unpack_from(">L4s", buf, pos)
        header = 8
        if size == 1:
            size = struct.unpack_from(">Q", buf, pos + 8)[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            return None
        if btype == want:
            return pos + header, min(pos + size, end)
        pos += size
    return None


def _read_with_pillow(buf: Any, blocks: MetadataBlocks) -> None:
    """Any other format Pillow opens (GIF, BMP, AVIF...): its size and whatever EXIF/XMP it exposes."""
    from PIL import Image

    from .decode import register_heif

    register_heif()
    with Image.open(io.BytesIO(bytes(buf))) as img:
        blocks.container = (img.format or "unknown").lower()
        blocks.width, blocks.height = img.size
        exif = img.info.get("exif")
        if exif:
            blocks.exif = (exif, _tiff_start(exif))
        xmp = img.info.get("xmp")
        if xmp:
            blocks.xmp.append(xmp if isinstance(xmp, bytes) else str(xmp).encode("utf-8"))
