"""A custom scene classifier exported by ``imgengine train export``, run on photos.

The model file (ONNX, or TorchScript) travels with a model card JSON beside it (``<model>.json``): its labels
and preprocessing. :func:`preprocess` is the ONE implementation of that preprocessing: training validates
through it, the export parity check feeds it, and inference uses it, so the three cannot drift apart.

ONNX models run through onnxruntime (CUDA provider when present and asked for) with no torch import at all;
TorchScript models need torch.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import ModelUnavailableError

if TYPE_CHECKING:  # numpy and Pillow are imported when a model runs: building the plugin manager (every
    import numpy as np  # command that looks at plugins, metadata-only runs) never needs them
    from PIL import Image

CARD_SCHEMA = "imgengine.scene-model-card/1"


def card_path(model_path: Path) -> Path:
    return Path(model_path).with_name(Path(model_path).name + ".json")


@dataclass(frozen=True)
class ModelCard:
    labels: tuple[str, ...]
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    architecture: str
    format: str                          # "onnx" | "torchscript"
    input_name: str = "image"
    output_name: str = "logits"
    extra: dict[str, Any] = field(default_factory=dict)   # metrics, training data, parity, export time

    def to_dict(self) -> dict[str, Any]:
        return {"schema": CARD_SCHEMA, "architecture": self.architecture, "format": self.format,
                "labels": list(self.labels),
                "input": {"name": self.input_name, "layout": "NCHW", "dtype": "float32", "batch": "dynamic",
                          "image_size": self.image_size, "resize": "shortest edge to image_size (bilinear), "
                          "centre crop", "scale": "0-1", "mean": list(self.mean), "std": list(self.std)},
                "output": {"name": self.output_name, "kind": "logits", "softmax": "apply to get scores"},
                **self.extra}

    @classmethod
    def read(cls, model_path: Path) -> ModelCard:
        path = card_path(model_path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            inp = data["input"]
            return cls(labels=tuple(data["labels"]), image_size=int(inp["image_size"]),
                       mean=tuple(inp["mean"]), std=tuple(inp["std"]), architecture=data.get("architecture", "?"),
                       format=data.get("format", "onnx"), input_name=inp.get("name", "image"),
                       output_name=data.get("output", {}).get("name", "logits"),
                       extra={k: v for k, v in data.items() if k not in {"schema", "architecture", "format",
                                                                         "labels", "input", "output"}})
        except FileNotFoundError:
            raise ModelUnavailableError(f"scene model {model_path}: its model card {path.name} is missing "
                                        "(export with `imgengine train export`, which writes both)")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelUnavailableError(f"scene model card {path}: unreadable ({exc})")

    def write(self, model_path: Path) -> Path:
        path = card_path(model_path)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path


def preprocess(img: Image.Image, size: int, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """RGB image → float32 CHW: shortest edge resized to ``size`` (bilinear), centre crop, 0-1, normalised."""
    import numpy as np
    from PIL import Image

    if img.mode != "RGB":
        img = img.convert("RGB")
    w, h = img.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.Resampling.BILINEAR)
    left, top = (nw - size) // 2, (nh - size) // 2
    img = img.crop((left, top, left + size, top + size))
    arr = np.asarray(img, dtype=np.float32) / 255.0
    arr = (arr - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def softmax(logits: np.ndarray) -> np.ndarray:
    import numpy as np

    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class SceneModelRunner:
    """Loads an exported scene model and classifies batches of images."""

    def __init__(self, model_path: Path, device: str = "auto", threads: int | None = None):
        self.path = Path(model_path)
        if not self.path.is_file():
            raise ModelUnavailableError(f"scene model {self.path}: no such file")
        self.card = ModelCard.read(self.path)
        self.device = "cpu"
        self._session = None
        self._module = None
        self.threads = threads
        if self.card.format == "onnx" or self.path.suffix.lower() == ".onnx":
            self._load_onnx(device)
        else:
            self._load_torchscript(device)

    def _load_onnx(self, device: str) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ModelUnavailableError("the custom scene model needs onnxruntime: pip install 'imgengine[training]'")
        available = ort.get_available_providers()
        providers = ["CPUExecutionProvider"]
        if device in ("auto", "cuda") and "CUDAExecutionProvider" in available:
            providers.insert(0, "CUDAExecutionProvider")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if self.threads:
            opts.intra_op_num_threads = self.threads
        try:
            self._session = ort.InferenceSession(str(self.path), sess_options=opts, providers=providers)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own Fail/InvalidGraph types
            raise ModelUnavailableError(f"scene model {self.path}: onnxruntime cannot load it "
                                        f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")
        self.device = "cuda" if self._session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"
        self._input = self._session.get_inputs()[0].name

    def _load_torchscript(self, device: str) -> None:
        import torch

        self.device = "cuda" if device in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
        try:
            with warnings.catch_warnings():  # torch 2.9+ marks TorchScript deprecated; the format still loads
                warnings.simplefilter("ignore", FutureWarning)
                self._module = torch.jit.load(str(self.path), map_location=self.device).eval()
        except (RuntimeError, ValueError) as exc:
            raise ModelUnavailableError(f"scene model {self.path}: TorchScript cannot load it ({exc})")

    @property
    def labels(self) -> tuple[str, ...]:
        return self.card.labels

    def preprocess(self, img: Image.Image) -> np.ndarray:
        return preprocess(img, self.card.image_size, self.card.mean, self.card.std)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, S, S) float32 → (N, classes) float32 logits."""
        import numpy as np

        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self._session is not None:
            return self._session.run(None, {self._input: batch})[0]
        import torch

        with torch.inference_mode():
            return self._module(torch.from_numpy(batch).to(self.device)).float().cpu().numpy()

    def classify(self, batch: np.ndarray, top_k: int = 3) -> list[dict[str, Any]]:
        """Per image: the top labels with softmax scores, best first."""
        import numpy as np

        probs = softmax(self.logits(batch).astype(np.float64))
        out = []
        k = min(top_k, len(self.card.labels))
        for row in probs:
            order = np.argsort(-row)[:k]
            labels = [{"label": self.card.labels[i], "score": round(float(row[i]), 4)} for i in order]
            out.append({"label": labels[0]["label"], "score": labels[0]["score"], "labels": labels})
        return out
