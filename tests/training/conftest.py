"""Training tests run torch on one intra-op thread: the suite runs two pytest workers on two cores, and
OpenMP threads spinning against each other cost ten times the CPU of the work itself on a busy machine."""

from __future__ import annotations

import pytest

ARCH, SIZE = "test_convnext", 48  # timm's tiny ConvNeXt (real architecture, random init) at 48 px


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Recorder:
    """Callbacks that keep what they hear."""

    def __init__(self):
        self.warnings, self.epochs, self.info = [], [], {}

    def on_start(self, info):
        self.info = info

    def on_warning(self, message):
        self.warnings.append(message)

    def on_batch(self, epoch, done, total, loss):
        pass

    def on_epoch(self, metrics):
        self.epochs.append(metrics)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, _one_torch_thread):
    """A model trained once per test session on the generated 4-class scenes, exported to both formats."""
    from imgengine.testing.scene_dataset import make_scene_dataset
    from imgengine.training.export import export_model
    from imgengine.training.train import TrainConfig, train_scene_model

    root = tmp_path_factory.mktemp("train")
    dataset = make_scene_dataset(root / "dataset", per_class=16, size=(80, 60), seed=0)
    cfg = TrainConfig(dataset=dataset, output_dir=root / "models", epochs=5, batch_size=16, model=ARCH,
                      image_size=SIZE, workers=0, patience=50, models_dir=root / "no_weights", seed=0)
    rec = Recorder()
    result = train_scene_model(cfg, rec)
    onnx = export_model(result.best_checkpoint, "onnx", root / "export" / "custom_scene.onnx")
    ts = export_model(result.best_checkpoint, "torchscript", root / "export" / "custom_scene.pt")
    return {"root": root, "dataset": dataset, "cfg": cfg, "result": result, "rec": rec, "onnx": onnx, "ts": ts}
