"""Pair verification: do two photos show the same picture, up to resize, recompression, a crop of up to
~9 % per side (any sides, also two different crops of one photo), a screenshot with bars,
brightness/contrast, a small overlay?

Hashes find candidates; this decides, for a batch of pairs at once (``verify_pairs``). Both 32x32 grey
thumbnails are blurred (sub-pixel misalignment must not count), normalised to zero mean and unit
variance, and compared in register; pairs that do not match there go through the window search of
``align.py`` (scale + offset per axis, both directions). At the best alignment one thumbnail's grey
levels are mapped onto the other's by rank (the best global tone curve: brightness, contrast and gamma
edits vanish, an HDR merge's local tone mapping does not), and the residual is the mean absolute
difference on the overlap inside a 2-pixel border, in standard deviations. Pairs the caller calls
undecided (just above its limit) get a second look: coordinate descent over nearby windows (batched)
and an affine ECC fit (``refine``, per pair -- few pairs).

Burst frames: two photos with the *same* pixel size are a copy of each other only in register (a
recompressed, converted, re-toned or marked copy keeps every pixel where it was) or, rarely, as a crop
scaled back to the same size (a zoom). A frame taken a moment later by a hand-held camera is shifted
instead: new content enters at one border. ``camera_shift`` measures that translation to a fraction
of a pixel (ECC alignment, OpenCV ``findTransformECC``, on the blurred thumbnails): copies of equal
size measured <= 0.0076 of the frame, burst frames mostly 0.006 -- 0.03.
"""

from __future__ import annotations

import cv2
import numpy as np

from .align import MARGIN as _MARGIN
from .align import SIZE, _inner, _norm, axis_transforms, best_alignment, polish, texture, tone_matched_residual

# a thumbnail with less spread than this (8-bit grey levels) is "flat": a blank frame, a lens-cap shot;
# such images are only ever exact duplicates, never near ones (nothing in them to compare)
FLAT_STD = 2.0


def prepare(thumb: np.ndarray) -> np.ndarray | None:
    """Blurred float32 thumbnail, or None when it is flat."""
    if float(thumb.std()) < FLAT_STD:
        return None
    return cv2.GaussianBlur(thumb.astype(np.float32), (0, 0), 1.0)


def residual(a: np.ndarray | None, b: np.ndarray | None, good_enough: float = 0.0) -> float:
    """Residual between two prepared thumbnails (inf when either is flat): ``verify_pairs`` for one pair."""
    if a is None or b is None:
        return float("inf")
    x, y = _pair_arrays(a[None], b[None])
    return float(_residuals(x, y, good_enough)[0][0])


