"""Training a scene classifier: a timm backbone on an ImageFolder, or a linear probe on the catalog's CLIP embeddings.

One loop for both: stratified split, per-epoch validation (loss, accuracy, per-class precision/recall/F1,
confusion matrix) appended to a JSON-lines log, the best checkpoint by validation accuracy (ties: lower loss),
a "last" checkpoint with the optimiser state for ``--resume``, early stopping after ``patience`` epochs without
improvement. On CUDA the forward pass runs under autocast (bf16 when supported, else fp16 with a GradScaler).

torch and timm are imported inside the functions; the module itself is cheap to import.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ImgEngineError, ModelUnavailableError, UsageError
from .imagefolder import ImageFolder, Sample, scan_image_folder, stratified_split

CHECKPOINT_FORMAT = "imgengine.scene-checkpoint/1"
BEST, LAST, METRICS = "scene_best.pt", "scene_last.pt", "scene_metrics.jsonl"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class TrainingError(ImgEngineError):
    """Training cannot start or continue (dataset, checkpoint, device)."""


@dataclass
class TrainConfig:
    dataset: Path
    output_dir: Path = Path("models")
    epochs: int = 10
    batch_size: int = 32
    model: str = "resnet18"
    image_size: int = 224
    lr: float | None = None             # default: 1e-3 from scratch, 3e-4 fine-tuning, 1e-2 linear probe
    weight_decay: float = 0.05
    val_fraction: float = 0.2
    seed: int = 0
    patience: int = 5
    device: str = "auto"
    workers: int | None = None          # DataLoader workers; None = min(4, cores)
    resume: bool = False
    overwrite: bool = False
    pretrained: bool = True             # use local pretrained weights when found
    weights: Path | None = None         # an explicit weights file for the backbone
    models_dir: Path = Path("models")
    linear_probe: bool = False
    catalog: Path | None = None         # for the linear probe: where the CLIP embeddings are


@dataclass
class TrainResult:
    best_checkpoint: Path
    last_checkpoint: Path
    metrics_log: Path
    best_epoch: int
    best_val_accuracy: float
    epochs_run: int
    stopped_early: bool
    summary: dict[str, Any] = field(default_factory=dict)


class Callbacks:
    """What a front end (the rich live display, a test) hears about; every method is optional."""

    def on_start(self, info: dict[str, Any]) -> None: ...
    def on_warning(self, message: str) -> None: ...
    def on_batch(self, epoch: int, done: int, total: int, loss: float) -> None: ...
    def on_epoch(self, metrics: dict[str, Any]) -> None: ...


# -- metrics --------------------------------------------------------------------------------------------------

def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...]) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1/support and the confusion matrix (rows = true, cols = predicted)."""
    k = len(classes)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y_true.astype(np.int64), y_pred.astype(np.int64)), 1)
    per_class = {}
    for i, name in enumerate(classes):
        tp = int(cm[i, i])
        fp = int(cm[:, i].sum() - tp)
        fn = int(cm[i, :].sum() - tp)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
                           "support": int(cm[i, :].sum())}
    total = int(cm.sum())
    return {"accuracy": round(float(np.trace(cm)) / total, 4) if total else 0.0,
            "macro_f1": round(float(np.mean([c["f1"] for c in per_class.values()])), 4),
            "per_class": per_class, "confusion_matrix": cm.tolist()}


# -- data -----------------------------------------------------------------------------------------------------

