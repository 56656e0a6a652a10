"""Benchmark: add two keywords to N JPEGs (default 2,000) — imgengine `tag --apply` (plan, journal with
fsyncs and backups, exiv2 in memory) against ExifTool run once per file (`exiftool -overwrite_original
-XMP-dc:Subject+=… -IPTC:Keywords+=… FILE`, timed on a sample of files) and ExifTool's best mode (one process
over all files), in the same run on the same generated files. Both sides write the same places (XMP
dc:subject and IPTC Keywords). Targets (issue 10): >= 50x the per-file mode, >= 2x the best mode.

    python benchmarks/bench_tag.py [-n 2000] [--per-file-sample 100] [--size 1600x1200] [--dir /tmp]

Photos: generated camera-like JPEGs (EXIF with make/model/date/GPS, a real picture from
`imgengine.testing.samples.scene`), every file distinct. The figures depend on the disk (imgengine fsyncs each
new file and its journal; ExifTool does not fsync) and on the machine's load.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import piexif

from imgengine.metadata.fields import TagEdit
from imgengine.metadata.writer import MetadataWriter
from imgengine.processors.journal import Journal, undo
from imgengine.processors.tag import apply_tag, plan_tag
from imgengine.settings import Settings
from imgengine.testing.samples import camera_exif, jpeg_bytes, scene

KEYWORDS = ("Beach, sunny", "Ünïcode 🐶")


def make_photos(folder: Path, n: int, size: tuple[int, int]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pixels = [jpeg_bytes(scene(*size, seed=s)) for s in range(4)]
    start = datetime(2020, 1, 1, 9, 0, 0)
    for i in range(n):
        exif = camera_exif(when=start + timedelta(minutes=37 * i), gps=(40.0 + i * 1e-4, -3.0, 600.0))
        out = io.BytesIO()
        piexif.insert(exif, pixels[i % 4] + i.to_bytes(4, "big"), out)
        (folder / f"IMG_{i:05d}.jpg").write_bytes(out.getvalue())


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_imgengine(folder: Path, state: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    with MetadataWriter() as w:
        plan = plan_tag([folder], Settings(), w, lambda _p: TagEdit(add_keywords=KEYWORDS))
        with Journal.begin(state, "tag", {}) as j:
            results = apply_tag(plan, j, w, workers=Settings().effective_workers())
    seconds = time.perf_counter() - t0
    done = sum(r.status == "done" for r in results)
    return seconds, done


def exiftool_args() -> list[str]:
    args = ["-overwrite_original", "-charset", "iptc=utf8", "-IPTC:CodedCharacterSet=UTF8"]
    for k in KEYWORDS:
        args += [f"-XMP-dc:Subject+={k}", f"-IPTC:Keywords+={k}"]
    return args


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--per-file-sample", type=int, default=100)
    ap.add_argument("--size", default="1600x1200")
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    exiftool = shutil.which("exiftool")
    size = tuple(int(x) for x in args.size.split("x"))
    root = Path(tempfile.mkdtemp(prefix="bench_tag_", dir=args.dir))
    try:
        src = root / "src"
        t = time.perf_counter()
        make_photos(src, args.n, size)
        mb = sum(p.stat().st_size for p in src.iterdir()) / 1e6
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
              f"{sys.version.split()[0]}; {args.n} JPEGs {size[0]}x{size[1]} ({mb:.0f} MB) made in "
              f"{time.perf_counter() - t:.1f}s under {root}")
        ours = root / "ours"
        shutil.copytree(src, ours)
        cpu0 = time.process_time()
        seconds, done = run_imgengine(ours, root / "state")
        our_cpu = (time.process_time() - cpu0) / max(done, 1)
        rate = done / seconds
        print(f"imgengine tag --apply: {done} files in {seconds:.2f}s = {rate:,.0f} files/s "
              f"(journal, new contents synced, original kept for undo); CPU {our_cpu * 1e3:.2f} ms/file")
        t = time.perf_counter()
        rep = undo(root / "state")
        print(f"imgengine undo: {rep.restored} files restored in {time.perf_counter() - t:.2f}s")
        if exiftool is None:
            print("ExifTool is not installed: no comparison (apt-get install libimage-exiftool-perl)")
            return
        per = root / "per_file"
        shutil.copytree(src, per)
        sample = sorted(per.iterdir())[: args.per_file_sample]
        t, c = time.perf_counter(), children_cpu()
        for p in sample:
            subprocess.run([exiftool, *exiftool_args(), str(p)], check=True, capture_output=True)
        per_rate = len(sample) / (time.perf_counter() - t)
        per_cpu = (children_cpu() - c) / len(sample)
        print(f"exiftool per file (one process each, {len(sample)}-file sample): {per_rate:,.1f} files/s; "
              f"CPU {per_cpu * 1e3:.1f} ms/file")
        best = root / "best"
        shutil.copytree(src, best)
        t, c = time.perf_counter(), children_cpu()
        subprocess.run([exiftool, *exiftool_args(), str(best)], check=True, capture_output=True)
        best_rate = args.n / (time.perf_counter() - t)
        best_cpu = (children_cpu() - c) / args.n
        print(f"exiftool best mode (one process, all files): {best_rate:,.0f} files/s; "
              f"CPU {best_cpu * 1e3:.2f} ms/file")
        print(f"ratio vs per-file mode: {rate / per_rate:,.0f}x wall, {per_cpu / our_cpu:,.0f}x CPU (target >= 50x)")
        print(f"ratio vs best mode:     {rate / best_rate:,.2f}x wall, {best_cpu / our_cpu:,.2f}x CPU (target >= 2x)")
        print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall figures suffer "
              "from a busy machine; CPU per file does less)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
