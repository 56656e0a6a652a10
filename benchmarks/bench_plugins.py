#!/usr/bin/env python3
"""Benchmark and accuracy figures for the built-in analyzer plugins (faces, OCR, places).

Throughput: images/s of each analyzer alone on one core (models warm; the first photo's model load is
reported separately), measured on the corpus photos (../shared/corpus) when present, else on
scikit-image's bundled photos. Accuracy:

* faces: found / missed / false on the corpus photos whose faces were counted by hand (the table below;
  faces smaller than ~20 px at 1024 px, seen from behind or in profile beyond recognition are not
  counted), plus same-person / different-person embedding distances on scikit-image's astronaut;
* OCR: character accuracy (1 - edit distance / length) on text rendered with Pillow's built-in font in
  sizes and colours the test suite does not use;
* places: lookups/s and the city found for the corpus GPS photos.

    python benchmarks/bench_plugins.py [--only faces,ocr,places] [--ocr-samples 6] [--corpus DIR]
                                       [--detector full|back|short|full_sparse] [--tiles 1]

Nothing here was tuned on these figures: the face thresholds are BlazeFace's and dlib's documented
defaults (0.5 score, 0.6 distance), the OCR settings rapidocr's.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

CORPUS = Path(os.environ.get("IMGENGINE_CORPUS") or Path(__file__).resolve().parents[1].parent / "shared" / "corpus")

# hand count of clearly visible faces (frontal or three-quarter, >= ~20 px) in corpus photos
FACE_TRUTH = {
    "jpg/Konica_Minolta_DiMAGE_Z3.jpg": 1, "jpg/exif-org/canon-ixus.jpg": 3, "jpg/exif-org/kodak-dc210.jpg": 4,
    "jpg/exif-org/sony-cybershot.jpg": 1, "jpg/exif-org/sony-d700.jpg": 2, "jpg/invalid/image00971.jpg": 1,
    "jpg/invalid/image01137.jpg": 1, "jpg/xmp/no_exif.jpg": 1, "tiff/DudleyLeavittUtah.tiff": 1,
    "tiff/BSG1.tiff": 6,
}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".tif", ".tiff", ".heic", ".heif", ".png")


def load(path: Path, size: int) -> np.ndarray | None:
    from imgengine.core.decode import decode_for_analysis
    from imgengine.core.photo import Photo

    try:
        return np.asarray(decode_for_analysis(Photo.from_path(path), None, size).image)
    except Exception:  # noqa: BLE001 - the corpus has deliberately broken files
        return None


def corpus_images(size: int) -> dict[str, np.ndarray]:
    out = {}
    if CORPUS.is_dir():
        for p in sorted(CORPUS.rglob("*")):
            if p.suffix.lower() in IMAGE_SUFFIXES:
                rgb = load(p, size)
                if rgb is not None:
                    out[str(p.relative_to(CORPUS))] = rgb
    if not out:
        from skimage import data

        for name in ("astronaut", "camera", "chelsea", "coffee", "rocket"):
            img = getattr(data, name)()
            out[name] = np.stack([img] * 3, -1) if img.ndim == 2 else img[..., :3]
    return out


def bench_faces(detector: str, tiles: int) -> None:
    from skimage import data

    from imgengine.plugins.builtin.faces import FaceRecognitionAnalyzer

    fr = FaceRecognitionAnalyzer(detector=detector, tiles=tiles)
    print(f"faces: BlazeFace {detector}, tiles {tiles}")
    t0 = time.perf_counter()
    fr.analyze_pixels(data.astronaut())
    print(f"faces: first photo (models load) {time.perf_counter() - t0:.2f} s")
    images = corpus_images(fr.pixel_size)
    t0 = time.perf_counter()
    counts = {k: fr.analyze_pixels(v).count for k, v in images.items()}
    dt = time.perf_counter() - t0
    print(f"faces: {len(images)} photos in {dt:.1f} s = {len(images) / dt:.1f} images/s (one core, 1024 px)")
    if CORPUS.is_dir():
        found = missed = false = 0
        for rel, n in counts.items():
            truth = FACE_TRUTH.get(rel, 0)
            found += min(n, truth)
            missed += max(0, truth - n)
            false += max(0, n - truth)
        total = sum(FACE_TRUTH.values())
        print(f"faces on the corpus ({len(counts)} photos, {total} hand-counted faces): found {found}, "
              f"missed {missed}, false {false} (counted per photo: extra detections beyond the truth)")
    from PIL import Image

    a = Image.fromarray(data.astronaut())
    variants = [a, a.transpose(Image.Transpose.FLIP_LEFT_RIGHT), a.resize((256, 256)), a.crop((100, 20, 400, 320)),
                a.rotate(10, expand=False)]
    vecs = [np.array(fr.analyze_pixels(np.asarray(v)).faces[0]["embedding"]) for v in variants]
    same = [np.linalg.norm(vecs[0] - v) for v in vecs[1:]]
    cam = np.array(fr.analyze_pixels(data.camera()).faces[0]["embedding"])
    print(f"faces: same person (astronaut flipped/resized/cropped/rotated) distance {min(same):.3f}-{max(same):.3f}; "
          f"astronaut vs cameraman {np.linalg.norm(vecs[0] - cam):.3f} (threshold 0.6, clustering eps 0.5)")


def bench_ocr(samples: int) -> None:
    from PIL import Image, ImageDraw, ImageFont
    from rapidfuzz.distance import Levenshtein

    from imgengine.plugins.builtin.ocr import OcrAnalyzer

    rng = np.random.default_rng(2024)
    words = ("receipt invoice total amount paid card order number date station platform exit gate museum "
             "opening hours monday friday closed street avenue coffee price tax").split()
    ocr = OcrAnalyzer(mode="always")
    t0 = time.perf_counter()
    ocr.read(np.full((64, 64, 3), 255, np.uint8))
    print(f"ocr: first photo (models load) {time.perf_counter() - t0:.2f} s")
    errors = chars = 0
    spent = 0.0
    for _ in range(samples):
        lines = [" ".join(rng.choice(words, 3)).capitalize() + f" {rng.integers(1, 9999)}" for _ in range(4)]
        img = Image.new("RGB", (1000, 500), tuple(int(v) for v in rng.integers(200, 256, 3)))
        draw = ImageDraw.Draw(img)
        font = ImageFont.load_default(size=int(rng.integers(24, 48)))
        for k, line in enumerate(lines):
            draw.text((20 + int(rng.integers(0, 60)), 20 + k * 115), line, font=font,
                      fill=tuple(int(v) for v in rng.integers(0, 90, 3)))
        truth = "\n".join(lines)
        t0 = time.perf_counter()
        text = ocr.read(np.asarray(img)).text
        spent += time.perf_counter() - t0
        errors += Levenshtein.distance(truth, text)
        chars += len(truth)
    print(f"ocr: character accuracy {1 - errors / chars:.4f} on {samples} rendered pages ({chars} chars); "
          f"{samples / spent:.2f} images/s (one core)")
    images = corpus_images(ocr.pixel_size)
    auto = OcrAnalyzer()
    from imgengine.plugins.builtin.ocr import edge_density

    t0 = time.perf_counter()
    ran = 0
    for rgb in images.values():
        small = rgb if max(rgb.shape[:2]) <= 512 else rgb[:: max(1, max(rgb.shape[:2]) // 512), :: max(1, max(
            rgb.shape[:2]) // 512)]
        if edge_density(small) >= auto.config["auto_min_edges"]:
            auto.read(rgb)
            ran += 1
    dt = time.perf_counter() - t0
    print(f"ocr (auto) on {len(images)} corpus photos: read {ran}, skipped {len(images) - ran}; "
          f"{len(images) / dt:.2f} images/s (one core, 1600 px)")


def bench_places() -> None:
    from imgengine.plugins.builtin.places import PlacesAnalyzer

    pl = PlacesAnalyzer()
    t0 = time.perf_counter()
    pl.place_of(48.8584, 2.2945)
    print(f"places: first lookup (GeoNames index loads) {time.perf_counter() - t0:.2f} s")
    rng = np.random.default_rng(1)
    pts = np.column_stack([rng.uniform(-60, 70, 5000), rng.uniform(-180, 180, 5000)])
    t0 = time.perf_counter()
    for lat, lon in pts:
        pl.place_of(float(lat), float(lon))
    dt = time.perf_counter() - t0
    print(f"places: {len(pts) / dt:,.0f} lookups/s; Eiffel tower -> {pl.place_of(48.8584, 2.2945).city}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="faces,ocr,places")
    ap.add_argument("--ocr-samples", type=int, default=6)
    ap.add_argument("--corpus", type=Path, default=None, help="the real-photo corpus (default ../shared/corpus)")
    ap.add_argument("--detector", default="full")
    ap.add_argument("--tiles", type=int, default=1)
    args = ap.parse_args()
    global CORPUS
    if args.corpus:
        CORPUS = args.corpus
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores visible, Python {sys.version.split()[0]}; "
          f"corpus {'present' if CORPUS.is_dir() else 'absent (skimage photos)'}")
    only = set(args.only.split(","))
    if "faces" in only:
        bench_faces(args.detector, args.tiles)
    if "ocr" in only:
        bench_ocr(args.ocr_samples)
    if "places" in only:
        bench_places()
    return 0


if __name__ == "__main__":
    sys.exit(main())
