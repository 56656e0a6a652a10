"""One metadata writer for every command that changes metadata (``tag``, ``scrub``, ``duplicates
--merge-metadata``): it decides where an edit goes for each file and makes the journal's producers.

Where an edit goes:

* JPEG, PNG, WebP, TIFF: embedded, through libexiv2 in memory (``exiv2_backend``); an edit that changes
  EXIF in a file with maker notes goes through ExifTool when it is installed (it keeps maker notes intact,
  libexiv2 does not always).
* HEIC/HEIF, AVIF: embedded through ExifTool (one ``-stay_open`` process per run) when it is installed,
  otherwise an XMP sidecar (with one note saying so).
* RAW (and anything else we read but do not rewrite): an XMP sidecar, never the RAW itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.metadata_segments import find_metadata_blocks
from ..errors import MetadataError
from . import exiv2_backend
from .exiftool import ExifTool, exiftool_path
from .fields import TagEdit
from .sidecar import find_sidecar, shared_stem_conflict, sidecar_path

if TYPE_CHECKING:
    from ..analyzers.metadata import MetadataResult

EMBED_EXIV2 = frozenset({"jpeg", "png", "webp", "tiff"})
EMBED_EXIFTOOL = frozenset({"heic", "avif"})

Producer = Callable[[bytes | None, Path], bytes | None]
# what a format cannot carry, said in the plan (PNG: XMP in an iTXt chunk, EXIF in eXIf; WebP: its EXIF
# and XMP chunks; neither has a standard IPTC block, and libexiv2's "Raw profile type iptc" text chunk is
# an ImageMagick convention most readers ignore, so it is not written)
_NO_IPTC = ("has no standard IPTC block: keywords, title, description, artist and copyright go to XMP (and "
            "EXIF); IPTC not written")
NO_IPTC_NOTE = {"png": f"PNG {_NO_IPTC}", "webp": f"WebP {_NO_IPTC}"}


@dataclass(frozen=True)
class Target:
    """Where one file's edit is written. ``how``: exiv2 | exiftool | sidecar-new | sidecar."""

    photo: Path
    fmt: str
    how: str
    path: Path                    # the file that changes (the photo, or its sidecar)
    note: str | None = None


class MetadataWriter:
    """Per run: owns the ExifTool process (started on first use). Use as a context manager."""

    def __init__(self, sidecar_naming: str = "stem", use_exiftool: bool = True, sidecar_only: bool = False,
                 repair: bool = False):
        self.sidecar_naming = sidecar_naming
        self.repair = repair
        self.exiftool_available = use_exiftool and exiftool_path() is not None
        self.sidecar_only = sidecar_only
        self._et: ExifTool | None = None
        self._et_lock = threading.Lock()     # producers run in the journal's threads

    def __enter__(self) -> MetadataWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._et is not None:
            self._et.close()
            self._et = None

    @property
    def exiftool(self) -> ExifTool:
        with self._et_lock:
            if self._et is None:
                self._et = ExifTool()
            return self._et

    def target(self, photo: Path, fmt: str) -> Target:
        photo = Path(photo)
        if not self.sidecar_only:
            if fmt in EMBED_EXIV2:
                return Target(photo, fmt, "exiv2", photo, NO_IPTC_NOTE.get(fmt))
            if fmt in EMBED_EXIFTOOL and self.exiftool_available:
                return Target(photo, fmt, "exiftool", photo)
        naming = self.sidecar_naming
        if find_sidecar(photo) is None and shared_stem_conflict(photo, naming):
            naming = "full"           # IMG_1.CR2 + IMG_1.JPG: one IMG_1.xmp would describe both
        side = sidecar_path(photo, naming)
        note = None
        if fmt in EMBED_EXIFTOOL and not self.sidecar_only:
            note = "ExifTool is not installed: written to an XMP sidecar instead"
        elif fmt == "raw":
            note = "RAW: sidecar only"
        return Target(photo, fmt, "sidecar" if side.exists() else "sidecar-new", side, note)

    def producer(self, target: Target, edit: TagEdit) -> Producer:
        """The journal producer that writes ``edit`` at ``target`` (rewrite of the photo or sidecar, or a
        new sidecar)."""
        if target.how == "exiv2":
            def embed(data: bytes | None, tmp: Path) -> bytes | None:
                assert data is not None
                if edit.touches_exif() and self.exiftool_available and exiv2_backend.has_maker_note(data):
                    if target.fmt == "jpeg":     # XMP + IPTC by libexiv2 (EXIF bytes kept), then EXIF by ExifTool
                        rest = exiv2_backend.rewrite(data, edit, target.fmt, lock_exif=True)
                        if self._exif_by_exiftool(target, edit, rest, tmp, only=("EXIF",)):
                            return None
                    elif self._exif_by_exiftool(target, edit, data, tmp, only=("EXIF", "XMP", "IPTC")):
                        return None
                return exiv2_backend.rewrite(data, edit, target.fmt, repair=self.repair)
            return embed
        if target.how == "exiftool":
            def via_exiftool(data: bytes | None, tmp: Path) -> None:
                self.exiftool.write_to(target.photo, tmp, edit, fmt=target.fmt)
            return via_exiftool
        moves_time = bool(edit.shift or edit.timezone is not None) and edit.date is None
        if target.how == "sidecar":
            def update_sidecar(data: bytes | None, tmp: Path) -> bytes:
                assert data is not None
                seed_date = _embedded(target.photo).datetime_original if moves_time else None
                return exiv2_backend.rewrite(data, edit, "xmp", seed_date=seed_date)
            return update_sidecar

        def new_sidecar(data: bytes | None, tmp: Path) -> bytes:
            meta = _embedded(target.photo)          # one read for the keywords and the capture time
            return exiv2_backend.new_sidecar(edit, seed=embedded_xmp(target.photo), seed_keywords=meta.keywords,
                                             seed_date=meta.datetime_original if moves_time else None)
        return new_sidecar


    def _exif_by_exiftool(self, target: Target, edit: TagEdit, data: bytes, tmp: Path,
                          only: tuple[str, ...]) -> bool:
        """Write ``data`` (XMP/IPTC already done) plus the EXIF part of ``edit`` to ``tmp`` through ExifTool,
        which keeps maker notes intact. False when ExifTool refuses the file (libexiv2 then writes it all)."""
        staged = tmp.with_name(tmp.name.replace("-", "-in-", 1) if "-" in tmp.name else tmp.name + ".in")
        try:
            staged.write_bytes(data)
            self.exiftool.write_to(staged, tmp, edit, fmt=target.fmt, only=only)
            return True
        except (MetadataError, OSError):
            try:
                tmp.unlink()
            except OSError:
                pass
            return False
        finally:
            try:
                staged.unlink()
            except OSError:
                pass


def embedded_xmp(photo: Path) -> bytes | None:
    """The photo's own XMP packet, so that a new sidecar starts from what the photo already says."""
    try:
        with open(photo, "rb") as f:
            head = f.read(8 << 20)
        blocks = find_metadata_blocks(head, [])
    except (OSError, ValueError, MetadataError):
        return None
    return bytes(blocks.xmp[0]) if blocks.xmp else None


def _embedded(photo: Path) -> MetadataResult:
    """What the photo itself says (a new sidecar starts from its keywords; a time shifted in a sidecar
    starts from its capture time, ISO 8601 from its EXIF: a RAW is never written)."""
    from ..analyzers.metadata import MetadataResult, read_metadata

    try:
        return read_metadata(photo)
    except OSError:
        return MetadataResult()
