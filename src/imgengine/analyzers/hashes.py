"""Hashes: sha256 of the file's bytes; pHash / dHash / wHash (imagehash) of the upright pixels; and a
32x32 grey thumbnail that the duplicate finder uses to *verify* a candidate pair (alignment-tolerant
residual), because 64-bit hashes alone cannot tell a copy from a near-identical different photo."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core.filehash import sha256_of
from .base import AnalysisInput, Analyzer, Result

if TYPE_CHECKING:  # imagehash, numpy and Pillow are imported where pixels are hashed: a run that selects
    import imagehash  # only other analyzers (metadata) never loads them
    import numpy as np
    from PIL import Image

THUMB_SIZE = 32


@dataclass(frozen=True)
class HashResult(Result):
    sha256: str
    phash: str | None      # 64-bit hashes as 16 hex digits
    dhash: str | None
    whash: str | None
    thumb: str | None = None   # base64 of THUMB_SIZE x THUMB_SIZE 8-bit grey, upright, aspect ignored
    width: int | None = None   # upright pixel size of the full image (not of the analysis pixels)
    height: int | None = None


def sha256_file(item: AnalysisInput) -> str:
    data = item.data
    if data is not None:
        return hashlib.sha256(data).hexdigest()
    return sha256_of(item.photo.path)  # too large to buffer: streamed


def _grey_256(image: Image.Image) -> Image.Image:
    from PIL import Image

    gray = image if image.mode == "L" else image.convert("L")
    if max(gray.size) > 256:
        gray = gray.copy()
        gray.thumbnail((256, 256), Image.Resampling.BOX)
    return gray


def wavelet_hash(gray: Image.Image) -> imagehash.ImageHash:
    """imagehash.whash(gray, image_scale=64) (Haar, max-level LL removed) computed directly.

    With the Haar wavelet, removing the level-6 LL band of a 64x64 image subtracts its mean, and the
    level-3 LL band is the 8x8 block means (times a constant): so the hash is "block mean above the
    median of block means". Same bits as imagehash's in exact arithmetic (float ties aside), at a
    fifth of the cost, since pywt's transforms dominate imagehash's time."""
    import imagehash
    import numpy as np
    from PIL import Image

    small = np.asarray(gray.resize((64, 64), Image.Resampling.LANCZOS), dtype=np.float64) / 255.0
    blocks = small.reshape(8, 8, 8, 8).mean(axis=(1, 3)) - small.mean()
    return imagehash.ImageHash(blocks > np.median(blocks))


def perceptual_hashes(image: Image.Image) -> tuple[str, str, str]:
    """pHash, dHash and wHash of an upright (grey or colour) image. It is first reduced to a 256-px grey
    image (area-averaged), which the hashes' own 8..64-px reductions cannot tell from the original."""
    import imagehash

    gray = _grey_256(image)
    return str(imagehash.phash(gray)), str(imagehash.dhash(gray)), str(wavelet_hash(gray))


def grey_thumb(gray: Image.Image) -> str:
    import numpy as np
    from PIL import Image

    small = gray.resize((THUMB_SIZE, THUMB_SIZE), Image.Resampling.BOX)
    return base64.b64encode(np.asarray(small, dtype=np.uint8).tobytes()).decode("ascii")


def decode_thumb(text: str) -> np.ndarray:
    """The stored thumbnail as a float32 (THUMB_SIZE, THUMB_SIZE) array."""
    import numpy as np

    raw = np.frombuffer(base64.b64decode(text), dtype=np.uint8)
    return raw.reshape(THUMB_SIZE, THUMB_SIZE).astype(np.float32)


class HashAnalyzer(Analyzer):
    name = "hashes"
    version = "2"
    needs_pixels = True
    csv_fields = {"phash": "phash", "dhash": "dhash", "whash": "whash"}
    description = "sha256 of the bytes; pHash, dHash, wHash and a 32x32 verification thumbnail of the upright pixels"

    def analyze(self, item: AnalysisInput) -> HashResult:
        import imagehash
        from PIL import Image

        sha = sha256_file(item)
        pixels = item.pixels
        gray = _grey_256(Image.fromarray(pixels.work_gray))  # the shared 512-px working copy
        w, h = pixels.upright_size
        return HashResult(sha256=sha, phash=str(imagehash.phash(gray)), dhash=str(imagehash.dhash(gray)),
                          whash=str(wavelet_hash(gray)), thumb=grey_thumb(gray),
                          width=w, height=h)
