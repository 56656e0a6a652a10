"""Batched crop/zoom alignment of 32x32 thumbnails: which window of one picture is the other?

A crop (2-9 % off each side, every side its own amount), a crop then resized, or a screenshot with bars
is, at thumbnail scale, a *separable* warp: along each axis the copy shows the window
``[offset, offset + scale]`` of the original, stretched back to the full width. Two different crops of
one photo are windows of each other that reach a little past the border (up to ``OUTSIDE``): only the
overlap (at least ``MIN_OVERLAP`` per axis) is compared. A warp is a gather + linear interpolation
along each axis.

The search is coarse to fine and vectorised over a batch of pairs (no Python loop per pair):

1. per axis, the original's row/column *profile* (mean over the other axis) is warped by every axis
   transform (scale 1.00 .. 0.80, offsets every 0.01) and compared with the copy's profile; the best
   few transforms per axis survive (a 1-D search: cheap);
2. their 9 combinations are applied in 2-D and scored by the mean absolute difference of the
   zero-mean, unit-variance inner parts on the overlap (a 2-pixel border is ignored).

Both directions are tried (either photo may be the crop). The result per pair is the best warp, its
linear residual, and the pair's two inner parts at that alignment, for the tone-curve residual.
"""

from __future__ import annotations

from functools import cache

import numpy as np

SIZE = 32
MARGIN = 2
SCALES = tuple(round(1.0 - 0.02 * k, 2) for k in range(15))   # 1.00 .. 0.72: one side's share of the other
OUTSIDE = 0.10       # a window may reach this far (of its length) past the other picture's border
MIN_OVERLAP = 0.80   # ... as long as this share of it, per axis, lies inside
OFFSET_STEP = 0.01
TOP = 2              # axis transforms per axis (besides the identity) that go on to the 2-D search


