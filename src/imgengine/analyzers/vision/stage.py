"""The vision stage of ``analyze``: after the CPU stage, CLIP and DETR over the catalogued photos that lack them.

One contained entry point, :func:`run_vision_stage`, called by ``core.pipeline.run_analysis``. Results go
into the catalog's results table under the analyzer names ``clip`` and ``detr`` with a version that
includes the model (and the label set), so they are computed once per file and again only when the
file, the model or the labels change. Missing weights skip the stage with ONE warning.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...core.catalog import Catalog, path_key
from ...core.photo import display_path
from ...core.pipeline import FileOutcome
from ...errors import DecodeError, ImgEngineError, ModelUnavailableError
from ...logs import RunLogger, error_record
from ...progress import steps_of
from ...settings import Settings
from .inputs import InputSpec, PhotoRef
from .labels import load_labels
from .models import check_model_folder, how_to_get, locate_model

NAMES = ("clip", "detr")


@dataclass
class Pending:
    ref: PhotoRef
    row: dict[str, Any]
    wants: tuple[str, ...]


def _catalogued_photos(catalog: Catalog, root: Path) -> Iterator[dict[str, Any]]:
    """Photo rows under ``root`` (or the single file ``root``) that analysed without error."""
    if root.is_file():
        where, params = "WHERE path = ?", (path_key(root),)
    else:
        prefix = path_key(root).rstrip(b"/") + b"/"
        where, params = "WHERE substr(path, 1, ?) = ?", (len(prefix), prefix)
    for row in catalog.db.execute(
            "SELECT id, path, size, mtime_ns, format, extension_mismatch, sha256, status, error FROM photos "
            f"{where} AND status = 'ok' AND format IS NOT NULL AND missing_since IS NULL ORDER BY path", params):
        yield dict(row)


def plan_vision(catalog: Catalog, root: Path, versions: dict[str, str]) -> list[Pending]:
    """Photos that lack a current result of any model in ``versions``."""
    known = catalog.known_files(root if root.is_dir() else None)
    todo = []
    for row in _catalogued_photos(catalog, root):
        k = known.get(bytes(row["path"]))
        have = k.versions if k else {}
        wants = tuple(n for n, v in versions.items() if have.get(n) != v)
        if wants:
            path = Path(os.fsdecode(bytes(row["path"])))
            todo.append(Pending(PhotoRef(row["id"], path, row["size"], row["mtime_ns"], row["format"]), row, wants))
    return todo


def _outcome(p: Pending) -> FileOutcome:
    """The photo's stored fields unchanged, plus the new results (existing results are kept)."""
    r = p.row
    return FileOutcome(p.ref.path, r["size"], r["mtime_ns"], r["format"], bool(r["extension_mismatch"]),
                       r["sha256"], r["status"], r["error"], replace_results=False)


def run_vision_stage(root: Path, settings: Settings, catalog: Catalog, logger: RunLogger,
                     progress: Any = None) -> dict[str, Any]:
    """Run CLIP/DETR on what needs it; returns the summary's ``vision`` section. Never raises for
    missing or broken models: it logs one warning and reports ``status: skipped``."""
    root = Path(root)
    t0 = time.perf_counter()
    summary: dict[str, Any] = {"status": "skipped", "models": {}}

    # 1. which models are there (no torch import yet: a run without weights stays fast)
    locations = {kind: locate_model(kind, settings) for kind in NAMES}
    missing = [loc.name for loc in locations.values() if loc.path is None]
    usable = {}
    problems = []
    for kind, loc in locations.items():
        if loc.path is None:
            continue
        try:
            check_model_folder(kind, loc.path)
            usable[kind] = loc
        except ModelUnavailableError as exc:
            problems.append(str(exc))
    if missing:
        problems.insert(0, how_to_get(missing, settings))
    if problems:
        message = "vision: " + "; ".join(problems) + ("" if usable else "; vision stage skipped")
        logger.warning(message)
        summary["warning"] = message
    if not usable:
        return summary

    try:
        labels = load_labels(settings.models_dir)
    except ImgEngineError as exc:
        logger.warning(f"vision: {exc}; vision stage skipped")
        summary["warning"] = str(exc)
        return summary
    from .engine import model_version

    versions = {kind: model_version(kind, loc.name, loc.path, labels.fingerprint if kind == "clip" else
                                    f"threshold={settings.detr_threshold}")
                for kind, loc in usable.items()}
    summary["models"] = {kind: {"name": loc.name, "source": loc.source, "version": versions[kind]}
                         for kind, loc in usable.items()}
    todo = plan_vision(catalog, root, versions)
    summary.update(status="up to date", photos=0)
    if not todo:
        return summary

    # 2. load the models (torch from here on)
    try:
        from .engine import ClipRunner, DetrRunner, resolve_device
        from .models import load_pretrained, require_libraries

        require_libraries()
        device = resolve_device(settings.device)
        runners: dict[str, Any] = {}
        needed = {name for p in todo for name in p.wants}
        steps = steps_of(progress)
        steps.step_start("loading models", len([k for k in usable if k in needed]), "models")
        for kind, loc in usable.items():
            if kind not in needed:
                continue
            model, processor = load_pretrained(kind, loc.path)
            steps.step_advance("loading models")
            if kind == "clip":
                runners[kind] = ClipRunner(model, processor, labels, device)
            else:
                runners[kind] = DetrRunner(model, processor, device, settings.detr_threshold)
            runners[kind].model_id = model_version(kind, loc.name, loc.path)
        steps.step_done("loading models")
    except ImgEngineError as exc:
        message = f"vision: {exc}; vision stage skipped"
        logger.warning(message)
        summary.update(status="skipped", warning=message)
        return summary
    summary.update(process_batches(todo, runners, versions, settings, device, catalog, logger, progress))
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    return summary


