"""A realistic million-photo hash set for timing the duplicate candidate search.

Uniformly random 64-bit hashes are far easier to search than real ones: real photos share a bright top
and a darker bottom, a centred subject, smooth low frequencies, so their hash bits are biased and
correlated. Measured on windows of different real photos: 16-bit wHash chunks collide ~470x as often as
uniform ones and ~1 % of *unrelated* pairs fall within 11 bits by wHash (pHash chunks: ~2.6x). How the
set is made:

1. **Real pictures** (``real_pool``): every usable corpus photo (``dedup_set.corpus_sources``: regions of
   the big ones) and the scikit-image sample photos, each cut into 30 windows (the whole picture, 2x2
   windows of 70 %, 3x3 of 50 %, 4x4 of 35 %), reduced to the 32x32 grey thumbnail the catalog keeps;
   their pHash, dHash and wHash come from the thumbnails through ``thumbhash`` (imagehash's functions in
   batch; they agree with the analyzer's stored hashes to < 1 bit for pHash and wHash).
2. **Distinct photos** (``synthesize``): a photo takes each of its four 16-bit chunk positions (of all
   three hashes together) from a window of *one* real photo (four windows, drawn at random). So every
   chunk's distribution -- what the multi-index search's cost depends on: how crowded its buckets are --
   is exactly that of real photos, and a million distinct codes come out of ~100 photos without
   repeating one. What is lost is part of the correlation *between* chunks: whole-code closeness of
   unrelated photos is lower than between real windows (wHash within 11 bits ~0.2 % instead of ~1 %);
   the benchmark prints both.
3. **Copies** (``build``): 15 % of the set are copies in groups of 2-6; a copy is its original's codes
   changed by the bit pattern a real edit makes (``edit_patterns``: the labelled set's mix of edits -- a
   quarter cropped by 2-8 % per side, blur, brightness/contrast, noise -- applied to a real window's
   thumbnail); their distances are printed beside those of the labelled set's real copies (a little
   farther: the search is not flattered).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from imgengine.processors.dedup import thumbhash
from imgengine.processors.dedup.index import popcount64

WINDOWS = ((1.0, 1), (0.7, 2), (0.5, 3), (0.35, 4))   # (share of each side, windows per axis)


def _skimage_photos() -> list[Image.Image]:
    try:
        from skimage import data
    except ImportError:  # pragma: no cover - scikit-image is in the dev environment
        return []
    out = []
    for name in ("astronaut", "camera", "cat", "chelsea", "coffee", "coins", "moon", "rocket", "grass", "gravel",
                 "brick", "page", "clock", "hubble_deep_field", "immunohistochemistry", "retina", "text"):
        try:
            arr = getattr(data, name)()
        except Exception:  # noqa: BLE001 - a sample that needs a download (pooch) is skipped
            continue
        out.append(Image.fromarray(arr))
    try:
        out.append(Image.fromarray(data.stereo_motorcycle()[0]))
    except Exception:  # noqa: BLE001
        pass
    return out


def _thumb(im: Image.Image) -> np.ndarray:
    """The catalog's thumbnail: 256-px grey (area-averaged), then 32x32 box (``analyzers.hashes``)."""
    g = im.convert("L")
    if max(g.size) > 256:
        g = g.copy()
        g.thumbnail((256, 256), Image.Resampling.BOX)
    return np.asarray(g.resize((32, 32), Image.Resampling.BOX), np.float32)


