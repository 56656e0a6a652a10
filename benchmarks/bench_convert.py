"""Benchmark: `convert` throughput on 12-megapixel photos — HEIC -> JPEG (the phone export) and JPEG -> AVIF,
WebP and HEIC — through the real path (plan, encode in a process pool, metadata carried over, journal
write-new), on all cores and on one core in the same run (the reference), plus a bare Pillow decode+encode
of the same files (no metadata, no journal) to show what the safety costs.

    python benchmarks/bench_convert.py [-n 8] [--size 4000x3000] [--speed fast] [--dir /tmp]

The photos are generated (`imgengine.testing.samples.scene` with camera EXIF and an sRGB profile); HEIC sources are
encoded with x265's ultrafast preset. The machine's load changes the figures; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageCms

from imgengine.processors.convert import ConvertOptions, apply_convert, plan_convert
from imgengine.processors.journal import Journal
from imgengine.settings import Settings
from imgengine.testing.samples import camera_exif, scene


def make_sources(folder: Path, n: int, size: tuple[int, int], fmt: str) -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    folder.mkdir(parents=True, exist_ok=True)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    base = scene(*size, seed=7)
    for i in range(n):
        img = base.rotate(i * 3) if i else base
        exif = camera_exif(make="Apple", model="iPhone 15 Pro", gps=(48.0 + i / 100, 2.0, 35.0))
        if fmt == "heic":
            img.save(folder / f"IMG_{i:04d}.HEIC", "HEIF", quality=80, enc_params={"preset": "ultrafast"},
                     exif=exif, icc_profile=icc)
        else:
            img.save(folder / f"IMG_{i:04d}.jpg", "JPEG", quality=90, exif=exif, icc_profile=icc)


def run(src: Path, out: Path, to: str, workers: int, speed: str) -> float:
    plan = plan_convert([src], Settings(workers=workers), ConvertOptions(to, speed=speed), out=out)
    t = time.perf_counter()
    with Journal.begin(out.parent / f".state-{out.name}", "convert", {}) as j:
        results = apply_convert(plan, j, workers=workers)
    seconds = time.perf_counter() - t
    done = sum(r.status == "done" for r in results)
    assert done == len(plan.actions), [r.reason for r in results if r.status != "done"]
    return done / seconds


def bare(src: Path, to: str) -> float:
    files = sorted(src.iterdir())
    t = time.perf_counter()
    for f in files:
        with Image.open(f) as im:
            im.convert("RGB").save(io.BytesIO(), {"jpeg": "JPEG", "webp": "WEBP"}[to], quality=90)
    return len(files) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=8)
    ap.add_argument("--size", default="4000x3000")
    ap.add_argument("--speed", default="fast", choices=["fast", "balanced", "best"])
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    size = tuple(int(x) for x in args.size.split("x"))
    cores = len(os.sched_getaffinity(0))
    root = Path(tempfile.mkdtemp(prefix="bench_convert_", dir=args.dir))
    try:
        t = time.perf_counter()
        make_sources(root / "heic", args.n, size, "heic")
        make_sources(root / "jpeg", args.n, size, "jpeg")
        print(f"machine: {platform.machine()}, {cores} cores, Python {sys.version.split()[0]}, load "
              f"{os.getloadavg()[0]:.1f}; {args.n} HEIC + {args.n} JPEG of {size[0]}x{size[1]} made in "
              f"{time.perf_counter() - t:.0f}s")
        one = run(root / "heic", root / "o1", "jpeg", 1, args.speed)
        allc = run(root / "heic", root / "o2", "jpeg", cores, args.speed)
        ref = bare(root / "heic", "jpeg")
        print(f"HEIC -> JPEG: {allc:.2f} files/s on {cores} cores, {one:.2f} on 1 core ({allc / one:.2f}x); "
              f"bare Pillow decode+encode on 1 core {ref:.2f} files/s (ours on 1 core = {one / ref:.2f}x of it)")
        for to in ("avif", "webp", "heic"):
            rate = run(root / "jpeg", root / f"j_{to}", to, cores, args.speed)
            print(f"JPEG -> {to.upper()} ({args.speed}): {rate:.2f} files/s on {cores} cores")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