def _loader(refs: list[PhotoRef], spec: InputSpec, batch: int, workers: int, device: str):
    import torch
    from torch.utils.data import DataLoader

    from .inputs import PhotoDataset, collate

    kwargs: dict[str, Any] = {}
    if workers > 0:
        kwargs.update(prefetch_factor=2 if device.startswith("cuda") else 4, persistent_workers=False)
    return DataLoader(PhotoDataset(refs, spec), batch_size=batch, shuffle=False, num_workers=workers,
                      collate_fn=collate, pin_memory=device.startswith("cuda") and torch.cuda.is_available(),
                      **kwargs)


class GpuUtilSampler:
    """GPU utilisation sampled with NVML (``pynvml``) in a thread while the stage runs; a no-op when NVML
    is not installed. (The GPU-monitor module will replace this.)"""

    def __init__(self, device: str, interval: float = 0.5):
        import threading

        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = None
        if not device.startswith("cuda"):
            return
        try:
            import pynvml

            pynvml.nvmlInit()
            index = int(device.split(":")[1]) if ":" in device else 0
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            self._nvml = pynvml
        except Exception:  # noqa: BLE001 - no NVML: no utilisation figures, nothing else changes
            return
        self._interval = interval
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.samples.append(int(self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu))
            except Exception:  # noqa: BLE001
                return

    def stop(self) -> dict[str, float] | None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if not self.samples:
            return None
        return {"mean": round(sum(self.samples) / len(self.samples), 1), "max": max(self.samples)}


def process_batches(todo: list[Pending], runners: dict[str, Any], versions: dict[str, str], settings: Settings,
                    device: str, catalog: Catalog, logger: RunLogger, progress: Any = None) -> dict[str, Any]:
    """The batched loop: loader -> (nvJPEG) -> CLIP/DETR with OOM halving -> catalog, per batch."""
    import torch

    from .engine import AUTO_BATCH, DETR_SIZE, BatchState, parse_batch_size, run_chunked
    from .inputs import gpu_decode, nvjpeg_available

    cuda = device.startswith("cuda")
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    if not cuda:
        torch.set_num_threads(cores)
    fixed = parse_batch_size(settings.batch_size)
    auto = AUTO_BATCH["cuda" if cuda else "cpu"]
    states = {k: BatchState(k, fixed or auto[k]) for k in runners}
    clip = runners.get("clip")
    detr = runners.get("detr")
    use_nvjpeg = nvjpeg_available(device)
    spec = InputSpec(clip_size=clip.crop if clip else None, clip_resize=clip.resize if clip else 0,
                     detr_size=min(DETR_SIZE["cuda" if cuda else "cpu"], detr.max_size) if detr else None,
                     max_pixels=settings.max_pixels, jpeg_bytes=use_nvjpeg)
    # on a CPU the model threads need the cores; one worker keeps decoding ahead of them
    workers = max(1, min(settings.effective_workers(), 16)) if cuda else (1 if cores > 1 else 0)
    if len(todo) < 8:
        workers = 0
    # one loader batch feeds both models; with DETR on CUDA it is kept to 2 DETR batches so that the
    # prefetched uint8 images (about 2.4 MB each at 1024 px) stay within a few GB of shared memory
    loader_batch = max(s.size for s in states.values())
    if cuda and detr is not None and fixed is None:
        loader_batch = min(loader_batch, 2 * states["detr"].size)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    stats = {"photos": 0, "failed": 0, "batches": 0, "oom_retries": 0, "wait_seconds": 0.0,
             "model_seconds": {k: 0.0 for k in runners}, "write_seconds": 0.0}
    by_id = {p.ref.photo_id: p for p in todo}
    interrupted = False
    run_id = logger.run_id
    t_start = time.perf_counter()
    sampler = GpuUtilSampler(device)

    def oom(message: str) -> None:
        stats["oom_retries"] += 1
        logger.warning(f"vision: {message}")

    steps = steps_of(progress)
    steps.step_start("vision", len(todo), "images")
    try:
        t_wait = time.perf_counter()
        for batch in _loader([p.ref for p in todo], spec, loader_batch, workers, device):
            stats["wait_seconds"] += time.perf_counter() - t_wait
            items = batch["items"]
            if use_nvjpeg:
                gpu_decode(items, spec, device)
            outcomes = {it["ref"].photo_id: _outcome(by_id[it["ref"].photo_id]) for it in items}
            ok = [i for i, it in enumerate(items) if it["error"] is None]
            for it in items:
                if it["error"] is not None:
                    pend = by_id[it["ref"].photo_id]
                    stats["failed"] += 1
                    rec = error_record(run_id, display_path(pend.ref.path), "vision", DecodeError(it["error"]))
                    logger.error(rec)
                    for name in pend.wants:
                        outcomes[pend.ref.photo_id].results[name] = (versions[name], None, it["error"])
            for name, runner in runners.items():
                idx = [i for i in ok if name in by_id[items[i]["ref"].photo_id].wants]
                if not idx:
                    continue
                t = time.perf_counter()
                results = _run_model(name, runner, batch, items, idx, states[name], run_chunked, oom)
                stats["model_seconds"][name] += time.perf_counter() - t
                for i, data in zip(idx, results, strict=False):
                    outcomes[items[i]["ref"].photo_id].results[name] = (versions[name], data, None)
            t = time.perf_counter()
            catalog.write_outcomes(list(outcomes.values()))
            stats["write_seconds"] += time.perf_counter() - t
            stats["photos"] += len(items)
            stats["batches"] += 1
            steps.step_advance("vision", len(items))
            t_wait = time.perf_counter()
    except KeyboardInterrupt:
        interrupted = True
        logger.warning("vision: interrupted; results so far are saved, the next run resumes")
    steps.step_done("vision")
    elapsed = time.perf_counter() - t_start
    utilisation = sampler.stop()
    out: dict[str, Any] = {
        "status": "interrupted" if interrupted else "done",
        "device": device,
        "nvjpeg": use_nvjpeg,
        "loader_workers": workers,
        "torch_threads": torch.get_num_threads(),
        "batch_size": {k: s.size for k, s in states.items()},
        "batch_sizes_used": {k: sorted(s.sizes_seen, reverse=True) for k, s in states.items()},
        "images_per_second": round(stats["photos"] / elapsed, 2) if elapsed > 0 else 0.0,
        "photos": stats["photos"], "failed": stats["failed"], "batches": stats["batches"],
        "oom_retries": stats["oom_retries"],
        "stage_seconds": {"wait_for_loader": round(stats["wait_seconds"], 3),
                          **{k: round(v, 3) for k, v in stats["model_seconds"].items()},
                          "write": round(stats["write_seconds"], 3)},
        "interrupted": interrupted,
    }
    if cuda:
        out["gpu_memory_peak_bytes"] = int(torch.cuda.max_memory_allocated())
        out["gpu_utilisation_percent"] = utilisation
    logger.info(f"vision: {stats['photos']} photos on {device} ({out['images_per_second']} images/s), "
                f"{stats['failed']} failed, {stats['oom_retries']} OOM retries")
    return out