def real_pool(corpus_limit: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
    """(thumbnails (K, 32, 32) float32, source id (K,)) of windows of real photos."""
    from dedup_set import corpus_sources

    images = [im for _, _, im in corpus_sources(corpus_limit)[0]] + _skimage_photos()
    thumbs, src = [], []
    for s, im in enumerate(images):
        im = im.copy()
        im.thumbnail((768, 768), Image.Resampling.BOX)
        w, h = im.size
        for share, per in WINDOWS:
            ww, hh = int(w * share), int(h * share)
            for r in range(per):
                for c in range(per):
                    x0 = 0 if per == 1 else round(c * (w - ww) / (per - 1))
                    y0 = 0 if per == 1 else round(r * (h - hh) / (per - 1))
                    thumbs.append(_thumb(im.crop((x0, y0, x0 + ww, y0 + hh))))
                    src.append(s)
    return np.stack(thumbs), np.array(src, np.int64)


def codes_of(thumbs: np.ndarray, block: int = 65536) -> np.ndarray:
    """(N, 3) uint64 pHash, dHash, wHash of thumbnails, in blocks (memory)."""
    out = np.zeros((len(thumbs), 3), np.uint64)
    for lo in range(0, len(thumbs), block):
        p, d, w = thumbhash.hashes(thumbs[lo: lo + block])
        out[lo: lo + block] = np.stack([p, d, w], axis=1)
    return out


def pair_stats(codes: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """On pairs (a, b): share within 11 bits per hash, share with pHash+dHash+wHash <= 45, and the 16-bit
    chunk collision rate of pHash and wHash as a multiple of the uniform rate (1/65536)."""
    d = np.stack([popcount64(codes[a, c] ^ codes[b, c]) for c in range(3)], axis=1).astype(np.int64)
    out = {f"{n}<=11": float(np.mean(d[:, c] <= 11)) for c, n in enumerate(("p", "d", "w"))}
    out["sum<=45"] = float(np.mean(d.sum(axis=1) <= 45))
    for c, n in ((0, "p"), (2, "w")):
        coll = 0.0
        for k in range(4):
            sh = np.uint64(16 * k)
            mask = np.uint64(0xFFFF)
            coll += float(np.mean(((codes[a, c] >> sh) & mask) == ((codes[b, c] >> sh) & mask)))
        out[f"{n} chunk x"] = coll / 4 * 65536
    return out


def unrelated_pairs(src: np.ndarray, n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random pairs of items from different sources."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, len(src), n * 2)
    b = rng.integers(0, len(src), n * 2)
    keep = src[a] != src[b]
    return a[keep][:n], b[keep][:n]


def synthesize(codes: np.ndarray, src: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` distinct photos' (pHash, dHash, wHash) codes: each takes its four 16-bit chunk positions (of
    all three hashes together) from four windows of one real photo. Returns (codes (n, 3), the real
    photo each was grown from (n,))."""
    order = np.argsort(src, kind="stable")
    starts = np.searchsorted(src[order], np.arange(int(src.max()) + 2))
    first = rng.integers(0, len(codes), n)
    s = src[first]
    cnt = starts[s + 1] - starts[s]
    out = np.zeros((n, 3), np.uint64)
    for k in range(4):
        donor = order[starts[s] + (rng.random(n) * cnt).astype(np.int64)]
        out |= codes[donor] & (np.uint64(0xFFFF) << np.uint64(16 * k))
    return out, s


CROP_SHARE = 0.25     # the labelled set's copies: 4 kinds of crop (crop, asymmetric, crop+resize, screenshot) of 16


def copies_of(thumbs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An archive copy of each thumbnail, in the labelled set's mix: a quarter cropped (2-8 % off each
    side, some sides not), the rest whole; some blurred (resized, recompressed), some re-toned; light
    noise. ``benchmarks/dedup_bench.py --scale`` prints the resulting hash distances beside the real
    copies' (median, 90th percentile)."""
    import cv2

    n = len(thumbs)
    out = np.empty_like(thumbs)
    for i in range(n):
        x = thumbs[i]
        if rng.random() < CROP_SHARE:
            cut = rng.uniform(0.02, 0.08, 4) * 32 * (rng.random(4) < 0.8)
            src = np.float32([[cut[0], cut[1]], [32 - cut[2], cut[1]], [cut[0], 32 - cut[3]]])
            dst = np.float32([[0, 0], [32, 0], [0, 32]])
            m = cv2.getAffineTransform(src, dst)
            x = cv2.warpAffine(x, m, (32, 32), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if rng.random() < 0.25:
            x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.3, 0.6))
        if rng.random() < 0.2:
            x = (x - 128) * rng.uniform(0.8, 1.25) + 128 * rng.uniform(0.85, 1.15)
        out[i] = np.clip(x + rng.normal(0, 1.0, x.shape), 0, 255)
    return out


def edit_patterns(thumbs: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 3) bit patterns by which real archive edits change the hashes: an edit of a real window's
    thumbnail (``copies_of``) XOR the window's own codes."""
    pick = rng.integers(0, len(thumbs), n)
    base = thumbs[pick]
    return codes_of(copies_of(base, rng)) ^ codes_of(base)


def build(n: int, codes: np.ndarray, src: np.ndarray, thumbs: np.ndarray, dup_share: float = 0.15,
          seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """(codes (n, 3) uint64, group label (n,), -1 for a photo without copies): ``1 - dup_share`` distinct
    photos (``synthesize``); the rest copies of some of them, in groups of 2-6, each its original's codes
    changed by the bit pattern of a real edit (``edit_patterns``)."""
    rng = np.random.default_rng(seed)
    n_dup = int(n * dup_share)
    n_distinct = n - n_dup
    sizes = []
    total = 0
    while total < n_dup:
        s = int(min(rng.integers(1, 6), n_dup - total))   # copies per original (group of 2-6)
        sizes.append(s)
        total += s
    out = np.zeros((n, 3), np.uint64)
    out[:n_distinct], _ = synthesize(codes, src, n_distinct, rng)
    owner = np.repeat(np.arange(len(sizes)), sizes)
    labels = np.full(n, -1, np.int64)
    labels[: len(sizes)] = np.arange(len(sizes))
    labels[n_distinct:] = owner
    out[n_distinct:] = out[owner] ^ edit_patterns(thumbs, n_dup, rng)
    return out, labels
