"""The Photo value object: what the scanner knows about a file before any analysis."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Photo:
    path: Path
    size: int
    mtime_ns: int
    format: str                 # canonical format from magic bytes (jpeg, png, heic, avif, tiff, webp, gif, bmp, raw)
    extension_mismatch: bool = False

    @classmethod
    def from_path(cls, path: Path, fmt: str | None = None) -> Photo:
        from .formats import extension_matches, sniff

        st = os.stat(path)
        fmt = fmt or sniff(path)
        if fmt is None:
            from ..errors import UnsupportedFormatError

            raise UnsupportedFormatError(f"{display_path(path)}: not an image format imgengine reads")
        return cls(Path(path), st.st_size, st.st_mtime_ns, fmt, not extension_matches(fmt, Path(path).suffix))

    @property
    def display(self) -> str:
        return display_path(self.path)


def display_path(path: os.PathLike | str) -> str:
    """A printable form of a path: undecodable bytes (non-UTF-8 names) shown as \\xNN escapes."""
    raw = os.fsencode(path)
    return raw.decode("utf-8", "backslashreplace")


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_CONTROL = {c: _NAMED.get(chr(c), f"\\x{c:02x}") for c in (*range(0x20), *range(0x7f, 0xa0))}
_CONTROL.update({0x2028: "\\u2028", 0x2029: "\\u2029"})


def escape_control(text: str) -> str:
    """A name fit for one line of a table or a log: newline, carriage return, tab and every other control
    character shown as an escape (``\\n``, ``\\x1b``), so a file name cannot split a row, forge a log line
    or drive the terminal. JSON output keeps the exact name; this is for people."""
    return str(text).translate(_CONTROL)
