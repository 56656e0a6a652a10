"""CLIP and DETR on a device, in batches: autocast and inference_mode.

The runners take uint8 CHW batches (as the loader, :mod:`imgengine.engine.loader`, produces them) and do
the float conversion and normalisation on the device. The batch stage calls them through
:func:`imgengine.engine.batching.run_chunked`, which halves the batch on out-of-memory and retries.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .embedding import encode_embedding
from .labels import LabelSet

CLIP_VERSION = "1"
DETR_VERSION = "1"
TOP_SCENES = 5

# batch sizes to start from with --batch-size auto; on CUDA an OOM halves them until they fit
AUTO_BATCH = {"cuda": {"clip": 512, "detr": 64}, "cpu": {"clip": 16, "detr": 4}}
# DETR input long side: the paper's 800x1333 is the GPU default; on a CPU a smaller input keeps it usable
DETR_SIZE = {"cuda": 1024, "cpu": 512}


def model_version(kind: str, name: str, folder: Path, extra: str = "") -> str:
    """Result version: code version + model name + a fingerprint of its config (+ the label set)."""
    try:
        config = (folder / "config.json").read_bytes()
    except OSError:
        config = b""
    digest = hashlib.sha256(config + extra.encode()).hexdigest()[:8]
    base = CLIP_VERSION if kind == "clip" else DETR_VERSION
    return f"{base}:{name}:{digest}"


def _size_get(size: Any, *keys: str) -> int | None:
    for key in keys:
        value = getattr(size, key, None)
        if value is None and isinstance(size, dict):
            value = size.get(key)
        if value:
            return int(value)
    return None


def _features(out: Any):
    """transformers 4.x returns a tensor from get_*_features, 5.x an output object."""
    if hasattr(out, "pooler_output") and not hasattr(out, "shape"):
        return out.pooler_output
    return out


class DeviceModel:
    model_id = ""  # model name + config fingerprint; stored with each result (search matches on it)

    def __init__(self, model: Any, processor: Any, device: str):
        import torch

        self.device = device
        self.model = model.to(device)
        ip = getattr(processor, "image_processor", processor)
        self.mean = torch.tensor(ip.image_mean, dtype=torch.float32, device=device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(ip.image_std, dtype=torch.float32, device=device).view(1, 3, 1, 1) * 255
        self.image_processor = ip

    def normalise(self, pixels):
        x = pixels.to(self.device, non_blocking=True).float()
        return (x - self.mean) / self.std

    def autocast(self):
        import torch

        if self.device.startswith("cuda"):
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            return torch.autocast("cuda", dtype=dtype)
        return contextlib.nullcontext()


class ClipRunner(DeviceModel):
    """Zero-shot scenes over a label set plus the L2-normalised image embedding."""

    def __init__(self, model: Any, processor: Any, labels: LabelSet, device: str):
        import torch

        super().__init__(model, processor, device)
        ip = self.image_processor
        self.crop = _size_get(ip.crop_size, "height", "shortest_edge") or 224
        self.resize = _size_get(ip.size, "shortest_edge", "height") or self.crop
        self.tokenizer = processor.tokenizer
        self.labels = labels
        self.ranked = labels.ranked
        self.ranked_text = self.text_embeddings(labels.prompts([x for _, x in self.ranked]))
        self.setting_text = self.text_embeddings(labels.prompts(labels.setting)) if labels.setting else None
        self.logit_scale = float(torch.clamp(self.model.logit_scale.exp(), max=100).item())

    def text_embeddings(self, texts: Sequence[str]):
        """L2-normalised float32 text embeddings, (len(texts), dim)."""
        import torch

        max_len = getattr(self.model.config.text_config, "max_position_embeddings", 77)
        tokens = self.tokenizer(list(texts), padding=True, truncation=True, max_length=max_len,
                                return_tensors="pt")
        tokens = {k: v.to(self.device) for k, v in tokens.items()}
        with torch.inference_mode(), self.autocast():
            feats = _features(self.model.get_text_features(**tokens)).float()
        return torch.nn.functional.normalize(feats, dim=-1)

    def image_embeddings(self, pixels):
        """(B, dim) L2-normalised float32 from a uint8 (B, 3, crop, crop) batch."""
        import torch

        with torch.inference_mode(), self.autocast():
            feats = _features(self.model.get_image_features(pixel_values=self.normalise(pixels))).float()
        return torch.nn.functional.normalize(feats, dim=-1)

    def describe(self, embeddings) -> list[dict[str, Any]]:
        """Per image: top scenes (softmax over the ranked labels), indoor/outdoor, embedding."""
        import torch

        emb = embeddings.float()
        probs = torch.softmax(self.logit_scale * emb @ self.ranked_text.T, dim=-1).cpu()
        setting = None
        if self.setting_text is not None:
            setting = torch.softmax(self.logit_scale * emb @ self.setting_text.T, dim=-1).cpu()
        emb_np = emb.cpu().numpy()
        out = []
        k = min(TOP_SCENES, probs.shape[1])
        for i in range(emb.shape[0]):
            top = torch.topk(probs[i], k)
            scenes = [{"label": self.ranked[j][1], "group": self.ranked[j][0], "score": round(float(s), 4)}
                      for s, j in zip(top.values.tolist(), top.indices.tolist(), strict=False)]
            item: dict[str, Any] = {"scenes": scenes}
            if setting is not None:
                j = int(torch.argmax(setting[i]))
                item["setting"] = self.labels.setting[j]
                item["setting_score"] = round(float(setting[i, j]), 4)
            item["embedding"] = encode_embedding(emb_np[i])
            item["embedding_dim"] = int(emb_np.shape[1])
            item["model"] = self.model_id
            out.append(item)
        return out


class DetrRunner(DeviceModel):
    """COCO objects with boxes in upright-image pixel coordinates, above a score threshold."""

    def __init__(self, model: Any, processor: Any, device: str, threshold: float):
        super().__init__(model, processor, device)
        self.threshold = threshold
        self.id2label = {int(k): v for k, v in model.config.id2label.items()}
        # the processor's longest edge caps our input size (1333 for the official checkpoints)
        self.max_size = _size_get(self.image_processor.size, "longest_edge", "shortest_edge") or 1333

    def detect(self, pixels, mask, upright_sizes: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
        """``pixels`` uint8 (B,3,H,W) padded, ``mask`` (B,H,W); sizes are (width, height) upright."""
        import torch

        with torch.inference_mode(), self.autocast():
            out = self.model(pixel_values=self.normalise(pixels),
                             pixel_mask=mask.to(self.device, non_blocking=True))
        probs = torch.softmax(out.logits.float(), dim=-1)[..., :-1]   # last class is "no object"
        scores, labels = probs.max(-1)
        boxes = out.pred_boxes.float()                                # (cx, cy, w, h) relative to the image
        results = []
        scores, labels, boxes = scores.cpu(), labels.cpu(), boxes.cpu()
        for i, (w, h) in enumerate(upright_sizes):
            keep = torch.nonzero(scores[i] > self.threshold).flatten().tolist()
            objects = []
            for q in keep:
                cx, cy, bw, bh = boxes[i, q].tolist()
                x0, y0 = max(0.0, (cx - bw / 2) * w), max(0.0, (cy - bh / 2) * h)
                x1, y1 = min(float(w), (cx + bw / 2) * w), min(float(h), (cy + bh / 2) * h)
                objects.append({"label": self.id2label.get(int(labels[i, q]), str(int(labels[i, q]))),
                                "score": round(float(scores[i, q]), 4),
                                "box": [round(x0, 1), round(y0, 1), round(x1, 1), round(y1, 1)]})
            objects.sort(key=lambda o: -o["score"])
            results.append({"objects": objects, "labels": sorted({o["label"] for o in objects}),
                            "threshold": self.threshold, "image_size": [int(w), int(h)],
                            "model": self.model_id})
        return results


def config_json(folder: Path) -> dict:
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
