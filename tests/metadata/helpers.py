"""Shared by the metadata-writing tests: ExifTool when installed, JPEG scan data, generated files."""

from __future__ import annotations

import io
import shutil
import struct
from pathlib import Path

import pytest
from PIL import Image

from imgengine.testing.samples import camera_exif, jpeg_bytes, scene

needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None, reason="ExifTool is not installed")


def jpeg_scan(data: bytes) -> bytes:
    """Everything from the first SOS marker on: the entropy-coded data a lossless tag must not touch."""
    assert data[:2] == b"\xff\xd8"
    pos = 2
    while pos < len(data):
        while data[pos] == 0xFF and data[pos + 1] == 0xFF:
            pos += 1
        marker = data[pos + 1]
        if marker == 0xDA:
            return data[pos:]
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        pos += 2 + length
    raise AssertionError("no SOS marker")


def make_jpeg(path: Path, size=(320, 240), seed=1, **exif) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jpeg_bytes(scene(*size, seed=seed), camera_exif(**exif)))
    return path


def make_image(path: Path, fmt: str, size=(160, 120), seed=2, exif: bytes | None = None) -> Path:
    """PNG / WebP / TIFF / HEIC / AVIF made by Pillow (pillow-heif for HEIC with x265's fast preset)."""
    img = scene(*size, seed=seed)
    buf = io.BytesIO()
    kwargs: dict = {}
    if exif:
        kwargs["exif"] = exif
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
        kwargs.update(quality=50, enc_params={"preset": "ultrafast"})
    img.save(buf, fmt, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path


__all__ = ["Image", "jpeg_scan", "make_image", "make_jpeg", "needs_exiftool"]
