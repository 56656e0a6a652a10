"""The aesthetics analyzer: LAION's aesthetic predictor over the catalog's CLIP embeddings when its head is in
the models folder, else BRISQUE, a no-reference technical-quality model that ships in a pip package.

Two scorers, never mixed, and every result says which one scored (``scorer``) and on what scale:

* ``laion`` - ``score``: the mean rating (1 = dislike, 10 = love) that the raters of the head's training
  data would give the image. No pixels are read: the head runs on the L2-normalised CLIP image embedding
  the vision stage already stored, so it costs microseconds per photo. It is a taste model trained on
  people's ratings of mostly web and AI-generated images, not a technical-quality measure (blur, noise and
  exposure are the content analyzer's, and are never mixed in here).
* ``brisque`` - ``brisque``: BRISQUE (Mittal, Moorthy & Bovik, "No-Reference Image Quality Assessment in the
  Spatial Domain", IEEE TIP 2012) at a fixed 512-px long side: natural-scene statistics of the grey image
  (generalised-Gaussian fits of its normalised luminance and their neighbour products, at two scales) fed to
  the support-vector regressor that ships in the ``brisque`` package (trained on the LIVE IQA database:
  29 scenes with JPEG, JPEG 2000, white-noise, blur and transmission distortions, against the raters'
  difference scores). About 0-100, **lower is better**: it measures visible distortion (blur, noise,
  compression), not beauty - a sharp dull photo scores well, a deliberately soft portrait badly.
  ``score`` stays None: a distortion measure is not called an aesthetic rating.

LAION heads (put the file in ``<models_dir>/laion-aesthetic/``; nothing is downloaded during a run):

* ``sa_0_4_vit_b_32_linear.pth`` - LAION-Aesthetics predictor V1 for CLIP ViT-B/32 (512-d, the default
  CLIP model here): one linear layer trained on the Simulacra Aesthetic Captions (SAC) ratings.
  github.com/LAION-AI/aesthetic-predictor
* ``sa_0_4_vit_l_14_linear.pth`` - the same for ViT-L/14 (768-d).
* ``sac+logos+ava1-l14-linearMSE.pth`` - the "improved aesthetic predictor" (V2) for ViT-L/14: a
  5-layer MLP trained on SAC, LAION-Logos and AVA ratings. github.com/christophschuhmann/improved-aesthetic-predictor

The head is chosen by the embedding size of the CLIP model in the catalog (``head: auto``) or named in
the config; a head whose input size differs from the embeddings is refused with one clear message. With
no head there, ``fallback: brisque`` (the default) scores pixels instead; ``fallback: none`` skips the
analyzer with one message.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ...analyzers.base import Batch, BatchAnalyzer, InputSpec, Result
from ...errors import ConfigError, ModelUnavailableError
from ...settings import Settings
from .. import hookimpl
from .base import ModelConfigMixin

if TYPE_CHECKING:  # numpy is imported where pixels are handled, not when the plugin registers
    import numpy as np

HEAD_FOLDER = "laion-aesthetic"
AUTO_HEADS = {512: "sa_0_4_vit_b_32_linear.pth", 768: "sac+logos+ava1-l14-linearMSE.pth"}
FALLBACKS = ("brisque", "none")
BRISQUE_BATCH = {"cuda": 64, "cpu": 16}
SCALES = {"laion": "LAION aesthetic rating 1-10, higher = preferred by its raters",
          "brisque": "BRISQUE distortion about 0-100, lower = fewer visible distortions (not aesthetics)"}


@dataclass(frozen=True)
class AestheticsResult(Result):
    score: float | None      # LAION: predicted mean rating, 1-10 (None: no embedding, or BRISQUE scored)
    head: str | None
    clip_model: str | None
    scorer: str = "laion"    # laion | brisque: which model produced this result
    brisque: float | None = None   # BRISQUE: lower = fewer distortions (None when LAION scored)
    scale: str = SCALES["laion"]


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


def brisque_version() -> str | None:
    """The installed ``brisque`` package's version (its SVR file is what scores), None when it or libsvm is missing."""
    import importlib.metadata
    import importlib.util

    if importlib.util.find_spec("brisque") is None or importlib.util.find_spec("libsvm") is None:
        return None
    try:
        return importlib.metadata.version("brisque")
    except importlib.metadata.PackageNotFoundError:
        return None


