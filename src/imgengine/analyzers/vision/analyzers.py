"""CLIP and DETR as batch analyzers: registered by the built-in ``vision`` plugin like any other plugin.

``setup`` (parent process, before planning) finds the weights and sets the result version (code version +
model + config fingerprint + label set / threshold), so a photo is re-run only when the file, the model or
the labels change; ``load`` builds the runner on the device and declares the input spec the shared loader
prepares; ``run`` takes one batch of uint8 pixels. Importing this module does not import torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...errors import ModelUnavailableError
from ...settings import Settings
from ..base import Batch, BatchAnalyzer, InputSpec
from .models import check_model_folder, how_to_get, locate_model


class WeightsNotFound(ModelUnavailableError):
    """Weights of a model are in neither the models folder nor the Hugging Face cache. Several of these
    in one run are reported as one message (:meth:`combine`)."""

    def __init__(self, name: str, settings: Settings):
        super().__init__(how_to_get([name], settings))
        self.name = name
        self.settings = settings

    @classmethod
    def combine(cls, problems: Iterable[WeightsNotFound]) -> str:
        problems = list(problems)
        return how_to_get([p.name for p in problems], problems[0].settings)


class _VisionModel(BatchAnalyzer):
    kind_name = ""

    def setup(self, settings: Settings) -> None:
        loc = locate_model(self.kind_name, settings)
        if loc.path is None:
            raise WeightsNotFound(loc.name, settings)
        check_model_folder(self.kind_name, loc.path)
        self.settings = settings
        self.location = loc
        self.model_info = {"name": loc.name, "source": loc.source}

    def _load_pretrained(self) -> tuple[Any, Any]:
        from .models import load_pretrained, require_libraries

        require_libraries()
        return load_pretrained(self.kind_name, self.location.path)


class ClipAnalyzer(_VisionModel):
    name = "clip"
    kind_name = "clip"
    description = "CLIP: top scenes over a label set, indoor/outdoor, and the image embedding (for search)"
    csv_fields = {"scene": "scenes.0.label", "scene_score": "scenes.0.score", "setting": "setting"}
    batch_size = {"cuda": 512, "cpu": 16}

    def setup(self, settings: Settings) -> None:
        from .engine import model_version
        from .labels import load_labels

        super().setup(settings)
        self.labels = load_labels(settings.models_dir)
        self.version = model_version("clip", self.location.name, self.location.path, self.labels.fingerprint)

    def load(self, device: str) -> None:
        from .engine import ClipRunner, model_version

        model, processor = self._load_pretrained()
        self.runner = ClipRunner(model, processor, self.labels, device)
        self.runner.model_id = model_version("clip", self.location.name, self.location.path)
        self.input_spec = InputSpec(size=self.runner.crop, crop=True, resize=self.runner.resize)

    def run(self, batch: Batch) -> list[dict[str, Any]]:
        return self.runner.describe(self.runner.image_embeddings(batch.pixels))


class DetrAnalyzer(_VisionModel):
    name = "detr"
    kind_name = "detr"
    description = "DETR: COCO objects with boxes in upright pixel coordinates"
    csv_fields = {"objects": "labels"}
    batch_size = {"cuda": 64, "cpu": 4}

    def setup(self, settings: Settings) -> None:
        from .engine import model_version

        super().setup(settings)
        self.threshold = settings.detr_threshold
        self.version = model_version("detr", self.location.name, self.location.path,
                                     f"threshold={settings.detr_threshold}")

    def load(self, device: str) -> None:
        from .engine import DETR_SIZE, DetrRunner, model_version

        model, processor = self._load_pretrained()
        self.runner = DetrRunner(model, processor, device, self.threshold)
        self.runner.model_id = model_version("detr", self.location.name, self.location.path)
        size = min(DETR_SIZE["cuda" if device.startswith("cuda") else "cpu"], self.runner.max_size)
        self.input_spec = InputSpec(size=size, crop=False, resample="bilinear")

    def run(self, batch: Batch) -> list[dict[str, Any]]:
        return self.runner.detect(batch.pixels, batch.mask, batch.upright_sizes)
