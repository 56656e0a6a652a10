"""The recommended distribution a training collection is compared against, and how a user changes it.

Shares are percentages per dimension. The defaults follow what a photo tool meets in the wild: mostly phone
JPEGs, a real share of HEIC, some PNG screenshots, a little RAW; a spread of quality so a model learns what
"poor" looks like; a fifth of photos in hard light. A YAML file overrides any dimension or bucket:

    formats: {JPEG: 60, HEIC: 25, PNG: 10, RAW: 3, other: 2}
    tolerance: 5        # percentage points below target before a bucket counts as a gap
    scenes: {beach: 5, night: 10}   # optional: scene labels (from the vision stage) you want represented
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from ..errors import UsageError

DEFAULT_TARGETS: dict[str, dict[str, float]] = {
    "formats": {"JPEG": 70, "HEIC": 15, "PNG": 10, "RAW": 3, "other": 2},
    "quality": {"excellent": 20, "good": 35, "average": 30, "poor": 15},
    "lighting": {"natural": 50, "artificial": 30, "challenging": 20},
    "sources": {"smartphone": 60, "dslr_mirrorless": 20, "other": 20},
}
DEFAULT_TOLERANCE = 5.0  # percentage points
DIMENSIONS = ("formats", "resolution", "quality", "lighting", "sources", "scenes")


def load_targets(path: Path | None) -> tuple[dict[str, dict[str, float]], float]:
    """The default targets with the YAML file's dimensions merged over them; (targets, tolerance)."""
    targets = copy.deepcopy(DEFAULT_TARGETS)
    tolerance = DEFAULT_TOLERANCE
    if path is None:
        return targets, tolerance
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise UsageError(f"targets {path}: {exc.strerror or exc}")
    except yaml.YAMLError as exc:
        raise UsageError(f"targets {path}: not valid YAML ({str(exc).splitlines()[0]})")
    if not isinstance(data, dict):
        raise UsageError(f"targets {path}: expected a mapping of dimension -> {{bucket: percent}}")
    for dim, buckets in data.items():
        if dim == "tolerance":
            tolerance = _number(path, "tolerance", buckets)
            continue
        if dim not in DIMENSIONS:
            raise UsageError(f"targets {path}: unknown dimension {dim!r} (use {', '.join(DIMENSIONS)})")
        if not isinstance(buckets, dict) or not buckets:
            raise UsageError(f"targets {path}: {dim} must map buckets to percentages")
        shares = {str(k): _number(path, f"{dim}.{k}", v) for k, v in buckets.items()}
        if dim != "scenes" and abs(sum(shares.values()) - 100) > 0.5:
            raise UsageError(f"targets {path}: {dim} adds up to {sum(shares.values()):g}%, not 100%")
        targets[dim] = shares
    return targets, tolerance


def _number(path: Path, key: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"targets {path}: {key} must be a number, not {value!r}")
    if not 0 <= number <= 100:
        raise UsageError(f"targets {path}: {key} = {number:g} is not a percentage")
    return number
