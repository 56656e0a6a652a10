"""The linear probe: a linear classifier on the CLIP embeddings the vision stage stored in the catalog.

A tiny randomly initialised CLIP (the real architecture through the real loading code) embeds the generated
scenes; random features of four very different-looking classes are still linearly separable well above chance.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("onnxruntime")

from imgengine.analyzers.vision.scene_model import SceneModelRunner  # noqa: E402
from imgengine.engine.run import run_analysis  # noqa: E402
from imgengine.errors import UsageError  # noqa: E402
from imgengine.settings import Settings  # noqa: E402
from imgengine.testing.models import build_clip  # noqa: E402
from imgengine.testing.scene_dataset import make_scene_dataset  # noqa: E402
from imgengine.training.export import export_model  # noqa: E402
from imgengine.training.imagefolder import scan_image_folder  # noqa: E402
from imgengine.training.probe import load_embeddings  # noqa: E402
from imgengine.training.train import TrainConfig, train_scene_model  # noqa: E402


def test_linear_probe_trains_on_catalog_embeddings_and_exports(tmp_path):
    data = make_scene_dataset(tmp_path / "data", per_class=15, size=(96, 72), seed=0)
    catalog = tmp_path / "cat.db"
    cfg = TrainConfig(dataset=data, output_dir=tmp_path / "models", epochs=30, batch_size=16, linear_probe=True,
                      catalog=catalog, patience=100)
    with pytest.raises(UsageError, match="no catalog"):
        train_scene_model(cfg)
    settings = Settings(workers=1, log_dir=tmp_path / "logs", catalog=catalog, models_dir=tmp_path / "m",
                        clip_model=str(build_clip(tmp_path / "clip")), detr_model="missing/detr", device="cpu")
    run_analysis(data, settings)
    emb, model_id, _ = load_embeddings(scan_image_folder(data), catalog)
    assert emb.shape == (60, 16) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-3)
    result = train_scene_model(cfg)
    assert result.summary["kind"] == "linear_probe" and result.summary["embedding_dim"] == 16
    assert result.best_val_accuracy >= 0.6, result.best_val_accuracy  # chance is 0.25
    rep = export_model(result.best_checkpoint, "onnx", tmp_path / "probe.onnx")
    assert rep.max_abs_diff < 1e-4 and rep.parity_inputs.startswith("the dataset's CLIP embeddings")
    card = json.loads(rep.card.read_text())
    assert card["kind"] == "linear_probe" and card["requires"]["embedding_dim"] == 16
    runner = SceneModelRunner(rep.output)
    assert runner.classify(emb[:3])[0]["label"] in card["labels"]
