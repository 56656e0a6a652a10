"""Where vision weights come from: the models dir (``~/.local/share/imgengine/models`` by default, see
``workspace``) or the Hugging Face cache.

Nothing here downloads anything implicitly: loading uses ``local_files_only`` so that an offline run
never hangs on the network, and a missing model turns into ONE :class:`ModelUnavailableError` whose
message says how to get the weights (``imgengine models download`` or ``imgengine models import``).
This module imports torch/transformers only when a model is actually loaded.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import ModelUnavailableError
from ...settings import Settings

# which settings field names which model, and the transformers model_type each one must have
MODEL_KINDS: dict[str, str] = {"clip": "clip", "detr": "detr"}
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json")
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")


@dataclass(frozen=True)
class ModelLocation:
    kind: str            # "clip" | "detr"
    name: str            # the configured name: a Hugging Face repo id or a folder path
    path: Path | None    # the folder holding config + weights, or None when not found
    source: str          # "folder", "models dir", "hf cache" or "missing"


def model_name(kind: str, settings: Settings) -> str:
    if kind not in MODEL_KINDS:
        raise ModelUnavailableError(f"unknown model kind {kind!r}; use one of {', '.join(MODEL_KINDS)}")
    return settings.clip_model if kind == "clip" else settings.detr_model


def local_model_dir(name: str, settings: Settings) -> Path:
    """Where ``imgengine models download/import`` puts ``name``: ``<models_dir>/<org>/<name>``."""
    return Path(settings.models_dir).expanduser() / name


def _hf_cache_dir(name: str) -> Path | None:
    """The snapshot folder of ``name`` in the Hugging Face cache, without touching the network."""
    if "/" not in name or name.count("/") > 1:
        return None
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        return None
    try:
        return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # LocalEntryNotFoundError and friends: not cached
        return None


def locate_model(kind: str, settings: Settings) -> ModelLocation:
    """Find the folder of the configured ``kind`` model; ``path`` is None when there is none."""
    name = model_name(kind, settings)
    as_path = Path(name).expanduser()
    if as_path.is_dir():
        return ModelLocation(kind, name, as_path, "folder")
    local = local_model_dir(name, settings)
    if local.is_dir():
        return ModelLocation(kind, name, local, "models dir")
    cached = _hf_cache_dir(name)
    if cached is not None and cached.is_dir():
        return ModelLocation(kind, name, cached, "hf cache")
    return ModelLocation(kind, name, None, "missing")


def how_to_get(names: list[str], settings: Settings) -> str:
    shown = ", ".join(names)
    return (f"model weights not found: {shown} (looked in {Path(settings.models_dir)}/ and the Hugging Face "
            f"cache); get them with `imgengine models download` (needs internet) or copy a downloaded "
            f"folder with `imgengine models import <dir>`; use --no-vision to skip this stage quietly")


def check_model_folder(kind: str, folder: Path) -> dict[str, Any]:
    """Validate a model folder before loading it; returns its config. Raises with a clear message."""
    config_path = folder / "config.json"
    hint = "re-download it with `imgengine models download` or import a complete copy"
    if not config_path.is_file():
        raise ModelUnavailableError(f"model folder {folder} is incomplete: no config.json; {hint}")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelUnavailableError(f"model folder {folder} is corrupt: config.json is unreadable "
                                    f"({str(exc).splitlines()[0]}); {hint}")
    model_type = config.get("model_type")
    if model_type != MODEL_KINDS[kind]:
        raise ModelUnavailableError(f"model folder {folder} holds a {model_type or 'unknown'!s} model, "
                                    f"not a {MODEL_KINDS[kind]} model; check the {kind}_model setting")
    if not any((folder / f).is_file() for f in WEIGHT_FILES):
        raise ModelUnavailableError(f"model folder {folder} is incomplete: no weights "
                                    f"(model.safetensors or pytorch_model.bin); {hint}")
    if not any((folder / f).is_file() for f in PROCESSOR_FILES):
        raise ModelUnavailableError(f"model folder {folder} is incomplete: no preprocessor_config.json; {hint}")
    return config


def require_libraries() -> None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise ModelUnavailableError(f"the vision stage needs torch and transformers ({exc.name} is missing): "
                                    "pip install 'imgengine[vision]'")


def quiet_transformers() -> None:
    """Keep transformers' progress bars and backend notices out of our terminal output."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    try:
        hf_logging.disable_progress_bar()
    except AttributeError:  # pragma: no cover - older transformers
        pass
    warnings.filterwarnings("ignore", module="transformers")


def load_pretrained(kind: str, folder: Path) -> tuple[Any, Any]:
    """(model, processor) from ``folder``, in eval mode on the CPU; every failure is one clear message."""
    check_model_folder(kind, folder)
    require_libraries()
    quiet_transformers()
    try:
        if kind == "clip":
            from transformers import CLIPModel, CLIPProcessor

            model = CLIPModel.from_pretrained(folder, local_files_only=True)
            processor = CLIPProcessor.from_pretrained(folder, local_files_only=True)
        else:
            from transformers import DetrForObjectDetection, DetrImageProcessor

            model = DetrForObjectDetection.from_pretrained(folder, local_files_only=True)
            processor = DetrImageProcessor.from_pretrained(folder, local_files_only=True)
    except ImportError as exc:
        raise ModelUnavailableError(
            f"model {folder} needs a library that is not installed ({str(exc).splitlines()[0]}); the official "
            "DETR checkpoints use a timm backbone: pip install timm torchvision (matching your torch)")
    except Exception as exc:  # noqa: BLE001 - safetensors, pickle, shape errors: all mean a bad folder
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelUnavailableError(f"model folder {folder} is corrupt or incompatible ({first}); re-download "
                                    "it with `imgengine models download` or import a complete copy")
    model.eval()
    return model, processor


def folder_size(folder: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for f in files:
            try:
                total += os.stat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total
