"""The custom scene classifier (``imgengine train export``) as a batch analyzer: ``scene_custom``.

Off until a model is named: ``imgengine analyze DIR --scene-model models/custom_scene.onnx`` or, in the config,
``plugins: {scene_custom: {enabled: true, model: models/custom_scene.onnx}}``. The shared loader prepares the
crop the model card asks for (shortest edge to the model's size, bilinear, centre crop: the same steps as
``scene_model.preprocess``); normalisation happens here, then onnxruntime (CUDA provider when present) or
TorchScript. The stored version carries a digest of the model file, so a new model re-runs every photo once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...core.filehash import sha256_of
from ...errors import ModelUnavailableError
from ...settings import Settings
from ..base import Batch, BatchAnalyzer, InputSpec
from .scene_model import ModelCard, SceneModelRunner

if TYPE_CHECKING:
    import numpy as np


class SceneCustomAnalyzer(BatchAnalyzer):
    name = "scene_custom"
    version = "1"
    description = "custom scene classifier from `imgengine train export` (ONNX via onnxruntime, or TorchScript)"
    config_defaults = {"enabled": False, "model": "", "top_k": 3}  # on with --scene-model (or enabled: true)
    csv_fields = {"custom_scene": "label", "custom_scene_score": "score"}
    batch_size = {"cuda": 256, "cpu": 32}

    def setup(self, settings: Settings) -> None:
        model = str(self.config.get("model") or "").strip()
        if not model:
            raise ModelUnavailableError("scene_custom: no model file named (use --scene-model FILE, or "
                                        "plugins: {scene_custom: {model: FILE}} in the config)")
        path = Path(model).expanduser()
        if not path.is_file() and not path.is_absolute() and (Path(settings.models_dir) / path).is_file():
            path = Path(settings.models_dir) / path
        if not path.is_file():
            raise ModelUnavailableError(f"scene_custom: {path}: no such model file (export one with "
                                        "`imgengine train export`)")
        card = ModelCard.read(path)
        if card.extra.get("kind") == "linear_probe":
            raise ModelUnavailableError(f"scene_custom: {path.name} is a linear probe over CLIP embeddings; "
                                        "analyze runs image models (train without --linear-probe)")
        self.path, self.card = path, card
        self.version = f"{type(self).version}.{sha256_of(path)[:12]}"
        self.model_info = {"name": path.name, "source": str(path.resolve())}

    def load(self, device: str) -> None:
        import numpy as np

        self.runner = SceneModelRunner(self.path, device=device)
        c = self.runner.card
        self.input_spec = InputSpec(size=c.image_size, crop=True, resize=c.image_size, resample="bilinear",
                                    mean=c.mean, std=c.std)
        self._mean = np.asarray(c.mean, np.float32).reshape(1, 3, 1, 1)
        self._std = np.asarray(c.std, np.float32).reshape(1, 3, 1, 1)

    def normalise(self, pixels: Any) -> np.ndarray:
        """uint8 (B, 3, S, S) from the loader → the model's float32 input."""
        import numpy as np

        arr = pixels.cpu().numpy() if hasattr(pixels, "cpu") else np.asarray(pixels)
        return (arr.astype(np.float32) / 255.0 - self._mean) / self._std

    def run(self, batch: Batch) -> list[dict[str, Any]]:
        out = self.runner.classify(self.normalise(batch.pixels), top_k=int(self.config.get("top_k") or 3))
        for item in out:
            item["model"] = self.path.name
        return out