class BrisqueModel:
    """The ``brisque`` package's feature extractor and its shipped LIVE-trained SVR (``models/svm.txt`` and
    ``normalize.pickle``), called exactly as its ``BRISQUE.score`` does for an RGB array. Its ``score``
    itself is not called: it turns each feature with ``float()``, and some features are 1-element arrays,
    which numpy >= 2.4 refuses; here each one is read with ``.item()`` first - the same numbers."""

    def __init__(self):
        try:
            import warnings

            with warnings.catch_warnings():  # it imports scipy.ndimage.filters (deprecated, still there)
                warnings.simplefilter("ignore", DeprecationWarning)
                from brisque import BRISQUE
        except ImportError as exc:
            raise ModelUnavailableError(f"aesthetics: BRISQUE needs the brisque and libsvm-official packages "
                                        f"({exc}): pip install 'imgengine[plugins]'")
        self._brisque = BRISQUE(url=False)

    def score(self, rgb: np.ndarray) -> float | None:
        """BRISQUE of an RGB (or grey) uint8 image: about 0-100, lower = fewer distortions. None for an image
        it cannot measure (a flat or tiny one: its statistics have nothing to fit)."""
        import cv2
        import numpy as np
        import skimage.color

        if min(rgb.shape[:2]) < 16:
            return None
        b = self._brisque
        gray = skimage.color.rgb2gray(rgb[..., :3]) if rgb.ndim == 3 else rgb.astype(np.float64) / 255.0
        with np.errstate(invalid="ignore", divide="ignore"):  # a flat image: 0/0 in its fits, reported as None
            full = b.calculate_brisque_features(gray, kernel_size=7, sigma=7 / 6)
            half = cv2.resize(gray, None, fx=1 / 2, fy=1 / 2, interpolation=cv2.INTER_CUBIC)
            features = np.concatenate((full, b.calculate_brisque_features(half, kernel_size=7, sigma=7 / 6)))
            flat = [float(np.asarray(f, dtype=np.float64).reshape(-1)[0]) for f in features]
            if not np.all(np.isfinite(flat)):
                return None
            value = float(b.calculate_image_quality_score(np.array(flat, dtype=object)))
        return value if np.isfinite(value) else None


