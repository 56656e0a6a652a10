"""Replacing a file atomically: write a temporary file beside it, then ``os.replace``; on any failure the
temporary file is removed and the old file is untouched. Used by the exports, the gallery, the feedback
loop's source rewrites and the journal (which adds its own never-overwrite rules on top)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def remove_quietly(path: os.PathLike | str) -> None:
    """Remove a temporary file that may already be gone (cleanup after a failure must not raise)."""
    try:
        os.unlink(path)
    except OSError:
        pass


def fsync_dir(folder: os.PathLike | str) -> None:
    """Make a folder's entries (a rename, a new file) durable; quietly does nothing where folders cannot be
    opened or synced."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def replacing(target: os.PathLike | str, tmp: os.PathLike | str) -> Iterator[Path]:
    """``with replacing(target, tmp) as tmp:`` write ``tmp``; when the block ends normally ``tmp`` replaces
    ``target`` (``os.replace``), when it raises (Ctrl-C included) ``tmp`` is removed and the error goes on."""
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        remove_quietly(tmp)
        raise


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path``'s content: temp file in the same folder, fsync, keep the mode, os.replace."""
    path = Path(path)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".imgengine-tmp", dir=path.parent)
    with replacing(path, name) as tmp:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
    fsync_dir(path.parent)
