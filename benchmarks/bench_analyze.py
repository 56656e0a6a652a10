#!/usr/bin/env python3
"""Benchmark `imgengine analyze` on camera-like 12-megapixel JPEGs.

Prints files/s for: metadata-only, the full CPU analysis, and a no-change re-run (all with the
machine's core count), plus an unchanged re-run of many small files, and — when ExifTool is
installed — the ratio of our metadata-only rate to `exiftool -fast -json` on the same files, measured
in the same run.

    python benchmarks/bench_analyze.py [-n 500] [--rerun-files 5000] [--workers N] [--keep DIR]

Targets (2-core machine): metadata-only >= 10x ExifTool -fast; full CPU analysis >= 60 files/s;
unchanged re-run of 5,000 files <= 3 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import multiprocessing as mp
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import piexif

from imgengine.engine.run import run_analysis
from imgengine.logs import RunLogger
from imgengine.settings import Settings
from imgengine.testing.samples import CAMERAS, camera_exif, jpeg_bytes, scene

BASES = 8


def _base_jpeg(seed: int) -> bytes:
    return jpeg_bytes(scene(4000, 3000, seed=seed), quality=92)


def make_files(folder: Path, n: int) -> list[Path]:
    """n distinct 12 MP JPEGs: a few encoded scenes, each file with its own EXIF (so its own sha256)."""
    folder.mkdir(parents=True, exist_ok=True)
    with mp.get_context("fork").Pool() as pool:
        bases = pool.map(_base_jpeg, range(BASES))
    paths = []
    t0 = dt.datetime(2022, 5, 1, 8, 0, 0)
    for i in range(n):
        make, model, lens = CAMERAS[i % len(CAMERAS)]
        exif = camera_exif(make, model, lens, t0 + dt.timedelta(minutes=7 * i),
                           gps=(45.0 + i * 1e-4, 7.0 - i * 1e-4, 300.0 + i), iso=100 + i % 3200)
        out = io.BytesIO()
        piexif.insert(exif, bases[i % BASES], out)
        path = folder / f"DSC{i:05d}.JPG"
        path.write_bytes(out.getvalue())
        paths.append(path)
    return paths


def make_small_files(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    data = jpeg_bytes(scene(64, 48, seed=1), camera_exif(), quality=80)
    for i in range(n):
        sub = folder / f"{i // 500:03d}"
        sub.mkdir(exist_ok=True)
        (sub / f"IMG_{i:05d}.jpg").write_bytes(data)


def timed_run(root: Path, settings: Settings, log_dir: Path) -> tuple[float, dict]:
    logger = RunLogger(log_dir, command="bench")
    t = time.perf_counter()
    result = run_analysis(root, settings, logger=logger)
    elapsed = time.perf_counter() - t
    logger.close()
    return elapsed, result.summary


def exiftool_rate(paths: list[Path]) -> float | None:
    exe = shutil.which("exiftool")
    if not exe:
        return None
    folder = paths[0].parent
    t = time.perf_counter()
    subprocess.run([exe, "-fast", "-json", "-q", str(folder)], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    return len(paths) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=500, help="number of 12 MP JPEGs (default 500)")
    ap.add_argument("--rerun-files", type=int, default=5000, help="small files for the unchanged re-run")
    ap.add_argument("--workers", type=int, default=0, help="worker processes (default: all cores)")
    ap.add_argument("--analysis-size", type=int, default=None, help="override Settings.analysis_size")
    ap.add_argument("--keep", type=Path, default=None, help="generate into / reuse this folder")
    args = ap.parse_args()

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    tmp = Path(tempfile.mkdtemp(prefix="imgengine-bench-"))
    folder = args.keep or tmp / "photos"
    try:
        t = time.perf_counter()
        existing = sorted(folder.glob("DSC*.JPG")) if folder.exists() else []
        paths = existing if len(existing) == args.n else make_files(folder, args.n)
        size_mb = sum(p.stat().st_size for p in paths) / len(paths) / 1e6
        print(f"machine: {platform.processor() or platform.machine()}, {cores} cores, Python "
              f"{platform.python_version()}")
        print(f"files: {len(paths)} JPEGs 4000x3000 (12 MP), {size_mb:.1f} MB each "
              f"(generated in {time.perf_counter() - t:.1f}s)")
        base = Settings(workers=args.workers, log_dir=tmp / "logs", vision=False)  # CPU stage only: see bench_vision.py
        if args.analysis_size:
            base = base.replace(analysis_size=args.analysis_size)

        # ExifTool first, so the page cache is warm for everyone after the generation step
        ex_rate = exiftool_rate(paths)

        s_meta = base.replace(analyzers=("metadata",), catalog=tmp / "meta.db")
        secs, _ = timed_run(folder, s_meta, tmp / "logs")
        meta_rate = len(paths) / secs
        print(f"metadata-only:          {meta_rate:8.1f} files/s  ({secs:.2f}s)")
        if ex_rate:
            print(f"exiftool -fast -json:   {ex_rate:8.1f} files/s  -> ours is {meta_rate / ex_rate:.1f}x "
                  f"(target >= 10x)")
        else:
            print("exiftool -fast -json:   not installed (apt-get install libimage-exiftool-perl)")

        s_full = base.replace(catalog=tmp / "full.db")
        secs, summary = timed_run(folder, s_full, tmp / "logs")
        print(f"full CPU analysis:      {len(paths) / secs:8.1f} files/s  ({secs:.2f}s; target >= 60 on 2 cores)"
              f"  pixels: {summary['pixels_sources']}")
        per_file = {k: v / len(paths) * 1000 for k, v in summary["stage_seconds"].items()}
        print("   per file (cpu-ms):   " + ", ".join(f"{k} {v:.1f}" for k, v in per_file.items()))
        secs, summary = timed_run(folder, s_full, tmp / "logs")
        print(f"no-change re-run:       {len(paths) / secs:8.1f} files/s  ({secs:.3f}s for {len(paths)} files, "
              f"{summary['skipped_unchanged']} unchanged)")

        if args.rerun_files:
            small = tmp / "small"
            make_small_files(small, args.rerun_files)
            s_small = base.replace(catalog=tmp / "small.db")
            first, _ = timed_run(small, s_small, tmp / "logs")
            secs, summary = timed_run(small, s_small, tmp / "logs")
            print(f"unchanged re-run of {args.rerun_files} files: {secs:.2f}s (first run {first:.1f}s; "
                  f"target <= 3 s; {summary['skipped_unchanged']} unchanged)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
