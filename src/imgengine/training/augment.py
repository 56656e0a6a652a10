"""Label-preserving augmentation weighted toward an inventory's gaps, with a manifest of what came from what.

Why torchvision.transforms.v2 and not albumentations: torchvision is already here for timm (the training
extra needs it anyway) and its functional API covers low light (brightness/gamma), defocus blur, sensor
noise, rotation/crop and colour shifts; albumentations would add ~400 MB (its OpenCV and SciPy stack) for
a few more effects. What v2 lacks or deprecates is small and exact here: motion blur is a line kernel through
OpenCV's ``filter2D`` (OpenCV is a core dependency), JPEG recompression goes through Pillow (``v2.JPEG`` wraps
torchvision.io, deprecated since 0.29) and the HEIC round trip through pillow-heif (a core dependency), so
that output is a real HEIC file.

Every parameter is drawn from one ``numpy`` generator seeded per image and applied through the functional
API, so a run is reproducible and the manifest records exactly what was done (no global RNG touched).
"""

from __future__ import annotations

import io
import json
import math
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from ..core.decode import register_heif
from ..errors import UsageError
from .imagefolder import IMAGE_SUFFIXES

OPS = ("low_light", "motion_blur", "defocus_blur", "sensor_noise", "jpeg", "rotate_crop", "color_shift",
       "heic_roundtrip")
PHOTOMETRIC_BOOST = {   # which gap each effect helps to fill
    ("quality", "poor"): ("motion_blur", "defocus_blur", "sensor_noise", "jpeg"),
    ("quality", "average"): ("defocus_blur", "sensor_noise", "jpeg"),
    ("lighting", "challenging"): ("low_light", "sensor_noise"),
    ("lighting", "artificial"): ("color_shift",),
    ("formats", "HEIC"): ("heic_roundtrip",),
}
Progress = Callable[[int, int], None]


@dataclass
class AugmentReport:
    made: int = 0
    sources: int = 0
    failed: list[str] = field(default_factory=list)
    ops: Counter = field(default_factory=Counter)
    weights: dict[str, float] = field(default_factory=dict)
    manifest: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"made": self.made, "sources": self.sources, "failed": self.failed, "ops": dict(self.ops),
                "weights": self.weights, "manifest": str(self.manifest) if self.manifest else None}


def op_weights(gaps: list[dict[str, Any]] | None) -> dict[str, float]:
    """Every effect starts at 1; a gap raises the effects that fill it by one per 5 points it is short."""
    weights = dict.fromkeys(OPS, 1.0)
    for gap in gaps or []:
        ops = PHOTOMETRIC_BOOST.get((gap.get("dimension"), gap.get("bucket")), ())
        short = max(0.0, float(gap.get("target_percent", 0)) - float(gap.get("actual_percent", 0)))
        for op in ops:
            weights[op] += short / 5.0
    return {k: round(v, 3) for k, v in weights.items()}


def load_gaps(path: Path | None) -> list[dict[str, Any]]:
    if path is None:
        return []
    try:
        return list(json.loads(Path(path).read_text(encoding="utf-8"))["gaps"])
    except OSError as exc:
        raise UsageError(f"gaps {path}: {exc.strerror or exc}")
    except (ValueError, KeyError, TypeError):
        raise UsageError(f"gaps {path}: not an inventory JSON (`imgengine train inventory -o FILE`)")


# -- the effects: (uint8 CHW tensor, rng) -> (tensor, params) ---------------------------------------------------

def _low_light(t, rng):
    from torchvision.transforms.v2 import functional as F

    b, g = float(rng.uniform(0.25, 0.55)), float(rng.uniform(1.3, 2.0))
    return F.adjust_gamma(F.adjust_brightness(t, b), g), {"brightness": round(b, 3), "gamma": round(g, 3)}


