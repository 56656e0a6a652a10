"""Safe decoding, once per file, straight to the size the analyzers need.

* JPEG uses libjpeg's DCT scaling (Pillow's ``draft``): a 12-megapixel photo is decoded at 1/2, 1/4
  or 1/8 scale directly, which is several times faster than a full decode followed by a resize.
* The declared pixel count is checked against ``Settings.max_pixels`` *before* any pixel is
  decoded, so a decompression bomb costs a header read, not gigabytes of memory.
* EXIF orientation is applied before any analyzer sees the pixels (pixels are always upright).
* RAW files are not demosaiced: their embedded preview JPEG is used, and the result says so.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile

from ..errors import DecodeError, DecompressionBombError, UnsupportedFormatError
from .photo import Photo
from .tiff_ifd import TiffIfdReader

ImageFile.LOAD_TRUNCATED_IMAGES = False
# Our own limit (Settings.max_pixels) is checked before decoding; Pillow's is lifted so that it
# cannot turn a legitimate 200-megapixel panorama into a crash, while ours gives a clear message.
Image.MAX_IMAGE_PIXELS = None

_HEIF_READY = False


def register_heif() -> None:
    """Register pillow-heif's HEIC/HEIF opener (AVIF is built into Pillow >= 11.3)."""
    global _HEIF_READY  # one-time plugin registration, not settings state
    if _HEIF_READY:
        return
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        try:  # older Pillow without native AVIF
            from PIL import AvifImagePlugin  # noqa: F401
        except ImportError:  # pragma: no cover
            if hasattr(pillow_heif, "register_avif_opener"):
                pillow_heif.register_avif_opener()
    except ImportError:  # pragma: no cover - pillow-heif is a hard dependency
        pass
    _HEIF_READY = True


# the orientations (EXIF 5-8) that swap width and height
_TRANSPOSED = {5, 6, 7, 8}