class ImageDataset:
    """Map-style dataset over (path, label) samples; train-time augmentation through transforms.v2, validation
    through the exact preprocessing the exported model is run with (``scene_model.preprocess``)."""

    def __init__(self, samples: list[Sample], image_size: int, mean, std, train: bool):
        self.samples = samples
        self.size = image_size
        self.mean, self.std = tuple(mean), tuple(std)
        self.train = train
        self._tf = None

    def __len__(self) -> int:
        return len(self.samples)

    def _transform(self):
        from torchvision.transforms import v2

        if self._tf is None:
            import torch

            self._tf = v2.Compose([
                v2.PILToTensor(),
                v2.RandomResizedCrop(self.size, scale=(0.5, 1.0), antialias=True),
                v2.RandomHorizontalFlip(),
                v2.ColorJitter(0.2, 0.2, 0.2),
                v2.ToDtype(torch.float32, scale=True),
                v2.Normalize(self.mean, self.std),
            ])
        return self._tf

    def load(self, path: Path):
        from PIL import Image, ImageOps

        from ..core.decode import register_heif

        register_heif()
        with Image.open(path) as im:
            if im.format == "JPEG":
                im.draft("RGB", (self.size * 2, self.size * 2))  # DCT scaling: never decode 12 MP for 224 px
            return ImageOps.exif_transpose(im).convert("RGB")

    def __getitem__(self, index: int):
        import torch

        from ..analyzers.vision.scene_model import preprocess

        s = self.samples[index]
        img = self.load(s.path)
        if self.train:
            return self._transform()(img), s.label
        return torch.from_numpy(preprocess(img, self.size, self.mean, self.std)), s.label


def find_local_weights(model: str, models_dir: Path) -> Path | None:
    """Pretrained weights for a timm model without the network: ``<models_dir>/timm/<model>(.safetensors|.pth|
    /model.safetensors)``, then the Hugging Face cache of the model's default ``timm/...`` repo."""
    base = Path(models_dir) / "timm"
    for p in (base / f"{model}.safetensors", base / f"{model}.pth", base / model / "model.safetensors",
              base / model / "pytorch_model.bin"):
        if p.is_file():
            return p
    try:
        import timm
        from huggingface_hub import try_to_load_from_cache

        cfg = timm.models.get_pretrained_cfg(model)
        hub_id = getattr(cfg, "hf_hub_id", None) if cfg else None
        if hub_id:
            for name in ("model.safetensors", "pytorch_model.bin"):
                hit = try_to_load_from_cache(hub_id, name)
                if isinstance(hit, str):
                    return Path(hit)
    except (ImportError, RuntimeError, ValueError):
        pass
    return None


def build_backbone(name: str, num_classes: int, weights: Path | None):
    import timm

    try:
        if weights is not None:
            return timm.create_model(name, pretrained=True, num_classes=num_classes,
                                     pretrained_cfg_overlay={"file": str(weights)})
        return timm.create_model(name, pretrained=False, num_classes=num_classes)
    except RuntimeError as exc:
        if "Unknown model" in str(exc):
            raise UsageError(f"model {name!r}: not a timm architecture (e.g. resnet18, efficientnet_b0, "
                             "mobilenetv3_small_100; `python -c 'import timm; print(timm.list_models())'`)")
        raise TrainingError(f"model {name}: cannot build it ({str(exc).splitlines()[0]})")


def pick_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available here (use --device auto or cpu)")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise UsageError(f"--device {device}: use auto, cuda or cpu")
    return device


# -- the loop -------------------------------------------------------------------------------------------------

