"""Pair verification: do two photos show the same picture, up to resize, recompression, a ~5 % crop,
brightness/contrast, a small overlay?

Hashes find candidates; this decides. Both 32x32 grey thumbnails are blurred (sub-pixel misalignment
must not count), normalised to zero mean and unit variance (brightness/contrast edits are nearly
linear), and compared after the best of a small set of crop alignments (each side cut by 0, 2.5 or 5 %,
at most 6 % per axis, in either direction). The residual is the mean absolute difference of the aligned,
normalised thumbnails inside a 2-pixel border: about 0.01-0.10 for copies, far more for different photos.
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


def residual(a: np.ndarray | None, b: np.ndarray | None, good_enough: float = 0.0) -> float:
    """Smallest aligned residual between two prepared thumbnails (inf when either is flat)."""
    if a is None or b is None:
        return float("inf")
    m = _MARGIN
    na, nb = _norm(a)[m:-m, m:-m], _norm(b)[m:-m, m:-m]
    best = float(np.abs(na - nb).mean())
    if best <= good_enough:
        return best
    for x, ny in ((a, nb), (b, na)):
        for box in BOXES[1:]:
            warped = cv2.warpAffine(x, _warp(box), (SIZE, SIZE),
                                    flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
            r = float(np.abs(_norm(warped)[m:-m, m:-m] - ny).mean())
            if r < best:
                best = r
                if best <= good_enough:
                    return best
    return best
