"""Similarity search on both catalog stores: in the database (PostgreSQL with pgvector: HNSW index) or in
this process (SQLite; PostgreSQL without pgvector), with the same answers for planted neighbours, filters,
missing photos and incremental sync. Rows are written through ``write_outcomes`` as the vision stage does."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np

from imgengine.analyzers.vision.embedding import encode_embedding
from imgengine.catalog import is_catalog_url, open_catalog
from imgengine.engine.perfile import FileOutcome
from imgengine.search.store import DatabaseVectors, EmbeddingStore, vector_store

MODEL = "1:test/clip:abcd1234"


def unit(rng: np.random.Generator, n: int, dim: int = 512) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def write(cat, root: Path, vectors: np.ndarray, start: int = 0) -> list[Path]:
    paths = [root / f"img{i:05d}.jpg" for i in range(start, start + len(vectors))]
    cat.write_outcomes([FileOutcome(p, 100, 1, "jpeg", False, None, "ok", None, True,
                                    {"clip": ("1", {"embedding": encode_embedding(v), "model": MODEL}, None),
                                     "metadata": ("1", {"make": "Canon" if i % 2 else "NIKON"}, None)})
                        for i, (p, v) in enumerate(zip(paths, vectors, strict=True), start)])
    return paths


def check_store(cat, store, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    data = unit(rng, 600)
    paths = write(cat, tmp_path, data)
    ids = [cat.photo_id(p) for p in paths]
    rep = store.sync()
    assert (rep.added, rep.total) == (600, 600)
    target = 123
    query = data[target] + 0.05 * unit(rng, 1)[0]
    best = store.search(query, 10)
    assert best[0][0] == ids[target] and best[0][1] > 0.95
    assert [s for _, s in best] == sorted((s for _, s in best), reverse=True)
    exact = np.argsort(-(data @ (query / np.linalg.norm(query))))[:10]
    assert len({i for i, _ in best} & {ids[j] for j in exact}) >= 9          # recall@10 against exact
    # a filter (ids allowed by metadata) still returns k hits, all allowed
    allowed = {ids[i] for i in range(0, 600, 2)}
    hits = store.search(query, 10, allowed)
    assert len(hits) == 10 and {h for h, _ in hits} <= allowed
    assert store.vector_of(ids[5]) is not None and float(store.vector_of(ids[5]) @ data[5]) > 0.999
    # incremental: a changed vector replaced, a removed photo dropped, a new one added
    time.sleep(0.01)
    write(cat, tmp_path, -data[7][None], start=7)
    cat.remove(paths[target])
    new = write(cat, tmp_path, unit(rng, 1), start=900)
    rep = store.sync()
    assert (rep.added, rep.total) == (2, 600)
    # the in-process store drops the removed photo's vector; in the database its row went with the photo
    assert rep.removed == (0 if isinstance(store, DatabaseVectors) else 1)
    assert store.search(query, 1)[0][0] != ids[target]
    assert store.search(-data[7], 1)[0][0] == ids[7]
    assert store.search(data[7], 600)[-1][0] == ids[7]
    assert cat.photo_id(new[0]) in {i for i, _ in store.search(query, 600)}


def test_search_on_both_stores(catalog_spec, tmp_path, caplog):
    with open_catalog(catalog_spec) as cat:
        store = vector_store(cat, MODEL)
        if getattr(cat, "has_vector", False):
            assert isinstance(store, DatabaseVectors)      # pgvector: the search runs in the database
        else:
            assert isinstance(store, EmbeddingStore)
            if is_catalog_url(catalog_spec):               # Debian's PostgreSQL: no pgvector, one line says so
                assert "search runs in this process" in caplog.text
        check_store(cat, store, tmp_path)
        if isinstance(store, DatabaseVectors):
            assert store.sync().index == "pgvector-hnsw"


def test_postgres_without_pgvector_uses_the_in_process_index(postgres_url, tmp_path, caplog, monkeypatch):
    """The fall-back on a server without pgvector (Debian's package), forced on one that has it: the
    vectors are read from the catalog's results and indexed in this process, and one log line says so."""
    from imgengine.workspace import data_home

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    with open_catalog(postgres_url) as cat:
        cat.has_vector, cat.no_vector_reason = False, "the server has no pgvector extension"
        with caplog.at_level(logging.WARNING):
            store = vector_store(cat, MODEL)
        assert isinstance(store, EmbeddingStore)
        lines = [r.getMessage() for r in caplog.records if "search runs in this process" in r.getMessage()]
        assert len(lines) == 1 and "no pgvector" in lines[0]
        assert str(store.folder).startswith(str(data_home()))     # not a folder named after the URL
        check_store(cat, store, tmp_path)
        assert os.path.isfile(store.folder / "manifest.json")


def test_missing_photos_are_not_found(catalog_spec, tmp_path, monkeypatch, settings):
    from imgengine.search.query import search

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))            # no CLIP model: the stored one is searched
    with open_catalog(catalog_spec) as cat:
        data = unit(np.random.default_rng(3), 40)
        data[1] = data[0] + 0.01 * data[1]                           # photo 1 is photo 0's nearest neighbour
        paths = write(cat, tmp_path, data)
        paths[0].write_bytes(b"jpeg")                                 # --like needs the file
        before, _ = search(cat, settings, like=paths[0], limit=3)
        assert before[0].path == paths[1]
        cat.mark_gone({os.fsencode(paths[1])})
        hits, info = search(cat, settings, like=paths[0], limit=3)
        assert paths[1] not in [h.path for h in hits] and len(hits) == 3
        assert info["index"] == ("pgvector-hnsw" if getattr(cat, "has_vector", False) else "numpy")