@dataclass
class DecodedImage:
    """Upright RGB pixels at analysis size, plus what is known about where they came from."""

    image: Image.Image                    # RGB, upright, long side <= analysis_size
    width: int                            # stored (sensor) dimensions of the decoded source
    height: int
    orientation: int                      # EXIF orientation that was applied (1 = none)
    pixels_source: str                    # "full", "draft 1/N", "embedded preview", "first frame"
    extra: dict = field(default_factory=dict)
    draft: int = 1                        # the JPEG DCT scale the decode used (1 = none, or not a JPEG)
    jpeg: bool = False                    # DCT-scalable (a JPEG, or a RAW's preview JPEG)
    # with keep_source: the upright RGB decode before its fit to the long side (at 1/draft of the stored size)
    source_image: Image.Image | None = None

    def at_size(self, long_side: int) -> Image.Image:
        """The upright RGB pixels a decode to ``long_side`` would give, made from this one: the DCT scale that
        decode would choose (an integer box reduction of this decode's finer draft) and the same bilinear
        fit. Without a kept source (or for a size it cannot serve) the fitted image is resized instead.
        Identical to a separate decode where no DCT scaling is involved (PNG, TIFF, HEIC, small JPEGs);
        for a JPEG drafted at another scale within libjpeg's rounding."""
        src = self.source_image if self.source_image is not None else self.image
        if self.source_image is not None and self.jpeg:
            extra = draft_scale(max(self.width, self.height), long_side) // self.draft
            if extra > 1:
                src = src.reduce(extra)
        if max(src.size) > long_side:
            if src is self.source_image or src is self.image:
                src = src.copy()
            src.thumbnail((long_side, long_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
        return src

    def source_label(self, long_side: int) -> str:
        """``pixels_source`` of a decode to ``long_side``."""
        if not self.jpeg or not self.pixels_source.startswith(("full", "draft")):
            return self.pixels_source
        scale = draft_scale(max(self.width, self.height), long_side)
        return f"draft 1/{scale}" if scale > 1 else "full"

    @property
    def upright_size(self) -> tuple[int, int]:
        if self.orientation in _TRANSPOSED:
            return self.height, self.width
        return self.width, self.height

    @cached_property
    def work(self) -> Image.Image:
        """The shared working copy for CPU measures: RGB, long side about WORK_SIZE (430-512 px).

        Sharpness, noise, exposure, colours and perceptual hashes are all defined at this scale, so
        they compare across photos of any resolution and cost the same for every file. An integer box
        reduction is used where it lands near the size (a 1000-px draft decode becomes 500 px in
        under a millisecond); a resample only where it does not."""
        img = self.image
        factor = round(max(img.size) / WORK_SIZE)
        if factor >= 2:
            img = img.reduce(factor)
        if max(img.size) > WORK_SIZE:
            img = img.resize(_fit(img.size, WORK_SIZE), Image.Resampling.BILINEAR)
        return img

    @cached_property
    def work_rgb(self) -> np.ndarray:
        return np.asarray(self.work)

    @cached_property
    def work_gray(self) -> np.ndarray:
        return np.asarray(self.work.convert("L"))


WORK_SIZE = 512


def draft_scale(long_side: int, target: int) -> int:
    """The libjpeg DCT scale (8, 4, 2 or 1) a decode to ``target`` px uses for a JPEG ``long_side`` px long:
    the coarsest that still leaves at least 90 % of the target."""
    for s in (8, 4, 2):
        if long_side / s >= target * 0.9:
            return s
    return 1


def _fit(size: tuple[int, int], longest: int) -> tuple[int, int]:
    w, h = size
    scale = longest / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def _orientation(img: Image.Image) -> int:
    try:
        value = img.getexif().get(0x0112, 1)
        value = int(value)
        return value if 1 <= value <= 8 else 1
    except Exception:  # broken EXIF must not stop the decode
        return 1


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float32)
        hi = float(arr.max()) or 1.0
        scale = 255.0 / (65535.0 if hi > 255 else max(hi, 1.0))
        return Image.fromarray(np.clip(arr * scale, 0, 255).astype(np.uint8), "L").convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


_PREVIEW_TAGS = frozenset({0x0103, 0x0111, 0x0117, 0x014A, 0x0201, 0x0202})


def _ints(value) -> tuple[int, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, tuple) else (value,)


def find_embedded_jpeg(data: bytes) -> bytes | None:
    """Return the largest preview JPEG stored in a TIFF-based RAW (DNG, NEF, CR2, ARW, ORF, RW2, PEF)
    or in a CR3 (its PRVW box), or None. The IFDs are walked with the metadata reader's bounded,
    loop-safe ``TiffIfdReader``."""
    if data[4:8] == b"ftyp":  # CR3 / ISO-BMFF: the PRVW uuid box holds a ~1620px JPEG
        pos = data.find(b"PRVW")
        if pos >= 0:
            soi = data.find(b"\xff\xd8\xff", pos, pos + 256)
            if soi >= 0:
                end = data.find(b"\xff\xd9", soi)
                if end > 0:
                    return data[soi:end + 2]
        return None
    try:
        reader = TiffIfdReader(data, 0, [], "RAW")
    except ValueError:
        return None
    candidates: list[tuple[int, int]] = []
    todo = [(reader.first_ifd, 0)]
    while todo and len(candidates) < 64:
        offset, depth = todo.pop()
        while offset and depth < 4:
            tags, offset = reader.read_ifd(offset, _PREVIEW_TAGS, "IFD")
            if 0x0201 in tags and 0x0202 in tags:
                candidates.append((_ints(tags[0x0201])[0], _ints(tags[0x0202])[0]))
            strips, counts = _ints(tags.get(0x0111)), _ints(tags.get(0x0117))
            if tags.get(0x0103) in (6, 7) and len(strips) == 1 and len(counts) == 1:  # JPEG-compressed IFD
                candidates.append((strips[0], counts[0]))
            todo.extend((sub, depth + 1) for sub in _ints(tags.get(0x014A))[:8])
    n = len(data)
    best = None
    for start, length in candidates:
        if length > 0 and start + length <= n and data[start:start + 3] == b"\xff\xd8\xff":
            if best is None or length > best[1]:
                best = (start, length)
    return data[best[0]:best[0] + best[1]] if best else None


def raw_ifd0_orientation(data: bytes) -> int:
    """The Orientation tag of a TIFF-based RAW's first IFD (1 when absent or unreadable)."""
    try:
        reader = TiffIfdReader(data, 0, [], "RAW")
    except ValueError:
        return 1
    value = reader.read_ifd(reader.first_ifd, frozenset({0x0112}), "IFD0")[0].get(0x0112)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def isobmff_shortfall(stream: BinaryIO, file_size: int) -> int:
    """Bytes missing from an ISO base media file (HEIC, HEIF, AVIF): its top-level boxes declare their
    sizes, and a file cut short ends inside one. libheif decodes such a file "successfully", filling the
    missing tiles with a flat colour, so the check has to be ours. 0 when complete."""
    offset = 0
    while offset + 8 <= file_size:
        stream.seek(offset)
        head = stream.read(16)
        if len(head) < 8:
            break
        size = struct.unpack(">I", head[:4])[0]
        if size == 1:
            if len(head) < 16:
                return 8
            size = struct.unpack(">Q", head[8:16])[0]
        elif size == 0:  # the last box runs to the end of the file
            return 0
        if size < 8:
            return 0  # not a box structure we can judge; the decoder decides
        offset += size
    stream.seek(0)
    return max(0, offset - file_size)


def _open_checked(stream: BinaryIO, photo: Photo, max_pixels: int) -> Image.Image:
    register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about odd EXIF/TIFF tags; we record errors ourselves
            img = Image.open(stream)
    except Image.DecompressionBombError as exc:  # pragma: no cover - limit lifted above
        raise DecompressionBombError(f"{photo.display}: {exc}")
    except (OSError, SyntaxError, ValueError) as exc:
        raise DecodeError(f"{photo.display}: cannot open as {photo.format.upper()}: {exc}") from exc
    w, h = img.size
    if w <= 0 or h <= 0:
        raise DecodeError(f"{photo.display}: image declares an empty size {w}x{h}")
    if w * h > max_pixels:
        raise DecompressionBombError(
            f"{photo.display}: declares {w}x{h} = {w * h / 1e6:.0f} megapixels, over the limit of "
            f"{max_pixels / 1e6:.0f} MP (possible decompression bomb; raise max_pixels to allow it)")
    return img


def decode_for_analysis(photo: Photo, data: bytes | None, analysis_size: int = 512,
                        max_pixels: int = 180_000_000, keep_source: bool = False) -> DecodedImage:
    """Decode ``photo`` (from ``data`` if given, else from disk) to upright RGB, long side <= analysis_size.

    ``keep_source`` keeps the decode before its fit (``source_image``), so that :meth:`DecodedImage.at_size`
    can serve smaller sizes exactly as their own decodes would (one decode for analyzers of several sizes)."""
    source = "full"
    extra: dict = {}
    if photo.format == "raw":
        raw = data if data is not None else photo.path.read_bytes()
        preview = find_embedded_jpeg(raw)
        if preview is None:
            raise UnsupportedFormatError(f"{photo.display}: RAW file without an embedded preview JPEG "
                                         "(RAW development is not supported)")
        stream: BinaryIO = io.BytesIO(preview)
        source = "embedded preview"
        raw_orientation = raw_ifd0_orientation(raw)  # the preview has no orientation of its own
    else:
        stream = io.BytesIO(data) if data is not None else open(photo.path, "rb")
        raw_orientation = None
    try:
        if photo.format in ("heic", "avif"):
            size = len(data) if data is not None else os.fstat(stream.fileno()).st_size
            missing = isobmff_shortfall(stream, size)
            if missing:
                raise DecodeError(f"{photo.display}: truncated {photo.format.upper()}: the file ends {missing:,} "
                                  f"bytes before its last box does ({size:,} bytes present)")
        img = _open_checked(stream, photo, max_pixels)
        width, height = img.size
        orientation = raw_orientation if raw_orientation is not None else _orientation(img)
        if getattr(img, "n_frames", 1) > 1:
            extra["frames"] = img.n_frames
        jpeg = img.format == "JPEG"
        scale = 1
        try:
            if jpeg:
                scale = draft_scale(max(width, height), analysis_size)
                if scale > 1:
                    img.draft("RGB", (-(-width // scale), -(-height // scale)))
                    if source == "full":
                        source = f"draft 1/{scale}"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                img.load()
            if scale > 1:  # the scale libjpeg applied (it may decline one)
                scale = max(1, round(max(width, height) / max(img.size)))
        except (OSError, SyntaxError, ValueError, struct.error, EOFError) as exc:
            msg = str(exc) or type(exc).__name__
            raise DecodeError(f"{photo.display}: corrupt or truncated {img.format or photo.format} data: {msg}") \
                from exc
        except MemoryError as exc:
            raise DecompressionBombError(f"{photo.display}: not enough memory to decode {width}x{height}") from exc
        if orientation != 1:
            img = _apply_orientation(img, orientation)
        img = _to_rgb(img)
        kept = img if keep_source else None
        if max(img.size) > analysis_size:
            if keep_source:
                img = img.copy()
            img.thumbnail((analysis_size, analysis_size), Image.Resampling.BILINEAR, reducing_gap=2.0)
        return DecodedImage(img, width, height, orientation, source, extra, scale, jpeg, kept)
    finally:
        if not isinstance(stream, io.BytesIO):
            stream.close()


_METHODS = {
    2: [Image.Transpose.FLIP_LEFT_RIGHT],
    3: [Image.Transpose.ROTATE_180],
    4: [Image.Transpose.FLIP_TOP_BOTTOM],
    5: [Image.Transpose.TRANSPOSE],
    6: [Image.Transpose.ROTATE_270],
    7: [Image.Transpose.TRANSVERSE],
    8: [Image.Transpose.ROTATE_90],
}


def _apply_orientation(img: Image.Image, orientation: int) -> Image.Image:
    for method in _METHODS.get(orientation, []):
        img = img.transpose(method)
    return img
