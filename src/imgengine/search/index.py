"""Vector indexes over L2-normalised embeddings (inner product = cosine), behind one small interface.

``BruteForceIndex`` (numpy) is exact and needs nothing; it is used below ``ANN_THRESHOLD`` vectors,
where one matrix product is already instant. Above it, an approximate index is used. The candidates
were measured with ``benchmarks/bench_search.py`` on 1,000,000 clustered 512-d vectors on the 2-core
development machine; the numbers and the reasoning for the default are in USAGE.md (## search).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

ANN_THRESHOLD = 200_000
# the approximate back-end used above the threshold, then the fall-backs if it is not installed
DEFAULT_ANN = "usearch"
ANN_PREFERENCE = ("usearch", "hnswlib", "faiss-ivf")


class VectorIndex:
    """ids are int64 (catalog photo ids); vectors float32, L2-normalised, shape (n, dim)."""

    name = "base"

    def __init__(self, dim: int):
        self.dim = dim

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def remove(self, ids: np.ndarray) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def __len__(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def nbytes(self) -> int:
        return len(self) * self.dim * 4

    def save(self, folder: Path) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    @classmethod
    def load(cls, folder: Path, dim: int, readonly: bool = False) -> VectorIndex:  # pragma: no cover
        """``readonly``: no add/remove will follow (a back-end may memory-map instead of loading)."""
        raise NotImplementedError


class BruteForceIndex(VectorIndex):
    """Exact: one matrix-vector product and a partial sort."""

    name = "numpy"

    def __init__(self, dim: int):
        super().__init__(dim)
        self.ids = np.empty(0, dtype=np.int64)
        self.vectors = np.empty((0, dim), dtype=np.float32)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if len(self.ids):
            self.remove(ids)
        self.ids = np.concatenate([self.ids, ids])
        self.vectors = np.concatenate([self.vectors, np.asarray(vectors, dtype=np.float32)]) \
            if len(self.vectors) else np.ascontiguousarray(vectors, dtype=np.float32)

    def remove(self, ids: np.ndarray) -> None:
        keep = ~np.isin(self.ids, np.asarray(ids, dtype=np.int64))
        if not keep.all():
            self.ids, self.vectors = self.ids[keep], self.vectors[keep]

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if not len(self.ids):
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        scores = self.vectors @ np.asarray(query, dtype=np.float32).ravel()
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return self.ids[top], scores[top]

    def __len__(self) -> int:
        return len(self.ids)

    def save(self, folder: Path) -> None:  # the embedding store already persists the vectors
        pass

    @classmethod
    def load(cls, folder: Path, dim: int, readonly: bool = False) -> BruteForceIndex:
        return cls(dim)


class FaissIVFIndex(VectorIndex):
    """faiss IVF-Flat, inner product. Trained once on the first vectors; later additions are assigned to
    the existing lists (incremental), and it is retrained when it has grown 4x past its training size."""

    name = "faiss-ivf"

    def __init__(self, dim: int, nprobe: int = 64):
        import faiss  # noqa: F401 - ImportError tells the caller it is not installed

        super().__init__(dim)
        self.index = None
        self.nprobe = nprobe
        self.trained_on = 0

    def _build(self, vectors: np.ndarray) -> None:
        import faiss

        n = len(vectors)
        nlist = max(1, min(4096, int(4 * math.sqrt(n))))
        quantizer = faiss.IndexFlatIP(self.dim)
        index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        sample = vectors if n <= 64 * nlist else vectors[rng.choice(n, 64 * nlist, replace=False)]
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        index.nprobe = min(self.nprobe, nlist)
        self.index = index
        self.trained_on = n

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.index is None:
            self._build(vectors)
        else:
            self.remove(ids)
        self.index.add_with_ids(vectors, ids)

    def needs_retrain(self) -> bool:
        return self.index is not None and self.index.ntotal > 4 * max(self.trained_on, 1000)

    def remove(self, ids: np.ndarray) -> None:
        if self.index is not None and len(ids):
            self.index.remove_ids(np.asarray(ids, dtype=np.int64))

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.index is None or self.index.ntotal == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        scores, ids = self.index.search(np.asarray(query, dtype=np.float32).reshape(1, -1), k)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def __len__(self) -> int:
        return 0 if self.index is None else int(self.index.ntotal)

    def save(self, folder: Path) -> None:
        import faiss

        if self.index is not None:
            tmp = folder / "faiss.index.tmp"
            faiss.write_index(self.index, str(tmp))
            tmp.replace(folder / "faiss.index")
            (folder / "faiss.json").write_text(json.dumps({"trained_on": self.trained_on}))

    @classmethod
    def load(cls, folder: Path, dim: int, readonly: bool = False) -> FaissIVFIndex:
        import faiss

        out = cls(dim)
        path = folder / "faiss.index"
        if path.is_file():
            out.index = faiss.read_index(str(path))
            out.index.nprobe = min(out.nprobe, out.index.nlist)
            try:
                out.trained_on = json.loads((folder / "faiss.json").read_text())["trained_on"]
            except (OSError, ValueError, KeyError):
                out.trained_on = out.index.ntotal
        return out


class FaissFlatIndex(FaissIVFIndex):
    """faiss exact inner product (for comparison in the benchmark)."""

    name = "faiss-flat"

    def _build(self, vectors: np.ndarray) -> None:
        import faiss

        self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        self.trained_on = len(vectors)


class FaissHNSWIndex(FaissIVFIndex):
    """faiss HNSW (benchmark only: faiss HNSW cannot remove vectors, so it is not incremental)."""

    name = "faiss-hnsw"

    def _build(self, vectors: np.ndarray) -> None:
        import faiss

        index = faiss.IndexHNSWFlat(self.dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 200
        self.index = faiss.IndexIDMap2(index)
        self.trained_on = len(vectors)

    def remove(self, ids: np.ndarray) -> None:
        if self.index is not None and len(ids):
            raise NotImplementedError("faiss HNSW cannot remove vectors")


class HnswlibIndex(VectorIndex):
    name = "hnswlib"

    def __init__(self, dim: int):
        import hnswlib

        super().__init__(dim)
        self.index = hnswlib.Index(space="ip", dim=dim)
        self.capacity = 0
        self.deleted = 0

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        n = len(ids)
        if self.capacity == 0:
            self.capacity = max(1024, n)
            self.index.init_index(max_elements=self.capacity, ef_construction=80, M=16,
                                  allow_replace_deleted=True)
            self.index.set_ef(200)
        elif self.index.get_current_count() + n > self.capacity:
            self.capacity = max(2 * self.capacity, self.index.get_current_count() + n)
            self.index.resize_index(self.capacity)
        self.remove(ids)  # a changed vector replaces the old one
        reuse = min(self.deleted, n)
        self.index.add_items(np.asarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64),
                             replace_deleted=True)
        self.deleted -= reuse

    def remove(self, ids: np.ndarray) -> None:
        for i in np.asarray(ids, dtype=np.int64).tolist():
            try:
                self.index.mark_deleted(i)
                self.deleted += 1
            except RuntimeError:  # not in the index
                pass

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self))
        if k == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        labels, dist = self.index.knn_query(np.asarray(query, dtype=np.float32).reshape(1, -1), k=k)
        return labels[0].astype(np.int64), (1.0 - dist[0]).astype(np.float32)

    def __len__(self) -> int:
        return self.index.element_count - self.deleted if self.capacity else 0

    def save(self, folder: Path) -> None:
        tmp = folder / "hnswlib.bin.tmp"
        self.index.save_index(str(tmp))
        tmp.replace(folder / "hnswlib.bin")
        (folder / "hnswlib.json").write_text(json.dumps({"deleted": self.deleted, "capacity": self.capacity}))

    @classmethod
    def load(cls, folder: Path, dim: int, readonly: bool = False) -> HnswlibIndex:
        out = cls(dim)
        meta = json.loads((folder / "hnswlib.json").read_text())
        out.capacity = int(meta["capacity"])
        out.index.load_index(str(folder / "hnswlib.bin"), max_elements=out.capacity, allow_replace_deleted=True)
        out.index.set_ef(200)
        out.deleted = int(meta["deleted"])
        return out


class USearchIndex(VectorIndex):
    name = "usearch"

    def __init__(self, dim: int, dtype: str = "f16"):
        from usearch.index import Index

        super().__init__(dim)
        self.index = Index(ndim=dim, metric="ip", dtype=dtype, connectivity=16, expansion_add=80,
                           expansion_search=200)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        keys = np.asarray(ids, dtype=np.uint64)
        present = np.fromiter((k in self.index for k in keys.tolist()), dtype=bool, count=len(keys)) \
            if len(self.index) else np.zeros(len(keys), dtype=bool)
        if present.any():  # a changed vector replaces the old one
            self.index.remove(keys[present])
        self.index.add(keys, np.asarray(vectors, dtype=np.float32))

    def remove(self, ids: np.ndarray) -> None:
        self.index.remove(np.asarray(ids, dtype=np.uint64))

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        m = self.index.search(np.asarray(query, dtype=np.float32).ravel(), k)
        return m.keys.astype(np.int64), (1.0 - m.distances).astype(np.float32)

    def __len__(self) -> int:
        return len(self.index)

    def nbytes(self) -> int:
        return int(self.index.memory_usage)

    def save(self, folder: Path) -> None:
        tmp = folder / "usearch.bin.tmp"
        self.index.save(str(tmp))
        tmp.replace(folder / "usearch.bin")

    @classmethod
    def load(cls, folder: Path, dim: int, readonly: bool = False) -> USearchIndex:
        out = cls(dim)
        path = folder / "usearch.bin"
        if not path.is_file():
            raise FileNotFoundError(path)
        if readonly:
            out.index.view(str(path))  # memory-mapped: a search needs no load time
        else:
            out.index.load(str(path))
        return out


BACKENDS: dict[str, type[VectorIndex]] = {
    "numpy": BruteForceIndex, "faiss-flat": FaissFlatIndex, "faiss-ivf": FaissIVFIndex,
    "faiss-hnsw": FaissHNSWIndex, "hnswlib": HnswlibIndex, "usearch": USearchIndex,
}


def available_ann() -> str:
    """The first installed ANN back-end in order of preference, or "numpy" when none is."""
    for name in ANN_PREFERENCE:
        try:
            BACKENDS[name](4)
        except ImportError:
            continue
        return name
    return "numpy"
