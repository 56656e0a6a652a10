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
import struct
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile

from ..errors import DecodeError, DecompressionBombError, UnsupportedFormatError
from .photo import Photo

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

    @property
    def upright_size(self) -> tuple[int, int]:
        if self.orientation in _TRANSPOSED:
            return self.height, self.width
        return self.width, self.height

    @cached_property
    def rgb(self) -> np.ndarray:
        return np.asarray(self.image)

    @cached_property
    def gray(self) -> np.ndarray:
        """8-bit luminance (ITU-R BT.601), the same formula as Pillow's convert('L')."""
        return np.asarray(self.image.convert("L"))

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


def find_embedded_jpeg(data: bytes) -> bytes | None:
    """Return the largest preview JPEG stored in a TIFF-based RAW (DNG, NEF, CR2, ARW, ORF, RW2, PEF)
    or in a CR3 (its PRVW box), or None."""
    candidates: list[tuple[int, int]] = []
    if data[4:8] == b"ftyp":  # CR3 / ISO-BMFF: the PRVW uuid box holds a ~1620px JPEG
        pos = data.find(b"PRVW")
        if pos >= 0:
            soi = data.find(b"\xff\xd8\xff", pos, pos + 256)
            if soi >= 0:
                end = data.find(b"\xff\xd9", soi)
                if end > 0:
                    return data[soi:end + 2]
        return None
    order = data[:2]
    if order not in (b"II", b"MM"):
        return None
    e = "<" if order == b"II" else ">"
    n = len(data)

    def walk(offset: int, depth: int, visited: set[int]) -> None:
        while 8 <= offset < n - 2 and offset not in visited and depth < 4 and len(visited) < 64:
            visited.add(offset)
            (count,) = struct.unpack_from(e + "H", data, offset)
            if count > 1000 or offset + 2 + count * 12 > n:
                return
            tags: dict[int, tuple[int, int, int]] = {}
            for i in range(count):
                tag, typ, cnt, val = struct.unpack_from(e + "HHII", data, offset + 2 + i * 12)
                if typ == 3 and cnt == 1:  # SHORT stored in the first two bytes of the value
                    val = struct.unpack_from(e + "H", data, offset + 2 + i * 12 + 8)[0]
                tags[tag] = (typ, cnt, val)
            if 0x201 in tags and 0x202 in tags:
                candidates.append((tags[0x201][2], tags[0x202][2]))
            comp = tags.get(0x103, (0, 0, 0))[2]
            if comp in (6, 7) and 0x111 in tags and 0x117 in tags and tags[0x111][1] == 1:
                candidates.append((tags[0x111][2], tags[0x117][2]))
            if 0x14A in tags:  # SubIFDs
                typ, cnt, val = tags[0x14A]
                offs = [val] if cnt == 1 else [struct.unpack_from(e + "I", data, val + 4 * k)[0]
                                               for k in range(min(cnt, 8)) if val + 4 * k + 4 <= n]
                for sub in offs:
                    walk(sub, depth + 1, visited)
            nxt_at = offset + 2 + count * 12
            offset = struct.unpack_from(e + "I", data, nxt_at)[0] if nxt_at + 4 <= n else 0

    try:
        walk(struct.unpack_from(e + "I", data, 4)[0], 0, set())
    except struct.error:
        pass
    best = None
    for start, length in candidates:
        if length > 0 and start + length <= n and data[start:start + 3] == b"\xff\xd8\xff":
            if best is None or length > best[1]:
                best = (start, length)
    return data[best[0]:best[0] + best[1]] if best else None


def raw_ifd0_orientation(data: bytes) -> int:
    """The Orientation tag of a TIFF-based RAW's first IFD (1 when absent or unreadable)."""
    order = data[:2]
    if order not in (b"II", b"MM"):
        return 1
    e = "<" if order == b"II" else ">"
    try:
        (offset,) = struct.unpack_from(e + "I", data, 4)
        (count,) = struct.unpack_from(e + "H", data, offset)
        for i in range(min(count, 1000)):
            tag, typ = struct.unpack_from(e + "HH", data, offset + 2 + i * 12)
            if tag == 0x0112 and typ == 3:
                value = struct.unpack_from(e + "H", data, offset + 2 + i * 12 + 8)[0]
                return value if 1 <= value <= 8 else 1
    except struct.error:
        pass
    return 1


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
                        max_pixels: int = 180_000_000) -> DecodedImage:
    """Decode ``photo`` (from ``data`` if given, else from disk) to upright RGB, long side <= analysis_size."""
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
        img = _open_checked(stream, photo, max_pixels)
        width, height = img.size
        orientation = raw_orientation if raw_orientation is not None else _orientation(img)
        if getattr(img, "n_frames", 1) > 1:
            extra["frames"] = img.n_frames
        try:
            if img.format == "JPEG":
                long_side = max(width, height)
                scale = 1
                for s in (8, 4, 2):
                    if long_side / s >= analysis_size * 0.9:
                        scale = s
                        break
                if scale > 1:
                    img.draft("RGB", (-(-width // scale), -(-height // scale)))
                    if source == "full":
                        source = f"draft 1/{scale}"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                img.load()
        except (OSError, SyntaxError, ValueError, struct.error, EOFError) as exc:
            msg = str(exc) or type(exc).__name__
            raise DecodeError(f"{photo.display}: corrupt or truncated {img.format or photo.format} data: {msg}") \
                from exc
        except MemoryError as exc:
            raise DecompressionBombError(f"{photo.display}: not enough memory to decode {width}x{height}") from exc
        if orientation != 1:
            img = _apply_orientation(img, orientation)
        img = _to_rgb(img)
        if max(img.size) > analysis_size:
            img.thumbnail((analysis_size, analysis_size), Image.Resampling.BILINEAR, reducing_gap=2.0)
        return DecodedImage(img, width, height, orientation, source, extra)
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
