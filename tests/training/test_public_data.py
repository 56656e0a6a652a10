"""Public datasets: Places365 and COCO copies in their standard layouts are ingested class by class; offline,
each source stops with one message naming what to fetch and how to use it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from imgengine.cli.app import app
from imgengine.testing.scene_dataset import DRAW
from imgengine.training import public_data as pd


def _img(path: Path, kind: str, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    DRAW[kind](64, 48, np.random.default_rng(seed)).save(path, quality=85)


@pytest.fixture
def places_val(tmp_path: Path) -> Path:
    """The val_256 layout: categories file, file list, flat image folder."""
    root = tmp_path / "places"
    (root).mkdir()
    (root / "categories_places365.txt").write_text("/b/beach 0\n/f/forest/broadleaf 1\n/f/forest_path 2\n"
                                                   "/k/kitchen 3\n")
    lines = []
    for i, (cat, kind) in enumerate([(0, "beach")] * 3 + [(1, "forest")] * 2 + [(2, "forest")] * 2 +
                                    [(3, "document")] * 2):
        name = f"Places365_val_{i + 1:08d}.jpg"
        _img(root / "val_256" / name, kind, i)
        lines.append(f"{name} {cat}")
    (root / "places365_val.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def coco(tmp_path: Path) -> Path:
    root = tmp_path / "coco"
    images, anns = [], []
    # image 1: a dog; image 2: a small dog beside a big pizza (food wins); image 3: a cat; image 4: pizza
    plan = {1: [(18, 5000)], 2: [(18, 300), (59, 9000)], 3: [(17, 4000)], 4: [(59, 7000)]}
    for image_id, objs in plan.items():
        name = f"{image_id:012d}.jpg"
        _img(root / "val2017" / name, "forest", image_id)
        images.append({"id": image_id, "file_name": name, "coco_url": f"http://images.cocodataset.org/val2017/{name}"})
        for k, (cat, area) in enumerate(objs):
            anns.append({"id": image_id * 10 + k, "image_id": image_id, "category_id": cat, "area": area})
    cats = [{"id": 17, "name": "cat", "supercategory": "animal"}, {"id": 18, "name": "dog", "supercategory": "animal"},
            {"id": 59, "name": "pizza", "supercategory": "food"}]
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_val2017.json").write_text(
        json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return root


def test_places365_file_list_layout(places_val, tmp_path):
    cands = pd.places365_candidates(places_val, ["beach", "forest", "desert"], per_class=3)
    by = {}
    for c in cands:
        by.setdefault(c.wanted, []).append(c)
    assert len(by["beach"]) == 3 and len(by["forest"]) == 3 and "desert" not in by
    assert {c.category for c in by["forest"]} <= {"/f/forest/broadleaf", "/f/forest_path"}
    report = pd.ingest(cands, tmp_path / "out", "places365")
    assert report.per_class == {"beach": 3, "forest": 3}
    assert len(list((tmp_path / "out" / "beach").glob("places365_*.jpg"))) == 3
    again = pd.ingest(cands, tmp_path / "out", "places365")
    assert again.skipped_existing == 6 and not again.per_class  # identical files are not copied twice
    manifest = [json.loads(x) for x in (tmp_path / "out" / "sources.jsonl").read_text().splitlines()]
    assert len(manifest) == 6 and all(m["source"] == "places365" and Path(m["original"]).is_file() for m in manifest)


def test_places365_class_folder_layout(tmp_path):
    root = tmp_path / "p"
    (root).mkdir()
    (root / "categories_places365.txt").write_text("/b/beach 0\n/k/kitchen 1\n")
    for i in range(4):
        _img(root / "data_256" / "b" / "beach" / f"{i:08d}.jpg", "beach", i)
    cands = pd.places365_candidates(root, ["beach"], per_class=2, seed=1)
    assert len(cands) == 2 and all(c.path.parent.name == "beach" for c in cands)


def test_coco_dominant_object_decides(coco, tmp_path):
    cands = pd.coco_candidates(coco, ["dog", "food", "animal"], per_class=5)
    got = {(c.wanted, c.name) for c in cands}
    assert got == {("dog", "000000000001.jpg"), ("food", "000000000002.jpg"), ("food", "000000000004.jpg"),
                   ("animal", "000000000003.jpg")}
    assert all(c.path is not None and c.path.is_file() for c in cands)
    report = pd.ingest(cands, tmp_path / "out", "coco")
    assert report.per_class == {"dog": 1, "food": 2, "animal": 1}


def test_layout_missing_is_one_clear_error(tmp_path):
    with pytest.raises(pd.DatasetUnavailableError, match="categories_places365.txt"):
        pd.places365_candidates(tmp_path, ["beach"], 1)
    with pytest.raises(pd.DatasetUnavailableError, match="instances_"):
        pd.coco_candidates(tmp_path, ["dog"], 1)


def test_offline_download_names_the_source_and_the_way_round(monkeypatch, tmp_path):
    monkeypatch.setattr(pd, "PLACES365_URL", "http://127.0.0.1:9/places/")  # port 9: nothing listens
    monkeypatch.setattr(pd, "COCO_ANNOTATIONS_URL", "http://127.0.0.1:9/annotations.zip")
    with pytest.raises(pd.DatasetUnavailableError) as exc:
        pd.download_places365(tmp_path, timeout=3)
    text = str(exc.value)
    assert text.startswith("places365: cannot reach 127.0.0.1") and "--from DIR" in text and "\n" not in text
    r = CliRunner().invoke(app, ["train", "download", "--classes", "dog", "--sources", "coco", "--cache",
                                 str(tmp_path)])
    assert r.exit_code == 1 and "coco: cannot reach 127.0.0.1" in r.output and "Traceback" not in r.output
    assert "cocodataset.org" in r.output


def test_cli_download_from_local_copies_using_the_inventory_gaps(places_val, coco, tmp_path):
    inv = tmp_path / "inventory.json"
    inv.write_text(json.dumps({"gaps": [{"dimension": "scenes", "bucket": "beach"},
                                        {"dimension": "quality", "bucket": "poor"}]}))
    out = tmp_path / "public"
    runner = CliRunner()
    r = runner.invoke(app, ["train", "download", "--gaps", str(inv), "--classes", "dog", "--sources", "places365",
                            "--from", str(places_val), "--per-class", "2", "--output", str(out), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["classes"] == ["beach", "dog"] and doc["sources"][0]["per_class"] == {"beach": 2}
    r = runner.invoke(app, ["train", "download", "--classes", "dog", "--sources", "coco", "--from", str(coco),
                            "--output", str(out)])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (out / "dog").iterdir()) == ["coco_000000000001.jpg"]
    r = runner.invoke(app, ["train", "download", "--classes", "beach", "--from", str(places_val), "--output",
                            str(tmp_path / "both"), "--json"])  # both sources asked, only Places365 there
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["sources"][0]["per_class"] == {"beach": 3} and doc["unavailable"][0].startswith("coco:")
    r = runner.invoke(app, ["train", "download", "--gaps", str(inv), "--sources", "imagenet"])
    assert r.exit_code == 2 and "use places365 and/or coco" in r.output
    inv.write_text(json.dumps({"gaps": []}))
    r = runner.invoke(app, ["train", "download", "--gaps", str(inv), "--from", str(coco)])
    assert r.exit_code == 2 and "no classes to fetch" in r.output