@cache
def axis_transforms() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-axis windows, identity first: (params (K, 2) scale, offset; lo, hi (K, SIZE) source pixel
    indices; w (K, SIZE) interpolation weights; valid (K, SIZE) whether the source position lies inside)."""
    params = [(1.0, 0.0)]
    for sc in SCALES:
        for o in np.arange(-OUTSIDE * sc, 1.0 - sc + OUTSIDE * sc + 1e-9, OFFSET_STEP):
            inside = (min(1.0, o + sc) - max(0.0, o)) / sc
            if inside >= MIN_OVERLAP - 1e-9 and not (sc == 1.0 and abs(o) < 1e-9):
                params.append((sc, float(round(o, 4))))
    u = (np.arange(SIZE) + 0.5) / SIZE
    k = len(params)
    lo = np.zeros((k, SIZE), np.int64)
    hi = np.zeros((k, SIZE), np.int64)
    w = np.zeros((k, SIZE), np.float32)
    valid = np.zeros((k, SIZE), bool)
    for i, (sc, o) in enumerate(params):
        pos = (o + sc * u) * SIZE - 0.5
        valid[i] = (pos >= -0.5) & (pos <= SIZE - 0.5)
        x = np.clip(pos, 0, SIZE - 1)
        lo[i] = np.floor(x).astype(np.int64)
        hi[i] = np.minimum(lo[i] + 1, SIZE - 1)
        w[i] = x - lo[i]
    return np.array(params, np.float32), lo, hi, w, valid


@cache
def _coarse() -> np.ndarray:
    """The windows the 1-D profile search tries: every other offset (``polish`` fills in between)."""
    params = axis_transforms()[0]
    keep = [0] + [k for k in range(1, len(params)) if round(float(params[k, 1]) / OFFSET_STEP) % 2 == 0]
    return np.array(keep, np.int64)


def _masked_norm(x: np.ndarray, m: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    cnt = np.maximum(m.sum(axis=axes, keepdims=True), 1)
    mean = (x * m).sum(axis=axes, keepdims=True) / cnt
    var = (((x - mean) * m) ** 2).sum(axis=axes, keepdims=True) / cnt
    return (x - mean) / (np.sqrt(var) + 1e-3)


def _norm(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    m = x.mean(axis=axes, keepdims=True)
    s = x.std(axis=axes, keepdims=True)
    return (x - m) / (s + 1e-3)


def _inner(x: np.ndarray) -> np.ndarray:
    return x[..., MARGIN:-MARGIN, MARGIN:-MARGIN]


def _axis_candidates(src: np.ndarray, dst: np.ndarray, axis: int) -> np.ndarray:
    """(P, 1 + TOP) indices of the axis windows whose warped profile of ``src`` best fits ``dst``'s
    (identity first, always: most copies are not cropped at all)."""
    _, lo, hi, w, valid = axis_transforms()
    ids = _coarse()
    lo, hi, w, valid = lo[ids], hi[ids], w[ids], valid[ids]
    ps = src.mean(axis=axis)                                   # (P, 32) profile along the other axis
    pd = dst.mean(axis=axis)
    warped = ps[:, lo] * (1 - w) + ps[:, hi] * w               # (P, K', 32)
    m = valid[None, :, MARGIN:-MARGIN].astype(np.float32)
    a = _masked_norm(warped[..., MARGIN:-MARGIN], m, (2,))
    b = _masked_norm(np.broadcast_to(pd[:, None, MARGIN:-MARGIN], a.shape), m, (2,))
    score = (np.abs(a - b) * m).sum(axis=2) / np.maximum(m.sum(axis=2), 1)
    score[:, 0] = np.inf                                       # identity is added below anyway
    top = ids[np.argpartition(score, TOP - 1, axis=1)[:, :TOP]]
    return np.concatenate([np.zeros((len(top), 1), np.int64), top], axis=1)


def _warp_rows(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """x (P, 32, 32) with its rows resampled by axis window k (P,)."""
    _, lo, hi, w, _ = axis_transforms()
    rows = np.arange(len(x))[:, None]
    wk = w[k][:, :, None]
    return x[rows, lo[k]] * (1 - wk) + x[rows, hi[k]] * wk


def _warp_cols(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    _, lo, hi, w, _ = axis_transforms()
    rows = np.arange(len(x))[:, None]
    xt = x.transpose(0, 2, 1)
    wk = w[k][:, :, None]
    return (xt[rows, lo[k]] * (1 - wk) + xt[rows, hi[k]] * wk).transpose(0, 2, 1)


def best_alignment(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For P pairs of prepared thumbnails (P, 32, 32): the window of one that best matches the other.

    Returns (linear residual (P,), warp (P, 5): direction (0: a's window matches b, 1: b's window
    matches a), scale_x, offset_x, scale_y, offset_y; the aligned inner parts x (P, 28, 28), the target's
    y (P, 28, 28) and the overlap mask (P, 28, 28) where both show the picture)."""
    params, _, _, _, valid = axis_transforms()
    p = len(a)
    n_in = SIZE - 2 * MARGIN
    best = np.full(p, np.inf, np.float32)
    warp = np.zeros((p, 5), np.float32)
    xs = np.zeros((p, n_in, n_in), np.float32)
    ys = np.zeros_like(xs)
    ms = np.ones((p, n_in, n_in), bool)
    kbest = np.zeros((p, 2), np.int64)
    if p == 0:
        return best, warp, xs, ys, ms
    rows = np.arange(p)
    vin = valid[:, MARGIN:-MARGIN]
    for direction, (src, dst) in enumerate(((a, b), (b, a))):
        cx = _axis_candidates(src, dst, axis=1)    # column profile (mean over rows) -> x windows
        cy = _axis_candidates(src, dst, axis=2)    # row profile -> y windows
        y_in = _inner(dst)
        for iy in range(cy.shape[1]):
            tmp = _warp_rows(src, cy[:, iy])
            for ix in range(cx.shape[1]):
                w = _inner(_warp_cols(tmp, cx[:, ix]))
                m = (vin[cy[:, iy]][:, :, None] & vin[cx[:, ix]][:, None, :])
                mf = m.astype(np.float32)
                r = (np.abs(_masked_norm(w, mf, (1, 2)) - _masked_norm(y_in, mf, (1, 2))) * mf).sum(axis=(1, 2)) \
                    / np.maximum(mf.sum(axis=(1, 2)), 1)
                better = r < best
                if better.any():
                    sel = rows[better]
                    best[sel] = r[sel]
                    warp[sel, 0] = direction
                    warp[sel, 1:3] = params[cx[sel, ix]]
                    warp[sel, 3:5] = params[cy[sel, iy]]
                    xs[sel] = w[sel]
                    ys[sel] = y_in[sel]
                    ms[sel] = m[sel]
                    kbest[sel, 0] = cx[sel, ix]
                    kbest[sel, 1] = cy[sel, iy]
    best_alignment.last_windows = kbest          # for ``polish`` (the caller reads it right after)
    return best, warp, xs, ys, ms


