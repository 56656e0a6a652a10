"""Inventory of a collection: how diverse it is, against a recommended distribution, and what would fill the gaps.

The facts come from the catalog (``analyze`` results: format, metadata, content quality, CLIP scenes); the
command analyses what is missing first, incrementally. Each photo lands in one bucket per dimension; a bucket
whose share is more than ``tolerance`` points under its target is a gap, with the number of photos that would
close it and the ways to get them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.catalog import Catalog
from ..core.photo import display_path

SCHEMA = "imgengine.inventory/1"

RESOLUTION_BUCKETS = (  # long side in pixels, upper bound inclusive
    ("VGA", 640), ("HD", 1280), ("Full HD", 1920), ("QHD", 2560), ("4K", 3840), ("4K+", math.inf),
)
PHONE_MAKES = {"apple", "google", "samsung", "huawei", "xiaomi", "oneplus", "oppo", "vivo", "motorola", "lg",
               "lge", "htc", "nokia", "hmd", "realme", "honor", "zte", "asus", "nothing", "fairphone", "jolla"}
PHONE_MODEL_WORDS = ("iphone", "pixel", "galaxy", "xperia", "redmi", "nexus", "moto ", "sm-")
# interchangeable-lens bodies by make (first word of EXIF Make) → model pattern; compacts and camcorders of the
# same makes (PowerShot, COOLPIX, Cyber-shot, FinePix) are "other"
ILC_MODELS = {
    "canon": r"\beos\b", "nikon": r"^(nikon )?(d\d+[a-z]*|df|z ?\d+[a-z]*|z ?fc?)\b",
    "sony": r"^(ilce|ilca|dslr|slt|nex)",
    "fujifilm": r"^(x-(t|pro|h|e|s|a|m)|gfx)", "olympus": r"^(e-\d|e-p|e-pl|e-m|om-)", "om": r"om-",
    "panasonic": r"^(dmc-g|dc-g|dc-s|dmc-gh|dc-gh)", "pentax": r"^(pentax )?(k[- ]?\d|k-\d|\*ist|645)",
    "ricoh": r"pentax k", "leica": r"^(m\d|m ?\(|sl|q|cl|tl)", "hasselblad": r".", "sigma": r"^(sd|fp)",
    "phase": r".", "samsung": r"^nx",
}
FILL_HINTS = {
    ("formats", "HEIC"): "phone photos saved as HEIC (iPhone default); `train augment` adds HEIC round trips",
    ("formats", "PNG"): "screenshots and exported graphics; PNG copies of existing photos",
    ("formats", "RAW"): "camera RAW files (DNG, CR2/CR3, NEF, ARW, RAF)",
    ("formats", "JPEG"): "camera and phone JPEGs; `train download` (Places365 and COCO are JPEG)",
    ("formats", "other"): "WebP, TIFF, AVIF, GIF files",
    ("quality", "poor"): "`train augment` (motion/defocus blur, sensor noise, JPEG recompression)",
    ("quality", "average"): "`train augment` with mild blur and noise",
    ("quality", "good"): "`train download` (curated public photos)",
    ("quality", "excellent"): "sharp, well-exposed photos from a good camera",
    ("lighting", "challenging"): "night, backlit and low-light photos; `train augment` (low light)",
    ("lighting", "artificial"): "indoor photos, flash photos; `train augment` (white-balance shifts)",
    ("lighting", "natural"): "outdoor daylight photos; `train download --sources places365`",
    ("sources", "smartphone"): "photos from phones (several makes)",
    ("sources", "dslr_mirrorless"): "photos from interchangeable-lens cameras",
    ("sources", "other"): "scans, screenshots, web images, action cameras and drones",
}


@dataclass
class PhotoFacts:
    path: str
    format: str
    resolution: str | None
    quality: str | None
    lighting: str | None
    lighting_reason: str | None
    source: str
    scene: str | None


@dataclass
class Gap:
    dimension: str
    bucket: str
    target_percent: float
    actual_percent: float
    have: int
    photos_needed: int
    fill_with: str

    def to_dict(self) -> dict[str, Any]:
        return {"dimension": self.dimension, "bucket": self.bucket, "target_percent": round(self.target_percent, 2),
                "actual_percent": round(self.actual_percent, 2), "have": self.have,
                "photos_needed": self.photos_needed, "fill_with": self.fill_with}


@dataclass
class Inventory:
    source: str
    total: int
    counts: dict[str, dict[str, int]]
    targets: dict[str, dict[str, float]]
    tolerance: float
    gaps: list[Gap] = field(default_factory=list)
    unknown: dict[str, int] = field(default_factory=dict)
    created_at: str = ""

    def percent(self, dimension: str, bucket: str) -> float:
        known = sum(self.counts.get(dimension, {}).values())
        return 100.0 * self.counts.get(dimension, {}).get(bucket, 0) / known if known else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "source": self.source, "created_at": self.created_at, "total_photos": self.total,
                "counts": self.counts,
                "percent": {d: {b: round(self.percent(d, b), 2) for b in c} for d, c in self.counts.items()},
                "unknown": self.unknown, "targets": self.targets, "tolerance": self.tolerance,
                "gaps": [g.to_dict() for g in self.gaps]}


def resolution_bucket(width: int | None, height: int | None) -> str | None:
    if not width or not height:
        return None
    long_side = max(width, height)
    return next(name for name, bound in RESOLUTION_BUCKETS if long_side <= bound)


def format_bucket(fmt: str | None) -> str:
    return {"jpeg": "JPEG", "heic": "HEIC", "png": "PNG", "raw": "RAW"}.get(fmt or "", "other")


def source_bucket(meta: dict[str, Any]) -> str:
    """smartphone / dslr_mirrorless / other from make, model and lens (phones name their lens "back camera").
    Compact cameras and camcorders count as "other": what matters for training is the optics and sensor."""
    make = (meta.get("make") or "").strip().lower()
    model = (meta.get("model") or "").strip().lower()
    lens = (meta.get("lens_model") or "").strip().lower()
    if not make and not model:
        return "other"
    brand = make.split(" ")[0].rstrip(",.") if make else ""
    phone = brand in PHONE_MAKES or any(w in model for w in PHONE_MODEL_WORDS) or "back camera" in lens \
        or "front camera" in lens
    if brand == "sony":
        phone = "xperia" in model
    elif make.startswith("samsung techwin"):  # Samsung's camera division (Digimax, NX)
        phone = False
    if phone:
        return "smartphone"
    pattern = ILC_MODELS.get(brand)
    if pattern and re.search(pattern, model):
        return "dslr_mirrorless"
    return "other"


def lighting_bucket(meta: dict[str, Any], content: dict[str, Any]) -> tuple[str | None, str | None]:
    """natural / artificial / challenging, with the reason.

    Challenging: dark frames (mean luminance under 60), heavy clipping, ISO 3200 and up, or exposures of 1/8 s
    and longer. Artificial: flash fired, or the indoor signature of ISO 800+ with 1/30 s or longer. Natural
    otherwise. Without EXIF the luminance alone decides between challenging and natural.
    """
    brightness = content.get("brightness")
    if brightness is None and not meta:
        return None, None
    iso = meta.get("iso") or 0
    exposure = meta.get("exposure_time") or 0.0
    if brightness is not None and brightness < 60:
        return "challenging", f"dark (mean luminance {brightness:.0f})"
    if (content.get("highlights_clipped") or 0) > 25 or (content.get("shadows_clipped") or 0) > 35:
        return "challenging", "clipped highlights or shadows"
    if iso >= 3200:
        return "challenging", f"ISO {iso}"
    if exposure >= 1 / 8:
        return "challenging", f"{exposure:g} s exposure"
    if meta.get("flash_fired"):
        return "artificial", "flash fired"
    if iso >= 800 and exposure >= 1 / 30:
        return "artificial", f"ISO {iso} at {exposure:g} s (indoor)"
    return "natural", None


def facts_of(record: dict[str, Any]) -> PhotoFacts:
    results = record.get("results") or {}
    meta = results.get("metadata") or {}
    content = results.get("content") or {}
    if "_error" in meta:
        meta = {}
    if "_error" in content:
        content = {}
    width = meta.get("upright_width") or meta.get("width")
    height = meta.get("upright_height") or meta.get("height")
    lighting, reason = lighting_bucket(meta, content)
    scene = None
    clip = results.get("clip") or {}
    if clip.get("scenes"):
        scene = clip["scenes"][0].get("label")
    return PhotoFacts(path=record.get("display_path") or str(record["path"]), format=format_bucket(record["format"]),
                      resolution=resolution_bucket(width, height), quality=content.get("quality"),
                      lighting=lighting, lighting_reason=reason, source=source_bucket(meta), scene=scene)


def build_inventory(records: list[dict[str, Any]], targets: dict[str, dict[str, float]], tolerance: float,
                    source: str) -> Inventory:
    """Count the buckets of every analysed photo and list the gaps against ``targets``."""
    counts: dict[str, Counter] = {d: Counter() for d in ("formats", "resolution", "quality", "lighting", "sources",
                                                         "scenes")}
    unknown: Counter = Counter()
    total = 0
    for rec in records:
        if rec.get("status") != "ok" or not rec.get("format"):
            continue
        total += 1
        f = facts_of(rec)
        for dim, value in (("formats", f.format), ("resolution", f.resolution), ("quality", f.quality),
                           ("lighting", f.lighting), ("sources", f.source), ("scenes", f.scene)):
            if value is None:
                unknown[dim] += 1
            else:
                counts[dim][value] += 1
    ordered: dict[str, dict[str, int]] = {}
    for dim, counter in counts.items():
        order = list(targets.get(dim, {}))
        if dim == "resolution":
            order = [name for name, _ in RESOLUTION_BUCKETS]
        buckets = {b: counter.get(b, 0) for b in order}
        buckets.update({b: n for b, n in counter.most_common() if b not in buckets})
        ordered[dim] = buckets
    inv = Inventory(source=source, total=total, counts=ordered, targets=targets, tolerance=tolerance,
                    unknown=dict(unknown), created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    inv.gaps = find_gaps(inv)
    return inv


def find_gaps(inv: Inventory) -> list[Gap]:
    """Buckets more than ``tolerance`` points under target; ``photos_needed`` brings the share to the target
    when that many photos of the bucket are added: (have + x) / (n + x) = t  ⇒  x = (t·n − have) / (1 − t)."""
    gaps = []
    for dim, shares in inv.targets.items():
        buckets = inv.counts.get(dim, {})
        n = sum(buckets.values())
        if dim == "scenes":
            n = inv.total  # a scene target is a share of the whole collection
        for bucket, target in shares.items():
            have = buckets.get(bucket, 0)
            actual = 100.0 * have / n if n else 0.0
            if actual >= target - inv.tolerance:
                continue
            t = target / 100.0
            needed = math.ceil((t * n - have) / (1 - t)) if t < 1 else 0
            hint = FILL_HINTS.get((dim, bucket)) or (
                f"`train download --sources places365,coco --classes {bucket}`" if dim == "scenes" else "")
            gaps.append(Gap(dim, bucket, target, actual, have, max(needed, 1), hint))
    gaps.sort(key=lambda g: (g.actual_percent - g.target_percent))
    return gaps


def inventory_from_catalog(catalog: Catalog, root: Path, targets: dict[str, dict[str, float]],
                           tolerance: float) -> Inventory:
    records = list(catalog.iter_records(root if root.is_dir() else None,
                                        paths=None if root.is_dir() else [root]))
    return build_inventory(records, targets, tolerance, display_path(root))