def _motion_blur(t, rng):
    import cv2
    import torch

    length = int(rng.integers(5, 16)) | 1
    angle = float(rng.uniform(0, 180))
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), angle, 1.0)
    kernel = cv2.warpAffine(kernel, rot, (length, length))
    kernel /= max(kernel.sum(), 1e-6)
    hwc = t.permute(1, 2, 0).numpy()
    out = cv2.filter2D(hwc, -1, kernel, borderType=cv2.BORDER_REFLECT)
    return torch.from_numpy(np.ascontiguousarray(out)).permute(2, 0, 1), {"length": length, "angle": round(angle, 1)}


def _defocus_blur(t, rng):
    from torchvision.transforms.v2 import functional as F

    sigma = float(rng.uniform(1.0, 3.5))
    k = 2 * math.ceil(3 * sigma) + 1
    return F.gaussian_blur(t, [k, k], [sigma, sigma]), {"sigma": round(sigma, 2)}


def _sensor_noise(t, rng):
    import torch
    from torchvision.transforms.v2 import functional as F

    sigma = float(rng.uniform(0.02, 0.08))
    gen = torch.Generator().manual_seed(int(rng.integers(0, 2**31)))
    f = F.to_dtype(t, torch.float32, scale=True)
    noisy = (f + torch.randn(f.shape, generator=gen) * sigma).clamp(0, 1)  # F.gaussian_noise draws from the
    return F.to_dtype(noisy, torch.uint8, scale=True), {"sigma": round(sigma, 3)}  # global RNG; this does not


def _jpeg(t, rng):
    """Through Pillow's encoder: v2.JPEG wraps torchvision.io, deprecated since torchvision 0.29."""
    import torch

    q = int(rng.integers(12, 45))
    buf = io.BytesIO()
    Image.fromarray(t.permute(1, 2, 0).numpy()).save(buf, "JPEG", quality=q)
    buf.seek(0)
    with Image.open(buf) as im:
        arr = np.array(im.convert("RGB"))  # a writable copy
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous(), {"quality": q}


def _rotate_crop(t, rng):
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as F

    angle = float(rng.uniform(-12, 12))
    _, h, w = t.shape
    rotated = F.rotate(t, angle, interpolation=InterpolationMode.BILINEAR)
    # crop inside the rotated frame so no black corners remain, then back to the original size
    a = math.radians(abs(angle))
    scale = 1 / (math.cos(a) + max(w / h, h / w) * math.sin(a))
    extra = float(rng.uniform(0.85, 1.0))
    ch, cw = max(8, int(h * scale * extra)), max(8, int(w * scale * extra))
    top = (h - ch) // 2 + int(rng.integers(-((h - ch) // 4), (h - ch) // 4 + 1))  # near the centre: the
    left = (w - cw) // 2 + int(rng.integers(-((w - cw) // 4), (w - cw) // 4 + 1))  # corners are filled
    out = F.resized_crop(rotated, top, left, ch, cw, [h, w], interpolation=InterpolationMode.BILINEAR, antialias=True)
    return out, {"angle": round(angle, 2), "crop": [top, left, ch, cw]}


def _color_shift(t, rng):
    import torch
    from torchvision.transforms.v2 import functional as F

    sat, hue = float(rng.uniform(0.7, 1.3)), float(rng.uniform(-0.04, 0.04))
    gains = rng.uniform([0.8, 0.9, 0.75], [1.2, 1.1, 1.25]).astype(np.float32)  # white balance: warm ↔ cool
    f = F.to_dtype(t, torch.float32, scale=True) * torch.from_numpy(gains)[:, None, None]
    f = F.adjust_hue(F.adjust_saturation(f.clamp(0, 1), sat), hue)
    return F.to_dtype(f.clamp(0, 1), torch.uint8, scale=True), {
        "saturation": round(sat, 3), "hue": round(hue, 3), "wb_gains": [round(float(g), 3) for g in gains]}


def _heic_roundtrip(t, rng):
    """Marks the output for HEIC encoding (the actual round trip happens when the file is written)."""
    return t, {"quality": int(rng.integers(40, 80))}


