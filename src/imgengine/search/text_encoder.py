"""Text queries embedded with an ONNX export of CLIP's text tower (onnxruntime + tokenizers), no torch.

``imgengine search "text"`` spent ~64 % of its 3.5 s importing torch and transformers for a 40 ms text
embedding. The text tower is exported once (``imgengine models export-text``, also run after ``models
download``) into ``<models dir>/onnx/<model>/``: ``text.onnx``, the model's ``tokenizer.json`` and
``export.json`` (which model it came from, and the parity measured against torch at export time). The
weights are kept beside the graph (``text.<id>.data``, ONNX external data), which onnxruntime maps instead of
copying, and sessions skip weight pre-packing: loading the ViT-B/32 tower costs ~0.1 s of CPU instead of
~0.4 s, which is most of a search on a large catalog (target <= 0.5 s; benchmarks/bench_search_cli.py). At
query time :func:`text_encoder` uses it when it matches the configured model, and falls back to the torch
model otherwise: same vectors either way (checked at export: cosine >= :data:`MIN_PARITY_COSINE`).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelUnavailableError
from ..settings import Settings

EXPORT_VERSION = "1"
MIN_PARITY_COSINE = 0.9999
PARITY_TEXTS = ("a photo of a dog on the beach at sunset", "a cat", "mountains", "a birthday party indoors",
                "x" * 400)  # the last one is truncated to the tower's context length


def export_folder(settings: Settings, model_name: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_name.strip("/"))[-80:] or "clip"
    return Path(settings.models_dir).expanduser() / "onnx" / safe


def model_fingerprint(folder: Path) -> str:
    """Config bytes + the size and mtime of each weights file: a re-downloaded or replaced model is noticed
    without hashing gigabytes of weights."""
    h = hashlib.sha256()
    try:
        h.update((folder / "config.json").read_bytes())
    except OSError:
        pass
    for f in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


class _TextTower:
    """torch module: (input_ids, attention_mask) -> L2-normalised projected text embeddings, as
    ``ClipRunner.text_embeddings`` computes them."""

    def __new__(cls, model: Any):
        import torch

        from ..analyzers.vision.engine import _features

        class TextTower(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids, attention_mask):
                feats = _features(self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask))
                return torch.nn.functional.normalize(feats.float(), dim=-1)

        return TextTower().eval()


def export_text_tower(settings: Settings) -> dict[str, Any]:
    """Export the configured CLIP model's text tower; returns the export record (also ``export.json``).
    Raises ModelUnavailableError when the model is missing or the ONNX output disagrees with torch."""
    import torch

    from ..analyzers.vision.engine import ClipRunner, model_version
    from ..analyzers.vision.labels import LabelSet
    from ..analyzers.vision.models import how_to_get, load_pretrained, locate_model

    loc = locate_model("clip", settings)
    if loc.path is None:
        raise ModelUnavailableError(how_to_get([loc.name], settings))
    tokenizer_file = loc.path / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise ModelUnavailableError(f"{loc.path} has no tokenizer.json (a fast tokenizer); the ONNX text encoder "
                                    "needs it; searches keep using torch")
    model, processor = load_pretrained("clip", loc.path)
    runner = ClipRunner(model, processor, LabelSet({"query": ("",)}), "cpu")
    max_len = int(getattr(model.config.text_config, "max_position_embeddings", 77))
    out = export_folder(settings, loc.name)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "text.onnx.partial"
    data_name = f"text.{os.urandom(6).hex()}.data"  # its own name: the old graph keeps its weights until replaced
    sample = processor.tokenizer(["a photo of a dog"], return_tensors="pt")
    tower = _TextTower(model)
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's notes on ops it converts: not for users
        torch.onnx.export(tower, (sample["input_ids"], sample["attention_mask"]), str(tmp),
                          input_names=["input_ids", "attention_mask"], output_names=["text_embeds"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                        "attention_mask": {0: "batch", 1: "tokens"},
                                        "text_embeds": {0: "batch"}},
                          opset_version=17, dynamo=False)
    _weights_beside(tmp, data_name)
    (out / "tokenizer.json").write_bytes(tokenizer_file.read_bytes())
    record = {"export_version": EXPORT_VERSION, "model": loc.name, "model_version":
              model_version("clip", loc.name, loc.path), "fingerprint": model_fingerprint(loc.path),
              "max_length": max_len, "dim": int(runner.text_embeddings(["x"]).shape[-1])}
    # parity: the exported graph through onnxruntime and our tokenizer vs the torch model through transformers
    encoder = OnnxTextEncoder(out, tmp, record)
    want = runner.text_embeddings(list(PARITY_TEXTS)).cpu().numpy()
    got = np.stack([encoder.text(t) for t in PARITY_TEXTS])
    cosine = float(np.min(np.sum(want * got, axis=1)))
    record["parity"] = {"min_cosine": round(cosine, 7), "max_abs_diff": float(np.max(np.abs(want - got))),
                        "texts": len(PARITY_TEXTS)}
    del encoder
    if cosine < MIN_PARITY_COSINE:
        tmp.unlink(missing_ok=True)
        (out / data_name).unlink(missing_ok=True)
        raise ModelUnavailableError(f"the ONNX text encoder disagrees with torch (cosine {cosine:.5f}); not "
                                    "used, searches keep using torch")
    os.replace(tmp, out / "text.onnx")
    (out / "export.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    for old in out.glob("text.*.data"):  # earlier exports' weights
        if old.name != data_name:
            old.unlink(missing_ok=True)
    record["folder"] = str(out)
    return record


def _weights_beside(graph: Path, data_name: str) -> None:
    """Rewrite ``graph`` with its weights in ``data_name`` next to it (ONNX external data)."""
    import onnx

    model = onnx.load(str(graph))
    onnx.save_model(model, str(graph), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=data_name, size_threshold=1024)


class OnnxTextEncoder:
    """CLIP text embeddings from the exported graph: tokenizers + onnxruntime, one thread."""

    def __init__(self, folder: Path, onnx_file: Path | None = None, record: dict[str, Any] | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.record = record or json.loads((folder / "export.json").read_text(encoding="utf-8"))
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(self.record["max_length"]))
        self.tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # one short sequence: threads only cost start-up
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # use the weights where they are (mapped from the external data file) instead of copying each matrix
        # into a pre-packed one: a query runs once per process, so the packing would never pay for itself
        options.add_session_config_entry("session.disable_prepacking", "1")
        # and no graph rewriting (~60 ms of CPU at load for a few ms on one query); parity with torch is
        # measured at export through this same session setup
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        self.session = ort.InferenceSession(str(onnx_file or folder / "text.onnx"), options,
                                            providers=["CPUExecutionProvider"])

    def text(self, text: str) -> np.ndarray:
        enc = self.tokenizer.encode(text)
        ids = np.asarray([enc.ids], dtype=np.int64)
        mask = np.asarray([enc.attention_mask], dtype=np.int64)
        return self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0][0].astype(np.float32)


def text_encoder(settings: Settings) -> tuple[Any, str]:
    """(encoder with ``.text(str) -> vector``, "onnx" | "torch"): the ONNX export when it exists and was
    made from the configured model, else the torch model."""
    from ..analyzers.vision.models import how_to_get, locate_model

    loc = locate_model("clip", settings)
    if loc.path is None:
        raise ModelUnavailableError(how_to_get([loc.name], settings))
    folder = export_folder(settings, loc.name)
    try:
        record = json.loads((folder / "export.json").read_text(encoding="utf-8"))
        usable = (record.get("export_version") == EXPORT_VERSION and record.get("model") == loc.name
                  and record.get("fingerprint") == model_fingerprint(loc.path) and (folder / "text.onnx").is_file())
    except (OSError, ValueError):
        usable = False
    if usable:
        try:
            return OnnxTextEncoder(folder, record=record), "onnx"
        except Exception:  # noqa: BLE001 - onnxruntime missing or a damaged file: torch gives the same answer
            pass
    from .query import ClipEncoder

    return ClipEncoder(settings), "torch"
