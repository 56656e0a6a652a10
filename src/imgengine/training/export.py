"""Export a trained checkpoint to ONNX or TorchScript with a dynamic batch axis, a model card beside it, and a
parity check against PyTorch on real inputs.

The file is written under a temporary name and moved into place only after the parity check passes, so a
model that disagrees with its checkpoint never lands where ``analyze --scene-model`` would pick it up.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..analyzers.vision.scene_model import ModelCard, SceneModelRunner, card_path, preprocess
from ..errors import UsageError
from .imagefolder import IMAGE_SUFFIXES
from .train import TrainingError, load_checkpoint, model_from_checkpoint

FORMATS = ("onnx", "torchscript")


class ExportError(TrainingError):
    """The exported model could not be written or does not match the checkpoint."""


@dataclass
class ExportReport:
    output: Path
    card: Path
    format: str
    seconds: float
    max_abs_diff: float
    top1_agreement: float
    parity_inputs: str
    batch_sizes: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"output": str(self.output), "card": str(self.card), "format": self.format,
                "seconds": round(self.seconds, 3), "max_abs_diff": self.max_abs_diff,
                "top1_agreement": self.top1_agreement, "parity_inputs": self.parity_inputs,
                "batch_sizes": self.batch_sizes}


def parity_images(ckpt: dict[str, Any], samples: Path | None, limit: int = 16) -> tuple[list, str]:
    """Real photos to compare on: ``samples``, else the checkpoint's validation images, else scikit-image's
    bundled photos; generated scenes only when none of those exist."""
    from PIL import Image, ImageOps

    from ..core.decode import register_heif

    register_heif()
    paths: list[Path] = []
    origin = ""
    if samples is not None:
        if not Path(samples).is_dir():
            raise UsageError(f"--samples {samples}: no such folder")
        paths = sorted(p for p in Path(samples).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        origin = f"images from {samples}"
    if not paths:
        paths = [Path(p) for p in ckpt.get("val_files", []) if Path(p).is_file()]
        origin = "the checkpoint's validation images"
    images = []
    for p in paths[:limit]:
        try:
            with Image.open(p) as im:
                images.append(ImageOps.exif_transpose(im).convert("RGB"))
        except (OSError, ValueError):
            continue
    if not images:
        try:
            from skimage import data as skdata

            images = [Image.fromarray(getattr(skdata, n)()).convert("RGB")
                      for n in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")]
            origin = "scikit-image's bundled photos"
        except ImportError:
            from ..testing.samples import scene

            images = [scene(320, 240, seed=i) for i in range(8)]
            origin = "generated scenes (no real photos available)"
    return images, origin


def _inputs(ckpt: dict[str, Any], samples: Path | None) -> tuple[np.ndarray, str]:
    if ckpt.get("kind") == "linear_probe":
        from .imagefolder import scan_image_folder
        from .probe import load_embeddings

        try:
            catalog = Path(ckpt["catalog"]) if ckpt.get("catalog") else None
            emb, _, _ = load_embeddings(scan_image_folder(Path(ckpt["dataset"])), catalog)
            return emb[:32], "the dataset's CLIP embeddings from the catalog"
        except UsageError:
            rng = np.random.default_rng(0)
            v = rng.normal(size=(16, int(ckpt["embedding_dim"]))).astype(np.float32)
            return v / np.linalg.norm(v, axis=1, keepdims=True), "random unit vectors (dataset catalog not found)"
    images, origin = parity_images(ckpt, samples)
    size, mean, std = int(ckpt["image_size"]), ckpt["mean"], ckpt["std"]
    return np.stack([preprocess(im, size, mean, std) for im in images]), origin


def export_model(checkpoint: Path, fmt: str, output: Path, samples: Path | None = None,
                 tolerance: float = 1e-3, overwrite: bool = False) -> ExportReport:
    import torch

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt}: use onnx or torchscript")
    output = Path(output)
    if output.exists() and not overwrite:
        raise UsageError(f"{output} already exists; pass --overwrite to replace it")
    ckpt = load_checkpoint(checkpoint)
    model = model_from_checkpoint(ckpt)
    inputs, origin = _inputs(ckpt, samples)
    probe = ckpt.get("kind") == "linear_probe"
    example = torch.from_numpy(inputs[:2].copy())
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.stem}.exporting{output.suffix or '.' + fmt}")
    input_name = "embedding" if probe else "image"
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            if fmt == "onnx":
                batch = torch.export.Dim("batch", min=1, max=4096)
                program = torch.onnx.export(model, (example,), input_names=[input_name], output_names=["logits"],
                                            dynamic_shapes=({0: batch},), dynamo=True, verbose=False,
                                            optimize=True)
                program.save(str(tmp))
            else:
                with torch.no_grad():
                    traced = torch.jit.trace(model, example)
                traced.save(str(tmp))
    except Exception as exc:  # noqa: BLE001 - exporter failures come in many types; one line for the user
        _remove(tmp)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"export to {fmt} failed: {first}")
    seconds = time.perf_counter() - t0

    card = ModelCard(labels=tuple(ckpt["labels"]), image_size=int(ckpt.get("image_size", 0)),
                     mean=tuple(ckpt.get("mean", (0.0, 0.0, 0.0))), std=tuple(ckpt.get("std", (1.0, 1.0, 1.0))),
                     architecture=ckpt["architecture"], format=fmt, input_name=input_name,
                     extra=_card_extra(ckpt, checkpoint))
    card.write(tmp)
    try:
        diff, agree, sizes = _parity(model, tmp, inputs)
    except Exception:
        _remove(tmp)
        raise
    if not diff <= tolerance:
        _remove(tmp)
        raise ExportError(f"parity check failed: {fmt} output differs from PyTorch by up to {diff:.3g} "
                          f"(tolerance {tolerance:g}) on {len(inputs)} inputs ({origin}); nothing written")
    parity = {"max_abs_diff": diff, "top1_agreement": agree, "tolerance": tolerance, "inputs": origin,
              "n_inputs": int(len(inputs)), "batch_sizes": sizes}
    card = ModelCard(**{**card.__dict__, "extra": {**card.extra, "parity": parity,
                                                   "export_seconds": round(seconds, 3)}})
    os.replace(tmp, output)
    card.write(output)
    _remove(card_path(tmp))
    return ExportReport(output, card_path(output), fmt, seconds, diff, agree, origin, sizes)


def _card_extra(ckpt: dict[str, Any], checkpoint: Path) -> dict[str, Any]:
    m = ckpt.get("metrics") or {}
    extra = {"kind": ckpt.get("kind", "timm"), "pretrained": ckpt.get("pretrained"),
             "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
             "checkpoint": str(Path(checkpoint).resolve()),
             "training": {"dataset": ckpt.get("dataset"), "epoch": ckpt.get("epoch"), "seed": ckpt.get("seed"),
                          **(ckpt.get("config") or {})},
             "metrics": {"val_accuracy": m.get("val_accuracy"), "val_macro_f1": m.get("val_macro_f1"),
                         "per_class_f1": {k: v["f1"] for k, v in (m.get("per_class") or {}).items()}}}
    if ckpt.get("kind") == "linear_probe":
        extra["requires"] = {"analyzer": "clip", "model": ckpt.get("clip_model"),
                             "embedding_dim": ckpt.get("embedding_dim")}
    return extra


def _parity(model, path: Path, inputs: np.ndarray) -> tuple[float, float, list[int]]:
    """Max |exported − PyTorch| over the inputs, run at several batch sizes (the batch axis is dynamic)."""
    import torch

    runner = SceneModelRunner(path, device="cpu")
    with torch.inference_mode():
        ref = model(torch.from_numpy(inputs)).float().numpy()
    sizes = sorted({1, min(3, len(inputs)), len(inputs)})
    worst = 0.0
    got = None
    for bs in sizes:
        parts = [runner.logits(inputs[i:i + bs]) for i in range(0, len(inputs), bs)]
        got = np.concatenate(parts)
        worst = max(worst, float(np.abs(got - ref).max()))
    agree = float((got.argmax(1) == ref.argmax(1)).mean()) if got is not None else 0.0
    return worst, agree, sizes


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        Path(path).unlink()
    with contextlib.suppress(OSError):
        card_path(Path(path)).unlink()
    data = Path(str(path) + ".data")  # ONNX external weights of very large models
    with contextlib.suppress(OSError):
        data.unlink()
