"""A small labelled scene dataset drawn in code (tests, benchmarks, the docs' walk-through).

Four classes a scene model should tell apart, each with random layout, colours, noise and size so that a
classifier has to learn the look of the class, not one picture: ``beach`` (sky gradient, sea band, sand),
``night`` (dark sky, lit windows and street lamps), ``forest`` (textured greens, trunks), ``document`` (a page
of text lines, slightly rotated).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASSES = ("beach", "document", "forest", "night")


def _noise(img: Image.Image, rng: np.random.Generator, sigma: float) -> Image.Image:
    arr = np.asarray(img, np.float32) + rng.normal(0, sigma, (img.height, img.width, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def beach(w: int, h: int, rng: np.random.Generator) -> Image.Image:
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    top, low = rng.uniform([40, 110, 190], [120, 170, 250]), rng.uniform([160, 200, 230], [220, 235, 255])
    arr = np.broadcast_to(top * (1 - y) + low * y, (h, w, 3)).copy()
    horizon = int(h * rng.uniform(0.35, 0.55))
    shore = int(h * rng.uniform(0.62, 0.8))
    arr[horizon:shore] = rng.uniform([10, 70, 120], [50, 130, 190])
    arr[shore:] = rng.uniform([200, 175, 120], [240, 215, 170])
    img = Image.fromarray(arr.astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 6))):  # waves
        yy = int(rng.uniform(horizon, shore))
        d.line([(0, yy), (w, yy + int(rng.integers(-3, 4)))], fill=(230, 240, 250), width=max(1, h // 100))
    return _noise(img, rng, 4)


def night(w: int, h: int, rng: np.random.Generator) -> Image.Image:
    img = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers([5, 5, 15], [25, 25, 45])))
    d = ImageDraw.Draw(img)
    ground = int(h * rng.uniform(0.55, 0.8))
    for _ in range(int(rng.integers(3, 7))):  # buildings with lit windows
        x0 = int(rng.uniform(0, w * 0.85))
        bw, top = int(rng.uniform(0.08, 0.2) * w), int(rng.uniform(0.15, 0.5) * h)
        d.rectangle([x0, top, x0 + bw, ground], fill=(15, 15, 22))
        for _ in range(int(rng.integers(3, 12))):
            wx, wy = int(rng.uniform(x0, x0 + bw - 4)), int(rng.uniform(top, ground - 4))
            d.rectangle([wx, wy, wx + max(2, w // 60), wy + max(2, h // 50)], fill=(250, 210, 120))
    for _ in range(int(rng.integers(2, 5))):  # street lamps with glow
        lx, ly, r = int(rng.uniform(0, w)), int(rng.uniform(ground * 0.6, ground)), max(3, w // 40)
        d.ellipse([lx - r, ly - r, lx + r, ly + r], fill=(255, 230, 160))
    img = img.filter(ImageFilter.GaussianBlur(0.6))
    return _noise(img, rng, 6)


def forest(w: int, h: int, rng: np.random.Generator) -> Image.Image:
    base = rng.uniform([20, 70, 20], [60, 130, 60])
    blocks = rng.normal(0, 1, (h // 6 + 1, w // 6 + 1, 1)).astype(np.float32)
    tex = np.kron(blocks, np.ones((6, 6, 1), np.float32))[:h, :w]
    arr = base + tex * np.array([12, 30, 12], np.float32)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 8))):  # trunks
        x, tw = int(rng.uniform(0, w)), max(2, int(rng.uniform(0.015, 0.05) * w))
        d.rectangle([x, int(rng.uniform(0, 0.4) * h), x + tw, h], fill=tuple(int(v) for v in rng.integers(
            [60, 40, 20], [100, 70, 45])))
    return _noise(img, rng, 5)


def document(w: int, h: int, rng: np.random.Generator) -> Image.Image:
    paper = tuple(int(v) for v in rng.integers([225, 225, 215], [255, 255, 250]))
    bg = tuple(int(v) for v in rng.integers([80, 70, 60], [150, 140, 130]))
    img = Image.new("RGB", (w, h), bg)
    page = Image.new("RGB", (int(w * rng.uniform(0.7, 0.9)), int(h * rng.uniform(0.8, 0.95))), paper)
    d = ImageDraw.Draw(page)
    y = int(page.height * 0.08)
    line_h = max(4, page.height // int(rng.integers(14, 24)))
    while y < page.height * 0.9:
        x = int(page.width * 0.08)
        while x < page.width * 0.9:
            word = int(rng.uniform(0.04, 0.14) * page.width)
            d.rectangle([x, y, min(x + word, int(page.width * 0.92)), y + max(2, line_h // 3)], fill=(30, 30, 35))
            x += word + max(3, page.width // 60)
        y += line_h
    page = page.rotate(float(rng.uniform(-6, 6)), expand=True, fillcolor=bg)
    img.paste(page, ((w - page.width) // 2, (h - page.height) // 2))
    return _noise(img, rng, 3)


DRAW = {"beach": beach, "document": document, "forest": forest, "night": night}


def make_scene_dataset(root: Path, per_class: int = 30, size: tuple[int, int] = (160, 120), seed: int = 0,
                       classes: tuple[str, ...] = CLASSES) -> Path:
    """``root/<class>/<class>_NNN.jpg``, sizes jittered ±25 % around ``size``; returns ``root``."""
    root = Path(root)
    for ci, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            rng = np.random.default_rng([seed, ci, i])
            w = int(size[0] * rng.uniform(0.75, 1.25))
            h = int(size[1] * rng.uniform(0.75, 1.25))
            DRAW[name](w, h, rng).save(folder / f"{name}_{i:03d}.jpg", quality=int(rng.integers(80, 95)))
    return root
