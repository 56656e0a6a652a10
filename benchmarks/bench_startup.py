#!/usr/bin/env python3
"""How fast `imgengine` starts: the real console script, run as whole processes.

    python benchmarks/bench_startup.py [--runs 15]

Prints the best and median wall time of ``imgengine --help``, ``imgengine --version``, ``imgengine stats``
on a small catalog and ``imgengine gpu-monitor --once`` (no GPU: one line), and ``--help`` once more with its
command-list cache deleted before each run (the first --help after an install or upgrade), next to the reference of a
bare ``python -c pass`` in the same run, the CPU time (user + system) of the same processes, and which
heavy modules each command imported (``-X importtime``). Target: --help and stats <= 120 ms of wall time.
The best of N is the figure least disturbed by other work on the machine and the median shows how noisy
it was; on a machine busier than its cores the CPU time is the honest estimate of the quiet wall time.
typer >= 0.2x converts option values through pydantic; imgengine converts plain str/int/float/Path values itself
(cli/coercion.py), so ``stats`` does not import pydantic either.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("numpy", "cv2", "PIL", "torch", "transformers", "rich", "yaml", "onnxruntime", "pydantic")


def console_script() -> list[str]:
    exe = Path(sys.executable).with_name("imgengine")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("imgengine")
    if found:
        return [found]
    raise SystemExit("the imgengine console script is not installed next to this Python (pip install -e .)")


def timed(cmd: list[str], runs: int, env: dict[str, str], before_each=None) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) milliseconds of each run. On a busy machine the wall time mostly
    measures the wait for a core; the CPU time is what the start-up itself costs."""
    wall, cpu = [], []
    for _ in range(runs):
        if before_each is not None:
            before_each()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
        wall.append((time.perf_counter() - t) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
    return wall, cpu


def heavy_imports(args: list[str], env: dict[str, str]) -> list[str]:
    """Top-level heavy packages the command imported (from python -X importtime)."""
    code = ("import sys; sys.argv = ['imgengine'] + sys.argv[1:]\n"
            "from imgengine.cli.app import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n")
    for _ in range(2):  # the first run may fill the command-list cache (--help); the second is what is timed
        p = subprocess.run([sys.executable, "-X", "importtime", "-c", code, *args], capture_output=True, text=True,
                           env=env, check=False)
    names = set()
    for line in p.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name.split(".")[0] in HEAVY:
                names.add(name.split(".")[0])
    return sorted(names)


def make_catalog(folder: Path, env: dict[str, str]) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from imgengine.testing.samples import camera_exif, jpeg_bytes, scene

    photos = folder / "photos"
    photos.mkdir(parents=True)
    for i in range(20):
        (photos / f"IMG_{i:04d}.jpg").write_bytes(jpeg_bytes(scene(320, 240, seed=i), camera_exif(), 85))
    subprocess.run([*console_script(), "analyze", str(photos), "--no-vision", "-q", "--log-dir",
                    str(folder / "logs")], env=env, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    env = dict(os.environ)
    script = console_script()
    # as pip does at install time: every module byte-compiled, so that no run compiles a source file that
    # changed since its last .pyc was written (with PYTHONDONTWRITEBYTECODE set, nothing would ever write it)
    import compileall

    import imgengine

    compileall.compile_dir(str(Path(imgengine.__file__).parent), quiet=1)
    work = Path(tempfile.mkdtemp(prefix="bench_startup_"))
    try:
        env["HOME"] = str(work)  # no user config file changes what is measured
        make_catalog(work, env)
        photos = work / "photos"
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"{os.cpu_count()} cores, load average {load:.1f} (other work on the machine shows in the median)")
        cache = work / ".cache"
        env["XDG_CACHE_HOME"] = str(cache)
        cases = [("python -c pass (reference)", [sys.executable, "-c", "pass"], None),
                 ("imgengine --help (no cache)", [*script, "--help"], None),
                 ("imgengine --help", [*script, "--help"], ["--help"]),
                 ("imgengine --version", [*script, "--version"], ["--version"]),
                 ("imgengine stats DIR", [*script, "stats", str(photos)], ["stats", str(photos)]),
                 ("imgengine gpu-monitor --once", [*script, "gpu-monitor", "--once"], ["gpu-monitor", "--once"])]
        print(f"{'command':30s} {'wall best':>9s} {'median':>7s} {'cpu best':>9s} {'median':>7s}  (ms)  heavy imports")
        for label, cmd, cli_args in cases:
            cold = label.endswith("(no cache)")
            wall, cpu = timed(cmd, 3 if cold else args.runs, env,
                              (lambda: shutil.rmtree(cache, ignore_errors=True)) if cold else None)
            heavy = heavy_imports(cli_args, env) if cli_args is not None else []
            target = "  (target <= 120 ms)" if label in ("imgengine --help", "imgengine stats DIR") else ""
            print(f"{label:30s} {min(wall):9.0f} {statistics.median(wall):7.0f} {min(cpu):9.0f} "
                  f"{statistics.median(cpu):7.0f}        {', '.join(heavy) or '-'}{target}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
