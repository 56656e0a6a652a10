"""Pair verification: do two photos show the same picture, up to resize, recompression, a ~5 % crop,
brightness/contrast, a small overlay?

Hashes find candidates; this decides. Both 32x32 grey thumbnails are blurred (sub-pixel misalignment
must not count), normalised to zero mean and unit variance, and aligned with the best of a small set of crop boxes (each
side cut by 0, 2.5 or 5 %, at most 6 % per axis, in either direction). At that alignment one thumbnail's
grey levels are mapped onto the other's by rank (the best global tone curve: brightness, contrast and
gamma edits vanish, an HDR merge's local tone mapping does not), and the residual is the mean absolute
difference inside a 2-pixel border, in standard deviations: below ~0.07 for copies, more for different
photos -- except burst frames a moment apart, which 32 pixels cannot always tell from a copy.

Burst frames: two photos with the *same* pixel size are a copy of each other only in register (a
recompressed, converted, re-toned or marked copy keeps every pixel where it was) or, rarely, as a crop
scaled back to the same size (a zoom). A frame taken a moment later by a hand-held camera is shifted
instead: new content enters at one border. ``camera_shift`` measures that translation to a fraction
of a pixel (ECC alignment, OpenCV ``findTransformECC``, on the blurred thumbnails): copies of equal
size measured <= 0.0076 of the frame, burst frames mostly 0.006 -- 0.03.
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

SIZE = 32
_STEPS = (0.0, 0.025, 0.05)
_MAX_AXIS_CUT = 0.06
_MARGIN = 2
# a thumbnail with less spread than this (8-bit grey levels) is "flat": a blank frame, a lens-cap shot;
# such images are only ever exact duplicates, never near ones (nothing in them to compare)
FLAT_STD = 2.0


def _boxes() -> list[tuple[float, float, float, float]]:
    axis = [(a, b) for a in _STEPS for b in _STEPS if a + b <= _MAX_AXIS_CUT + 1e-9]
    boxes = [(lft, top, rgt, bot) for lft, rgt in axis for top, bot in axis]
    boxes.sort(key=lambda b: sum(b))      # identity first: most copies stop there
    return boxes


BOXES = _boxes()


@cache
def _warp(box: tuple[float, float, float, float]) -> np.ndarray:
    lft, top, rgt, bot = box
    return np.float32([[1 - lft - rgt, 0, lft * SIZE], [0, 1 - top - bot, top * SIZE]])


def prepare(thumb: np.ndarray) -> np.ndarray | None:
    """Blurred float32 thumbnail, or None when it is flat."""
    if float(thumb.std()) < FLAT_STD:
        return None
    return cv2.GaussianBlur(thumb.astype(np.float32), (0, 0), 1.0)


def _norm(a: np.ndarray) -> np.ndarray:
    return (a - a.mean()) / (a.std() + 1e-3)


def _matched(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x`` with its grey levels replaced, rank for rank, by ``y``'s: the best global monotonic tone
    curve from x to y. Brightness, contrast, gamma and clipping are global curves and vanish; an HDR
    merge (local tone mapping) or a different moment does not."""
    order = np.argsort(x, axis=None, kind="stable")
    out = np.empty(x.size, dtype=np.float32)
    out[order] = np.sort(y, axis=None)
    return out.reshape(x.shape)


def residual(a: np.ndarray | None, b: np.ndarray | None, good_enough: float = 0.0) -> float:
    """Residual between two prepared thumbnails (inf when either is flat).

    The alignment is the crop box with the smallest linear-normalised difference; the residual reported
    is, at that alignment, the mean absolute difference after the best global tone curve (in units of
    the target's standard deviation)."""
    if a is None or b is None:
        return float("inf")
    m = _MARGIN
    inner = (slice(m, -m), slice(m, -m))
    na, nb = _norm(a)[inner], _norm(b)[inner]
    best = float(np.abs(na - nb).mean())
    best_pair = (a[inner], b[inner])
    if best > good_enough:
        for x, y, ny in ((a, b, nb), (b, a, na)):
            for box in BOXES[1:]:
                warped = cv2.warpAffine(x, _warp(box), (SIZE, SIZE),
                                        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                        borderMode=cv2.BORDER_REPLICATE)
                r = float(np.abs(_norm(warped)[inner] - ny).mean())
                if r < best:
                    best = r
                    best_pair = (warped[inner], y[inner])
                    if best <= good_enough:
                        break
            if best <= good_enough:
                break
    x, y = best_pair
    ny = _norm(y)
    return float(np.abs(_norm(_matched(x, y)) - ny).mean())


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
    res = float(np.abs(_norm(_matched(x, y)) - _norm(y)).mean())
    return float(np.hypot(warp[0, 2], warp[1, 2])) / SIZE, res
