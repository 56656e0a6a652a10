"""The aesthetics analyzer: LAION's aesthetic predictor, a small head over the catalog's CLIP embeddings.

What the score means: the mean rating (1 = dislike, 10 = love) that the raters of the head's training data
would give the image. No pixels are read: the head runs on the L2-normalised CLIP image embedding the
vision stage already stored, so it costs microseconds per photo. It is a taste model trained on
people's ratings of mostly web and AI-generated images, not a technical-quality measure (blur, noise and
exposure are the content analyzer's, and are never mixed in here).

Heads (put the file in ``<models_dir>/laion-aesthetic/``; nothing is downloaded during a run):

* ``sa_0_4_vit_b_32_linear.pth`` - LAION-Aesthetics predictor V1 for CLIP ViT-B/32 (512-d, the default
  CLIP model here): one linear layer trained on the Simulacra Aesthetic Captions (SAC) ratings.
  github.com/LAION-AI/aesthetic-predictor
* ``sa_0_4_vit_l_14_linear.pth`` - the same for ViT-L/14 (768-d).
* ``sac+logos+ava1-l14-linearMSE.pth`` - the "improved aesthetic predictor" (V2) for ViT-L/14: a
  5-layer MLP trained on SAC, LAION-Logos and AVA ratings. github.com/christophschuhmann/improved-aesthetic-predictor

The head is chosen by the embedding size of the CLIP model in the catalog (``head: auto``) or named in
the config; a head whose input size differs from the embeddings is refused with one clear message.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ...analyzers.base import Batch, BatchAnalyzer, Result
from ...errors import ModelUnavailableError
from ...settings import Settings
from .. import hookimpl
from .base import ModelConfigMixin

if TYPE_CHECKING:  # numpy is imported where pixels are handled, not when the plugin registers
    import numpy as np

HEAD_FOLDER = "laion-aesthetic"
AUTO_HEADS = {512: "sa_0_4_vit_b_32_linear.pth", 768: "sac+logos+ava1-l14-linearMSE.pth"}


@dataclass(frozen=True)
class AestheticsResult(Result):
    score: float | None      # predicted mean rating, 1-10 (None: the photo has no CLIP embedding)
    head: str | None
    clip_model: str | None


def build_head(state: dict, in_dim: int):
    """The head's module for a state dict: a Linear (V1) or the V2 MLP, keys exactly as published."""
    import torch.nn as nn

    if set(state) == {"weight", "bias"}:
        head = nn.Linear(in_dim, 1)
    elif any(k.startswith("layers.") for k in state):
        class MLP(nn.Module):  # improved-aesthetic-predictor's MLP, inference layout
            def __init__(self, dim: int):
                super().__init__()
                self.layers = nn.Sequential(nn.Linear(dim, 1024), nn.Dropout(0.2), nn.Linear(1024, 128),
                                            nn.Dropout(0.2), nn.Linear(128, 64), nn.Dropout(0.1), nn.Linear(64, 16),
                                            nn.Linear(16, 1))

            def forward(self, x):
                return self.layers(x)

        head = MLP(in_dim)
    else:
        raise ModelUnavailableError(f"aesthetics: not a LAION aesthetic head (keys {', '.join(sorted(state)[:4])})")
    head.load_state_dict(state)
    return head.eval()


