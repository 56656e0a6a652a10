"""The batch stage: after the per-file stage, every selected batch analyzer (CLIP, DETR, plugins) over the
catalogued photos that lack its current result.

* ``setup`` of each analyzer finds its weights (no torch import): missing ones are reported as ONE
  warning and the rest run; the summary section is ``vision`` (kept from when only CLIP/DETR lived here).
* One prefetching loader decodes each photo once and prepares every analyzer's input spec from it
  (nvJPEG on CUDA where it pays); each analyzer runs chunked, halving its batch on out-of-memory.
* Analyzers run in dependency order inside each batch, so one with ``input_spec=None`` can read the
  results of another (``requires``) from the same batch or from the catalog.
* A plugin whose ``run`` raises or returns the wrong number of results costs only its results for that
  batch, recorded in errors.jsonl with its name and source line.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..analyzers.base import Batch, BatchAnalyzer, Result
from ..core.catalog import Catalog
from ..core.photo import display_path
from ..errors import DecodeError, ImgEngineError, ModelUnavailableError
from ..gpu.threads import prepare_wait_policy
from ..logs import RunLogger, error_record
from ..progress import steps_of
from ..settings import Settings
from .perfile import AnalyzerTimeout, FileOutcome, PluginOrigin, _Deadline, analyzer_timeouts, timeout_handler


@dataclass
class Pending:
    ref: Any                 # PhotoRef
    row: dict[str, Any]
    wants: tuple[str, ...]


def _catalogued_photos(catalog: Catalog, root: Path) -> Iterator[dict[str, Any]]:
    """Photo rows under ``root`` (or the single file ``root``) that analysed without error."""
    yield from catalog.photos_under(root, ok_only=True)


def plan_batch(catalog: Catalog, root: Path, versions: dict[str, str]) -> list[Pending]:
    """Photos that lack a current result of any analyzer in ``versions``."""
    from .loader import PhotoRef

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


def run_batch_stage(root: Path, settings: Settings, catalog: Catalog, logger: RunLogger,
                    analyzers: dict[str, BatchAnalyzer], origins: dict[str, PluginOrigin],
                    progress: Any = None) -> dict[str, Any]:
    """Run the batch analyzers on what needs them; returns the summary's ``vision`` section. Never
    raises for missing or broken models: it logs one warning and reports ``status: skipped``."""
    root = Path(root)
    t0 = time.perf_counter()
    summary: dict[str, Any] = {"status": "skipped", "models": {}}

    # 1. which analyzers can run (weights found; no torch import yet: a run without weights stays fast)
    usable: dict[str, BatchAnalyzer] = {}
    grouped: dict[type, list[ModelUnavailableError]] = {}
    problems: list[str] = []
    for name, analyzer in analyzers.items():
        try:
            analyzer.setup(settings)
            usable[name] = analyzer
        except ModelUnavailableError as exc:
            if hasattr(type(exc), "combine"):
                grouped.setdefault(type(exc), []).append(exc)
            else:
                problems.append(str(exc))
        except ImgEngineError as exc:
            problems.append(f"{name}: {exc}")
        except Exception as exc:  # noqa: BLE001 - a plugin's broken setup costs only itself
            problems.append(f"{name}: setup failed: {type(exc).__name__}: {exc}")
            _log_plugin_error(logger, "-", name, exc, origins)
    # requirements that cannot run make their dependants unusable too
    for name in list(usable):
        lost = [r for r in usable[name].requires if r in analyzers and r not in usable]
        if lost:
            problems.append(f"{name}: skipped, it requires {', '.join(lost)}")
            usable.pop(name)
    combined = [cls.combine(excs) for cls, excs in grouped.items()]
    problems = combined + problems
    if problems:
        message = "vision: " + "; ".join(problems) + ("" if usable else "; vision stage skipped")
        logger.warning(message)
        summary["warning"] = message
    if not usable:
        return summary

    versions = {name: a.stored_version for name, a in usable.items()}
    summary["models"] = {name: {**getattr(a, "model_info", {"name": name, "source": "plugin"}),
                                "version": versions[name]} for name, a in usable.items()}
    todo = plan_batch(catalog, root, versions)
    summary.update(status="up to date", photos=0)
    if not todo:
        return summary

    # 2. load the analyzers that have work (torch from here on)
    needed = {name for p in todo for name in p.wants}
    if getattr(settings, "executor", "auto") == "ray":   # in Ray actors (GPU actors on a GPU cluster)
        from .ray_batch import process_batches_on_ray

        work = {name: a for name, a in usable.items() if name in needed}
        summary.update(process_batches_on_ray(todo, work, versions, settings, catalog, logger, origins, progress))
        summary["seconds"] = round(time.perf_counter() - t0, 3)
        return summary
    from .batching import resolve_device

    try:
        prepare_wait_policy(settings.omp_wait_policy)  # before torch's OpenMP runtime starts
        device = resolve_device(settings.device)
        for name in [n for n in usable if n not in needed]:
            usable.pop(name)
        steps = steps_of(progress)
        steps.step_start("loading models", len(usable), "models")
        for name, analyzer in list(usable.items()):
            try:
                analyzer.load(device)
                steps.step_advance("loading models")
            except ImgEngineError:
                raise
            except Exception as exc:  # noqa: BLE001 - a plugin that cannot load costs only itself
                msg = f"vision: {name} could not be loaded ({type(exc).__name__}: {exc}); skipped"
                logger.warning(msg)
                _log_plugin_error(logger, "-", name, exc, origins)
                summary["warning"] = (summary.get("warning", "") + "; " if summary.get("warning") else "") + msg
                usable.pop(name)
                steps.step_advance("loading models")
        steps.step_done("loading models")
    except ImgEngineError as exc:
        message = f"vision: {exc}; vision stage skipped"
        logger.warning(message)
        summary.update(status="skipped", warning=message)
        return summary
    if not usable:
        summary.update(status="skipped")
        return summary
    summary.update(process_batches(todo, usable, versions, settings, device, catalog, logger, origins, progress))
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    return summary


def _log_plugin_error(logger: RunLogger, file: str, stage: str, exc: BaseException,
                      origins: dict[str, PluginOrigin]) -> None:
    o = origins.get(stage)
    if o is not None:
        rec = error_record(logger.run_id, file, stage, exc, plugin=o.plugin, plugin_version=o.version,
                           plugin_root=o.root)
    else:
        rec = error_record(logger.run_id, file, stage, exc)
    logger.error(rec)


def loader_start_method() -> str | None:
    """How the loader's worker processes start: the platform's default (fork on Linux, the cheapest) unless
    this process has loaded Ray. Ray leaves native threads running (gRPC, its core worker's I/O, jemalloc's
    background thread) even after ``ray.shutdown()``, and a child forked while one of them holds a lock
    hangs for ever on its first allocation or import; that is the case in a Ray actor running the batch stage
    and in any process that used Ray before. ``forkserver`` starts workers from a clean single-threaded
    process instead (a second or two per run, for a stage that runs for minutes)."""
    import multiprocessing as mp

    from .executors import fork_unsafe

    if fork_unsafe() and "forkserver" in mp.get_all_start_methods():
        return "forkserver"
    return None


def _loader(refs: list, spec: Any, batch: int, workers: int, device: str):
    import functools

    import torch
    from torch.utils.data import DataLoader

    from .loader import PhotoDataset, collate

    kwargs: dict[str, Any] = {}
    if workers > 0:
        kwargs.update(prefetch_factor=2 if device.startswith("cuda") else 4, persistent_workers=False)
        start_method = loader_start_method()
        if start_method is not None:
            kwargs["multiprocessing_context"] = start_method
    crop_keys = tuple(k for k, s in spec.entries if s.crop)
    return DataLoader(PhotoDataset(refs, spec), batch_size=batch, shuffle=False, num_workers=workers,
                      collate_fn=functools.partial(collate, crop_keys=crop_keys),
                      pin_memory=device.startswith("cuda") and torch.cuda.is_available(), **kwargs)


def process_batches(todo: list[Pending], analyzers: dict[str, BatchAnalyzer], versions: dict[str, str],
                    settings: Settings, device: str, catalog: Catalog, logger: RunLogger,
                    origins: dict[str, PluginOrigin] | None = None, progress: Any = None) -> dict[str, Any]:
    """The batched loop: loader -> (nvJPEG) -> each analyzer with OOM halving -> catalog, per batch."""
    import torch

    from ..gpu.sampler import GpuSampler, starvation_warning
    from ..gpu.threads import apply_cpu_threads, available_cores
    from .batching import BatchState, parse_batch_size, run_chunked
    from .loader import InputSpec as LoaderSpec
    from .loader import gpu_decode, nvjpeg_available

    origins = origins or {}
    cuda = device.startswith("cuda")
    cores = available_cores()
    fixed = parse_batch_size(settings.batch_size)
    kind = "cuda" if cuda else "cpu"
    states = {k: BatchState(k, fixed or int(a.batch_size.get(kind, 8))) for k, a in analyzers.items()}
    pixel_inputs = tuple((k, a.input_spec) for k, a in analyzers.items() if a.input_spec is not None)
    use_nvjpeg = bool(pixel_inputs) and nvjpeg_available(device)
    spec = LoaderSpec(inputs=pixel_inputs, max_pixels=settings.max_pixels, jpeg_bytes=use_nvjpeg)
    # on a CPU the model threads need the cores; one worker keeps decoding ahead of them
    workers = max(1, min(settings.effective_workers(), 16)) if cuda else (1 if cores > 1 else 0)
    if len(todo) < 8 or not pixel_inputs:
        workers = 0
    threads = None if cuda else apply_cpu_threads(workers, settings.cpu_threads, settings.omp_wait_policy)
    # one loader batch feeds every analyzer; on CUDA with a full-image (mask) input it is kept to 2 of that
    # analyzer's batches so that the prefetched uint8 images (about 2.4 MB each at 1024 px) stay within a
    # few GB of shared memory
    loader_batch = max(s.size for s in states.values())
    if cuda and fixed is None:
        for k, s in pixel_inputs:
            if not s.crop:
                loader_batch = min(loader_batch, 2 * states[k].size)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    stats = {"photos": 0, "failed": 0, "batches": 0, "oom_retries": 0, "wait_seconds": 0.0,
             "model_seconds": {k: 0.0 for k in analyzers}, "write_seconds": 0.0}
    by_id = {p.ref.photo_id: p for p in todo}
    required = sorted({r for a in analyzers.values() for r in a.requires if r not in analyzers})
    interrupted = False
    run_id = logger.run_id
    t_start = time.perf_counter()
    sampler = GpuSampler(device).start()
    timeouts = analyzer_timeouts(settings, analyzers)   # per call of run(batch); SIGALRM, main thread only

    def oom(message: str) -> None:
        stats["oom_retries"] += 1
        logger.warning(f"vision: {message}")

    steps = steps_of(progress)
    steps.step_start("vision", len(todo), "images")
    with timeout_handler():
        try:
            t_wait = time.perf_counter()
            for batch in _loader([p.ref for p in todo], spec, loader_batch, workers, device):
                stats["wait_seconds"] += time.perf_counter() - t_wait
                items = batch["items"]
                if use_nvjpeg:
                    gpu_decode(items, spec, device)
                ids = [it["ref"].photo_id for it in items]
                outcomes = {pid: _outcome(by_id[pid]) for pid in ids}
                known = catalog.results_for(ids, required) if required else {}
                fresh: dict[int, dict[str, dict]] = {pid: dict(known.get(pid, {})) for pid in ids}
                bad = set()
                for it in items:
                    if it["error"] is not None:
                        pend = by_id[it["ref"].photo_id]
                        bad.add(pend.ref.photo_id)
                        stats["failed"] += 1
                        rec = error_record(run_id, display_path(pend.ref.path), "vision", DecodeError(it["error"]))
                        logger.error(rec)
                        for name in pend.wants:
                            if analyzers[name].input_spec is not None:
                                outcomes[pend.ref.photo_id].results[name] = (versions[name], None, it["error"])
                for name, analyzer in analyzers.items():
                    idx = [i for i, pid in enumerate(ids) if name in by_id[pid].wants
                           and (analyzer.input_spec is None or pid not in bad)
                           and all(r in fresh[pid] for r in analyzer.requires)]
                    for i, pid in enumerate(ids):
                        if name in by_id[pid].wants and i not in idx and pid not in bad:
                            missing = [r for r in analyzer.requires if r not in fresh[pid]]
                            outcomes[pid].results[name] = (versions[name], None,
                                                           f"skipped: no result from {', '.join(missing)}")
                    if not idx:
                        continue
                    t = time.perf_counter()
                    try:
                        results = _run_analyzer(name, analyzer, batch, items, idx, states[name], run_chunked, oom,
                                                [fresh[ids[i]] for i in idx], device, timeouts.get(name))
                        if len(results) != len(idx):
                            raise TypeError(f"{name}.run returned {len(results)} results for {len(idx)} photos")
                        datas = [r.to_dict() if isinstance(r, Result) else r for r in results]
                        wrong = [type(d).__name__ for d in datas if not isinstance(d, dict)]
                        if wrong:
                            raise TypeError(f"{name}.run returned {wrong[0]}, not a Result or dict")
                    except Exception as exc:  # noqa: BLE001 - one analyzer's failure costs only its results
                        text = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
                        if isinstance(exc, AnalyzerTimeout):
                            text = f"timed out after {timeouts.get(name):g}s"
                        for i in idx:
                            _log_plugin_error(logger, display_path(by_id[ids[i]].ref.path), name, exc, origins)
                            outcomes[ids[i]].results[name] = (versions[name], None, text)
                        stats["model_seconds"][name] += time.perf_counter() - t
                        continue
                    stats["model_seconds"][name] += time.perf_counter() - t
                    for i, data in zip(idx, datas, strict=True):
                        outcomes[ids[i]].results[name] = (versions[name], data, None)
                        fresh[ids[i]][name] = data
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
    gpu = sampler.stop()
    out: dict[str, Any] = {
        "status": "interrupted" if interrupted else "done",
        "device": device,
        "nvjpeg": use_nvjpeg,
        "loader_workers": workers,
        "torch_threads": torch.get_num_threads(),
        "cpu_threads": threads.to_dict() if threads is not None else None,
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
        out["gpu"] = gpu
        if gpu and (starved := starvation_warning(gpu, use_nvjpeg)):
            logger.warning(f"vision: {starved}")
            out["warning"] = starved
    logger.info(f"vision: {stats['photos']} photos on {device} ({out['images_per_second']} images/s), "
                f"{stats['failed']} failed, {stats['oom_retries']} OOM retries")
    return out


def _run_analyzer(name: str, analyzer: BatchAnalyzer, batch: dict[str, Any], items: list[dict[str, Any]],
                  idx: list[int], state: Any, run_chunked: Any, oom: Any, results: list[dict[str, dict]],
                  device: str, timeout: float | None = None) -> list:
    """Run one analyzer on the batch rows ``idx`` (chunked, OOM-safe); pixels come from the collated
    tensors for CPU-decoded items and from the items themselves for GPU-decoded ones."""
    import torch

    from .loader import pad_batch

    spec = analyzer.input_spec
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

    def gather(sel: list[int]) -> list:
        """Per-image tensors on the device (a batch can mix CPU-decoded and GPU-decoded images)."""
        return [((batch[name][row_of[i]] if spec.crop else _unpad(batch, name, row_of[i])) if i in row_of
                 else items[i][name]).to(device, non_blocking=True) for i in sel]

    def fn(a: int, b: int) -> list:
        sel = idx[a:b]
        part = Batch(paths=[items[i]["ref"].path for i in sel], upright_sizes=[items[i]["upright"] for i in sel],
                     results=results[a:b], device=device)
        if spec is not None:
            rows = contiguous_rows(sel)
            if spec.crop:
                part.pixels = batch[name][rows] if rows is not None else torch.stack(gather(sel))
            elif rows is not None:
                part.pixels, part.mask = batch[name][rows], batch[f"{name}_mask"][rows]
            else:
                part.pixels, part.mask = pad_batch(gather(sel))
        if timeout:
            with _Deadline(timeout):
                return list(analyzer.run(part))
        return list(analyzer.run(part))

    return run_chunked(fn, len(idx), state, oom)


def _unpad(batch: dict[str, Any], name: str, row: int):
    mask = batch[f"{name}_mask"][row]
    h = int(mask[:, 0].sum())
    w = int(mask[0, :].sum())
    return batch[name][row, :, :h, :w]
