"""Search filters, OCR text, faces and albums on both catalog stores (SQLite and a real PostgreSQL): the
modules keep their own SQL, run on ``catalog.session`` with ``catalog.dialect``; the answers must agree."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from imgengine.catalog import open_catalog
from imgengine.engine.perfile import FileOutcome
from imgengine.plugins.builtin import faces_index as fi
from imgengine.plugins.builtin.ocr import sync_ocr_index
from imgengine.processors.albums import Albums
from imgengine.search.query import Filters, filter_only, filtered_ids


def _photo(path: Path, i: int, faces: list[list[float]] = (), text: str | None = None) -> FileOutcome:
    results = {
        "metadata": ("1", {"make": "Canon" if i % 2 else "NIKON CORPORATION", "model": f"Model {i}",
                           "datetime_original": f"{2019 + i % 3}-05-01T10:00:00"}, None),
        "detr": ("1", {"labels": ["dog", "person"] if i % 4 == 0 else ["car"], "objects": []}, None),
        "content": ("1", {"quality": ["poor", "average", "good", "excellent"][i % 4],
                          "quality_score": 20.0 * (i % 5)}, None),
        "places": ("1", {"city": "Lyon" if i % 3 == 0 else "Oslo", "country": "France" if i % 3 == 0 else "Norway",
                         "country_code": "FR" if i % 3 == 0 else "NO"}, None),
    }
    if faces:
        results["faces"] = ("1", {"count": len(faces), "model": "m", "faces": [
            {"box": [0, 0, 1, 1], "score": 0.9, "person": None, "confidence": None, "embedding": e} for e in faces]},
            None)
    if text is not None:
        results["ocr"] = ("1", {"ran": True, "text": text, "lines": []}, None)
    return FileOutcome(path, 100 + i, 1, "jpeg", False, f"{i:064x}", "ok", None, True, results)


def test_filters_on_both_stores(catalog_spec, tmp_path):
    with open_catalog(catalog_spec) as cat:
        cat.write_outcomes([_photo(tmp_path / f"img{i:02d}.jpg", i) for i in range(24)])
        ids = {cat.photo_id(tmp_path / f"img{i:02d}.jpg"): i for i in range(24)}

        def pick(**kw) -> set[int]:
            return {ids[x] for x in filtered_ids(cat, Filters(**kw))}

        assert pick(camera="nikon") == {i for i in range(24) if i % 2 == 0}
        assert pick(year=2020) == {i for i in range(24) if i % 3 == 1}
        assert pick(has_object=("dog",)) == {i for i in range(24) if i % 4 == 0}
        assert pick(has_object=("DOG", "person")) == {i for i in range(24) if i % 4 == 0}
        assert pick(has_object=("dog", "car")) == set()
        assert pick(min_quality="good") == {i for i in range(24) if i % 4 >= 2}
        assert pick(min_quality="60") == {i for i in range(24) if i % 5 >= 3}
        assert pick(camera="canon", min_quality="excellent") == {i for i in range(24) if i % 4 == 3}
        assert pick(place="lyon") == pick(place="FR") == {i for i in range(24) if i % 3 == 0}
        cat.mark_gone({os.fsencode(tmp_path / "img00.jpg")})
        assert 0 not in pick(camera="nikon")


def test_ocr_text_and_faces_on_both_stores(catalog_spec, tmp_path):
    rng = np.random.default_rng(0)
    alice, bob = (rng.normal(size=128) * 0.05).tolist(), (rng.normal(size=128) * 0.05 + 0.2).tolist()
    a, b, c = tmp_path / "a.jpg", tmp_path / "b.jpg", tmp_path / "c.jpg"
    with open_catalog(catalog_spec) as cat:
        cat.write_outcomes([_photo(a, 1, [alice], "hello world 2023-01"), _photo(b, 2, [alice, bob], "goodbye world"),
                            _photo(c, 3, [bob], "")])
        assert sync_ocr_index(cat) == 3 and sync_ocr_index(cat) == 0
        ids = {cat.photo_id(p): p for p in (a, b, c)}
        assert {ids[i] for i in filtered_ids(cat, Filters(text="world"))} == {a, b}
        assert {ids[i] for i in filtered_ids(cat, Filters(text="hello world"))} == {a}
        assert [h.path for h in filter_only(cat, Filters(text="goodbye"), 5)] == [b]

        rep = fi.sync_faces(cat)
        assert (rep.photos, rep.faces_added, rep.new_clusters) == (3, 4, 2)
        clusters = fi.list_clusters(cat)
        assert [cl.faces for cl in clusters] == [2, 2] and all(cl.person is None for cl in clusters)
        first = clusters[0].id
        fi.name_cluster(cat, first, "Alice")
        assert fi.list_clusters(cat)[0].person == "Alice"
        alice_photos = {ids[i] for i in fi.photos_of_person(cat, "alice")}   # names match in any case
        assert len(alice_photos) == 2 and b in alice_photos
        assert {ids[i] for i in filtered_ids(cat, Filters(person="ALICE"))} == alice_photos
        assert fi.people_of_photo(cat, cat.photo_id(b)) == ["Alice"]
        moved = fi.merge_clusters(cat, first, [clusters[1].id])
        assert moved == 2 and [cl.faces for cl in fi.list_clusters(cat)] == [4]
        new = fi.split_cluster(cat, first, [f["face"] for f in fi.cluster_faces(cat, first)][:1])
        assert len(new) == 1 and sorted(cl.faces for cl in fi.list_clusters(cat)) == [1, 3]
        fi.unname_cluster(cat, first)
        assert fi.photos_of_person(cat, "Alice") == set()
        assert set(fi.people_by_photo(cat)) == set()

        cat.remove(a)    # its faces and its text go with it
        assert fi.sync_faces(cat).photos == 0
        assert {ids[i] for i in filtered_ids(cat, Filters(text="world"))} == {b}
        assert sum(cl.faces for cl in fi.list_clusters(cat)) == 3


def test_albums_on_both_stores(catalog_spec, tmp_path):
    lib = tmp_path / "lib"
    paths = [lib / f"IMG_{i}.jpg" for i in range(6)]
    for p in paths:
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"photo")
    with open_catalog(catalog_spec) as cat:
        cat.write_outcomes([_photo(p, i) for i, p in enumerate(paths)])
        albums = Albums(cat)
        albums.add("Dogs", "object = dog", link="symlink", folder=lib / "Albums" / "Dogs")
        albums.add("canon", "camera ~ canon", link="none")
        assert [a.name for a in albums.list()] == ["canon", "Dogs"]            # case-insensitive order
        results = {r.album: r for r in albums.refresh()}
        assert (results["Dogs"].members, results["Dogs"].links_made) == (2, 2)
        assert results["canon"].members == 3
        assert sorted(p.name for p in (lib / "Albums" / "Dogs").iterdir() if p.is_symlink()) == ["IMG_0.jpg",
                                                                                               "IMG_4.jpg"]
        assert albums.get("dogs").count == 2 and albums.member_paths(albums.get("DOGS")) == [paths[0], paths[4]]
        cat.remove(paths[4])
        again = albums.refresh("Dogs")[0]
        assert (again.removed, again.links_removed) == (1, 1)
        assert not (lib / "Albums" / "Dogs" / "IMG_4.jpg").exists() and paths[4].is_file()
        albums.remove("Dogs")
        assert [a.name for a in albums.list()] == ["canon"] and paths[0].is_file()
