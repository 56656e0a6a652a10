"""Per-file analyzers: they run in imgengine's process pool and share the photo's one decode."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from imgengine.analyzers.base import AnalysisInput, Analyzer, Result


@dataclass(frozen=True)
class ColourTemperatureResult(Result):
    kelvin: float | None         # None for a (nearly) grey or black image: no meaningful chromaticity
    x: float
    y: float
    cast: str                    # "warm" (< 4000 K), "neutral", "cool" (> 7000 K) or "unknown"


class ColourTemperature(Analyzer):
    """Correlated colour temperature of the image's average colour (grey-world), McCamy's approximation
    over the CIE 1931 xy chromaticity of the linear-light mean."""

    name = "colour_temperature"
    version = "1"
    needs_pixels = True
    description = "correlated colour temperature (K) of the average colour, McCamy 1992"
    csv_fields = {"colour_temp_k": "kelvin", "colour_cast": "cast"}

    def analyze(self, item: AnalysisInput) -> ColourTemperatureResult:
        rgb = item.pixels_at(256).astype(np.float32) / 255.0
        # sRGB -> linear light, then OpenCV's RGB -> XYZ (D65)
        linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4).astype(np.float32)
        xyz = cv2.cvtColor(linear, cv2.COLOR_RGB2XYZ).reshape(-1, 3).mean(axis=0)
        total = float(xyz.sum())
        if total < 1e-4:
            return ColourTemperatureResult(None, 0.0, 0.0, "unknown")
        x, y = float(xyz[0] / total), float(xyz[1] / total)
        n = (x - 0.3320) / (0.1858 - y)
        cct = 449.0 * n ** 3 + 3525.0 * n ** 2 + 6823.3 * n + 5520.33
        if not 1000 <= cct <= 25000:
            return ColourTemperatureResult(None, round(x, 4), round(y, 4), "unknown")
        cast = "warm" if cct < 4000 else "cool" if cct > 7000 else "neutral"
        return ColourTemperatureResult(round(cct, 1), round(x, 4), round(y, 4), cast)


@dataclass(frozen=True)
class HorizonTiltResult(Result):
    tilt_degrees: float | None   # + = the horizon rises to the right (rotate clockwise to level); None = none
    lines: int                   # near-horizontal line segments that voted
    confidence: float            # share of the voting length that agrees within 1 degree


class HorizonTilt(Analyzer):
    """Tilt of the dominant near-horizontal straight line (Canny edges + probabilistic Hough), length-weighted."""

    name = "horizon_tilt"
    version = "1"
    needs_pixels = True
    description = "tilt of the dominant near-horizontal line (OpenCV Canny + Hough)"
    config_defaults = {"max_tilt": 20.0, "min_line_fraction": 0.25}
    csv_fields = {"tilt_deg": "tilt_degrees"}
    pixel_size = 768   # straight lines need a little more detail than the shared 512 px

    def analyze(self, item: AnalysisInput) -> HorizonTiltResult:
        grey = cv2.cvtColor(item.pixels_at(self.pixel_size), cv2.COLOR_RGB2GRAY)
        h, w = grey.shape
        edges = cv2.Canny(cv2.GaussianBlur(grey, (5, 5), 0), 50, 150)
        min_len = max(10, int(w * float(self.config["min_line_fraction"])))
        segs = cv2.HoughLinesP(edges, 1, np.pi / 720, threshold=max(20, min_len // 2), minLineLength=min_len,
                               maxLineGap=max(3, w // 100))
        if segs is None:
            return HorizonTiltResult(None, 0, 0.0)
        max_tilt = float(self.config["max_tilt"])
        angles, weights = [], []
        for x0, y0, x1, y1 in np.asarray(segs).reshape(-1, 4):  # (N, 1, 4) in OpenCV 4, (N, 4) in 5
            angle = math.degrees(math.atan2(float(y0 - y1), float(x1 - x0)))  # image y grows downwards
            if angle > 90:
                angle -= 180
            elif angle < -90:
                angle += 180
            if abs(angle) <= max_tilt:
                angles.append(angle)
                weights.append(math.hypot(float(x1 - x0), float(y1 - y0)))
        if not angles:
            return HorizonTiltResult(None, 0, 0.0)
        a, wts = np.array(angles), np.array(weights)
        # the length-weighted mode: the angle whose 1-degree neighbourhood holds the most line length
        support = np.array([wts[np.abs(a - x) <= 1.0].sum() for x in a])
        best = a[np.abs(a - a[int(support.argmax())]) <= 1.0]
        best_w = wts[np.abs(a - a[int(support.argmax())]) <= 1.0]
        tilt = float(np.average(best, weights=best_w))
        return HorizonTiltResult(round(tilt, 2), len(angles), round(float(best_w.sum() / wts.sum()), 3))