def train_scene_model(cfg: TrainConfig, callbacks: Callbacks | None = None) -> TrainResult:
    import torch

    cb = callbacks or Callbacks()
    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise UsageError("--epochs and --batch-size must be at least 1")
    out = Path(cfg.output_dir)
    best_path, last_path, log_path = out / BEST, out / LAST, out / METRICS
    if not cfg.resume and not cfg.overwrite and (best_path.exists() or last_path.exists()):
        raise UsageError(f"{out} already holds a trained model ({BEST}); pass --resume to continue it or "
                         "--overwrite to start again, or choose another --output-dir")
    device = pick_device(cfg.device)
    folder = scan_image_folder(cfg.dataset, min_per_class=2)
    train_samples, val_samples = stratified_split(folder, cfg.val_fraction, cfg.seed)
    torch.manual_seed(cfg.seed)

    state = _resume_state(last_path, cfg, folder) if cfg.resume else None
    if cfg.linear_probe:
        setup = _probe_setup(cfg, folder, train_samples, val_samples, device)
    else:
        setup = _backbone_setup(cfg, folder, train_samples, val_samples, device, cb, state)
    model, train_loader, val_loader, meta = setup
    model.to(device)
    lr = cfg.lr or (1e-2 if cfg.linear_probe else 3e-4 if meta.get("pretrained") else 1e-3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs)
    amp_dtype = None
    if device.startswith("cuda") and not cfg.linear_probe:
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=0.0 if cfg.linear_probe else 0.1)

    start_epoch, best_acc, best_loss, best_epoch, bad_epochs = 1, -1.0, float("inf"), 0, 0
    if state is not None:
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        start_epoch = state["epoch"] + 1
        best_acc, best_loss = state["best_val_accuracy"], state["best_val_loss"]
        best_epoch, bad_epochs = state["best_epoch"], state["bad_epochs"]
        if start_epoch > cfg.epochs:
            raise UsageError(f"the checkpoint already ran {state['epoch']} epochs; ask for more with --epochs")
    out.mkdir(parents=True, exist_ok=True)
    if state is None:
        log_path.write_text("", encoding="utf-8")

    info = {"device": device, "amp": str(amp_dtype).replace("torch.", "") if amp_dtype else None,
            "classes": list(folder.classes), "train": len(train_samples), "val": len(val_samples),
            "epochs": cfg.epochs, "start_epoch": start_epoch, "lr": lr, **meta}
    cb.on_start(info)
    t_run = time.perf_counter()
    images_trained = 0
    train_seconds = 0.0
    stopped_early = False
    epoch = start_epoch - 1
    for epoch in range(start_epoch, cfg.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        total_loss, seen, correct = 0.0, 0, 0
        for step, (x, y) in enumerate(train_loader, 1):
            x = x.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)
            with torch.autocast(device_type="cuda", dtype=amp_dtype, enabled=amp_dtype is not None):
                logits = model(x)
                loss = criterion(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            batch_loss = float(loss.detach())
            total_loss += batch_loss * len(y)
            seen += len(y)
            correct += int((logits.detach().argmax(1) == y).sum())
            cb.on_batch(epoch, step, len(train_loader), batch_loss)
        scheduler.step()
        epoch_seconds = time.perf_counter() - t0
        train_seconds += epoch_seconds
        images_trained += seen
        val_loss, y_true, y_pred = _evaluate(model, val_loader, criterion, device, amp_dtype)
        m = classification_metrics(y_true, y_pred, folder.classes)
        metrics = {"epoch": epoch, "train_loss": round(total_loss / max(seen, 1), 5),
                   "train_accuracy": round(correct / max(seen, 1), 4), "val_loss": round(val_loss, 5),
                   "val_accuracy": m["accuracy"], "val_macro_f1": m["macro_f1"], "per_class": m["per_class"],
                   "confusion_matrix": m["confusion_matrix"], "lr": round(optimizer.param_groups[0]["lr"], 8),
                   "seconds": round(epoch_seconds, 3), "images_per_second": round(seen / max(epoch_seconds, 1e-9), 2)}
        improved = m["accuracy"] > best_acc or (m["accuracy"] == best_acc and val_loss < best_loss)
        if improved:
            best_acc, best_loss, best_epoch, bad_epochs = m["accuracy"], val_loss, epoch, 0
        else:
            bad_epochs += 1
        metrics["best"] = improved
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps(metrics) + "\n")
        common = _checkpoint_common(cfg, folder, meta, val_samples)
        if improved:
            _save(best_path, {**common, "state_dict": model.state_dict(), "epoch": epoch, "metrics": metrics})
        _save(last_path, {**common, "state_dict": model.state_dict(), "epoch": epoch, "metrics": metrics,
                          "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                          "scaler": scaler.state_dict() if scaler.is_enabled() else None,
                          "best_val_accuracy": best_acc, "best_val_loss": best_loss, "best_epoch": best_epoch,
                          "bad_epochs": bad_epochs})
        cb.on_epoch(metrics)
        if bad_epochs >= cfg.patience:
            stopped_early = True
            break
    summary = {**info, "best_epoch": best_epoch, "best_val_accuracy": best_acc, "epochs_run": epoch - start_epoch + 1,
               "stopped_early": stopped_early, "seconds": round(time.perf_counter() - t_run, 2),
               "train_images_per_second": round(images_trained / max(train_seconds, 1e-9), 2)}
    if device.startswith("cuda"):
        summary["gpu"] = {"name": torch.cuda.get_device_name(), "max_memory_allocated_mb":
                          round(torch.cuda.max_memory_allocated() / 2**20, 1)}
    return TrainResult(best_path, last_path, log_path, best_epoch, best_acc, epoch - start_epoch + 1,
                       stopped_early, summary)


