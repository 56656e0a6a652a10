#!/usr/bin/env python3
"""Benchmark and accuracy figures for the built-in analyzer plugins (faces, OCR, places, aesthetics).

Throughput: images/s of each analyzer alone on one core (models warm; the first photo's model load is
reported separately), measured on the corpus photos (../shared/corpus) when present, else on
scikit-image's bundled photos. Accuracy:

* faces: found / missed / false on the corpus photos whose faces were counted by hand (the table below;
  faces smaller than ~20 px at 1024 px, seen from behind or in profile beyond recognition are not
  counted), plus same-person / different-person embedding distances on scikit-image's astronaut;
* OCR: character accuracy (1 - edit distance / length) on text rendered with Pillow's built-in font in
  sizes and colours the test suite does not use;
* OCR's auto gate (``--only ocr-gate``): recall of text photos and share of text-free photos skipped on a
  held-out half of a labelled set (the gate size is fitted on the other half);
* places: lookups/s and the city found for the corpus GPS photos;
* aesthetics: BRISQUE images/s and how often a degraded copy of a photo scores worse; LAION head speed.

    python benchmarks/bench_plugins.py [--only faces,ocr,places,aesthetics,ocr-gate] [--ocr-samples 6] [--corpus DIR]
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

    from imgengine.plugins.builtin.ocr import OcrAnalyzer
    from imgengine.testing.text import edit_distance

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
        errors += edit_distance(truth, text)
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


def _sign(rgb: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """``rgb`` with a sign pasted in: two words on a plain plate, 14-60 px tall letters at 1600 px (street
    signs, shop fronts, labels), at a random place and in random colours."""
    from PIL import Image, ImageDraw, ImageFont

    words = ("EXIT PLATFORM STATION MUSEUM OPEN CLOSED HOTEL CAFE PHARMACY BAKERY PARKING POLICE TICKETS "
             "SALE PIZZA BANK TAXI HOSPITAL MARKET LIBRARY").split()
    text = f"{rng.choice(words)} {rng.integers(1, 999)}"
    img = Image.fromarray(rgb)
    scale = max(img.size) / 1600
    font = ImageFont.load_default(size=max(8, int(rng.integers(14, 60) * scale)))
    draw = ImageDraw.Draw(img)
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    pad = max(2, (y1 - y0) // 3)
    w, h = x1 - x0 + 2 * pad, y1 - y0 + 2 * pad
    if w >= img.width or h >= img.height:
        return rgb, ""
    x, y = int(rng.integers(0, img.width - w)), int(rng.integers(0, img.height - h))
    plate = tuple(int(v) for v in rng.integers(0, 256, 3))
    ink = tuple(255 - v if abs(255 - 2 * v) > 60 else (0 if v > 127 else 255) for v in plate)
    draw.rectangle((x, y, x + w, y + h), fill=plate)
    draw.text((x + pad - x0, y + pad - y0), text, font=font, fill=ink)
    return np.asarray(img), text


def bench_ocr_gate(limit: int, cache: Path | None) -> None:
    """OCR's ``auto`` gate on a labelled set: corpus (or scikit-image) photos labelled by the full reader
    (text = a recognised line with 3+ letters or digits), plus each text-free photo again with a sign pasted
    in (text when the full reader reads the sign). Photos alternate between a fitting half and a held-out
    half (a photo and its signed copy in the same one). On the fitting half the gate size and box score are
    chosen: the smallest size whose recall of text photos reaches 95 %, with the box score that skips the most
    text-free photos there (else the best recall); the held-out half reports that setting's recall, share
    skipped and time.
    ``--gate-cache DIR`` keeps the labelled set (labelling is the slow part: a full read per photo)."""
    import json
    import re
    import tempfile

    from PIL import Image

    from imgengine.analyzers.base import AnalysisInput
    from imgengine.core.photo import Photo
    from imgengine.plugins.builtin.ocr import OcrAnalyzer
    from imgengine.settings import Settings

    settings = Settings()
    folder = cache or Path(tempfile.mkdtemp(prefix="ocr-gate-"))
    folder.mkdir(parents=True, exist_ok=True)
    labels = folder / "labels.json"

    def has_text(text: str) -> bool:
        return any(len(re.sub(r"[^0-9A-Za-z]", "", line)) >= 3 for line in text.splitlines())

    if labels.is_file():
        saved = json.loads(labels.read_text())
        items = [(src, folder / name, truth) for src, name, truth in saved["items"]]
        read_seconds = saved["read_seconds"]
        print(f"ocr gate: labelled set from {labels}")
    else:
        reader = OcrAnalyzer(mode="always")
        rng = np.random.default_rng(7)
        items = []      # (source photo, file, has text)
        t0 = time.perf_counter()
        read_seconds = []
        for i, (_name, rgb) in enumerate(sorted(corpus_images(1600).items())[:limit]):
            path = folder / f"{i:03d}.png"
            Image.fromarray(rgb).save(path)
            t = time.perf_counter()
            text = reader.analyze(AnalysisInput(Photo.from_path(path), settings, decode_size=1600)).text
            read_seconds.append(time.perf_counter() - t)
            items.append((i, path, has_text(text)))
            if not has_text(text):
                signed, sign = _sign(rgb, rng)
                if sign:
                    spath = folder / f"{i:03d}-sign.png"
                    Image.fromarray(signed).save(spath)
                    got = reader.analyze(AnalysisInput(Photo.from_path(spath), settings, decode_size=1600)).text
                    if sign.split()[0] in got.upper():
                        items.append((i, spath, True))
        labels.write_text(json.dumps({"items": [(i, p.name, t) for i, p, t in items], "read_seconds": read_seconds}))
        print(f"ocr gate: labelled {len(items)} photos in {time.perf_counter() - t0:.0f} s (kept in {folder})")
    print(f"ocr gate: {len(items)} labelled photos, {sum(t for *_, t in items)} with text (from "
          f"{len({i for i, *_ in items})} photos); full read {np.mean(read_seconds):.2f} s per photo")
    halves = {"fit": [it for it in items if it[0] % 2 == 0], "held-out": [it for it in items if it[0] % 2 == 1]}

    def score(size: int, box: float, part: list) -> tuple[float, float, float]:
        gate = OcrAnalyzer(auto_gate_size=size, auto_gate_box_score=box)
        if size:
            gate.text_boxes(np.zeros((32, 32, 3), np.uint8))   # load the detector outside the timing
        passed, spent = [], 0.0
        for _source, path, _truth in part:
            item = AnalysisInput(Photo.from_path(path), settings, decode_size=1600)
            item.pixels_at(1600)                                 # the decode is the run's, not the gate's
            t = time.perf_counter()
            passed.append(gate.gate(item) is None)
            spent += time.perf_counter() - t
        truth = np.array([t for *_, t in part])
        passed_a = np.array(passed)
        recall = float(passed_a[truth].mean()) if truth.any() else float("nan")
        skipped = float((~passed_a[~truth]).mean()) if (~truth).any() else float("nan")
        return recall, skipped, spent / max(1, len(part))

    fits = {}
    for size in (640, 960, 1280):
        for box in (0.5, 0.3):
            recall, skipped, secs = fits[size, box] = score(size, box, halves["fit"])
            print(f"ocr gate (fit half, {len(halves['fit'])} photos): size {size}, box score {box}: recall "
                  f"{recall:.3f}, text-free skipped {skipped:.3f}, {secs * 1000:.0f} ms per photo")
    # the smallest size (the gate's cost grows with it) whose recall reaches 95 %, then the box score that
    # skips the most; else the best recall
    good = [k for k, (r, _s, _t) in fits.items() if r >= 0.95]
    smallest = min((k[0] for k in good), default=None)
    chosen = max((k for k in good if k[0] == smallest), key=lambda k: fits[k][1]) if good else \
        max(fits, key=lambda k: (fits[k][0], fits[k][1]))
    recall, skipped, secs = score(*chosen, halves["held-out"])
    r0, s0, _ = score(0, 0.5, halves["held-out"])                # the edge test alone, as before the gate
    print(f"ocr gate (held-out half, {len(halves['held-out'])} photos): size {chosen[0]}, box score {chosen[1]}: "
          f"recall of text photos {recall:.3f}, text-free photos skipped {skipped:.3f}, gate {secs * 1000:.0f} ms "
          f"per photo vs full read {np.mean(read_seconds):.2f} s; edge test alone: recall {r0:.3f}, skipped {s0:.3f}")


def bench_aesthetics() -> None:
    """aesthetics' two scorers. BRISQUE (no head in the models folder): images/s at 512 px on one core and how
    often each clearly degraded copy (Gaussian blur 4 px, white noise sigma 25, JPEG quality 5) of a real photo
    scores worse than the photo - nothing is fitted, so there is no split. LAION head: speed only (a head of
    the published linear layout with random weights over random 512-d embeddings: no real head ships)."""
    import io

    import torch
    from PIL import Image, ImageFilter

    from imgengine.plugins.builtin.aesthetics import BrisqueModel, build_head

    t0 = time.perf_counter()
    model = BrisqueModel()
    print(f"aesthetics: BRISQUE model load {time.perf_counter() - t0:.2f} s")
    images = corpus_images(512)
    rng = np.random.default_rng(0)
    spent_wall = spent_cpu = 0.0
    right = pairs = unscored = 0
    worst: list[tuple[float, str]] = []
    for name, rgb in images.items():
        if min(rgb.shape[:2]) < 64:
            continue
        img = Image.fromarray(rgb)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=5)
        copies = {"blur": np.asarray(img.filter(ImageFilter.GaussianBlur(4))),
                  "noise": np.clip(rgb + rng.normal(0, 25, rgb.shape), 0, 255).astype(np.uint8),
                  "jpeg5": np.asarray(Image.open(buf).convert("RGB"))}
        t, c = time.perf_counter(), time.process_time()
        original = model.score(rgb)
        spent_wall += time.perf_counter() - t
        spent_cpu += time.process_time() - c
        for how, worse in copies.items():
            degraded = model.score(worse)
            if original is None or degraded is None:
                unscored += 1
                continue
            margin = degraded - original
            pairs += 1
            right += margin > 0
            worst.append((margin, f"{name} {how}"))
    n = sum(1 for v in images.values() if min(v.shape[:2]) >= 64)
    print(f"aesthetics: BRISQUE {n} photos at <=512 px: {n / spent_wall:.1f} images/s wall, {n / spent_cpu:.1f} "
          f"per CPU second (one core); degraded copy scored worse in {right}/{pairs} pairs ({unscored} pairs "
          "unscored: a flat image has no BRISQUE); smallest margins: "
          + ", ".join(f"{m:+.1f} ({w})" for m, w in sorted(worst)[:3]))
    torch.manual_seed(0)
    head = build_head(torch.nn.Linear(512, 1).state_dict(), 512)
    emb = torch.nn.functional.normalize(torch.randn(4096, 512), dim=1)
    with torch.no_grad():
        head(emb)
        t = time.perf_counter()
        for _ in range(10):
            head(emb)
    print(f"aesthetics: LAION linear head (random weights, speed only): {40960 / (time.perf_counter() - t):,.0f} "
          "embeddings/s on the CPU")


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
    ap.add_argument("--only", default="faces,ocr,places,aesthetics",
                    help="comma list of faces, ocr, ocr-gate (slow: full reads to label), places, aesthetics")
    ap.add_argument("--ocr-samples", type=int, default=6)
    ap.add_argument("--gate-photos", type=int, default=1000, help="ocr-gate: at most this many photos")
    ap.add_argument("--gate-cache", type=Path, default=None, help="ocr-gate: keep/reuse the labelled set here")
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
    if "aesthetics" in only:
        bench_aesthetics()
    if "ocr-gate" in only:
        bench_ocr_gate(args.gate_photos, args.gate_cache)
    if "places" in only:
        bench_places()
    return 0


if __name__ == "__main__":
    sys.exit(main())
