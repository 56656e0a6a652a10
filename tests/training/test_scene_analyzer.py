"""`imgengine analyze --scene-model`: the exported model runs as the scene_custom batch analyzer through the
engine's shared loader and onnxruntime; its predictions land in the catalog (and the CSV), incrementally."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")
pytest.importorskip("onnxruntime")

from PIL import Image  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from imgengine.analyzers.vision.scene_model import SceneModelRunner  # noqa: E402
from imgengine.cli.app import app  # noqa: E402
from imgengine.core.catalog import Catalog  # noqa: E402
from imgengine.testing.scene_dataset import CLASSES, make_scene_dataset  # noqa: E402


def _analyze(photos: Path, tmp_path: Path, *extra):
    return CliRunner().invoke(app, ["analyze", str(photos), "--catalog", str(tmp_path / "cat.db"), "--device", "cpu",
                                    "--workers", "1", "--log-dir", str(tmp_path / "logs"), *map(str, extra)],
                              env={"IMGENGINE_MODELS_DIR": str(tmp_path / "no_models")})


def _predictions(tmp_path: Path) -> dict[Path, dict]:
    with Catalog(tmp_path / "cat.db") as cat:
        return {Path(p["path"]): d for p, d in cat.results_of("scene_custom")}


def test_analyze_with_the_exported_model_stores_its_predictions(trained, tmp_path):
    photos = make_scene_dataset(tmp_path / "photos", per_class=4, size=(80, 60), seed=321)
    model = trained["onnx"].output
    r = _analyze(photos, tmp_path, "--scene-model", model, "-o", tmp_path / "out.csv")
    assert r.exit_code == 0, r.output
    preds = _predictions(tmp_path)
    assert len(preds) == 16
    hits = sum(d["label"] == p.parent.name for p, d in preds.items())
    assert hits / 16 >= 0.75, hits
    runner = SceneModelRunner(model)
    for path, d in preds.items():
        assert d["model"] == model.name and len(d["labels"]) == 3 and d["labels"][0]["label"] == d["label"]
        assert {x["label"] for x in d["labels"]} <= set(CLASSES) and 0 < d["score"] <= 1
        # the engine's loader prepares what the runner's own preprocessing does: same top label
        direct = runner.classify(runner.preprocess(Image.open(path))[None])[0]
        assert direct["label"] == d["label"] and abs(direct["score"] - d["score"]) < 0.05
    rows = list(csv.DictReader(open(tmp_path / "out.csv", encoding="utf-8")))
    assert {row["custom_scene"] for row in rows} <= set(CLASSES) and all(row["custom_scene"] for row in rows)

    # a second run: nothing to do; another model file: every photo once more
    with Catalog(tmp_path / "cat.db") as cat:
        stamp = cat.db.execute("SELECT max(updated_at) FROM results WHERE analyzer = 'scene_custom'").fetchone()[0]
    assert _analyze(photos, tmp_path, "--scene-model", model).exit_code == 0
    with Catalog(tmp_path / "cat.db") as cat:
        again = cat.db.execute("SELECT max(updated_at) FROM results WHERE analyzer = 'scene_custom'").fetchone()[0]
    assert again == stamp
    r = _analyze(photos, tmp_path, "--scene-model", trained["ts"].output)  # the TorchScript export
    assert r.exit_code == 0, r.output
    redone = _predictions(tmp_path)
    assert all(d["model"] == trained["ts"].output.name for d in redone.values())
    assert [d["label"] for d in redone.values()] == [d["label"] for d in preds.values()]


def test_without_a_model_the_analyzer_stays_silent_and_a_bad_model_is_one_line(trained, tmp_path):
    photos = make_scene_dataset(tmp_path / "photos", per_class=1, size=(64, 48), classes=("beach", "night"))
    r = _analyze(photos, tmp_path)
    assert r.exit_code == 0, r.output
    assert "scene_custom" not in r.output and not _predictions(tmp_path)
    r = _analyze(photos, tmp_path, "--scene-model", tmp_path / "missing.onnx")
    assert r.exit_code == 2 and "no such file" in r.output
    lone = tmp_path / "lone.onnx"
    lone.write_bytes(np.zeros(10, np.uint8).tobytes())
    r = _analyze(photos, tmp_path, "--scene-model", lone)
    assert r.exit_code == 0 and "model card" in r.output and "Traceback" not in r.output
