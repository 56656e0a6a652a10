"""Batched crop/zoom alignment of 32x32 thumbnails: which window of one picture is the other?

A crop (2-9 % off each side, every side its own amount), a crop then resized, or a screenshot with bars
is, at thumbnail scale, a *separable* warp: along each axis the copy shows the window
``[offset, offset + scale]`` of the original, stretched back to the full width. So every candidate warp
is a pair of 32x32 linear-interpolation matrices, ``warped = Ry @ original @ Rx.T``.

The search is coarse to fine and vectorised over a batch of pairs (no Python loop per pair):

1. per axis, the original's row/column *profile* (mean over the other axis) is warped by every axis
   transform (scale 1.00 .. 0.80, offsets every 0.01) and compared with the copy's profile; the best
   few transforms per axis survive (a 1-D search: cheap);
2. their combinations are applied in 2-D (batched matrix products) and scored by the mean absolute
   difference of the zero-mean, unit-variance inner parts (a 2-pixel border is ignored).

Both directions are tried (either photo may be the crop). The result per pair is the best warp, its
linear residual, and the pair's two inner parts at that alignment, for the tone-curve residual.
"""

from __future__ import annotations

from functools import cache

import numpy as np

SIZE = 32
MARGIN = 2
SCALES = tuple(round(1.0 - 0.02 * k, 2) for k in range(11))   # 1.00 .. 0.80
OFFSET_STEP = 0.01
TOP = 3            # axis transforms per axis that go on to the 2-D search


@cache
def axis_transforms() -> tuple[np.ndarray, np.ndarray]:
    """(params (K, 2): scale, offset; matrices (K, SIZE, SIZE) float32), identity first."""
    params = []
    for s in SCALES:
        room = 1.0 - s
        n = max(1, int(round(room / OFFSET_STEP)) + 1)
        for o in np.linspace(0.0, room, n):
            params.append((s, float(o)))
    mats = np.zeros((len(params), SIZE, SIZE), np.float32)
    u = (np.arange(SIZE) + 0.5) / SIZE
    for k, (s, o) in enumerate(params):
        x = np.clip((o + s * u) * SIZE - 0.5, 0, SIZE - 1)
        lo = np.floor(x).astype(int)
        hi = np.minimum(lo + 1, SIZE - 1)
        w = (x - lo).astype(np.float32)
        mats[k, np.arange(SIZE), lo] += 1 - w
        mats[k, np.arange(SIZE), hi] += w
    return np.array(params, np.float32), mats


def _norm(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    m = x.mean(axis=axes, keepdims=True)
    s = x.std(axis=axes, keepdims=True)
    return (x - m) / (s + 1e-3)


def _inner(x: np.ndarray) -> np.ndarray:
    return x[..., MARGIN:-MARGIN, MARGIN:-MARGIN]


def _axis_candidates(src: np.ndarray, dst: np.ndarray, mats: np.ndarray, axis: int) -> np.ndarray:
    """(P, TOP) indices of the axis transforms whose warped profile of ``src`` best fits ``dst``'s."""
    ps = src.mean(axis=axis)                         # (P, 32): profile along the other axis
    pd = dst.mean(axis=axis)
    warped = np.einsum("kij,pj->pki", mats, ps)      # (P, K, 32)
    w = _norm(warped[..., MARGIN:-MARGIN], (2,))
    d = _norm(pd[:, None, MARGIN:-MARGIN], (2,))
    # a profile's contrast can be tiny (a flat axis): then its distances say little, and the 2-D step decides
    score = np.abs(w - d).mean(axis=2)               # (P, K)
    top = np.argpartition(score, TOP - 1, axis=1)[:, :TOP] if score.shape[1] > TOP else \
        np.broadcast_to(np.arange(score.shape[1]), score.shape)
    # identity always competes: most copies are not cropped at all
    return np.concatenate([np.zeros((len(top), 1), np.int64), top], axis=1)


def best_alignment(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For P pairs of prepared thumbnails (P, 32, 32): the best window of one inside the other.

    Returns (linear residual (P,), warp (P, 5): direction (0: a's window matches b, 1: b's window
    matches a), scale_x, offset_x, scale_y, offset_y; the aligned inner parts x (P, 28, 28) and the
    target inner parts y (P, 28, 28))."""
    params, mats = axis_transforms()
    p = len(a)
    best = np.full(p, np.inf, np.float32)
    warp = np.zeros((p, 5), np.float32)
    xs = np.zeros((p, SIZE - 2 * MARGIN, SIZE - 2 * MARGIN), np.float32)
    ys = np.zeros_like(xs)
    if p == 0:
        return best, warp, xs, ys
    rows = np.arange(p)
    for direction, (src, dst) in enumerate(((a, b), (b, a))):
        cx = _axis_candidates(src, dst, mats, axis=1)    # column profile: mean over rows -> x warps
        cy = _axis_candidates(src, dst, mats, axis=2)    # row profile -> y warps
        ny = _norm(_inner(dst), (1, 2))
        for iy in range(cy.shape[1]):
            ry = mats[cy[:, iy]]                         # (P, 32, 32)
            tmp = ry @ src                               # rows warped
            for ix in range(cx.shape[1]):
                rx = mats[cx[:, ix]]
                w = tmp @ rx.transpose(0, 2, 1)
                r = np.abs(_norm(_inner(w), (1, 2)) - ny).mean(axis=(1, 2))
                better = r < best
                if better.any():
                    sel = rows[better]
                    best[sel] = r[sel]
                    warp[sel, 0] = direction
                    warp[sel, 1:3] = params[cx[sel, ix]]
                    warp[sel, 3:5] = params[cy[sel, iy]]
                    xs[sel] = _inner(w[sel])
                    ys[sel] = _inner(dst[sel])
    return best, warp, xs, ys


def tone_matched_residual(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per pair, the mean absolute difference (in y's standard deviations) after the best global
    monotonic tone curve from x to y: x's grey levels replaced, rank for rank, by y's."""
    p = len(x)
    fx = x.reshape(p, -1)
    fy = y.reshape(p, -1)
    order = np.argsort(fx, axis=1, kind="stable")
    out = np.empty_like(fx)
    np.put_along_axis(out, order, np.sort(fy, axis=1), axis=1)
    return np.abs(_norm(out, (1,)) - _norm(fy, (1,))).mean(axis=1)


def texture(prepared: np.ndarray) -> np.ndarray:
    """Detail of each prepared (blurred) thumbnail: mean absolute neighbour difference, grey levels.
    A sky, a wall, a misty field measure a few levels; a street, a face, foliage tens."""
    p = prepared
    return (np.abs(np.diff(p, axis=1)).mean(axis=(1, 2)) + np.abs(np.diff(p, axis=2)).mean(axis=(1, 2)))