def _evaluate(model, loader, criterion, device, amp_dtype) -> tuple[float, np.ndarray, np.ndarray]:
    import torch

    model.eval()
    losses, trues, preds = 0.0, [], []
    n = 0
    with torch.inference_mode():
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with torch.autocast(device_type="cuda", dtype=amp_dtype, enabled=amp_dtype is not None):
                logits = model(x).float()
            losses += float(criterion(logits, y)) * len(y)
            n += len(y)
            trues.append(y.cpu().numpy())
            preds.append(logits.argmax(1).cpu().numpy())
    if not n:
        return 0.0, np.zeros(0, np.int64), np.zeros(0, np.int64)
    return losses / n, np.concatenate(trues), np.concatenate(preds)


def _backbone_setup(cfg, folder: ImageFolder, train_samples, val_samples, device, cb: Callbacks, state):
    import torch

    weights = None
    if state is None and cfg.pretrained:
        weights = cfg.weights or find_local_weights(cfg.model, cfg.models_dir)
        if cfg.weights is not None and not Path(cfg.weights).is_file():
            raise UsageError(f"--weights {cfg.weights}: no such file")
        if weights is None:
            cb.on_warning(f"no pretrained weights for {cfg.model} in {Path(cfg.models_dir) / 'timm'} or the Hugging "
                          "Face cache: training from scratch (expect lower accuracy; put "
                          f"{cfg.model}.safetensors in {Path(cfg.models_dir) / 'timm'} to fine-tune instead)")
    elif state is not None:
        weights = None  # the checkpoint brings its own weights
    model = build_backbone(cfg.model, len(folder.classes), weights)
    mean = tuple(model.pretrained_cfg.get("mean", IMAGENET_MEAN))
    std = tuple(model.pretrained_cfg.get("std", IMAGENET_STD))
    workers = cfg.workers if cfg.workers is not None else min(4, os.cpu_count() or 1)
    gen = torch.Generator().manual_seed(cfg.seed)
    pin = device.startswith("cuda")
    train_ds = ImageDataset(train_samples, cfg.image_size, mean, std, train=True)
    val_ds = ImageDataset(val_samples, cfg.image_size, mean, std, train=False)
    kw = {"num_workers": workers, "pin_memory": pin, "persistent_workers": workers > 0}
    train_loader = torch.utils.data.DataLoader(train_ds, batch_size=cfg.batch_size, shuffle=True, generator=gen,
                                               drop_last=len(train_ds) > cfg.batch_size, **kw)
    val_loader = torch.utils.data.DataLoader(val_ds, batch_size=cfg.batch_size, shuffle=False, **kw)
    meta = {"kind": "timm", "architecture": cfg.model, "pretrained": weights is not None if state is None
            else state.get("pretrained", False), "weights": str(weights) if weights else None,
            "image_size": cfg.image_size, "mean": list(mean), "std": list(std)}
    return model, train_loader, val_loader, meta


