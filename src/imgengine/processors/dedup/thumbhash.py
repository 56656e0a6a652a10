"""Perceptual hashes of many 32x32 grey thumbnails at once, and the eight ways a picture can be turned or
mirrored (the dihedral group of the square).

The catalog's pHash/dHash/wHash are computed by the hashes analyzer from the 256-px grey working copy.
For a copy saved *turned* (its pixels rotated by 90/180/270 degrees, no EXIF tag to undo it) or mirrored,
those hashes share nothing with the original's. The stored 32x32 thumbnail can be turned instead: the
hashes here are the same functions (imagehash's pHash: the top-left 8x8 of the 32x32 DCT-II above its
median; dHash: 9x8 horizontal gradient signs; wHash: 8x8 block means above their median) computed from
the thumbnail, in numpy, for a whole batch -- close to (not bit-equal with) the stored ones, so they are
only ever compared with each other.

The DCT of a turned thumbnail is the original's with signs changed and/or transposed, so the *canonical
orientation* of a thumbnail can be read off its two first-order coefficients (the left-right and the
top-bottom brightness gradient): mirror so both are positive, transpose so the top-bottom one is the
larger. A picture and any turned or mirrored copy of it then have (nearly) the same canonical hashes;
where a coefficient is too close to zero (or the two too close to each other) to decide, every
orientation that could be canonical is kept (``canonical_variants``).
"""

from __future__ import annotations

from functools import cache

import numpy as np

SIZE = 32
# dihedral transform k (0..7): bit 0 = mirror left-right, bit 1 = mirror top-bottom, bit 2 = transpose,
# applied in that order (mirror first, then transpose). 0 is the identity.
IDENTITY = 0


def transform(x: np.ndarray, k: int) -> np.ndarray:
    """Dihedral transform ``k`` of the last two axes of ``x``."""
    if k & 1:
        x = x[..., :, ::-1]
    if k & 2:
        x = x[..., ::-1, :]
    if k & 4:
        x = np.swapaxes(x, -1, -2)
    return x


def compose(a: int, b: int) -> int:
    """The transform ``a`` applied after ``b`` (``transform(transform(x, b), a)``), as one index."""
    probe = np.arange(SIZE * SIZE).reshape(SIZE, SIZE)
    target = transform(transform(probe, b), a)
    for k in range(8):
        if np.array_equal(transform(probe, k), target):
            return k
    raise AssertionError("the dihedral group is closed")  # pragma: no cover


@cache
def _tables() -> tuple[np.ndarray, np.ndarray]:
    comp = np.array([[compose(a, b) for b in range(8)] for a in range(8)], np.int64)
    inv = np.array([int(np.nonzero(comp[a] == IDENTITY)[0][0]) for a in range(8)], np.int64)
    return comp, inv


def inverse(k: np.ndarray | int) -> np.ndarray | int:
    return _tables()[1][k]


def relative(ka: np.ndarray, kb: np.ndarray) -> np.ndarray:
    """The transform that maps picture a onto picture b when ``transform(a, ka) ~ transform(b, kb)``:
    ``inverse(kb)`` after ``ka``."""
    comp, inv = _tables()
    return comp[inv[kb], ka]


@cache
def _dct_rows() -> np.ndarray:
    """The first 8 rows of the unnormalised DCT-II matrix of size 32 (scipy.fftpack.dct's convention)."""
    k = np.arange(8)[:, None]
    n = np.arange(SIZE)[None, :]
    return (2.0 * np.cos(np.pi * k * (2 * n + 1) / (2 * SIZE))).astype(np.float32)


def low_dct(x: np.ndarray) -> np.ndarray:
    """(N, 8, 8) top-left DCT-II coefficients of (N, 32, 32) thumbnails (rows = vertical frequency)."""
    d = _dct_rows()
    return np.einsum("ur,nrc,vc->nuv", d, np.asarray(x, np.float32), d, optimize=True)


def _pack(bits: np.ndarray) -> np.ndarray:
    """(N, 64) bools, first bit most significant (imagehash's hex order) -> (N,) uint64."""
    packed = np.packbits(bits.reshape(len(bits), 64), axis=1)
    return packed.view(">u8").reshape(-1).astype(np.uint64)


def phash_from_dct(c: np.ndarray) -> np.ndarray:
    flat = c.reshape(len(c), 64)
    return _pack(flat > np.median(flat, axis=1, keepdims=True))


def _block_means(x: np.ndarray, out: int) -> np.ndarray:
    n = len(x)
    f = SIZE // out
    return x.reshape(n, out, f, out, f).mean(axis=(2, 4))


def whash(x: np.ndarray) -> np.ndarray:
    """wHash (8x8 block means above their median) of (N, 32, 32) thumbnails."""
    b = _block_means(np.asarray(x, np.float32), 8).reshape(len(x), 64)
    return _pack(b > np.median(b, axis=1, keepdims=True))


