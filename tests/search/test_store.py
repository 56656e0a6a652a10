"""The embedding store's fast path: a catalog unchanged since the last sync is not read at all, the results
are exactly those of ranking the catalog's own (float16) embeddings, and any write to the catalog is seen."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from imgengine.analyzers.vision.embedding import decode_embedding
from imgengine.core.catalog import Catalog
from imgengine.search import store as store_mod
from imgengine.search.store import EmbeddingStore, catalog_stamp

from ..test_vision_search import MODEL, unit, write_photos


def age(cat_path: Path, seconds: float = 60.0) -> None:
    """Make catalog files written within the racy window look written ``seconds`` ago (an older file is left
    alone: a changed mtime is a write to the store)."""
    t = time.time() - seconds
    for p in (cat_path, Path(f"{cat_path}-wal")):
        if p.exists() and p.stat().st_mtime > time.time() - store_mod.RACY_SECONDS - 1:
            os.utime(p, (t, t))


def reference_ranking(cat: Catalog, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    """What the store computed before it kept float32: every embedding decoded from the catalog, rounded to
    float16, widened to float32 and multiplied by the normalised query."""
    rows = cat.db.execute("SELECT photo_id, json_extract(data, '$.embedding') AS e FROM results "
                          "WHERE analyzer = 'clip' ORDER BY photo_id").fetchall()
    ids = np.array([r["photo_id"] for r in rows])
    mat = np.stack([decode_embedding(r["e"]) for r in rows]).astype(np.float16).astype(np.float32)
    q = query.astype(np.float32) / np.linalg.norm(query)
    scores = mat @ q
    top = np.argsort(-scores, kind="stable")[:k]
    return [(int(ids[i]), float(scores[i])) for i in top]


def statements(cat: Catalog) -> list[str]:
    seen: list[str] = []
    cat.db.set_trace_callback(seen.append)
    return seen


def test_unchanged_catalog_is_not_read_and_results_are_exact(tmp_path: Path):
    rng = np.random.default_rng(5)
    path = tmp_path / "cat.db"
    with Catalog(path) as cat:
        write_photos(cat, tmp_path, unit(rng, 400))
    age(path)
    query = unit(rng, 1)[0]
    with Catalog(path) as cat:
        first = EmbeddingStore(cat, MODEL)
        rep = first.sync()
        assert (rep.added, rep.total) == (400, 400)
        want = reference_ranking(cat, query, 25)
        assert first.search(query, 25) == want
    age(path)  # closing the catalog may checkpoint its log: settle the stamps
    with Catalog(path) as cat:
        EmbeddingStore(cat, MODEL).sync()
    age(path)
    with Catalog(path) as cat:
        seen = statements(cat)
        fast = EmbeddingStore(cat, MODEL)
        rep = fast.sync()
        assert (rep.added, rep.removed, rep.total) == (0, 0, 400)
        assert not [s for s in seen if "results" in s], seen  # not one embedding read from SQLite
        assert isinstance(fast.vectors, np.memmap) and fast.vectors.dtype == np.float32
        assert fast.search(query, 25) == want


def test_any_write_to_the_catalog_is_seen(tmp_path: Path):
    rng = np.random.default_rng(6)
    path = tmp_path / "cat.db"
    with Catalog(path) as cat:
        write_photos(cat, tmp_path, unit(rng, 50))
    age(path)
    with Catalog(path) as cat:
        EmbeddingStore(cat, MODEL).sync()
    age(path)
    planted = unit(rng, 1)
    with Catalog(path) as cat:
        new = write_photos(cat, tmp_path, planted, start=900)
        new_id = cat.get(new[0])["id"]
    age(path, 30)  # written, then aged: only the stamps differ from the manifest's, not their age
    with Catalog(path) as cat:
        store = EmbeddingStore(cat, MODEL)
        rep = store.sync()
        assert (rep.added, rep.total) == (1, 51)
        assert store.search(planted[0], 1)[0][0] == new_id


def test_a_catalog_written_just_now_gets_no_stamp(tmp_path: Path):
    path = tmp_path / "cat.db"
    with Catalog(path) as cat:
        write_photos(cat, tmp_path, unit(np.random.default_rng(7), 3))
    assert catalog_stamp(path) is None  # its mtime cannot tell a write in the same tick from none
    age(path, store_mod.RACY_SECONDS + 1)
    assert catalog_stamp(path) is not None
    assert catalog_stamp(":memory:") is None and catalog_stamp(tmp_path / "absent.db") is None


def test_a_store_of_the_old_format_is_rebuilt(tmp_path: Path):
    rng = np.random.default_rng(8)
    path = tmp_path / "cat.db"
    with Catalog(path) as cat:
        write_photos(cat, tmp_path, unit(rng, 20))
        store = EmbeddingStore(cat, MODEL)
        store.sync()
        np.save(store.folder / "vectors.npy", np.asarray(store.vectors).astype(np.float16))  # version 1 kept f16
        again = EmbeddingStore(cat, MODEL)
        rep = again.sync()
        assert rep.added == 20 and again.vectors.dtype == np.float32


def test_analyze_leaves_the_store_up_to_date(tmp_path: Path):
    """After a vision run the store already holds every embedding: the first search reads none from SQLite."""
    import json

    import pytest

    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from imgengine.engine.run import run_analysis
    from imgengine.search.query import pick_model
    from imgengine.settings import Settings
    from imgengine.testing.models import build_clip

    from ..conftest import write_jpeg

    clip = build_clip(tmp_path / "clip")
    photos = tmp_path / "photos"
    for i in range(3):
        write_jpeg(photos / f"p{i}.jpg", seed=i)
    s = Settings(clip_model=str(clip), detr_model="absent/detr", models_dir=tmp_path / "models", device="cpu",
                 workers=1, log_dir=tmp_path / "logs", catalog=tmp_path / "cat.db")
    run_analysis(photos, s)
    manifest = json.loads((tmp_path / "search" / "manifest.json").read_text())
    assert manifest["count"] == 3
    with Catalog(tmp_path / "cat.db") as cat:
        store = EmbeddingStore(cat, pick_model(cat, s, need_encoder=False))
        rep = store.sync()
        assert (rep.added, rep.removed, rep.total) == (0, 0, 3)
        query = np.ones(store.vectors.shape[1], dtype=np.float32)
        assert store.search(query, 3) == reference_ranking(cat, query, 3)


def test_no_store_for_an_in_memory_catalog(tmp_path: Path, monkeypatch):
    """`show` analyses an unknown photo in an in-memory catalog: no search folder appears anywhere."""
    from imgengine.engine.run import refresh_search_store
    from imgengine.logs import RunLogger
    from imgengine.settings import Settings

    monkeypatch.chdir(tmp_path)
    with Catalog(Path(":memory:")) as cat:
        write_photos(cat, tmp_path, unit(np.random.default_rng(9), 3))
        logger = RunLogger(tmp_path / "logs", command="test")
        refresh_search_store(cat, Settings(log_dir=tmp_path / "logs"), logger)
        logger.close()
    assert not (tmp_path / "search").exists()
