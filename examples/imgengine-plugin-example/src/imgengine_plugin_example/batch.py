"""A batch analyzer: Sobel edge density on whole batches with torch (GPU when there is one)."""

from __future__ import annotations

from typing import Any

from imgengine.analyzers.base import Batch, BatchAnalyzer, InputSpec


class EdgeDensity(BatchAnalyzer):
    """Share of pixels whose Sobel gradient magnitude exceeds ``threshold`` (0-255 scale), per photo,
    on a 256-px long-side copy; padding is excluded through the batch's pixel mask."""

    name = "edge_density"
    version = "1"
    description = "share of strong Sobel edges (torch, batched)"
    config_defaults = {"threshold": 60.0}
    csv_fields = {"edge_density": "density"}
    input_spec = InputSpec(size=256, crop=False, resample="bilinear")
    batch_size = {"cuda": 256, "cpu": 32}

    def load(self, device: str) -> None:
        import torch

        self.device = device
        kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
        self.kernel = torch.stack([kx, kx.T]).unsqueeze(1).to(device)   # (2, 1, 3, 3)
        self.luma = torch.tensor([0.299, 0.587, 0.114], device=device).view(1, 3, 1, 1)

    def run(self, batch: Batch) -> list[dict[str, Any]]:
        import torch
        import torch.nn.functional as F

        with torch.inference_mode():
            x = batch.pixels.to(self.device, non_blocking=True).float()
            grey = (x * self.luma).sum(dim=1, keepdim=True)
            g = F.conv2d(grey, self.kernel, padding=1)
            magnitude = g.pow(2).sum(dim=1).sqrt() / 4.0                # ~0-255
            mask = batch.mask.to(self.device).float()
            inner = F.max_pool2d(1 - mask.unsqueeze(1), 3, stride=1, padding=1).squeeze(1) == 0
            valid = (mask > 0) & inner                                # not padding, not next to it
            strong = (magnitude > float(self.config["threshold"])) & valid
            density = strong.flatten(1).sum(1).float() / valid.flatten(1).sum(1).clamp(min=1).float()
        return [{"density": round(float(d), 4), "threshold": float(self.config["threshold"])}
                for d in density.cpu()]


def batch_analyzers() -> list[type]:
    import importlib.util

    # look, do not import: importing torch here would make imgengine start its worker pool with `spawn`
    if importlib.util.find_spec("torch") is None:  # the batch analyzer needs torch (the `batch` extra)
        return []
    return [EdgeDensity]
