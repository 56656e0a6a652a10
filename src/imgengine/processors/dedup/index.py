"""Multi-index hashing (Norouzi et al.) for 64-bit hashes: every pair within a Hamming distance, without
comparing all pairs.

A 64-bit code is cut into four 16-bit chunks. If two codes differ in at most ``d`` bits, some chunk differs
in at most ``r = ceil((d - 3) / 4)`` bits (pigeonhole), so probing, for every code and every chunk, the
buckets of all chunk values within ``r`` bits of its own finds every such pair; the full 64-bit distance
then filters the candidates. Everything is vectorised in numpy: one pass per (chunk, flip mask), and each
pair is generated from one side only (the lower bucket).

Cost: ``4 * M(r)`` passes (M(0)=1, M(1)=17, M(2)=137, M(3)=697 masks) of O(N) each -- the linear part --
plus the bucket pairs, about ``2 * M(r) * N**2 / 65536`` for uniformly spread codes: at r=2 about 0.4 %
of all pairs (100k codes -> ~4e7 cheap popcounts, 1M -> ~4e9). So the cost grows linearly up to a few
hundred thousand photos and quadratically, with a tiny constant, beyond; ``benchmarks/dedup_bench.py``
measures both parts and extrapolates to 1M. Real photo hashes cluster more than random ones; exact
duplicates are removed before (one code per sha256).
"""

from __future__ import annotations

import numpy as np

CHUNKS = 4
CHUNK_BITS = 16
_MAX_BLOCK = 20_000_000   # candidate pairs materialised at once


def popcount64(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    b = x.view(np.uint8).reshape(*x.shape, 8)  # pragma: no cover - numpy < 2
    return _BYTE_POP[b].sum(axis=-1)           # pragma: no cover


_BYTE_POP = np.array([i.bit_count() for i in range(256)], dtype=np.uint8)
_ALL16 = np.arange(1 << CHUNK_BITS, dtype=np.uint64)
_POP16 = popcount64(_ALL16)


def chunk_radius(max_dist: int) -> int:
    return max(0, -(-(max_dist - (CHUNKS - 1)) // CHUNKS))


def hex_to_codes(values: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """(codes uint64, valid bool) from 16-hex-digit strings (None or malformed -> invalid)."""
    codes = np.zeros(len(values), dtype=np.uint64)
    valid = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        if v and len(v) == 16:
            try:
                codes[i] = int(v, 16)
                valid[i] = True
            except ValueError:
                pass
    return codes, valid


def pairs_within(codes: np.ndarray, max_dist: int, valid: np.ndarray | None = None) -> np.ndarray:
    """All index pairs (i < j) whose codes differ in at most ``max_dist`` bits, as an (n, 2) int64 array."""
    codes = np.asarray(codes, dtype=np.uint64)
    n = len(codes)
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    ids = np.arange(n, dtype=np.int64) if valid is None else np.nonzero(valid)[0].astype(np.int64)
    sub = codes[ids]
    masks = _ALL16[_POP16 <= chunk_radius(max_dist)].astype(np.int64)
    found: list[np.ndarray] = []
    for c in range(CHUNKS):
        ch = ((sub >> np.uint64(CHUNK_BITS * c)) & np.uint64(0xFFFF)).astype(np.int64)
        order = np.argsort(ch, kind="stable")
        counts = np.bincount(ch, minlength=1 << CHUNK_BITS)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        for m in masks:
            keys = ch ^ m
            if m == 0:
                sel = np.nonzero(counts[keys] > 1)[0]
            else:
                # a pair (i, j) with ch_j = ch_i ^ m is met from both sides; take it from the lower bucket only
                sel = np.nonzero((keys > ch) & (counts[keys] > 0))[0]
            if sel.size == 0:
                continue
            cnt = counts[keys[sel]]
            step = max(1, int(sel.size * _MAX_BLOCK // max(1, int(cnt.sum()))))
            for lo in range(0, sel.size, step):
                s = sel[lo: lo + step]
                c_sel = cnt[lo: lo + step]
                total = int(c_sel.sum())
                ii = np.repeat(s, c_sel)
                first = starts[keys[s]]
                offs = np.repeat(first - (np.cumsum(c_sel) - c_sel), c_sel) + np.arange(total)
                jj = order[offs]
                if m == 0:
                    keep = ii < jj
                    ii, jj = ii[keep], jj[keep]
                d = popcount64(sub[ii] ^ sub[jj])
                keep = d <= max_dist
                if keep.any():
                    a, b = ii[keep], jj[keep]
                    found.append(np.minimum(a, b) * n + np.maximum(a, b))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    keys = np.unique(np.concatenate(found))
    i, j = keys // n, keys % n
    return np.stack([ids[i], ids[j]], axis=1)
