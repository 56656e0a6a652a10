"""Search back-ends on synthetic CLIP-like embeddings: build time, ms per query, recall@k vs exact.

    python benchmarks/bench_search.py [--n 1000000] [--dim 512] [--queries 200] [--backends numpy,faiss-ivf,...]

The vectors are clustered (like real CLIP embeddings, which are far from uniform on the sphere):
``--clusters`` centres plus Gaussian noise, L2-normalised. Queries come from the same distribution.
This is the measurement behind the choice of ANN back-end in ``imgengine.search.index``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))


def synthetic(n: int, dim: int, clusters: int, seed: int, latent: int = 64) -> np.ndarray:
    """Clustered vectors of low intrinsic dimension (CLIP embeddings measure ~20-60): cluster centres
    plus noise in a ``latent``-dimensional subspace plus a little isotropic noise, L2-normalised."""
    basis_rng = np.random.default_rng(1234)  # the same space for data and queries
    centres = basis_rng.standard_normal((clusters, dim), dtype=np.float32)
    basis = basis_rng.standard_normal((latent, dim), dtype=np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    step = 100_000
    for a in range(0, n, step):
        b = min(n, a + step)
        z = rng.standard_normal((b - a, latent), dtype=np.float32) @ basis / np.sqrt(latent)
        out[a:b] = centres[rng.integers(0, clusters, b - a)] + z \
            + 0.2 * rng.standard_normal((b - a, dim), dtype=np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--clusters", type=int, default=2000)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--backends", default="numpy,faiss-flat,faiss-ivf,faiss-hnsw,hnswlib,usearch")
    args = ap.parse_args()
    from imgengine.search.index import BACKENDS, BruteForceIndex

    print(f"machine: {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}")
    t = time.perf_counter()
    data = synthetic(args.n, args.dim, args.clusters, 0)
    queries = synthetic(args.queries, args.dim, args.clusters, 99)
    ids = np.arange(args.n, dtype=np.int64)
    print(f"{args.n:,} x {args.dim} vectors generated in {time.perf_counter() - t:.1f}s")
    exact = BruteForceIndex(args.dim)
    exact.add(ids, data)
    truth = [set(exact.search(q, args.k)[0].tolist()) for q in queries]
    for name in args.backends.split(","):
        cls = BACKENDS.get(name)
        if cls is None:
            print(f"{name:12s} unknown")
            continue
        try:
            index = cls(args.dim)
        except ImportError as exc:
            print(f"{name:12s} not installed ({exc})")
            continue
        t = time.perf_counter()
        index.add(ids, data)
        build = time.perf_counter() - t
        index.search(queries[0], args.k)  # warm-up
        t = time.perf_counter()
        hits = 0
        for q, true in zip(queries, truth, strict=False):
            found, _ = index.search(q, args.k)
            hits += len(true & set(found.tolist()))
        per_query = (time.perf_counter() - t) / len(queries) * 1000
        print(f"{name:12s} build {build:8.1f}s   {per_query:7.2f} ms/query   recall@{args.k} "
              f"{hits / (args.k * len(queries)):.3f}   memory ~{index.nbytes() / 1e9:.2f} GB", flush=True)


if __name__ == "__main__":
    main()
