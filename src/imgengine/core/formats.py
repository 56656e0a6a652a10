"""Format detection from magic bytes, never from the file name."""

from __future__ import annotations

from pathlib import Path

HEAD_BYTES = 64

# canonical format name -> extensions that honestly carry it
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "jpeg": (".jpg", ".jpeg", ".jpe", ".jfif"),
    "png": (".png",),
    "heic": (".heic", ".heif", ".hif"),
    "avif": (".avif",),
    "tiff": (".tif", ".tiff"),
    "webp": (".webp",),
    "gif": (".gif",),
    "bmp": (".bmp", ".dib"),
    "raw": (".dng", ".nef", ".nrw", ".cr2", ".cr3", ".arw", ".srf", ".sr2", ".orf", ".rw2", ".raf", ".pef",
            ".srw", ".tif", ".tiff"),
}

RAW_EXTENSIONS = frozenset(EXTENSIONS["raw"]) - {".tif", ".tiff"}
# every extension that makes a file worth opening during a scan
CANDIDATE_EXTENSIONS = frozenset(e for exts in EXTENSIONS.values() for e in exts)

_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}


def detect_format(head: bytes, suffix: str = "") -> str | None:
    """Return the canonical format of a file from its first bytes, or None if it is no image we read.

    TIFF-based RAW files (DNG, NEF, CR2, ARW, ORF, RW2, PEF...) share TIFF's magic; they are told
    apart by their extension and reported as "raw". CR3 is an ISO-BMFF file with the ``crx`` brand.
    """
    suffix = suffix.lower()
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"IIRO", b"IIU\x00", b"MMOR"):
        # IIRO = Olympus ORF, IIU = Panasonic RW2, MMOR = Olympus big-endian ORF
        if head[:4] in (b"IIRO", b"IIU\x00", b"MMOR"):
            return "raw"
        if suffix in RAW_EXTENSIONS or head[8:10] == b"CR":  # CR2 has "CR" at offset 8
            return "raw"
        return "tiff"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:2] == b"BM" and len(head) >= 26:
        return "bmp"
    if head[4:8] == b"ftyp":
        major = head[8:12]
        brands = {major} | {head[i:i + 4] for i in range(16, min(len(head), 48), 4)}
        if major == b"crx ":
            return "raw"
        if major in _AVIF_BRANDS:
            return "avif"
        if major in _HEIF_BRANDS or brands & _HEIF_BRANDS:
            if brands & _AVIF_BRANDS and not brands & {b"heic", b"heix", b"hevc", b"hevx"}:
                return "avif"
            return "heic"
        if brands & _AVIF_BRANDS:
            return "avif"
    if head[:8] == b"FUJIFILM":
        return "raw"
    return None


def extension_matches(fmt: str, suffix: str) -> bool:
    """True when the file name's extension is an honest one for the detected format."""
    suffix = suffix.lower()
    if fmt == "raw":
        return suffix in RAW_EXTENSIONS or suffix in (".tif", ".tiff")
    return suffix in EXTENSIONS.get(fmt, ())


def sniff(path: Path) -> str | None:
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    return detect_format(head, path.suffix)