@cache
def _neighbours() -> np.ndarray:
    """(K, L) for each axis window, the windows within 0.02 of its scale and of its offset (itself first;
    padded with itself)."""
    params = axis_transforms()[0]
    rows = []
    for sc, o in params:
        near = np.nonzero((np.abs(params[:, 0] - sc) <= 0.021) & (np.abs(params[:, 1] - o) <= 0.021))[0]
        rows.append(near.tolist())
    width = max(len(r) for r in rows)
    out = np.zeros((len(rows), width + 1), np.int64)
    for k, r in enumerate(rows):
        out[k] = [k] + r + [k] * (width - len(r))
    return out


def _score(src: np.ndarray, y_in: np.ndarray, kx: np.ndarray, ky: np.ndarray) -> tuple[np.ndarray, ...]:
    valid = axis_transforms()[4][:, MARGIN:-MARGIN]
    w = _inner(_warp_cols(_warp_rows(src, ky), kx))
    m = valid[ky][:, :, None] & valid[kx][:, None, :]
    mf = m.astype(np.float32)
    r = (np.abs(_masked_norm(w, mf, (1, 2)) - _masked_norm(y_in, mf, (1, 2))) * mf).sum(axis=(1, 2)) \
        / np.maximum(mf.sum(axis=(1, 2)), 1)
    return r, w, m


def polish(src: np.ndarray, dst: np.ndarray, kx: np.ndarray, ky: np.ndarray, rounds: int = 2
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Coordinate descent from the windows (kx, ky) (P,): each round tries every nearby window along x,
    then along y (``_neighbours``), keeping the best. For pairs the coarse search left undecided.
    Returns (residual, kx, ky, aligned x, target y, overlap mask)."""
    nb = _neighbours()
    y_in = _inner(dst)
    p = len(src)
    rows = np.arange(p)
    best, w, m = _score(src, y_in, kx, ky)
    kx, ky = kx.copy(), ky.copy()
    for _ in range(rounds):
        for axis in (0, 1):
            base = kx if axis == 0 else ky
            options = nb[base]                                   # (P, L)
            for j in range(1, options.shape[1]):
                k = options[:, j]
                r, ww, mm = _score(src, y_in, k, ky) if axis == 0 else _score(src, y_in, kx, k)
                better = r < best - 1e-6
                if better.any():
                    sel = rows[better]
                    best[sel] = r[sel]
                    w[sel], m[sel] = ww[sel], mm[sel]
                    if axis == 0:
                        kx[sel] = k[sel]
                    else:
                        ky[sel] = k[sel]
            # (the loop over options reads ``base`` once: a window found this round is refined next round)
    return best, kx, ky, w, y_in, m


def tone_matched_residual(x: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Per pair, the mean absolute difference (in y's standard deviations) after the best global
    monotonic tone curve from x to y: x's grey levels replaced, rank for rank, by y's. With ``mask``,
    only where it is set (both pictures show that part)."""
    p = len(x)
    fx = x.reshape(p, -1).astype(np.float32)
    fy = y.reshape(p, -1).astype(np.float32)
    if mask is None:
        m = np.ones_like(fx)
    else:
        m = mask.reshape(p, -1).astype(np.float32)
        big = np.float32(1e9)
        fx = np.where(m > 0, fx, big)   # outside the overlap: sorted last on both sides, matched to each other
        fy = np.where(m > 0, fy, big)
    order = np.argsort(fx, axis=1, kind="stable")
    out = np.empty_like(fx)
    np.put_along_axis(out, order, np.sort(fy, axis=1), axis=1)
    out = np.where(m > 0, out, 0)
    fy = np.where(m > 0, fy, 0)
    diff = np.abs(_masked_norm(out, m, (1,)) - _masked_norm(fy, m, (1,))) * m
    return diff.sum(axis=1) / np.maximum(m.sum(axis=1), 1)


def texture(prepared: np.ndarray) -> np.ndarray:
    """Detail of each prepared (blurred) thumbnail: the mean absolute Laplacian (4 neighbours), grey
    levels. A smooth gradient (a clear sky) measures 0 like a flat wall; a street, a face, foliage
    measure several levels."""
    p = prepared
    lap = 4 * p[:, 1:-1, 1:-1] - p[:, :-2, 1:-1] - p[:, 2:, 1:-1] - p[:, 1:-1, :-2] - p[:, 1:-1, 2:]
    return np.abs(lap).mean(axis=(1, 2))
