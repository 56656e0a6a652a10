"""Hashes: sha256 of the file's bytes, and pHash / dHash / wHash (imagehash) of the upright pixels."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import imagehash
from PIL import Image

from .base import AnalysisInput, Analyzer, Result

CHUNK = 1 << 20


@dataclass(frozen=True)
class HashResult(Result):
    sha256: str
    phash: str | None      # 64-bit hashes as 16 hex digits
    dhash: str | None
    whash: str | None


def sha256_file(item: AnalysisInput) -> str:
    data = item.data
    if data is not None:
        return hashlib.sha256(data).hexdigest()
    h = hashlib.sha256()
    with open(item.photo.path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def perceptual_hashes(gray: Image.Image) -> tuple[str, str, str]:
    """pHash, dHash and wHash of an upright grey image. It is first reduced to 256 px (area-averaged),
    which the hashes' own 8..64-px reductions cannot tell from the original."""
    if gray.mode != "L":
        gray = gray.convert("L")
    if max(gray.size) > 256:
        gray = gray.copy()
        gray.thumbnail((256, 256), Image.Resampling.BOX)
    return (str(imagehash.phash(gray)), str(imagehash.dhash(gray)),
            str(imagehash.whash(gray, image_scale=64)))


class HashAnalyzer(Analyzer):
    name = "hashes"
    version = "1"
    needs_pixels = True
    description = "sha256 of the bytes; pHash, dHash, wHash of the upright pixels"

    def analyze(self, item: AnalysisInput) -> HashResult:
        sha = sha256_file(item)
        p, d, w = perceptual_hashes(Image.fromarray(item.pixels.work_gray))
        return HashResult(sha256=sha, phash=p, dhash=d, whash=w)