class AestheticsAnalyzer(ModelConfigMixin, BatchAnalyzer):
    """A batch analyzer. With a LAION head: no pixels (``input_spec = None``), ``run`` reads each photo's
    ``clip`` result. Without one: BRISQUE on the shared loader's pixels at ``quality_size`` (``setup``
    decides, and the stored version names the scorer, so switching redoes the scores)."""

    name: ClassVar[str] = "aesthetics"
    version: ClassVar[str] = "2"
    description: ClassVar[str] = ("LAION aesthetic score (1-10) from the CLIP embedding with a head from the models "
                                  "folder; else BRISQUE technical quality (lower = fewer distortions)")
    config_defaults: ClassVar[dict[str, Any]] = {
        "head": "auto",              # LAION head file in <models_dir>/laion-aesthetic/, or auto by CLIP size
        "fallback": "brisque",       # no head: brisque (technical quality from pixels) | none (skip)
        "quality_size": 512,         # BRISQUE: long side of the pixels it reads (its score depends on scale)
        "enabled": False,
    }
    requires: ClassVar[tuple[str, ...]] = ("clip",)   # with a head; BRISQUE needs none (setup drops it)
    csv_fields: ClassVar[dict[str, str]] = {"aesthetic_score": "score", "brisque": "brisque",
                                            "aesthetic_scorer": "scorer"}
    batch_size: ClassVar[dict[str, int]] = {"cuda": 4096, "cpu": 4096}
    input_spec = None

    def __init__(self, config: dict[str, Any] | None = None, *, models_dir: Path | None = None, **overrides: Any):
        super().__init__(config, **overrides)
        if self.config["fallback"] not in FALLBACKS:
            raise ConfigError(f"plugins.aesthetics.fallback {self.config['fallback']!r}: choose {', '.join(FALLBACKS)}")
        self.models_dir = Path(models_dir) if models_dir else Settings().models_dir
        self._heads: dict[int, tuple[Any, str]] = {}
        self._brisque: BrisqueModel | None = None
        self.scorer = "laion"

    def model_id(self) -> str:
        if self.scorer == "brisque":
            return f"brisque-live-{brisque_version()}@{int(self.config['quality_size'])}px"
        return f"laion-{self.config['head']}"

    def _candidates(self) -> list[Path]:
        folder = Path(self.models_dir).expanduser() / HEAD_FOLDER
        names = list(AUTO_HEADS.values()) if self.config["head"] == "auto" else [self.config["head"]]
        return [folder / n for n in names]

    def setup(self, settings: Settings) -> None:
        """Before a run: the models folder comes from the settings. A head there: LAION over CLIP (the heads'
        bytes are part of the version: another head file redoes the scores). None: BRISQUE from pixels, or
        with ``fallback: none`` (or BRISQUE not installed) one clear message."""
        self.models_dir = Path(settings.models_dir)
        found = [p for p in self._candidates() if p.is_file()]
        if found:
            self.scorer, self.requires, self.input_spec = "laion", type(self).requires, None
            self.batch_size = type(self).batch_size  # type: ignore[misc]
            self.model_info = {"name": "laion aesthetic head", "source": ", ".join(str(p) for p in found)}
            digest = hashlib.sha256(b"".join(hashlib.sha256(p.read_bytes()).digest() for p in found)).hexdigest()[:8]
            self.version = f"{type(self).version}.{digest}"
            return
        folder = Path(self.models_dir).expanduser() / HEAD_FOLDER
        missing = (f"aesthetics: no LAION aesthetic head in {folder}/ (expected "
                   f"{' or '.join(p.name for p in self._candidates())}; see USAGE.md)")
        if self.config["fallback"] == "none":
            raise ModelUnavailableError(missing)
        if brisque_version() is None:
            raise ModelUnavailableError(f"{missing}, and the BRISQUE fallback needs the brisque and libsvm-official "
                                        "packages: pip install 'imgengine[plugins]'")
        self.scorer, self.requires, self.version = "brisque", (), type(self).version
        self.input_spec = InputSpec(int(self.config["quality_size"]), crop=False)
        self.batch_size = BRISQUE_BATCH  # type: ignore[misc]  # pixels, not 4096 embeddings, per loader batch
        self.model_info = {"name": f"brisque (LIVE-trained SVR) at {self.input_spec.size} px",
                           "source": f"brisque {brisque_version()} package"}

    def head_path(self, dim: int) -> Path:
        name = self.config["head"] if self.config["head"] != "auto" else AUTO_HEADS.get(dim)
        folder = Path(self.models_dir).expanduser() / HEAD_FOLDER
        if name is None:
            raise ModelUnavailableError(f"aesthetics: no LAION head is known for {dim}-d CLIP embeddings; put one in "
                                        f"{folder}/ and name it with plugins.aesthetics.head")
        return folder / name

    def load(self, device: str) -> None:
        """LAION heads load lazily per embedding size (the CLIP model of a photo decides which head applies);
        BRISQUE's SVR loads here, once per run."""
        if self.scorer == "brisque":
            if self._brisque is None:
                self._brisque = BrisqueModel()
            return
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
        """One result per row: the score of its stored CLIP embedding (an empty score where it has none), or
        with BRISQUE the distortion score of its pixels."""
        if self.scorer == "brisque":
            return self.run_brisque(batch)
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


    def run_brisque(self, batch: Batch) -> list[AestheticsResult]:
        """BRISQUE per photo on its own pixels (the padding of the batch left out)."""
        if self._brisque is None:
            self._brisque = BrisqueModel()
        pixels = batch.pixels.cpu()
        mask = batch.mask.cpu() if batch.mask is not None else None
        out = []
        for i in range(len(batch)):
            img = pixels[i]
            if mask is not None:
                img = img[:, : int(mask[i][:, 0].sum()), : int(mask[i][0, :].sum())]
            value = self._brisque.score(img.permute(1, 2, 0).numpy())
            out.append(AestheticsResult(None, None, None, "brisque", None if value is None else round(value, 3),
                                        SCALES["brisque"]))
        return out


@hookimpl
def register_analyzers() -> list[type]:
    return [AestheticsAnalyzer]
