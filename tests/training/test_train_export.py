"""Train a tiny timm model (the real ``test_convnext`` architecture, random init) on a generated 4-class scene
dataset, export it to ONNX and TorchScript, and check what must hold: held-out accuracy far above chance,
metrics per epoch, resume, parity of the exported models, and the refusal of an export that disagrees."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")
pytest.importorskip("onnxruntime")

from PIL import Image  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from imgengine.analyzers.vision.scene_model import ModelCard, SceneModelRunner  # noqa: E402
from imgengine.cli.app import app  # noqa: E402
from imgengine.errors import ModelUnavailableError, UsageError  # noqa: E402
from imgengine.testing.scene_dataset import CLASSES, make_scene_dataset  # noqa: E402
from imgengine.training.export import ExportError, export_model  # noqa: E402
from imgengine.training.imagefolder import scan_image_folder, stratified_split  # noqa: E402
from imgengine.training.train import (  # noqa: E402
    TrainConfig,
    classification_metrics,
    load_checkpoint,
    train_scene_model,
)

from .conftest import ARCH, SIZE, Recorder  # noqa: E402


def held_out_accuracy(model_path: Path, root: Path) -> float:
    """Accuracy on freshly drawn images (another seed) that training never saw."""
    fresh = make_scene_dataset(root / "fresh", per_class=8, size=(80, 60), seed=123)
    runner = SceneModelRunner(model_path, device="cpu")
    hits = total = 0
    for label in CLASSES:
        paths = sorted((fresh / label).glob("*.jpg"))
        batch = np.stack([runner.preprocess(Image.open(p)) for p in paths])
        preds = runner.classify(batch)
        hits += sum(p["label"] == label for p in preds)
        total += len(paths)
    return hits / total


def test_held_out_accuracy_is_far_above_chance(trained):
    result = trained["result"]
    assert result.best_val_accuracy >= 0.8, result.best_val_accuracy  # chance is 0.25
    acc = held_out_accuracy(trained["onnx"].output, trained["root"])
    print(f"\nheld-out accuracy on fresh images: {acc:.3f} (validation split {result.best_val_accuracy:.3f})")
    assert acc >= 0.75, acc


def test_scratch_training_warns_and_says_so(trained):
    rec = trained["rec"]
    assert any("training from scratch" in w for w in rec.warnings)
    assert rec.info["pretrained"] is False and rec.info["device"] == "cpu" and rec.info["amp"] is None


def test_metrics_log_has_every_epoch_with_f1_and_confusion_matrix(trained):
    result = trained["result"]
    lines = [json.loads(x) for x in result.metrics_log.read_text().splitlines()]
    assert [m["epoch"] for m in lines] == list(range(1, 6))
    folder = scan_image_folder(trained["dataset"])
    _, val = stratified_split(folder, 0.2, 0)
    for m in lines:
        cm = np.array(m["confusion_matrix"])
        assert cm.shape == (4, 4) and cm.sum() == len(val)
        assert set(m["per_class"]) == set(CLASSES)
        assert all(0 <= c["f1"] <= 1 for c in m["per_class"].values())
        assert m["val_accuracy"] == pytest.approx(np.trace(cm) / cm.sum(), abs=1e-4)
    best = max(lines, key=lambda m: (m["val_accuracy"], -m["val_loss"]))
    assert load_checkpoint(result.best_checkpoint)["epoch"] == best["epoch"] == result.best_epoch


def test_classification_metrics_by_hand():
    m = classification_metrics(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), ("a", "b", "c"))
    assert m["accuracy"] == 0.6
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert m["per_class"]["b"] == {"precision": pytest.approx(2 / 3, abs=1e-4), "recall": 1.0,
                                   "f1": pytest.approx(0.8, abs=1e-4), "support": 2}
    assert m["per_class"]["c"]["f1"] == 0.0


def test_exports_match_pytorch_at_any_batch_size(trained):
    for rep, fmt in ((trained["onnx"], "onnx"), (trained["ts"], "torchscript")):
        assert rep.output.is_file() and rep.card.is_file()
        assert rep.max_abs_diff < 1e-4 and rep.top1_agreement == 1.0
        assert rep.parity_inputs == "the checkpoint's validation images"
        assert rep.batch_sizes[0] == 1 and len(rep.batch_sizes) == 3
        card = json.loads(rep.card.read_text())
        assert card["format"] == fmt and card["labels"] == list(CLASSES)
        assert card["input"]["image_size"] == SIZE and card["input"]["batch"] == "dynamic"
        assert card["parity"]["max_abs_diff"] == rep.max_abs_diff
        assert card["metrics"]["val_accuracy"] == trained["result"].best_val_accuracy
    onnx = SceneModelRunner(trained["onnx"].output)
    ts = SceneModelRunner(trained["ts"].output)
    x = np.stack([onnx.preprocess(Image.open(p)) for p in sorted(trained["dataset"].rglob("*.jpg"))[:7]])
    np.testing.assert_allclose(onnx.logits(x), ts.logits(x), atol=1e-4)
    import onnx as onnx_lib

    graph = onnx_lib.load(str(trained["onnx"].output)).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param  # a symbolic (dynamic) batch axis


def test_export_that_disagrees_is_refused_and_nothing_is_written(trained, tmp_path):
    target = tmp_path / "bad.pt"
    with pytest.raises(ExportError, match="parity check failed"):
        export_model(trained["result"].best_checkpoint, "torchscript", target, tolerance=-1.0)
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_resume_continues_from_the_last_epoch(trained, tmp_path):
    import shutil

    out = tmp_path / "models"
    shutil.copytree(trained["result"].best_checkpoint.parent, out)
    cfg = TrainConfig(**{**trained["cfg"].__dict__, "output_dir": out, "epochs": 6, "resume": True})
    rec = Recorder()
    result = train_scene_model(cfg, rec)
    assert [m["epoch"] for m in rec.epochs] == [6] and result.epochs_run == 1
    assert len(result.metrics_log.read_text().splitlines()) == 6
    with pytest.raises(UsageError, match="already ran 6 epochs"):
        train_scene_model(cfg)
    with pytest.raises(UsageError, match="--resume"):
        train_scene_model(TrainConfig(**{**cfg.__dict__, "resume": False}))


def test_cli_scene_and_export(trained, tmp_path):
    runner = CliRunner()
    out = tmp_path / "m"
    r = runner.invoke(app, ["train", "scene", "--dataset", str(trained["dataset"]), "--epochs", "1", "--batch-size",
                            "16", "--model", ARCH, "--image-size", str(SIZE), "--workers", "0", "--output-dir",
                            str(out), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["epochs_run"] == 1 and summary["classes"] == list(CLASSES)
    r = runner.invoke(app, ["train", "export", "--checkpoint", str(out / "scene_best.pt"), "--format",
                            "torchscript", "--output", str(tmp_path / "x.pt"), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["max_abs_diff"] < 1e-4
    r = runner.invoke(app, ["train", "export", "--checkpoint", str(out / "scene_best.pt"), "--format",
                            "torchscript", "--output", str(tmp_path / "x.pt")])
    assert r.exit_code == 2 and "already exists" in r.output
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    r = runner.invoke(app, ["train", "export", "--checkpoint", str(tmp_path / "junk.pt")])
    assert r.exit_code == 1 and "unreadable" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["train", "scene", "--dataset", str(tmp_path / "nowhere")])
    assert r.exit_code == 2 and "no such folder" in r.output


def test_local_pretrained_weights_are_used(trained, tmp_path):
    import timm
    from safetensors.torch import save_file

    donor = timm.create_model(ARCH, pretrained=False)  # the 1000-class head a downloaded checkpoint has
    weights_dir = tmp_path / "models_dir" / "timm"
    weights_dir.mkdir(parents=True)
    save_file(donor.state_dict(), weights_dir / f"{ARCH}.safetensors")
    cfg = TrainConfig(**{**trained["cfg"].__dict__, "output_dir": tmp_path / "out", "epochs": 1,
                         "models_dir": tmp_path / "models_dir"})
    rec = Recorder()
    train_scene_model(cfg, rec)
    assert rec.info["pretrained"] is True and rec.warnings == []
    assert rec.info["weights"].endswith(f"{ARCH}.safetensors")


def test_runner_needs_its_model_card(trained, tmp_path):
    lone = tmp_path / "lone.onnx"
    lone.write_bytes(trained["onnx"].output.read_bytes())
    with pytest.raises(ModelUnavailableError, match="model card"):
        SceneModelRunner(lone)
    card = ModelCard.read(trained["onnx"].output)
    assert card.labels == CLASSES