class AestheticsAnalyzer(ModelConfigMixin, BatchAnalyzer):
    """A batch analyzer with no pixels (``input_spec = None``): ``run`` reads each photo's ``clip`` result."""

    name: ClassVar[str] = "aesthetics"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "LAION aesthetic score (1-10) from the CLIP embedding; head from the models folder"
    config_defaults: ClassVar[dict[str, Any]] = {"head": "auto", "enabled": False}
    requires: ClassVar[tuple[str, ...]] = ("clip",)
    csv_fields: ClassVar[dict[str, str]] = {"aesthetic_score": "score"}
    batch_size: ClassVar[dict[str, int]] = {"cuda": 4096, "cpu": 4096}
    input_spec = None

    def __init__(self, config: dict[str, Any] | None = None, *, models_dir: Path | None = None, **overrides: Any):
        super().__init__(config, **overrides)
        self.models_dir = Path(models_dir) if models_dir else Settings().models_dir
        self._heads: dict[int, tuple[Any, str]] = {}

    def model_id(self) -> str:
        return f"laion-{self.config['head']}"

    def _candidates(self) -> list[Path]:
        folder = Path(self.models_dir).expanduser() / HEAD_FOLDER
        names = list(AUTO_HEADS.values()) if self.config["head"] == "auto" else [self.config["head"]]
        return [folder / n for n in names]

    def setup(self, settings: Settings) -> None:
        """Before a run: the models folder comes from the settings; no head there is one clear message. The
        heads' bytes are part of the version (another head file redoes the scores)."""
        self.models_dir = Path(settings.models_dir)
        found = [p for p in self._candidates() if p.is_file()]
        if not found:
            folder = Path(self.models_dir).expanduser() / HEAD_FOLDER
            raise ModelUnavailableError(f"aesthetics: no LAION aesthetic head in {folder}/ (expected "
                                        f"{' or '.join(p.name for p in self._candidates())}; see USAGE.md)")
        digest = hashlib.sha256(b"".join(hashlib.sha256(p.read_bytes()).digest() for p in found)).hexdigest()[:8]
        self.version = f"{type(self).version}.{digest}"

    def head_path(self, dim: int) -> Path:
        name = self.config["head"] if self.config["head"] != "auto" else AUTO_HEADS.get(dim)
        folder = Path(self.models_dir).expanduser() / HEAD_FOLDER
        if name is None:
            raise ModelUnavailableError(f"aesthetics: no LAION head is known for {dim}-d CLIP embeddings; put one in "
                                        f"{folder}/ and name it with plugins.aesthetics.head")
        return folder / name

    def load(self, device: str) -> None:
        """Heads load lazily per embedding size (the CLIP model of a photo decides which head applies)."""
        try:
            import torch  # noqa: F401
        except ImportError as exc:
            raise ModelUnavailableError(f"aesthetics needs torch ({exc}): pip install 'imgengine[vision]'")

    def head_for(self, dim: int) -> tuple[Any, str]:
        if dim in self._heads:
            return self._heads[dim]
        path = self.head_path(dim)
        if not path.is_file():
            raise ModelUnavailableError(
                f"aesthetics: head {path.name} not found in {path.parent}/ (LAION aesthetic predictor weights: "
                "github.com/LAION-AI/aesthetic-predictor or christophschuhmann/improved-aesthetic-predictor)")
        import torch

        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - a corrupt download is one message, not a traceback
            raise ModelUnavailableError(f"aesthetics: cannot read {path}: {exc}")
        first = state.get("weight", state.get("layers.0.weight")) if isinstance(state, dict) else None
        if first is None or first.shape[-1] != dim:
            got = None if first is None else first.shape[-1]
            raise ModelUnavailableError(f"aesthetics: head {path.name} takes {got}-d embeddings, the catalog's CLIP "
                                        f"model gives {dim}-d; choose the head for that CLIP model")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
        self._heads[dim] = (build_head(state, dim), f"{path.name}@{digest}")
        return self._heads[dim]

    def run(self, batch: Batch) -> list[dict[str, Any] | AestheticsResult]:
        """One result per row: the score of its stored CLIP embedding (an error entry where it has none)."""
        import numpy as np
        import torch

        from ...analyzers.vision.embedding import decode_embedding

        out: list[dict[str, Any] | AestheticsResult] = [AestheticsResult(None, None, None)] * len(batch)
        groups: dict[int, list[tuple[int, np.ndarray, str]]] = {}
        for i, row in enumerate(batch.results):
            clip = row.get("clip") or {}
            if clip.get("embedding"):
                vec = decode_embedding(clip["embedding"])
                groups.setdefault(len(vec), []).append((i, vec, clip.get("model", "")))
        for dim, members in groups.items():
            head, head_id = self.head_for(dim)
            with torch.no_grad():
                scores = head(torch.from_numpy(np.stack([m[1] for m in members]))).squeeze(-1).numpy()
            for (i, _vec, clip_model), score in zip(members, scores, strict=True):
                out[i] = AestheticsResult(round(float(score), 3), head_id, clip_model)
        return out


@hookimpl
def register_analyzers() -> list[type]:
    return [AestheticsAnalyzer]
