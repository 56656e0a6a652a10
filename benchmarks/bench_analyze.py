#!/usr/bin/env python3
"""Benchmark `imgengine analyze` on camera-like 12-megapixel JPEGs.

Prints files/s for: metadata-only, the full CPU analysis, and a no-change re-run (all with the
machine's core count), plus an unchanged re-run of many small files, and — when ExifTool is
installed — the ratio of our metadata-only rate to `exiftool -fast -json` on the same files, measured
in the same run. Per-file stage times are shown twice: wall (perf_counter inside the workers, which
includes waiting for a core) and CPU (thread_time of the worker).

Then whole processes, start-up included: the `imgengine analyze --analyzers metadata --no-vision`
console script (fresh catalog) against `exiftool -fast -json -n -r`, on --whole-files generated camera
JPEGs (--whole-megapixels, 1 MP by default to keep 5,000 files small on disk; both read headers only)
and on the real corpus (../shared/corpus) when present, each as its own line: written files flushed to disk
first (os.sync), then each tool's best of two runs.

    python benchmarks/bench_analyze.py [-n 500] [--rerun-files 5000] [--workers N] [--keep DIR]
                                       [--whole-files 500,5000] [--whole-megapixels 1]
    python benchmarks/bench_analyze.py --dispatch-only      # just the per-file plugin-dispatch overhead

The dispatch figure is the engine's own per-file cost around the analyzers (reading the head, format
detection, the analyzer loop with its timeout, result checks and serialisation) measured with a no-op
analyzer against the bare calls in the same process; the same script runs against an older tree
(``PYTHONPATH=<old>/src``) to compare before/after.

Targets (2-core machine): metadata-only >= 10x ExifTool -fast (in process, and as whole processes at
5,000 files); full CPU analysis >= 60 files/s; unchanged re-run of 5,000 files <= 3 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import multiprocessing as mp
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import piexif

from imgengine.logs import RunLogger
from imgengine.settings import Settings

try:
    from imgengine.engine import perfile as _perfile
    from imgengine.engine.run import run_analysis
    from imgengine.testing.samples import CAMERAS, camera_exif, jpeg_bytes, scene
except ImportError:  # a tree from before the plugin engine (for the before/after dispatch figure)
    from imgengine.core import pipeline as _perfile
    from imgengine.core.pipeline import run_analysis
    from imgengine.samples import CAMERAS, camera_exif, jpeg_bytes, scene

BASES = 8


def _base_jpeg(seed: int) -> bytes:
    return jpeg_bytes(scene(4000, 3000, seed=seed), quality=92)


def camera_jpeg(i: int, bases: list[bytes]) -> bytes:
    """File ``i`` of a generated set: one of the encoded ``bases`` with its own camera EXIF (camera, lens,
    time, GPS, ISO), so every file has its own bytes and sha256."""
    make, model, lens = CAMERAS[i % len(CAMERAS)]
    exif = camera_exif(make, model, lens, dt.datetime(2022, 5, 1, 8, 0, 0) + dt.timedelta(minutes=7 * i),
                       gps=(45.0 + i * 1e-4, 7.0 - i * 1e-4, 300.0 + i), iso=100 + i % 3200)
    out = io.BytesIO()
    piexif.insert(exif, bases[i % len(bases)], out)
    return out.getvalue()


def make_files(folder: Path, n: int) -> list[Path]:
    """n distinct 12 MP JPEGs: a few encoded scenes, each file with its own EXIF (so its own sha256)."""
    folder.mkdir(parents=True, exist_ok=True)
    with mp.get_context("fork").Pool() as pool:
        bases = pool.map(_base_jpeg, range(BASES))
    paths = []
    for i in range(n):
        path = folder / f"DSC{i:05d}.JPG"
        path.write_bytes(camera_jpeg(i, bases))
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


def dispatch_overhead(folder: Path, n_files: int = 2000, repeats: int = 5) -> dict[str, float]:
    """Per-file cost (microseconds) of the engine's dispatch around the analyzers: analyze_task with one
    no-op analyzer, minus the same work done by hand (head read, format detection, the analyzer call and
    to_dict). Best of ``repeats`` for both, interleaved, so that a busy machine hurts both alike."""
    from dataclasses import dataclass

    from imgengine.analyzers.base import AnalysisInput, Analyzer, Result
    from imgengine.core.formats import HEAD_BYTES, detect_format
    from imgengine.core.photo import Photo

    make_small_files(folder, n_files)
    paths = sorted(folder.rglob("*.jpg"))[:n_files]
    stats = [p.stat() for p in paths]

    @dataclass(frozen=True)
    class Noop(Result):
        value: int

    class NoopAnalyzer(Analyzer):
        name = "noop"

        def analyze(self, item):
            return Noop(1)

    settings = Settings(workers=1)
    analyzers = {"noop": NoopAnalyzer()}
    tasks = [_perfile.Task(p, st.st_size, st.st_mtime_ns, ("noop",)) for p, st in zip(paths, stats, strict=True)]
    new_engine = hasattr(_perfile, "PluginOrigin")
    if new_engine:
        origin = {"noop": _perfile.PluginOrigin("bench", "1", False, None)}
        timeouts = {"noop": settings.analyzer_timeout}

    def engine() -> float:
        import contextlib

        # as the executors run it: the timeout handler installed once for the stage
        with _perfile.timeout_handler() if new_engine else contextlib.nullcontext():
            t = time.perf_counter()
            for task in tasks:
                if new_engine:
                    _perfile.analyze_task(task, settings, analyzers, "bench", origin, timeouts)
                else:
                    _perfile.analyze_task(task, settings, analyzers, "bench")
            return time.perf_counter() - t

    def bare() -> float:
        a = analyzers["noop"]
        t = time.perf_counter()
        for task in tasks:
            with open(task.path, "rb") as fh:
                head = fh.read(HEAD_BYTES)
            fmt = detect_format(head, task.path.suffix)
            item = AnalysisInput(Photo(task.path, task.size, task.mtime_ns, fmt), settings)
            a.analyze(item).to_dict()
        return time.perf_counter() - t

    best_engine = best_bare = float("inf")
    for _ in range(repeats):
        best_engine = min(best_engine, engine())
        best_bare = min(best_bare, bare())
    return {"engine_us": best_engine / len(tasks) * 1e6, "bare_us": best_bare / len(tasks) * 1e6,
            "overhead_us": (best_engine - best_bare) / len(tasks) * 1e6}


def print_dispatch(tmp: Path) -> None:
    d = dispatch_overhead(tmp / "dispatch")
    print(f"plugin dispatch per file: {d['overhead_us']:6.1f} us over the bare calls "
          f"(engine {d['engine_us']:.1f} us, bare {d['bare_us']:.1f} us per file; a 12 MP photo's full CPU "
          f"analysis costs ~10,000+ us)")
def make_camera_files(folder: Path, n: int, megapixels: float, per_folder: int = 500) -> None:
    """n camera-like JPEGs (full EXIF with GPS, each its own), ``per_folder`` to a sub-folder."""
    w = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    bases = [jpeg_bytes(scene(w, w * 3 // 4, seed=s), quality=90) for s in range(BASES)]
    for i in range(n):
        sub = folder / f"{i // per_folder:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"DSC{i:05d}.JPG").write_bytes(camera_jpeg(i, bases))


def _process_seconds(cmd: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one whole process and its children: on a machine busier than its cores the
    wall time mostly measures the wait for a core, the CPU time what the work costs."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def whole_process(args: argparse.Namespace, tmp: Path) -> None:
    """`imgengine analyze --analyzers metadata` vs `exiftool -fast -json -n -r`, both as whole processes."""
    exiftool = shutil.which("exiftool")
    counts = [int(x) for x in args.whole_files.split(",") if x.strip()]
    sets: list[tuple[str, Path, int]] = []
    for n in counts:
        folder = tmp / f"whole_{n}"
        t = time.perf_counter()
        make_camera_files(folder, n, args.whole_megapixels)
        print(f"{n} {args.whole_megapixels:g} MP camera JPEGs for the whole-process comparison generated in "
              f"{time.perf_counter() - t:.1f}s")
        sets.append((f"{n} generated files", folder, n))
    if args.corpus.is_dir():
        n = sum(1 for p in args.corpus.rglob("*") if p.is_file())
        sets.append((f"real corpus ({n} files)", args.corpus, n))
    script = Path(sys.executable).with_name("imgengine")
    ours_cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "imgengine.cli.app"]
    # the generated files are still being written back to disk: whoever ran first would read while the
    # kernel writes a gigabyte out. Flush first, and give each tool its best of two runs (the same warm
    # page cache for both; each imgengine run analyses everything into a fresh catalog)
    if hasattr(os, "sync"):
        os.sync()
    print("whole processes, start-up included (best of 2 runs each):")
    for label, root, n in sets:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")  # this shared machine's load
        runs = []
        for k in range(2):
            catalog = tmp / f"whole_{abs(hash(label))}_{k}.db"
            runs.append(_process_seconds([*ours_cmd, "analyze", str(root), "--analyzers", "metadata", "--no-vision",
                                          "-q", "--catalog", str(catalog), "--log-dir", str(tmp / "logs")]))
        ours, ours_cpu = min(runs)
        line = (f"  {label:26s} load {load:4.1f} imgengine {ours:6.2f}s wall {ours_cpu:6.2f}s cpu "
                f"({n / ours:7.1f} files/s)")
        if exiftool:
            ref, ref_cpu = min(_process_seconds([exiftool, "-fast", "-json", "-n", "-r", "-q", str(root)])
                               for _ in range(2))
            line += (f" | exiftool {ref:6.2f}s wall {ref_cpu:6.2f}s cpu ({n / ref:6.1f} files/s) -> wall "
                     f"{ref / ours:4.1f}x, cpu {ref_cpu / ours_cpu:4.1f}x (target >= 10x at 5,000)")
        else:
            line += "   exiftool not installed (apt-get install libimage-exiftool-perl)"
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=500, help="number of 12 MP JPEGs (default 500)")
    ap.add_argument("--rerun-files", type=int, default=5000, help="small files for the unchanged re-run")
    ap.add_argument("--workers", type=int, default=0, help="worker processes (default: all cores)")
    ap.add_argument("--analysis-size", type=int, default=None, help="override Settings.analysis_size")
    ap.add_argument("--keep", type=Path, default=None, help="generate into / reuse this folder")
    ap.add_argument("--dispatch-only", action="store_true", help="only the per-file dispatch overhead")
    ap.add_argument("--whole-files", default="500,5000", help="file counts for the whole-process comparison "
                    "('' to skip)")
    ap.add_argument("--whole-megapixels", type=float, default=1.0)
    repo = Path(__file__).resolve().parents[1]
    corpus = next((p for p in (repo.parent / "shared" / "corpus", repo.parent.parent / "shared" / "corpus")
                   if p.is_dir()), repo.parent / "shared" / "corpus")  # a checkout, or a worktree beside one
    ap.add_argument("--corpus", type=Path, default=corpus)
    ap.add_argument("--only-whole", action="store_true", help="only the whole-process comparison")
    args = ap.parse_args()
    if args.dispatch_only:
        tmp = Path(tempfile.mkdtemp(prefix="imgengine-bench-"))
        try:
            print_dispatch(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    tmp = Path(tempfile.mkdtemp(prefix="imgengine-bench-"))
    folder = args.keep or tmp / "photos"
    try:
        if args.only_whole:
            whole_process(args, tmp)
            return
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

        try:  # plugin discovery + analyzer imports: once per process (the old code paid it at import time)
            from imgengine.plugins.manager import get_manager

            t = time.perf_counter()
            get_manager(base).analyzer_classes()
            print(f"plugin discovery and analyzer imports (once per process, not in the rates below): "
                  f"{(time.perf_counter() - t) * 1000:.0f} ms")
        except ImportError:
            pass

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
        print("   per file (wall-ms):  " + ", ".join(f"{k} {v:.1f}" for k, v in per_file.items()))
        per_file = {k: v / len(paths) * 1000 for k, v in summary["stage_cpu_seconds"].items()}
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
        print_dispatch(tmp)
        whole_process(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
