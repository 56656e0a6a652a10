"""Vision stage throughput, end to end: decode -> CLIP / DETR -> results in the catalog.

    python benchmarks/bench_vision.py [--device auto|cpu|cuda] [--real-size] [--images 64]
                                      [--megapixels 12] [--photos DIR] [--batch-size auto|N]

Models are built with random weights (no download): tiny by default, the real architectures with
``--real-size`` (CLIP ViT-B/32, DETR ResNet-50), so speed can be measured on a machine without
internet. The weights do not change the speed. Photos are synthetic JPEGs of ``--megapixels`` (camera
-like: smooth gradients plus noise, quality 90) unless ``--photos`` points at a folder of real ones.
Prints images/s for CLIP alone, DETR alone and both (decode -> catalog, model loading excluded; the wall
time including it is shown too), with batch size, time waiting for the loader and GPU memory peak.

Each mode runs quiet and again with a competing CPU load that the benchmark starts itself (``--load N``
busy processes, default 1), and prints the ratio of "both" to the sum of its parts:
(1/clip + 1/detr) / (1/both) in seconds per image: 1.0 means running both costs exactly what the two
cost apart; the stage is fragile when this falls under 0.9 with a load. The thread plan (torch threads,
loader workers, OpenMP wait policy) is the product's own (``gpu/threads.py``), set before torch loads.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from imgengine.core.catalog import Catalog  # noqa: E402
from imgengine.engine.batch import run_batch_stage  # noqa: E402
from imgengine.engine.run import (
    run_analysis,  # noqa: E402
    select_analyzers,  # noqa: E402
)
from imgengine.logs import RunLogger  # noqa: E402
from imgengine.settings import Settings  # noqa: E402
from imgengine.testing.models import build_clip, build_detr  # noqa: E402


def make_jpegs(folder: Path, n: int, megapixels: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    w = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    h = int(w * 3 / 4)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(min(n, 4)):  # four distinct images, copied with different bytes
        base = np.stack([(xx / w) * 200 + 20 * i, (yy / h) * 180, ((xx + yy) / (w + h)) * 220], axis=-1)
        arr = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"src{i}.jpg", quality=90)
    for i in range(n):
        data = (folder / f"src{i % 4}.jpg").read_bytes()
        (folder / f"img{i:05d}.jpg").write_bytes(data + i.to_bytes(4, "big"))  # trailing bytes after EOI
    for i in range(min(n, 4)):
        (folder / f"src{i}.jpg").unlink()


def start_load(n: int) -> list[subprocess.Popen]:
    """``n`` busy processes competing for the CPU (what another program or the loader does to the stage)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def stop_load(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
        p.wait()


def run_modes(modes: list[str], photos: Path, base: Settings, work: Path, clip_dir: Path, detr_dir: Path,
              condition: str) -> dict[str, float]:
    """One vision-stage run per mode; prints a line each; returns images/s by mode."""
    print(f"{'condition':9s} {'mode':6s} {'photos':>6s} {'images/s':>9s} {'ms/img':>7s}  {'device':6s} batch"
          "        threads  loader-wait  model-s   gpu-peak")
    rates = {}
    for mode in modes:
        db = work / f"{mode}.db"
        shutil.copy(work / "base.db", db)
        s = base.replace(catalog=db, vision=True,
                         clip_model=str(clip_dir) if mode in ("clip", "both") else "absent/clip",
                         detr_model=str(detr_dir) if mode in ("detr", "both") else "absent/detr")
        logger = RunLogger(s.log_dir, command="bench")
        batch = {n: a for n, a in select_analyzers(s.replace(analyzers=("clip", "detr"))).items()
                 if n in ("clip", "detr")}
        with Catalog(db) as cat:
            t = time.perf_counter()
            v = run_batch_stage(photos, s, cat, logger, batch, {})
            wall = time.perf_counter() - t
        logger.close()
        db.unlink()
        if v.get("status") != "done":
            print(f"{condition:9s} {mode:6s} {v.get('status')}: {v.get('warning')}")
            continue
        rates[mode] = v["images_per_second"]
        model_s = sum(x for k, x in v["stage_seconds"].items() if k in ("clip", "detr"))
        peak = v.get("gpu_memory_peak_bytes")
        threads = f"{v['torch_threads']}+{v['loader_workers']}w"
        print(f"{condition:9s} {mode:6s} {v['photos']:6d} {v['images_per_second']:9.2f} "
              f"{1000 / v['images_per_second']:7.0f}  {v['device']:6s} {str(v['batch_size']):12s} {threads:8s} "
              f"{v['stage_seconds']['wait_for_loader']:8.2f}s  {model_s:7.2f}s   "
              f"{f'{peak / 2**30:.2f} GiB' if peak else '-'}  (stage wall incl. model load {wall:.1f}s)")
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--real-size", action="store_true", help="ViT-B/32 CLIP and DETR-R50 (random weights)")
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--megapixels", type=float, default=12.0)
    ap.add_argument("--photos", type=Path, help="use these photos instead of synthetic JPEGs")
    ap.add_argument("--batch-size", default="auto")
    ap.add_argument("--modes", default="clip,detr,both")
    ap.add_argument("--conditions", default="quiet,loaded", help="quiet, loaded or both (comma-separated)")
    ap.add_argument("--load", type=int, default=1, help="busy processes competing in the loaded condition")
    ap.add_argument("--wait-policy", default="passive", help="passive|active|default (OMP_WAIT_POLICY)")
    ap.add_argument("--cpu-threads", type=int, default=0, help="torch threads on a CPU (0: the product's plan)")
    args = ap.parse_args()

    from imgengine.gpu.threads import prepare_wait_policy

    policy = prepare_wait_policy(args.wait_policy)  # as the product does: before torch loads
    import torch

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"cuda: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}")
    work = Path(tempfile.mkdtemp(prefix="bench_vision_"))
    try:
        t = time.perf_counter()
        clip_dir = build_clip(work / "clip", real_size=args.real_size)
        detr_dir = build_detr(work / "detr", real_size=args.real_size)
        print(f"models built ({'real-size' if args.real_size else 'tiny'}, random weights) in "
              f"{time.perf_counter() - t:.1f}s")
        photos = args.photos
        if photos is None:
            photos = work / "photos"
            t = time.perf_counter()
            make_jpegs(photos, args.images, args.megapixels)
            print(f"{args.images} synthetic {args.megapixels:g} MP JPEGs written in {time.perf_counter() - t:.1f}s")
        base = Settings(log_dir=work / "logs", models_dir=work / "none", device=args.device,
                        batch_size=args.batch_size, vision=False, analyzers=("metadata",),
                        catalog=work / "base.db", detr_threshold=0.7, cpu_threads=args.cpu_threads,
                        omp_wait_policy=args.wait_policy)
        run_analysis(photos, base)  # catalog entries, as the CPU stage leaves them
        print(f"OpenMP wait policy: {policy[0]} ({policy[1]})")
        for condition in args.conditions.split(","):
            load = start_load(args.load) if condition == "loaded" else []
            try:
                rates = run_modes(args.modes.split(","), photos, base, work, clip_dir, detr_dir, condition)
            finally:
                stop_load(load)
            if all(m in rates for m in ("clip", "detr", "both")):
                parts = 1 / rates["clip"] + 1 / rates["detr"]
                print(f"{condition}: both vs the sum of its parts: {parts * rates['both']:.2f} "
                      f"(sum of parts {parts * 1000:.0f} ms/image, both {1000 / rates['both']:.0f} ms/image; "
                      "target >= 0.9)")
        # the text side of `imgengine search` (one query embedding, ONNX and torch) is measured where it
        # is scored: benchmarks/bench_search_cli.py
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
