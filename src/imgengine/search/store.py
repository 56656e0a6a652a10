"""The embedding store: the catalog's CLIP embeddings as one matrix, kept in sync incrementally.

The catalog is the source of truth (each ``clip`` result holds its embedding). Decoding a million JSON
rows on every query would take seconds, so the store keeps a copy next to the catalog
(``.imgengine/search/``: ``vectors.npy``, ``ids.npy``, ``manifest.json``) and on each use only
reads the results written since the last sync (``updated_at``) and drops ids that are gone. When nothing at
all was written to the catalog since the last sync (its file and write-ahead log have the stamps recorded in the
manifest), even that scan is skipped: a search on a 100,000-photo catalog then reads no embedding from SQLite
and maps ``vectors.npy`` as it is. Above
``ANN_THRESHOLD`` vectors the ANN index is kept the same way: new and changed vectors are added,
removed ones deleted; it is never rebuilt from scratch unless its files are missing or unreadable.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..analyzers.vision.embedding import decode_embedding
from ..catalog import CatalogStore, is_catalog_url
from ..progress import steps_of
from . import index as index_mod

log = logging.getLogger(__name__)

STORE_VERSION = 2  # 2: vectors.npy holds float32 (of the float16 values the catalog stores): mapped, not converted
RACY_SECONDS = 2.0  # a catalog written this recently may change again within the same mtime tick: no stamp


def catalog_stamp(path: Path | str) -> list | None:
    """(mtime_ns, size) of the catalog file and of its write-ahead log: any committed write changes one of
    them (an empty log, which every connection creates when it opens the catalog, holds no write). None for
    an in-memory catalog, or one written too recently for its mtime to tell writes apart."""
    if str(path) in ("", ":memory:") or is_catalog_url(path):  # a PostgreSQL catalog has no file to stamp
        return None
    out: list = []
    newest = 0
    for name in (str(path), f"{path}-wal"):
        try:
            st = os.stat(name)
        except FileNotFoundError:
            out.append(None)
            continue
        except OSError:
            return None
        if name.endswith("-wal") and st.st_size == 0:
            out.append(None)
            continue
        out.append([st.st_mtime_ns, st.st_size])
        newest = max(newest, st.st_mtime_ns)
    if out[0] is None or time.time_ns() - newest < RACY_SECONDS * 1e9:
        return None
    return out


@dataclass
class SyncReport:
    added: int = 0
    removed: int = 0
    total: int = 0
    index: str = "numpy"
    rebuilt: bool = False


def catalog_models(catalog: CatalogStore) -> Counter:
    """How many stored embeddings each CLIP model produced."""
    return Counter(catalog.clip_models())


def store_folder(catalog: CatalogStore) -> Path:
    """Where the index of a catalog lives: ``search/`` beside a SQLite file; for a PostgreSQL catalog
    without pgvector, a folder per server and database in this user's data folder."""
    if is_catalog_url(catalog.path):
        from ..workspace import data_home

        key = hashlib.sha1(str(getattr(catalog, "label", catalog.path)).encode()).hexdigest()[:12]
        return data_home() / "search" / f"postgresql-{key}"
    return Path(catalog.path).parent / "search"