def _run_model(name: str, runner: Any, batch: dict[str, Any], items: list[dict[str, Any]], idx: list[int],
               state: Any, run_chunked: Any, oom: Any) -> list[dict[str, Any]]:
    """Run one model on the batch rows ``idx`` (chunked, OOM-safe); pixels come from the collated
    tensors for CPU-decoded items and from the items themselves for GPU-decoded ones."""
    import torch

    from .inputs import pad_batch

    row_of = {i: r for r, i in enumerate(batch["pixel_index"])}

    def contiguous_rows(sel: list[int]) -> slice | None:
        """The collated rows of ``sel`` as a slice when they are one run (the usual case): a slice of
        the pinned batch keeps the host-to-device copy asynchronous."""
        if not all(i in row_of for i in sel):
            return None
        rows = [row_of[i] for i in sel]
        if rows != list(range(rows[0], rows[0] + len(rows))):
            return None
        return slice(rows[0], rows[0] + len(rows))

    def gather(sel: list[int], key: str) -> list:
        """Per-image tensors on the model's device (a batch can mix CPU-decoded and GPU-decoded images)."""
        return [((batch[key][row_of[i]] if key == "clip" else _unpad(batch, row_of[i])) if i in row_of
                 else items[i][key]).to(runner.device, non_blocking=True) for i in sel]

    if name == "clip":
        def fn(a: int, b: int) -> list:
            sel = idx[a:b]
            rows = contiguous_rows(sel)
            pixels = batch["clip"][rows] if rows is not None else torch.stack(gather(sel, "clip"))
            return runner.describe(runner.image_embeddings(pixels))
    else:
        def fn(a: int, b: int) -> list:
            sel = idx[a:b]
            rows = contiguous_rows(sel)
            if rows is not None:
                pixels, mask = batch["detr"][rows], batch["detr_mask"][rows]
            else:
                pixels, mask = pad_batch(gather(sel, "detr"))
            return runner.detect(pixels, mask, [items[i]["upright"] for i in sel])
    return run_chunked(fn, len(idx), state, oom)


def _unpad(batch: dict[str, Any], row: int):
    mask = batch["detr_mask"][row]
    h = int(mask[:, 0].sum())
    w = int(mask[0, :].sum())
    return batch["detr"][row, :, :h, :w]
