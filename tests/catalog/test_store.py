"""One catalog test suite, run against both stores (SQLite and a real PostgreSQL)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imgengine.catalog import CatalogStore, is_catalog_url, open_catalog
from imgengine.core.catalog import SCHEMA_VERSION
from imgengine.engine.perfile import FileOutcome
from imgengine.errors import CatalogError


def outcome(path: Path | bytes, seed: int = 0, **kw) -> FileOutcome:
    results = kw.pop("results", {
        "metadata": ("1", {"make": "Canon", "model": f"EOS {seed}", "iso": 100 * (seed + 1)}, None),
        "content": ("2", {"quality": "good" if seed % 2 else "poor", "quality_score": seed / 10,
                          "text": "café ✓"}, None),
    })
    kw.setdefault("sha256", f"{seed:064x}")
    return FileOutcome(path=Path(os.fsdecode(path)), size=1000 + seed, mtime_ns=10**18 + seed, format="jpeg",
                       results=results, **kw)


@pytest.fixture
def store(catalog_spec):
    with open_catalog(catalog_spec) as cat:
        yield cat


def test_open_picks_the_store_and_migrates(store, catalog_spec):
    assert isinstance(store, CatalogStore)
    assert store.schema_version == SCHEMA_VERSION
    assert type(store).__name__ == ("PostgresCatalog" if is_catalog_url(catalog_spec) else "Catalog")
    assert store.count() == 0


def test_write_read_round_trip_and_reopen(store, catalog_spec, tmp_path):
    a, b = tmp_path / "p" / "a.jpg", tmp_path / "p" / "sub" / "b.jpg"
    store.write_outcomes([outcome(a, 0), outcome(b, 1)])
    rec = store.get(a)
    assert rec["path"] == a and rec["size"] == 1000 and rec["sha256"] == f"{0:064x}"
    assert rec["results"]["metadata"] == {"make": "Canon", "model": "EOS 0", "iso": 100, "_version": "1"}
    assert rec["results"]["content"]["text"] == "café ✓"
    assert store.get_by_id(rec["id"])["path"] == a
    assert store.photo_id(b) == store.get(b)["id"]
    assert store.photo_path(store.photo_id(b)) == (os.fsencode(b), str(b))
    assert [r["path"] for r in store.iter_records()] == [a, b]
    assert list(store.stream_records()) == list(store.iter_records())
    assert [r["path"] for r in store.stream_records(tmp_path / "p" / "sub")] == [b]
    store.close()
    with open_catalog(catalog_spec) as again:   # migrations run once; data stays
        assert again.schema_version == SCHEMA_VERSION
        assert again.count() == 2


def test_non_utf8_path_bytes_round_trip(store, tmp_path):
    raw = os.fsencode(tmp_path) + b"/caf\xe9-\xff.jpg"   # Latin-1 name, not valid UTF-8
    store.write_outcomes([outcome(raw, 3)])
    rec = store.get(os.fsdecode(raw))
    assert os.fsencode(rec["path"]) == raw
    assert "\ufffd" in rec["display_path"] or "\\x" in rec["display_path"] or "?" in rec["display_path"]
    assert list(store.known_files(tmp_path)) == [raw]


def test_known_files_and_listings_respect_the_root_boundary(store, tmp_path):
    inside, sibling = tmp_path / "a" / "x.jpg", tmp_path / "ab" / "y.jpg"   # "ab" shares the prefix "a"
    store.write_outcomes([outcome(inside, 0), outcome(sibling, 1)])
    known = store.known_files(tmp_path / "a")
    assert list(known) == [os.fsencode(inside)]
    k = known[os.fsencode(inside)]
    assert (k.size, k.status, k.versions) == (1000, "ok", {"metadata": "1", "content": "2"})
    assert len(store.known_files()) == 2
    assert [r["path"] for r in store.iter_records(tmp_path / "a")] == [inside]
    assert [p["path"] for p, _ in store.results_of("metadata", tmp_path / "ab")] == [sibling]
    assert [r["path"] for r in store.photos_under(tmp_path / "a")] == [os.fsencode(inside)]
    assert [r["path"] for r in store.photos_under(inside)] == [os.fsencode(inside)] or not inside.exists()


def test_results_queries(store, tmp_path):
    paths = [tmp_path / f"{i}.jpg" for i in range(5)]
    store.write_outcomes([outcome(p, i) for i, p in enumerate(paths)])
    assert store.result_value_counts("content", "quality") == {"good": 2, "poor": 3}
    assert store.result_value_counts("metadata", "make", tmp_path) == {"Canon": 5}
    ids = [store.photo_id(p) for p in paths[:2]]
    got = store.results_for(ids, ["metadata"])
    assert got == {ids[0]: {"metadata": {"make": "Canon", "model": "EOS 0", "iso": 100}},
                   ids[1]: {"metadata": {"make": "Canon", "model": "EOS 1", "iso": 200}}}
    assert store.results_for([], ["metadata"]) == {}
    assert [r["path"] for r in store.find_by_sha256(f"{3:064x}")] == [paths[3]]


def test_rewrite_replaces_or_keeps_results(store, tmp_path):
    p = tmp_path / "a.jpg"
    store.write_outcomes([outcome(p, 0)])
    first_id = store.photo_id(p)
    store.write_outcomes([outcome(p, 1, replace_results=False, sha256=None,
                                  results={"hashes": ("1", {"phash": "ff"}, None)})])
    rec = store.get(p)
    assert rec["id"] == first_id and store.count() == 1
    assert set(rec["results"]) == {"metadata", "content", "hashes"}
    assert rec["sha256"] == f"{0:064x}"          # a missing sha256 keeps the stored one
    store.write_outcomes([outcome(p, 2, status="error", error="broken",
                                  results={"metadata": ("1", None, "bad exif")})])
    rec = store.get(p)
    assert rec["status"] == "error" and rec["error"] == "broken"
    assert rec["results"] == {"metadata": {"_version": "1", "_error": "bad exif"}}


def test_move_remove_and_runs(store, tmp_path):
    a, b, c = tmp_path / "a.jpg", tmp_path / "b.jpg", tmp_path / "c.jpg"
    store.write_outcomes([outcome(a, 0), outcome(c, 1)])
    assert store.move_path(a, b, mtime_ns=5)
    assert store.get(a) is None and store.get(b)["mtime_ns"] == 5
    assert not store.move_path(a, b)
    with pytest.raises(CatalogError, match="already has an entry"):
        store.move_path(b, c)
    assert store.get(b) is not None                # the failed move changed nothing
    assert store.remove(b) and not store.remove(b)
    assert store.count() == 1
    store.record_run("r1", "analyze", str(tmp_path), 1.0, 2.0, {"ok": 1})
    store.record_run("r1", "analyze", str(tmp_path), 1.0, 3.0, {"ok": 2})   # same run id: replaced
    runs = list(store.export_rows("runs"))
    assert len(runs) == 1 and runs[0]["finished_at"] == 3.0


def test_bad_postgres_url_is_one_clear_error():
    with pytest.raises(CatalogError, match="cannot connect"):
        open_catalog("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_both_stores_hold_identical_records(tmp_path, postgres_url):
    """The same outcomes written to both stores read back identically (ids and times aside)."""
    outs = [outcome(tmp_path / "p" / f"{i}.jpg", i) for i in range(6)]
    outs.append(outcome(tmp_path / "p" / "bad.jpg", 9, status="error", error="truncated",
                        results={"metadata": ("1", None, "truncated")}))

    def records(spec):
        with open_catalog(spec) as cat:
            cat.write_outcomes(outs)
            return [{k: v for k, v in r.items() if k not in ("id", "analyzed_at")} for r in cat.iter_records()]

    assert records(str(tmp_path / "c.db")) == records(postgres_url)


def test_missing_photos_are_left_out_of_every_read_but_known_files(store, tmp_path):
    """The missing-photo contract, the same on both stores: a photo whose file is gone stays in the catalog,
    marked, and is left out of records, listings, counts and results; the planner (``known_files``) still
    sees it, so a file that comes back is recognised; writing or moving it makes it present again."""
    folder = tmp_path / "p"
    folder.mkdir()
    here, gone, other = folder / "here.jpg", folder / "gone.jpg", folder / "other.jpg"
    here.write_bytes(b"x")
    store.write_outcomes([outcome(here, 0), outcome(gone, 1), outcome(other, 2)])
    assert store.mark_missing(folder, {os.fsencode(here)}, now=100.0) == (2, 0)   # gone.jpg, other.jpg
    assert {r["path"] for r in store.missing(folder)} == {gone, other}
    assert store.get(gone)["missing_since"] == 100.0          # get by path still answers (journal, undo)
    assert [r["path"] for r in store.iter_records()] == [here]
    assert [r["path"] for r in store.iter_records(folder)] == [here]
    assert [r["path"] for r in store.iter_records(paths=[here, gone])] == [here]
    assert [r["path"] for r in store.iter_records(include_missing=True)] == [gone, here, other]
    assert [r["path"] for r in store.stream_records(folder)] == [here]
    assert [r["path"] for r in store.stream_records(include_missing=True)] == [gone, here, other]
    assert [p["path"] for p, _ in store.results_of("metadata")] == [here]
    assert [r["path"] for r in store.photos_under(folder)] == [os.fsencode(here)]
    assert store.result_value_counts("metadata", "make") == {"Canon": 1}
    assert (store.count(), store.count(include_missing=True)) == (1, 3)
    assert set(store.known_files(folder)) == {os.fsencode(p) for p in (here, gone, other)}

    store.write_outcomes([outcome(gone, 1)])                  # analysed again: present
    assert store.get(gone)["missing_since"] is None
    assert store.move_path(other, folder / "moved.jpg")       # moved by the journal: present at its new path
    assert store.get(folder / "moved.jpg")["missing_since"] is None
    assert store.count() == 3 and store.missing() == []
    assert store.mark_gone({os.fsencode(here)}, now=200.0) == 1
    assert store.purge_missing(older_than=50, now=300.0) == 0   # here.jpg exists: unmarked, not purged
    assert store.count() == 3 and store.missing() == []