EFFECTS = {"low_light": _low_light, "motion_blur": _motion_blur, "defocus_blur": _defocus_blur,
           "sensor_noise": _sensor_noise, "jpeg": _jpeg, "rotate_crop": _rotate_crop, "color_shift": _color_shift,
           "heic_roundtrip": _heic_roundtrip}


def augment_image(img: Image.Image, rng: np.random.Generator, weights: dict[str, float]
                  ) -> tuple[Image.Image, list[dict[str, Any]]]:
    """One augmented copy: one or two effects drawn by weight (never the same twice), applied in a fixed
    physical order (geometry, light, optics, sensor, compression)."""
    from torchvision.transforms.v2 import functional as F

    names = [n for n in OPS if weights.get(n, 0) > 0]
    p = np.array([weights[n] for n in names], np.float64)
    k = 1 if rng.random() < 0.5 else 2
    chosen = set(rng.choice(names, size=min(k, len(names)), replace=False, p=p / p.sum()).tolist())
    t = F.pil_to_tensor(img.convert("RGB"))
    done = []
    for name in OPS:
        if name in chosen:
            t, params = EFFECTS[name](t, rng)
            done.append({"op": name, **params})
    return F.to_pil_image(t), done


def augment_folder(source: Path, output: Path, per_image: int = 2, gaps: list[dict[str, Any]] | None = None,
                   seed: int = 0, progress: Progress | None = None) -> AugmentReport:
    """``per_image`` augmented copies of every image under ``source`` into the same relative folder under
    ``output`` (so class folders, and therefore labels, are preserved). Existing files are never replaced."""
    source, output = Path(source), Path(output)
    if not source.is_dir():
        raise UsageError(f"source {source}: no such folder")
    if output.resolve() == source.resolve() or source.resolve() in output.resolve().parents:
        raise UsageError("output must be outside the source folder (the source is never written to)")
    if per_image < 1:
        raise UsageError("--per-image must be at least 1")
    register_heif()
    files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(source).parts))
    if not files:
        raise UsageError(f"source {source}: no images found")
    weights = op_weights(gaps)
    report = AugmentReport(sources=len(files), weights=weights)
    output.mkdir(parents=True, exist_ok=True)
    report.manifest = output / "augment_manifest.jsonl"
    with open(report.manifest, "a", encoding="utf-8") as manifest:
        for i, path in enumerate(files):
            rel = path.relative_to(source)
            try:
                with Image.open(path) as im:
                    img = ImageOps.exif_transpose(im).convert("RGB")
            except (OSError, ValueError, Image.DecompressionBombError) as exc:
                report.failed.append(f"{rel}: {exc}")
                if progress:
                    progress(i + 1, len(files))
                continue
            for k in range(per_image):
                image_seed = [seed, i, k]
                rng = np.random.default_rng(image_seed)
                out_img, ops = augment_image(img, rng, weights)
                heic = next((o for o in ops if o["op"] == "heic_roundtrip"), None)
                suffix = ".heic" if heic else ".jpg"
                target = output / rel.parent / f"{rel.stem}_aug{k}{suffix}"
                if any(target.with_suffix(sfx).exists() for sfx in (".jpg", ".heic")):
                    report.failed.append(f"{target.relative_to(output)}: exists, not replaced")
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                _write(out_img, target, heic["quality"] if heic else 92)
                report.made += 1
                report.ops.update(o["op"] for o in ops)
                manifest.write(json.dumps({"output": str(target.relative_to(output)), "source": str(rel),
                                           "seed": image_seed, "ops": ops}) + "\n")
            if progress:
                progress(i + 1, len(files))
    return report


def _write(img: Image.Image, target: Path, quality: int) -> None:
    tmp = target.with_name(target.name + ".part")
    buf = io.BytesIO()
    img.save(buf, "HEIF" if target.suffix == ".heic" else "JPEG", quality=quality)
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, target)
