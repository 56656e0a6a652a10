"""Content analyzer: sharpness, exposure, contrast, noise, colourfulness, dominant colours, quality score.

Every measure runs on the shared upright working copy (``DecodedImage.work``, long side 512), so that
values compare across photos of any resolution and each costs the same for every file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .base import AnalysisInput, Analyzer, Result

if TYPE_CHECKING:  # numpy, OpenCV and Pillow are imported where pixels are measured: a run that selects
    import numpy as np  # only other analyzers (metadata) never loads them
    from PIL import Image

_NOISE_KERNEL = ((1, -2, 1), (-2, 4, -2), (1, -2, 1))


@dataclass(frozen=True)
class ContentResult(Result):
    sharpness: float            # variance of the Laplacian of the 512-px grey working copy
    blurry: bool                # sharpness below Settings.blur_threshold
    brightness: float           # mean luminance 0-255
    highlights_clipped: float   # % of pixels at 250-255
    shadows_clipped: float      # % of pixels at 0-5
    exposure: str               # "under" | "ok" | "over"
    contrast: float             # RMS contrast: std of luminance / 255
    noise: float                # estimated std of Gaussian noise (Immerkaer), in 0-255 levels
    colorfulness: float         # Hasler-Suesstrunk colourfulness
    dominant_colors: tuple[dict, ...]   # [{"hex": "#rrggbb", "share": 0.31}, ...] largest first
    quality_score: float        # 0-100
    quality: str                # "excellent" | "good" | "average" | "poor"
    pixels_source: str = "full"  # which pixels were measured: "full", "draft 1/N", "embedded preview" (RAW)


def sharpness(gray: np.ndarray) -> float:
    import cv2

    return float(cv2.Laplacian(gray, cv2.CV_32F).var())


def noise_sigma(gray: np.ndarray) -> float:
    """Immerkaer (1996) fast noise variance estimation: the Laplacian-difference mask cancels
    structure to first order, leaving noise. Edges are masked out so texture is not counted."""
    import cv2
    import numpy as np

    h, w = gray.shape
    if h < 3 or w < 3:
        return 0.0
    g = gray.astype(np.float32)
    kernel = np.array(_NOISE_KERNEL, dtype=np.float32)
    conv = np.abs(cv2.filter2D(g, -1, kernel, borderType=cv2.BORDER_REFLECT))[1:-1, 1:-1]
    edges = cv2.Canny(gray, 100, 200)[1:-1, 1:-1]
    flat = conv[edges == 0]
    if flat.size < 100:
        flat = conv.ravel()
    return float(math.sqrt(math.pi / 2) * flat.mean() / 6.0)


def colorfulness(rgb: np.ndarray) -> float:
    import numpy as np

    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    rg = r - g
    yb = 0.5 * (r + g) - b
    return float(math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean()))


def dominant_colors(image: Image.Image, k: int = 5) -> tuple[dict, ...]:
    from PIL import Image

    small = image.copy()
    small.thumbnail((64, 64), Image.Resampling.BOX)
    q = small.quantize(colors=k, method=Image.Quantize.MEDIANCUT)
    palette = q.getpalette() or []
    counts = sorted(q.getcolors() or [], reverse=True)
    total = sum(c for c, _ in counts) or 1
    out = []
    for count, index in counts[:k]:
        r, g, b = palette[index * 3:index * 3 + 3]
        out.append({"hex": f"#{r:02x}{g:02x}{b:02x}", "share": round(count / total, 4)})
    return tuple(out)


def quality_score(sharp: float, brightness: float, hi: float, lo: float, contrast: float, noise: float,
                  blur_threshold: float) -> float:
    """0-100. Sharpness dominates (log scale, the blur threshold scores 40); exposure, contrast and
    noise subtract. Tuned so an in-focus, well exposed photo scores 70-95 and a blurred one < 40."""
    s = 40 + 25 * math.log10(max(sharp, 1e-3) / blur_threshold)          # 100 -> 40, 1000 -> 65, 10000 -> 90
    s = min(max(s, 0.0), 100.0)
    exposure_penalty = min(30.0, abs(brightness - 120) / 120 * 25 + max(0.0, hi - 2) * 0.8 + max(0.0, lo - 5) * 0.5)
    contrast_penalty = max(0.0, (0.12 - contrast) * 150)                 # flat, washed-out images
    noise_penalty = min(20.0, max(0.0, noise - 3.0) * 2.0)
    return round(min(max(s + 10 - exposure_penalty - contrast_penalty - noise_penalty, 0.0), 100.0), 1)


def bucket(score: float) -> str:
    return "excellent" if score >= 80 else "good" if score >= 60 else "average" if score >= 40 else "poor"


class ContentAnalyzer(Analyzer):
    name = "content"
    version = "1"
    needs_pixels = True
    csv_fields = {"sharpness": "sharpness", "blurry": "blurry", "brightness": "brightness", "exposure": "exposure",
                  "contrast": "contrast", "noise": "noise", "colorfulness": "colorfulness",
                  "quality_score": "quality_score", "quality": "quality", "dominant_colors": "dominant_colors"}
    description = "sharpness/blur, exposure, contrast, noise, colourfulness, dominant colours, quality"

    def analyze(self, item: AnalysisInput) -> ContentResult:
        import numpy as np

        px = item.pixels
        gray = px.work_gray  # long side 512: every measure is defined at this fixed size
        hist = np.bincount(gray.ravel(), minlength=256)
        n = gray.size or 1
        levels = np.arange(256)
        brightness = float((hist * levels).sum() / n)
        hi = float(hist[250:].sum() / n * 100)
        lo = float(hist[:6].sum() / n * 100)
        contrast = float(np.sqrt(max((hist * (levels - brightness) ** 2).sum() / n, 0.0)) / 255.0)
        sharp = sharpness(gray)
        noise = noise_sigma(gray)
        if brightness < 70 or (lo > 30 and brightness < 100):
            exposure = "under"
        elif brightness > 190 or (hi > 20 and brightness > 150):
            exposure = "over"
        else:
            exposure = "ok"
        score = quality_score(sharp, brightness, hi, lo, contrast, noise, item.settings.blur_threshold)
        return ContentResult(
            sharpness=round(sharp, 2), blurry=sharp < item.settings.blur_threshold,
            brightness=round(brightness, 2), highlights_clipped=round(hi, 3), shadows_clipped=round(lo, 3),
            exposure=exposure, contrast=round(contrast, 4), noise=round(noise, 3),
            colorfulness=round(colorfulness(px.work_rgb[::2, ::2]), 2), dominant_colors=dominant_colors(px.work),
            quality_score=score, quality=bucket(score), pixels_source=px.pixels_source,
        )
