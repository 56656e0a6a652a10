"""The search side without models: embedding store sync, index back-ends, metadata filters.

Catalog rows are written through ``Catalog.write_outcomes`` exactly as the vision stage writes them,
with planted embeddings, so nearest neighbours are known.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from imgengine.analyzers.vision.embedding import decode_embedding, encode_embedding
from imgengine.core.catalog import Catalog
from imgengine.engine.perfile import FileOutcome
from imgengine.search.index import BACKENDS, BruteForceIndex
from imgengine.search.query import Filters, filtered_ids
from imgengine.search.store import EmbeddingStore

MODEL = "1:test/clip:abcd1234"


def unit(rng: np.random.Generator, n: int, dim: int = 32) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def write_photos(cat: Catalog, root: Path, vectors: np.ndarray, start: int = 0, extra=None) -> list[Path]:
    outcomes, paths = [], []
    for i, v in enumerate(vectors, start):
        path = root / f"img{i:05d}.jpg"
        results = {"clip": ("1", {"embedding": encode_embedding(v), "model": MODEL}, None)}
        if extra:
            results.update(extra(i))
        outcomes.append(FileOutcome(path, 100, 1, "jpeg", False, None, "ok", None, True, results))
        paths.append(path)
    cat.write_outcomes(outcomes)
    return paths


def test_embedding_roundtrip_is_unit_length():
    v = np.arange(1, 513, dtype=np.float32)
    back = decode_embedding(encode_embedding(v))
    assert back.shape == (512,) and abs(np.linalg.norm(back) - 1) < 1e-6
    assert float(back @ (v / np.linalg.norm(v))) > 0.9999


@pytest.mark.parametrize("backend", ["numpy", "usearch", "hnswlib", "faiss-ivf"])
def test_store_finds_the_planted_neighbour_and_syncs_incrementally(tmp_path, backend):
    if backend != "numpy":
        try:
            BACKENDS[backend](4)
        except ImportError:
            pytest.skip(f"{backend} not installed")
    rng = np.random.default_rng(3)
    data = unit(rng, 3000)
    target = 1234
    query = data[target] + 0.05 * unit(rng, 1)[0]
    with Catalog(tmp_path / "cat.db") as cat:
        paths = write_photos(cat, tmp_path, data)
        store = EmbeddingStore(cat, MODEL, backend=backend)
        rep = store.sync()
        assert (rep.added, rep.total, rep.index) == (3000, 3000, backend)
        best = store.search(query, 5)
        target_id = cat.get(paths[target])["id"]
        assert best[0][0] == target_id and best[0][1] > 0.95
        # a fresh store loads what was saved and reads nothing it already has
        again = EmbeddingStore(cat, MODEL, backend=backend)
        rep = again.sync()
        assert (rep.added, rep.removed, rep.total, rep.rebuilt) == (0, 0, 3000, False)
        assert again.search(query, 1)[0][0] == target_id
        # new photos are added, a removed one disappears, a changed one is replaced
        time.sleep(0.01)
        planted = unit(rng, 1)
        new_paths = write_photos(cat, tmp_path, planted, start=5000)
        cat.remove(paths[target])
        moved = -data[7]  # photo 7 now points the other way
        write_photos(cat, tmp_path, moved[None], start=7)
        third = EmbeddingStore(cat, MODEL, backend=backend)
        rep = third.sync()
        assert (rep.added, rep.removed, rep.total, rep.rebuilt) == (2, 1, 3000, False)
        assert third.search(planted[0], 1)[0][0] == cat.get(new_paths[0])["id"]
        assert third.search(query, 1)[0][0] != target_id
        assert third.search(moved, 1)[0][0] == cat.get(paths[7])["id"]


def test_brute_force_matches_exact_ranking():
    rng = np.random.default_rng(0)
    data = unit(rng, 500)
    index = BruteForceIndex(32)
    index.add(np.arange(500), data)
    q = unit(rng, 1)[0]
    ids, scores = index.search(q, 10)
    assert ids.tolist() == np.argsort(-(data @ q), kind="stable")[:10].tolist()
    assert np.all(np.diff(scores) <= 0)


def test_filters_combine_metadata_objects_and_quality(tmp_path):
    rng = np.random.default_rng(1)

    def extra(i: int) -> dict:
        return {
            "metadata": ("1", {"make": "Canon" if i % 2 else "NIKON CORPORATION", "model": f"Model {i}",
                               "datetime_original": f"{2019 + i % 3}-05-01T10:00:00"}, None),
            "detr": ("1", {"labels": ["dog", "person"] if i % 4 == 0 else ["car"], "objects": []}, None),
            "content": ("1", {"quality": ["poor", "average", "good", "excellent"][i % 4],
                              "quality_score": 20.0 * (i % 5)}, None),
        }

    with Catalog(tmp_path / "cat.db") as cat:
        write_photos(cat, tmp_path, unit(rng, 24), extra=extra)
        ids = {cat.get(tmp_path / f"img{i:05d}.jpg")["id"]: i for i in range(24)}

        def pick(**kw) -> set[int]:
            return {ids[x] for x in filtered_ids(cat, Filters(**kw))}

        assert pick(camera="nikon") == {i for i in range(24) if i % 2 == 0}
        assert pick(year=2020) == {i for i in range(24) if i % 3 == 1}
        assert pick(has_object=("dog",)) == {i for i in range(24) if i % 4 == 0}
        assert pick(has_object=("dog", "car")) == set()
        assert pick(min_quality="good") == {i for i in range(24) if i % 4 >= 2}
        assert pick(min_quality="60") == {i for i in range(24) if i % 5 >= 3}
        assert pick(camera="canon", min_quality="excellent") == {i for i in range(24) if i % 4 == 3}
        store = EmbeddingStore(cat, MODEL)
        store.sync()
        allowed = filtered_ids(cat, Filters(has_object=("dog",)))
        hits = store.search(unit(rng, 1)[0], 50, allowed)
        assert {h[0] for h in hits} == allowed