@cache
def _lanczos_weights(n_out: int) -> np.ndarray:
    """(n_out, 32) weights of Pillow's LANCZOS reduction from 32 samples to ``n_out`` (imagehash's dHash
    reduces with it)."""
    scale = SIZE / n_out
    support = 3.0 * scale
    w = np.zeros((n_out, SIZE), np.float64)
    for i in range(n_out):
        center = (i + 0.5) * scale
        for j in range(max(0, int(center - support)), min(SIZE, int(np.ceil(center + support)))):
            t = (j + 0.5 - center) / scale
            w[i, j] = np.sinc(t) * np.sinc(t / 3.0) if abs(t) < 3.0 else 0.0
        w[i] /= w[i].sum()
    return w.astype(np.float32)


def dhash(x: np.ndarray) -> np.ndarray:
    """dHash (signs of the horizontal gradient of a 9x8 reduction) of (N, 32, 32) thumbnails."""
    small = np.einsum("kr,nrc,jc->nkj", _lanczos_weights(8), np.asarray(x, np.float32), _lanczos_weights(9),
                      optimize=True)
    return _pack(small[:, :, 1:] > small[:, :, :-1])


def hashes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pHash, dHash, wHash) uint64 codes of (N, 32, 32) thumbnails."""
    x = np.asarray(x, np.float32)
    return phash_from_dct(low_dct(x)), dhash(x), whash(x)


def _dct_transform(c: np.ndarray, k: int) -> np.ndarray:
    """The low DCT block of ``transform(x, k)`` from that of ``x``: a mirror changes the sign of the odd
    frequencies along its axis, a transpose transposes."""
    sign = np.ones((8, 8), np.float32)
    odd = (np.arange(8) % 2 == 1)
    if k & 1:
        sign[:, odd] *= -1
    if k & 2:
        sign[odd, :] *= -1
    c = c * sign
    return np.swapaxes(c, -1, -2) if k & 4 else c


def canonical_variants(c: np.ndarray, margin: float = 0.08) -> tuple[np.ndarray, np.ndarray]:
    """For (N, 8, 8) low DCT blocks: (node index (M,), transform (M,)) -- the transforms that take each
    thumbnail to its canonical orientation (left-right gradient >= 0, top-bottom gradient >= 0 and the
    larger of the two). A decision closer than ``margin`` (of the first-order energy) keeps both sides,
    so a thumbnail has 1 to 8 variants (most have one or two)."""
    gx = c[:, 0, 1]            # left-right: odd horizontal frequency
    gy = c[:, 1, 0]            # top-bottom
    scale = np.sqrt(gx * gx + gy * gy) + 1e-6
    opts_x = [gx < margin * scale, gx > -margin * scale]     # no mirror needed / mirror left-right
    opts_y = [gy < margin * scale, gy > -margin * scale]
    diff = (np.abs(gy) - np.abs(gx)) / scale
    opts_t = [diff > -margin, diff < margin]                  # keep / transpose (after the mirrors)
    nodes, ks = [], []
    for mx in (0, 1):
        for my in (0, 1):
            for t in (0, 1):
                # mirror left-right when gx < 0 (option index 1 is "mirror"), likewise for gy
                sel = (opts_x[0] if mx else opts_x[1]) & (opts_y[0] if my else opts_y[1]) & opts_t[t]
                idx = np.nonzero(sel)[0]
                nodes.append(idx)
                ks.append(np.full(idx.size, mx | (my << 1) | (t << 2), np.int64))
    node = np.concatenate(nodes)
    k = np.concatenate(ks)
    order = np.argsort(node, kind="stable")
    return node[order], k[order]


def canonical_hashes(x: np.ndarray, margin: float = 0.08) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(node index, transform to canonical, canonical pHash, canonical wHash) for (N, 32, 32) thumbnails;
    a node appears once per canonical variant (see ``canonical_variants``)."""
    x = np.asarray(x, np.float32)
    c = low_dct(x)
    node, k = canonical_variants(c, margin)
    ph = np.zeros(len(node), np.uint64)
    wh = np.zeros(len(node), np.uint64)
    for t in range(8):
        sel = np.nonzero(k == t)[0]
        if sel.size == 0:
            continue
        ph[sel] = phash_from_dct(_dct_transform(c[node[sel]], t))
        wh[sel] = whash(np.ascontiguousarray(transform(x[node[sel]], t)))
    return node, k, ph, wh


def swaps_sides(k: np.ndarray | int) -> np.ndarray | bool:
    """Whether transform ``k`` exchanges width and height (a quarter turn)."""
    return (np.asarray(k) & 4) != 0


@cache
def _names() -> tuple[str, ...]:
    probe = np.arange(SIZE * SIZE).reshape(SIZE, SIZE)
    names = []
    for k in range(8):
        t = transform(probe, k)
        for r in range(4):
            turned = np.rot90(probe, -r)          # clockwise quarter turns
            if np.array_equal(t, turned):
                names.append("as is" if r == 0 else f"turned {90 * r} degrees")
                break
            if np.array_equal(t, turned[:, ::-1]):
                names.append("mirrored" if r == 0 else f"turned {90 * r} degrees and mirrored")
                break
    return tuple(names)


def describe(k: int) -> str:
    """'turned 90 degrees', 'mirrored', ... for transform ``k``."""
    return _names()[k]