def _pair_arrays(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.ascontiguousarray(a, np.float32), np.ascontiguousarray(b, np.float32)


def _residuals(a: np.ndarray, b: np.ndarray, good_enough: float,
               search: np.ndarray | None = None, polish_below: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(tone-matched residual (P,), warp (P, 5)) for P pairs of prepared thumbnails. Pairs whose
    in-register linear residual is at most ``good_enough`` (most copies) skip the window search;
    ``search`` (P,) bool limits the search further."""
    p = len(a)
    warp = np.zeros((p, 5), np.float32)
    warp[:, 1] = warp[:, 3] = 1.0
    x, y = _inner(a), _inner(b)
    lin = np.abs(_norm(x, (1, 2)) - _norm(y, (1, 2))).mean(axis=(1, 2))
    todo = lin > good_enough
    if search is not None:
        todo &= search
    if todo.any():
        idx = np.nonzero(todo)[0]
        best, w, xs, ys, ms = best_alignment(a[idx], b[idx])
        windows = best_alignment.last_windows
        # the coarse search's near misses: coordinate descent over nearby windows
        near = np.nonzero((best > good_enough) & (best < polish_below))[0]
        if near.size:
            flip = w[near, 0] == 1
            src = np.where(flip[:, None, None], b[idx[near]], a[idx[near]])
            dst = np.where(flip[:, None, None], a[idx[near]], b[idx[near]])
            r2, kx, ky, x2, y2, m2 = polish(src, dst, windows[near, 0], windows[near, 1])
            params = axis_transforms()[0]
            imp = r2 < best[near]
            sel = near[imp]
            best[sel] = r2[imp]
            xs[sel], ys[sel], ms[sel] = x2[imp], y2[imp], m2[imp]
            w[sel, 1:3] = params[kx[imp]]
            w[sel, 3:5] = params[ky[imp]]
        better = best < lin[idx]
        sel = idx[better]
        x = x.copy()
        y = y.copy()
        mask = np.ones(x.shape, bool)
        x[sel] = xs[better]
        y[sel] = ys[better]
        mask[sel] = ms[better]
        warp[sel] = w[better]
        return tone_matched_residual(x, y, mask), warp
    return tone_matched_residual(x, y), warp


_REFINE_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4)


def refine(src: np.ndarray, dst: np.ndarray, warp: np.ndarray) -> float:
    """The undecided pairs' second look: starting from the window search's best warp (scale + offset per
    axis), OpenCV's ECC finds the best affine warp of ``src`` onto ``dst`` to a fraction of a pixel (and
    a slight turn: a straightened crop). Returns the tone-matched residual on the overlap (inf when
    ECC does not converge)."""
    _, sx, ox, sy, oy = (float(v) for v in warp)
    m = np.float32([[sx, 0, ox * SIZE + 0.5 * sx - 0.5], [0, sy, oy * SIZE + 0.5 * sy - 0.5]])
    try:
        _, m = cv2.findTransformECC(dst, src, m, cv2.MOTION_AFFINE, _REFINE_CRITERIA, None, 1)
    except cv2.error:
        return float("inf")
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    moved = cv2.warpAffine(src, m, (SIZE, SIZE), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    inside = cv2.warpAffine(np.ones((SIZE, SIZE), np.float32), m, (SIZE, SIZE), flags=flags,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask = _inner(inside) > 0.99
    if mask.mean() < 0.6:
        return float("inf")
    return float(tone_matched_residual(_inner(moved)[None], _inner(dst)[None], mask[None])[0])


def turned_stack(stack: np.ndarray, nodes: np.ndarray, turn: np.ndarray | None) -> np.ndarray:
    """``stack[nodes]``, each thumbnail turned/mirrored by its ``turn`` (``thumbhash.transform``; 0 = as is)."""
    out = stack[nodes]
    if turn is not None and turn.any():
        from .thumbhash import transform

        out = out.copy()
        for k in np.unique(turn[turn > 0]).tolist():
            sel = turn == k
            out[sel] = transform(out[sel], k)
    return out


def verify_pairs(thumbs, pairs: np.ndarray, good_enough: float = 0.0,
                 undecided: tuple[float, float] | None = None,
                 turn: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For candidate ``pairs`` (P, 2) of node indices into ``thumbs`` (a mapping node -> prepared
    thumbnail or None, with the stacked array as ``thumbs.stack``): (residual (P,), warp (P, 5), the
    lower texture of each pair (P,), for the caller's low-texture rule). Pairs whose residual falls in
    ``undecided`` (low, high] get a second look (``refine``, per pair: few do). Flat or missing
    thumbnails give an infinite residual. ``turn`` (P,): how the first photo of each pair is turned or
    mirrored onto the second (a copy saved rotated; 0 for none)."""
    i, j = pairs[:, 0], pairs[:, 1]
    missing = getattr(thumbs, "missing", None)
    if missing is None:
        missing = np.array([thumbs.get(int(k)) is None for k in range(len(thumbs.stack))], bool)
    a, b = turned_stack(thumbs.stack, i, turn), thumbs.stack[j]
    tex = np.minimum(texture(a), texture(b))
    res, warp = _residuals(a, b, good_enough, polish_below=undecided[1] if undecided else 0.0)
    if undecided is not None:
        lo, hi = undecided
        for k in np.nonzero((res > lo) & (res <= hi))[0].tolist():
            src, dst = (a[k], b[k]) if warp[k, 0] == 0 else (b[k], a[k])
            res[k] = min(res[k], refine(src, dst, warp[k]))
    res[missing[i] | missing[j]] = np.inf
    tex[missing[i] | missing[j]] = 0.0
    return res, warp, tex


_ECC_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-5)


def camera_shift(a: np.ndarray | None, b: np.ndarray | None) -> tuple[float, float] | None:
    """(translation, residual) between two prepared thumbnails of equal-size photos: the pure
    translation that best aligns ``a`` onto ``b`` (ECC, sub-pixel), as a fraction of the frame, and
    the tone-matched residual at that translation (same units as ``residual``). None when either is
    flat or the alignment does not converge."""
    if a is None or b is None:
        return None
    warp = np.eye(2, 3, dtype=np.float32)
    try:
        _, warp = cv2.findTransformECC(b, a, warp, cv2.MOTION_TRANSLATION, _ECC_CRITERIA, None, 1)
    except cv2.error:
        return None
    moved = cv2.warpAffine(a, warp, (SIZE, SIZE), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_REPLICATE)
    inner = (slice(_MARGIN, -_MARGIN), slice(_MARGIN, -_MARGIN))
    x, y = moved[inner], b[inner]
    res = float(tone_matched_residual(x[None], y[None])[0])
    return float(np.hypot(warp[0, 2], warp[1, 2])) / SIZE, res
