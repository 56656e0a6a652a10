"""XMP sidecars: where they are (``photo.xmp``, Lightroom/darktable style, or ``photo.HEIC.xmp``, digiKam
style) and reading them back (a sidecar's values win over the embedded ones, as in digiKam)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UsageError

NAMINGS = ("stem", "full")      # photo.xmp | photo.HEIC.xmp


def sidecar_candidates(photo: Path) -> list[Path]:
    """Existing-sidecar names to look for, most specific first (both spellings of the extension)."""
    return [Path(c) for c in _candidates(os.fspath(photo))]


def _candidates(photo: str) -> list[str]:
    # string operations, not Path.with_name/with_suffix: this runs once per photo on the metadata-only path
    head, name = os.path.split(photo)
    stem, dot, ext = name.rpartition(".")
    base = os.path.join(head, stem) if dot and stem and ext else photo
    return [photo + ".xmp", photo + ".XMP", base + ".xmp", base + ".XMP"]


def find_sidecar(photo: Path) -> Path | None:
    text = os.fspath(photo)
    for cand in _candidates(text):
        if cand != text and os.path.isfile(cand):
            return Path(cand)
    return None


def sidecar_path(photo: Path, naming: str = "stem") -> Path:
    """The sidecar to write: an existing one (either naming), else the configured naming."""
    if naming not in NAMINGS:
        raise UsageError(f"sidecar naming {naming!r}: use stem (photo.xmp) or full (photo.HEIC.xmp)")
    found = find_sidecar(photo)
    if found is not None:
        return found
    photo = Path(photo)
    return photo.with_name(photo.name + ".xmp") if naming == "full" else photo.with_suffix(".xmp")


def shared_stem_conflict(photo: Path, naming: str) -> bool:
    """``IMG_1.CR2`` and ``IMG_1.JPG`` both map to ``IMG_1.xmp`` with the stem naming: a sidecar there
    would describe two files."""
    if naming != "stem":
        return False
    photo = Path(photo)
    try:
        siblings = [p for p in photo.parent.iterdir()
                    if p.stem == photo.stem and p != photo and p.suffix.lower() not in (".xmp",)]
    except OSError:
        return False
    return bool(siblings)


def read_sidecar(photo: Path) -> bytes | None:
    path = find_sidecar(photo)
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            return f.read(16 << 20)
    except OSError:
        return None