def _probe_setup(cfg, folder: ImageFolder, train_samples, val_samples, device):
    import torch

    from .probe import load_embeddings

    emb, clip_model, catalog = load_embeddings(folder, cfg.catalog)
    dim = emb.shape[1]
    index = {s.path: i for i, s in enumerate(folder.samples)}

    def tensors(samples):
        rows = [index[s.path] for s in samples]
        return torch.utils.data.TensorDataset(torch.from_numpy(emb[rows]),
                                              torch.tensor([s.label for s in samples], dtype=torch.long))

    gen = torch.Generator().manual_seed(cfg.seed)
    train_loader = torch.utils.data.DataLoader(tensors(train_samples), batch_size=cfg.batch_size, shuffle=True,
                                               generator=gen)
    val_loader = torch.utils.data.DataLoader(tensors(val_samples), batch_size=max(cfg.batch_size, 256))
    model = torch.nn.Linear(dim, len(folder.classes))
    meta = {"kind": "linear_probe", "architecture": f"linear_probe[{clip_model}]", "pretrained": True,
            "embedding_dim": dim, "clip_model": clip_model, "catalog": str(Path(catalog).resolve())}
    return model, train_loader, val_loader, meta


def _checkpoint_common(cfg: TrainConfig, folder: ImageFolder, meta: dict[str, Any], val_samples) -> dict[str, Any]:
    return {"format": CHECKPOINT_FORMAT, "labels": list(folder.classes), "dataset": str(Path(folder.root).resolve()),
            "val_files": [str(s.path) for s in val_samples][:64], "seed": cfg.seed, "config": {
                "epochs": cfg.epochs, "batch_size": cfg.batch_size, "val_fraction": cfg.val_fraction,
                "weight_decay": cfg.weight_decay, "patience": cfg.patience}, **meta}


def _save(path: Path, payload: dict[str, Any]) -> None:
    import torch

    tmp = path.with_name(path.name + ".part")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    import pickle

    import torch

    try:
        ckpt = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UsageError(f"checkpoint {path}: no such file")
    except (RuntimeError, pickle.UnpicklingError, EOFError, OSError) as exc:
        raise TrainingError(f"checkpoint {path}: unreadable ({str(exc).splitlines()[0] if str(exc) else exc})")
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise TrainingError(f"checkpoint {path}: not an imgengine scene checkpoint (`imgengine train scene` makes one)")
    return ckpt


def _resume_state(last_path: Path, cfg: TrainConfig, folder: ImageFolder) -> dict[str, Any]:
    if not last_path.is_file():
        raise UsageError(f"--resume: {last_path} does not exist (nothing to resume)")
    state = load_checkpoint(last_path)
    if list(folder.classes) != state["labels"]:
        raise UsageError(f"--resume: the dataset's classes ({', '.join(folder.classes)}) differ from the "
                         f"checkpoint's ({', '.join(state['labels'])})")
    kind = "linear_probe" if cfg.linear_probe else "timm"
    if state.get("kind") != kind or (kind == "timm" and state.get("architecture") != cfg.model):
        raise UsageError(f"--resume: the checkpoint is a {state.get('architecture')} model, not {cfg.model}"
                         if kind == "timm" else "--resume: the checkpoint is not a linear probe")
    if kind == "timm" and state.get("image_size") != cfg.image_size:
        raise UsageError(f"--resume: the checkpoint was trained at {state.get('image_size')} px; "
                         f"pass --image-size {state.get('image_size')}")
    return state


def model_from_checkpoint(ckpt: dict[str, Any]):
    """The trained torch module of a checkpoint, in eval mode on the CPU."""
    import torch

    if ckpt.get("kind") == "linear_probe":
        model = torch.nn.Linear(int(ckpt["embedding_dim"]), len(ckpt["labels"]))
    else:
        model = build_backbone(ckpt["architecture"], len(ckpt["labels"]), None)
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()


Warn = Callable[[str], None]


def check_model_available() -> None:
    """One clear line when the training extra is missing."""
    try:
        import timm  # noqa: F401
        import torch  # noqa: F401
        import torchvision  # noqa: F401
    except ImportError as exc:
        raise ModelUnavailableError(f"training needs torch, torchvision and timm ({exc.name} is missing): "
                                    "pip install 'imgengine[training]'")
