"""XMP sidecars: where they are (``photo.xmp``, Lightroom/darktable style, or ``photo.HEIC.xmp``, digiKam
style) and reading them back (a sidecar's values win over the embedded ones, as in digiKam)."""

from __future__ import annotations

import os
from collections.abc import Callable
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


def find_sidecar(photo: Path, exists: Callable[[Path], bool] | None = None) -> Path | None:
    """The photo's existing sidecar; ``exists(path)`` (default: a file check) may answer from a folder scan."""
    text = os.fspath(photo)
    for cand in _candidates(text):
        if cand == text:
            continue
        if (os.path.isfile(cand) if exists is None else exists(Path(cand))):
            return Path(cand)
    return None


def sidecar_stamp(name: str, size: int, mtime_ns: int) -> str:
    """What identifies the sidecar a result was read with: its name, size and mtime (``analyze`` re-reads a
    photo whose sidecar stamp changed, appeared or went away, even when the photo itself did not change)."""
    return f"{name}:{size}:{mtime_ns}"


def current_sidecar_stamp(photo: Path, stat: Callable[[Path], tuple[int, int] | None]) -> str:
    """The stamp of ``photo``'s sidecar now ("" when it has none); ``stat(path)`` -> (size, mtime_ns) or
    None, from a folder scan already made (no system call per photo) or from ``os.stat``."""
    found = find_sidecar(photo, lambda p: stat(p) is not None)
    if found is None:
        return ""
    size, mtime_ns = stat(found)
    return sidecar_stamp(found.name, size, mtime_ns)


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


def read_sidecar(photo: Path) -> tuple[bytes, str] | None:
    """The photo's sidecar packet and its stamp (see ``sidecar_stamp``), or None when it has none."""
    path = find_sidecar(photo)
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            return f.read(16 << 20), sidecar_stamp(path.name, st.st_size, st.st_mtime_ns)
    except OSError:
        return None
