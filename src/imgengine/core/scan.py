"""Walk a folder tree: no symlink loops, hidden and system folders skipped, errors recorded not raised."""

from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..settings import Settings

ALBUM_MARKER = ".imgengine-album"  # in a smart album's folder (processors/albums.py)


@dataclass(frozen=True)
class ScanEntry:
    path: Path
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class ScanProblem:
    path: Path
    message: str
    exc_type: str


def scan(root: Path, settings: Settings, problems: list[ScanProblem] | None = None) -> Iterator[ScanEntry]:
    """Yield every regular file below ``root`` (or ``root`` itself if it is a file), sorted per folder.

    Symlinked folders are followed once each: a folder already visited (same device and inode) is
    not entered again, so loops end. Folders that cannot be read are reported in ``problems``.
    """
    problems = problems if problems is not None else []
    root = Path(root)
    try:
        st = os.stat(root)
    except OSError as exc:
        problems.append(ScanProblem(root, f"cannot read {exc.strerror or exc}", type(exc).__name__))
        return
    if stat_mod.S_ISREG(st.st_mode):
        yield ScanEntry(root, st.st_size, st.st_mtime_ns)
        return
    skip = set(settings.skip_dirs)
    seen: set[tuple[int, int]] = {(st.st_dev, st.st_ino)}
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            problems.append(ScanProblem(folder, f"cannot list folder: {exc.strerror or exc}", type(exc).__name__))
            continue
        subdirs = []
        for entry in entries:
            name = entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=settings.follow_symlinks)
                if is_dir:
                    if name in skip or (settings.skip_hidden and name.startswith(".")):
                        continue
                    if os.path.lexists(os.path.join(entry.path, ALBUM_MARKER)):
                        continue  # a smart album's folder of links, not more photos
                    dst = entry.stat(follow_symlinks=True)
                    key = (dst.st_dev, dst.st_ino)
                    if key in seen:
                        continue  # symlink loop or a second link to a folder already walked
                    seen.add(key)
                    subdirs.append(Path(entry.path))
                    continue
                if settings.skip_hidden and name.startswith("."):
                    continue
                if not entry.is_file(follow_symlinks=settings.follow_symlinks):
                    continue
                fst = entry.stat(follow_symlinks=True)
            except OSError as exc:  # dangling symlink, vanished entry, permission
                if isinstance(exc, FileNotFoundError) and entry.is_symlink():
                    continue
                problems.append(ScanProblem(Path(entry.path), f"cannot stat: {exc.strerror or exc}",
                                            type(exc).__name__))
                continue
            yield ScanEntry(Path(entry.path), fst.st_size, fst.st_mtime_ns)
        stack.extend(reversed(subdirs))