class EmbeddingStore:
    def __init__(self, catalog: CatalogStore, model: str, folder: Path | None = None, backend: str = "auto"):
        self.catalog = catalog
        self.model = model
        self.folder = Path(folder) if folder else store_folder(catalog)
        self.backend = backend
        self.ids = np.empty(0, dtype=np.int64)
        self.vectors = np.empty((0, 0), dtype=np.float32)
        self.synced_at = 0.0
        self.ann: index_mod.VectorIndex | None = None
        self._f32: np.ndarray | None = None

    # -- persistence ---------------------------------------------------------------------------------
    def _manifest(self) -> dict:
        try:
            return json.loads((self.folder / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _load(self) -> None:
        m = self._manifest()
        if m.get("store_version") != STORE_VERSION or m.get("model") != self.model:
            return
        try:
            self.ids = np.load(self.folder / "ids.npy")
            self.vectors = np.load(self.folder / "vectors.npy", mmap_mode="r")  # copied only if it changes
            if len(self.ids) != len(self.vectors) or self.vectors.dtype != np.float32:
                raise ValueError("ids and vectors differ in length")
            self.synced_at = float(m.get("synced_at", 0.0))
        except (OSError, ValueError):
            self.ids = np.empty(0, dtype=np.int64)
            self.vectors = np.empty((0, 0), dtype=np.float32)
            self.synced_at = 0.0

    def _save(self, ann_name: str, stamp: list | None = None, vectors: bool = True) -> None:
        """Write the store (``vectors=False``: only the manifest, when only the catalog stamp changed)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, arr in (("ids.npy", self.ids), ("vectors.npy", self.vectors)) if vectors else ():
            tmp = self.folder / (name + ".tmp.npy")
            np.save(tmp, arr)
            os.replace(tmp, self.folder / name)
        manifest = {"store_version": STORE_VERSION, "model": self.model, "synced_at": self.synced_at,
                    "count": int(len(self.ids)), "index": ann_name, "catalog_stamp": stamp}
        tmp = self.folder / "manifest.json.tmp"
        tmp.write_text(json.dumps(manifest), encoding="utf-8")
        os.replace(tmp, self.folder / "manifest.json")

    # -- sync ----------------------------------------------------------------------------------------
    def sync(self, progress: Any = None) -> SyncReport:
        """Bring the store (and the ANN index, above the threshold) up to date with the catalog.
        ``progress`` (``imgengine.progress.StepProgress``) hears the embeddings read and the index built."""
        steps = steps_of(progress)
        self._load()
        stamp = catalog_stamp(self.catalog.path)  # before reading: a write after this changes the stamp
        manifest = self._manifest()
        if stamp is not None and manifest.get("catalog_stamp") == stamp and manifest.get("count") == len(self.ids) \
                and manifest.get("model") == self.model and len(self.ids):
            # nothing written to the catalog since the store was synced with it: the store is current
            report = SyncReport(total=len(self.ids))
            report.index, report.rebuilt = self._sync_ann(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64),
                                                          np.empty((0, 0), dtype=np.float32))
            if not report.rebuilt and report.index == manifest.get("index", "numpy"):
                return report
        rows = self.catalog.embedding_stamps(self.model)
        current = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        changed = [r[0] for r in rows if r[1] > self.synced_at]
        newest = max((r[1] for r in rows), default=self.synced_at)
        gone = self.ids[~np.isin(self.ids, current)] if len(self.ids) else np.empty(0, dtype=np.int64)
        unseen = current[~np.isin(current, self.ids)] if len(self.ids) else current
        todo = sorted(set(changed) | set(unseen.tolist()))
        steps.step_start("search index", len(todo), "embeddings")
        new_ids, new_vecs = self._read(todo, steps)
        drop = np.concatenate([gone, new_ids]) if len(new_ids) else gone
        if len(drop) and len(self.ids):
            keep = ~np.isin(self.ids, drop)
            self.ids, self.vectors = self.ids[keep], self.vectors[keep]
        if len(new_ids):
            # the catalog's float16 values, held as float32: a query maps the file and multiplies, where
            # converting 100,000 float16 rows took ~0.25 s of CPU per search
            rounded = new_vecs.astype(np.float16).astype(np.float32)
            if self.vectors.size == 0:
                self.vectors = rounded
                self.ids = new_ids
            else:
                self.vectors = np.concatenate([self.vectors, rounded])
                self.ids = np.concatenate([self.ids, new_ids])
        self.synced_at = max(self.synced_at, newest)
        self._f32 = None
        report = SyncReport(added=len(new_ids), removed=len(gone), total=len(self.ids))
        report.index, report.rebuilt = self._sync_ann(drop, new_ids, new_vecs)
        if report.added or report.removed or not (self.folder / "manifest.json").is_file():
            self._save(report.index, stamp)
        elif manifest.get("catalog_stamp") != stamp or manifest.get("index") != report.index:
            self._save(report.index, stamp, vectors=False)
        steps.step_done("search index")
        return report

    def _read(self, ids: list[int], steps: Any = None) -> tuple[np.ndarray, np.ndarray]:
        steps = steps_of(steps)
        out_ids, out_vecs = [], []
        for start in range(0, len(ids), 5000):
            chunk = ids[start:start + 5000]
            steps.step_advance("search index", len(chunk))
            for photo_id, encoded in self.catalog.embeddings_of(chunk):
                out_ids.append(photo_id)
                out_vecs.append(decode_embedding(encoded))
        if not out_ids:
            return np.empty(0, dtype=np.int64), np.empty((0, 0), dtype=np.float32)
        return np.asarray(out_ids, dtype=np.int64), np.stack(out_vecs).astype(np.float32)

    def _sync_ann(self, drop: np.ndarray, new_ids: np.ndarray, new_vecs: np.ndarray) -> tuple[str, bool]:
        backend = self.backend
        if backend == "auto":
            if len(self.ids) < index_mod.ANN_THRESHOLD:
                return "numpy", False
            backend = index_mod.available_ann()
        if backend == "numpy":
            return "numpy", False
        cls = index_mod.BACKENDS[backend]
        dim = self.vectors.shape[1]
        ann_dir = self.folder / backend
        m = self._manifest()
        rebuilt = False
        try:
            if m.get("index") != backend or m.get("model") != self.model:
                raise FileNotFoundError("no index for this model yet")
            ann = cls.load(ann_dir, dim, readonly=not (len(drop) or len(new_ids)))
            if len(drop):
                ann.remove(drop)
            if len(new_ids):
                ann.add(new_ids, new_vecs)
            if len(ann) != len(self.ids):
                raise ValueError("index out of step with the store")
        except (OSError, ValueError, RuntimeError, KeyError):
            ann = cls(dim)
            ann.add(self.ids, self.vectors.astype(np.float32))
            rebuilt = True
        if rebuilt or len(drop) or len(new_ids):
            ann_dir.mkdir(parents=True, exist_ok=True)
            ann.save(ann_dir)
        self.ann = ann
        return backend, rebuilt

    # -- search --------------------------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int, allowed: set[int] | None = None) -> list[tuple[int, float]]:
        """(photo id, cosine) best first; ``allowed`` restricts to those ids (metadata filters)."""
        if not len(self.ids):
            return []
        q = np.asarray(query, dtype=np.float32).ravel()
        q = q / (np.linalg.norm(q) or 1.0)
        if self.ann is not None and (allowed is None or len(allowed) > index_mod.ANN_THRESHOLD):
            want = k
            while True:
                ids, scores = self.ann.search(q, want)
                hits = [(int(i), float(s)) for i, s in zip(ids, scores, strict=True)
                        if allowed is None or int(i) in allowed]
                if len(hits) >= k or want >= len(self.ids):
                    return hits[:k]
                want = min(len(self.ids), want * 4)
        rows = np.arange(len(self.ids)) if allowed is None else \
            np.flatnonzero(np.isin(self.ids, np.fromiter(allowed, dtype=np.int64, count=len(allowed))))
        if not len(rows):
            return []
        matrix = self._float32()
        scores = matrix[rows] @ q if allowed is not None else matrix @ q
        k = min(k, len(rows))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self.ids[rows[i]]), float(scores[i])) for i in top]

    def _float32(self) -> np.ndarray:
        """The vectors as float32 (they are stored so: no conversion, the mapped file itself)."""
        if self._f32 is None:
            self._f32 = self.vectors if self.vectors.dtype == np.float32 else self.vectors.astype(np.float32)
        return self._f32

    def vector_of(self, photo_id: int) -> np.ndarray | None:
        hit = np.flatnonzero(self.ids == photo_id)
        return self.vectors[hit[0]].astype(np.float32) if len(hit) else None



class DatabaseVectors:
    """Search in the database (PostgreSQL with pgvector): the same interface as ``EmbeddingStore``; the
    catalog keeps its ``clip_embeddings`` table and HNSW index in step (``sync_vectors``)."""

    def __init__(self, catalog: CatalogStore, model: str):
        self.catalog = catalog
        self.model = model

    def sync(self, progress: Any = None) -> SyncReport:
        done = self.catalog.sync_vectors(progress)
        return SyncReport(added=done["added"], removed=done["removed"], total=self.catalog.vector_count(self.model),
                          index="pgvector-hnsw")

    def search(self, query: np.ndarray, k: int, allowed: set[int] | None = None) -> list[tuple[int, float]]:
        return self.catalog.search_vectors(self.model, query, k, allowed)

    def vector_of(self, photo_id: int) -> np.ndarray | None:
        for _, encoded in self.catalog.embeddings_of([photo_id]):
            return decode_embedding(encoded)
        return None


def vector_store(catalog: CatalogStore, model: str, backend: str = "auto") -> EmbeddingStore | DatabaseVectors:
    """Where a search runs: in the database when it can (PostgreSQL with pgvector, ``--index auto``), else the
    in-process store and index (SQLite; PostgreSQL without pgvector, said in one log line)."""
    if getattr(catalog, "has_vector", False) and backend == "auto":
        return DatabaseVectors(catalog, model)
    if is_catalog_url(catalog.path) and backend == "auto":
        log.warning("catalog %s: search runs in this process (vectors read from the catalog, index kept in %s): "
                    "%s", getattr(catalog, "label", catalog.path), store_folder(catalog),
                    getattr(catalog, "no_vector_reason", "") or "no pgvector")
    return EmbeddingStore(catalog, model, backend=backend)
