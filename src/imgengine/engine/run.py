"""One run of ``analyze``: plan (incremental) -> per-file stage (executor) -> batch stage -> catalog -> summary.

The engine names no analyzer: it asks the plugin manager for the selected ones, sends the per-file
analyzers to an executor (serial or the local process pool; one task per file, one decode shared) and the
batch analyzers to the batch stage (one loader, one decode per photo shared). Results are written to the
catalog in batched transactions. One bad file never stops a run; Ctrl-C stops the workers, commits what
is done and re-raises; the next run resumes.
"""

from __future__ import annotations

import inspect
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..analyzers.base import Analyzer, BatchAnalyzer
from ..catalog import open_catalog
from ..core.catalog import MISSING_GRACE_SECONDS, Catalog
from ..core.photo import display_path
from ..errors import CatalogError, ImgEngineError, ModelUnavailableError
from ..logs import RunLogger, error_record, plugin_load_record
from ..settings import Settings, coerce_like
from .executors import StageContext, make_executor
from .perfile import FileOutcome, PluginOrigin, analyzer_timeouts, outcome_results
from .plan import plan_run


class Progress(Protocol):
    def start(self, total: int, skipped: int) -> None: ...
    def advance(self, outcome: FileOutcome) -> None: ...


class NullProgress:
    def start(self, total: int, skipped: int) -> None:
        pass

    def advance(self, outcome: FileOutcome) -> None:
        pass


@dataclass
class RunResult:
    run_id: str
    summary: dict[str, Any]
    failures: list[FileOutcome]        # only the failed files: a 500,000-file run keeps no per-file list
    catalog_path: Path

    @property
    def failed(self) -> int:
        return self.summary["failed"]


@dataclass
class RunInfo:
    """What ``run_started``/``run_finished`` listeners get."""

    run_id: str
    root: Path
    settings: Settings
    analyzers: list[str]
    batch_analyzers: list[str] = field(default_factory=list)


def select_analyzers(settings: Settings, manager: Any = None) -> dict[str, Analyzer]:
    """The run's analyzer instances (per-file and batch), configured, in dependency order."""
    from ..plugins.manager import enabled_by_config, get_manager

    manager = manager or get_manager(settings)
    names = tuple(settings.analyzers)
    if names:
        # `--analyzers metadata` narrows the per-file stage; the batch stage keeps following --vision
        # unless a batch analyzer is named too (then exactly the named ones run)
        classes = manager.analyzer_classes()
        batch = [n for n, (cls, _p) in classes.items() if issubclass(cls, BatchAnalyzer)]
        if not any(n in batch for n in names):
            sections = settings.plugins or {}
            names += tuple(n for n in batch if enabled_by_config(n, classes[n][0], sections))
    chosen = manager.select(settings, names, enable=settings.enable_plugins, disable=settings.disable_plugins)
    for name, analyzer in chosen.items():  # environment values arrive as text: use the declared types
        for key, default in analyzer.config_defaults.items():
            if key in analyzer.config:
                analyzer.config[key] = coerce_like(default, analyzer.config[key], f"plugins.{name}.{key}")
    return chosen


def plugin_origins(analyzers: dict[str, Analyzer], manager: Any) -> dict[str, PluginOrigin]:
    """Who provides each analyzer and where its code lives (for the error records' source line)."""
    out = {}
    for name, analyzer in analyzers.items():
        info = manager.plugin_of(name)
        cls = type(analyzer)
        root = None
        if info is not None and info.source == "folder":
            root = info.origin
        else:
            top = sys.modules.get(cls.__module__.split(".")[0])
            top_file = getattr(top, "__file__", None)
            if top_file:
                root = os.path.dirname(top_file) if top_file.endswith("__init__.py") else top_file
            else:
                try:
                    root = inspect.getsourcefile(cls)
                except TypeError:
                    root = None
        out[name] = PluginOrigin(info.name if info else "?", info.version if info else None,
                                 bool(info and info.source == "built-in"), root)
    return out


def _emit(manager: Any, logger: RunLogger, hook: str, **kwargs: Any) -> None:
    """Call an event hook; a listener that raises is logged and costs nothing else."""
    for line in manager.emit(hook, **kwargs):
        logger.warning(line)


def refresh_search_store(catalog: Catalog, settings: Settings, logger: RunLogger, progress: Any = None) -> None:
    """Bring the search store (``.imgengine/search/``) up to date with the embeddings this run wrote, so the
    first ``search`` after ``analyze`` maps it instead of reading every embedding out of SQLite. The store is
    a copy: when this fails, the next search rebuilds what it needs. An in-memory catalog (``show`` on a
    photo no catalog knows) has no folder to keep one in."""
    if not Path(catalog.path).is_file():
        return
    try:
        from ..search.query import pick_model
        from ..search.store import EmbeddingStore

        EmbeddingStore(catalog, pick_model(catalog, settings, need_encoder=False)).sync(progress)
    except Exception as exc:  # noqa: BLE001 - a copy for speed, never a reason to fail the run
        logger.warning(f"search index: not brought up to date ({type(exc).__name__}: {exc}); the next search "
                       "will")


def run_analysis(root: Path, settings: Settings, *, progress: Progress | None = None,
                 logger: RunLogger | None = None, catalog: Catalog | None = None,
                 manager: Any = None) -> RunResult:
    from ..plugins.manager import get_manager

    root = Path(root)
    progress = progress or NullProgress()
    manager = manager or get_manager(settings)
    selected = select_analyzers(settings, manager)
    own_logger = logger is None
    logger = logger or RunLogger(settings.log_dir, command="analyze")
    run_id = logger.run_id
    for problem in manager.problems:
        logger.warning(f"plugin {problem.name} ({problem.source} {problem.origin}): {problem.error}",
                       traceback=problem.traceback)
        if problem.traceback and problem.source == "folder":  # errors.jsonl: the feedback loop's input
            logger.error(plugin_load_record(run_id, problem.name, problem.origin, problem.traceback,
                                            problem.version))
    origins = plugin_origins(selected, manager)
    analyzers: dict[str, Analyzer] = {}
    batch_analyzers: dict[str, BatchAnalyzer] = {}
    setup_warnings: list[str] = []
    for name, a in selected.items():
        if isinstance(a, BatchAnalyzer):
            if settings.vision:
                batch_analyzers[name] = a
            continue
        later = [r for r in a.requires if isinstance(selected.get(r), BatchAnalyzer)]
        if later:  # per-file analyzers run before the batch stage: they cannot read its results
            setup_warnings.append(f"{name}: skipped, a per-file analyzer cannot require the batch analyzer(s) "
                                  f"{', '.join(later)} (make it a BatchAnalyzer with input_spec = None)")
            continue
        try:
            a.setup(settings)
        except ImgEngineError as exc:
            setup_warnings.append(f"{name}: {exc}; skipped")
            continue
        except Exception as exc:  # noqa: BLE001 - a plugin whose setup fails costs only itself
            o = origins[name]
            logger.error(error_record(run_id, "-", name, exc, plugin=o.plugin, plugin_version=o.version,
                                      plugin_root=o.root))
            setup_warnings.append(f"{name}: setup failed ({type(exc).__name__}: {exc}); skipped")
            continue
        analyzers[name] = a
    for w in setup_warnings:
        logger.warning(w)
    own_catalog = catalog is None
    catalog = catalog or open_catalog(settings.catalog_path(root if root.is_dir() else root.parent),
                                   roots=settings.roots)
    started = time.time()
    t_start = time.perf_counter()
    stage_seconds: dict[str, float] = {}      # wall seconds: per-file stages summed over files, + scan/write
    stage_cpu_seconds: dict[str, float] = {}  # CPU seconds of the per-file stages, summed over files
    failures: list[FileOutcome] = []
    pixels_sources: dict[str, int] = {}
    counts = {"ok": 0, "failed": 0, "ignored": 0}
    errors_by_stage: dict[str, int] = {}
    interrupted = False
    catalog_error: CatalogError | None = None
    missing_counts = {"gone": 0, "back": 0, "purged": 0}
    written = [0]  # outcomes committed to the catalog
    executor_stats: dict[str, Any] | None = None
    plan_made = False
    info = RunInfo(run_id, root, settings, list(analyzers), list(batch_analyzers))
    _emit(manager, logger, "run_started", run=info)
    listen_photos = bool(manager.hook.photo_analyzed.get_hookimpls())
    logger.info(f"analyze {display_path(root)} with {', '.join([*analyzers, *batch_analyzers])}",
                root=display_path(root), workers=settings.effective_workers(), force=settings.force)
    try:
        t = time.perf_counter()
        plan = plan_run(root, settings, catalog, analyzers)
        plan_made = True
        stage_seconds["scan"] = time.perf_counter() - t
        for p in plan.scan_problems:
            rec = error_record(run_id, display_path(p.path), "scan", OSError(p.message))
            rec.exception_type = p.exc_type
            logger.error(rec)
            errors_by_stage["scan"] = errors_by_stage.get("scan", 0) + 1
        for old_key, new_path in plan.moved:
            catalog.move_path(os.fsdecode(old_key), new_path)
            logger.info(f"moved: {display_path(os.fsdecode(old_key))} -> {display_path(new_path)}")
            _emit(manager, logger, "file_moved", src=Path(os.fsdecode(old_key)), dst=new_path, kind="found")
        if root.is_dir():  # photos gone since the last run: marked, left out of reports, purged after a while
            gone, back = catalog.mark_missing(root, plan.seen_keys)
            purged = catalog.purge_missing(MISSING_GRACE_SECONDS, root)
            missing_counts.update(gone=gone, back=back, purged=purged)
            if gone or purged:
                logger.info(f"{gone} photo(s) gone since the last run, {purged} purged after "
                            f"{MISSING_GRACE_SECONDS // 86400} days")
        progress.start(len(plan.tasks), plan.unchanged + len(plan.moved))
        pending: list[FileOutcome] = []

        def handle(outcome: FileOutcome) -> None:
            if outcome.status == "ignored":
                counts["ignored"] += 1
            elif outcome.status == "error":
                counts["failed"] += 1
            else:
                counts["ok"] += 1
            for stage, secs in outcome.timings.items():
                stage_seconds[stage] = stage_seconds.get(stage, 0.0) + secs
            for stage, secs in outcome.cpu_timings.items():
                stage_cpu_seconds[stage] = stage_cpu_seconds.get(stage, 0.0) + secs
            for err in outcome.errors:
                from ..logs.session import ErrorRecord

                logger.error(ErrorRecord(**err))
                errors_by_stage[err["stage"]] = errors_by_stage.get(err["stage"], 0) + 1
            if outcome.status == "error":
                failures.append(outcome)
            if outcome.pixels_source:
                pixels_sources[outcome.pixels_source] = pixels_sources.get(outcome.pixels_source, 0) + 1
            if listen_photos and outcome.status != "ignored":
                _emit(manager, logger, "photo_analyzed", path=outcome.path, results=outcome_results(outcome))
            pending.append(outcome)
            progress.advance(outcome)
            if len(pending) >= settings.batch_commit or time.monotonic() - last_commit[0] >= settings.commit_seconds:
                flush()

        write_failed: list[CatalogError] = []
        last_commit = [time.monotonic()]  # a killed run loses at most a few seconds of work

        def flush() -> None:
            if pending and not write_failed:  # after a failed write (disk full) stop writing at once
                t = time.perf_counter()
                try:
                    catalog.write_outcomes(pending)
                except CatalogError as exc:
                    write_failed.append(exc)
                    raise
                written[0] += len(pending)
                pending.clear()
                stage_seconds["write"] = stage_seconds.get("write", 0.0) + time.perf_counter() - t
            last_commit[0] = time.monotonic()

        ctx = StageContext(settings, analyzers, origins, analyzer_timeouts(settings, analyzers), run_id)
        try:
            if plan.tasks:
                with make_executor(ctx, len(plan.tasks)) as executor:
                    try:
                        for outcome in executor.map(plan.tasks):
                            handle(outcome)
                    finally:   # the Ray engine: workers lost, files retried or failed because of it
                        executor_stats = executor.stats() if hasattr(executor, "stats") else None
        except KeyboardInterrupt:
            interrupted = True
            logger.warning("interrupted by the user; results so far are saved, the next run resumes")
        finally:
            try:
                flush()
            except CatalogError as exc:
                catalog_error = exc
    except CatalogError as exc:
        catalog_error = exc
    cpu_elapsed = time.perf_counter() - t_start  # files/s of the per-file stage; the batch stage reports its own
    vision_summary: dict[str, Any] | None = None
    if batch_analyzers and catalog_error is None and not interrupted:
        from .batch import run_batch_stage  # imports torch only when some batch analyzer has work

        try:
            vision_summary = run_batch_stage(root, settings, catalog, logger, batch_analyzers, origins, progress)
            interrupted = bool(vision_summary.get("interrupted"))
            if vision_summary.get("photos") and "clip" in batch_analyzers and isinstance(catalog, Catalog):
                refresh_search_store(catalog, settings, logger, progress)
        except CatalogError as exc:
            catalog_error = exc
        except ModelUnavailableError as exc:  # pragma: no cover - run_batch_stage reports these itself
            vision_summary = {"status": "skipped", "warning": str(exc)}
    elapsed = time.perf_counter() - t_start
    analyzed = counts["ok"] + counts["failed"]
    have_plan = "plan" in locals()
    summary = {
        "root": display_path(root),
        "catalog": str(getattr(catalog, "label", catalog.path)),   # a PostgreSQL URL without its password
        "started": started,
        "seconds": round(elapsed, 3),
        "files_seen": plan.seen if have_plan else 0,
        "analyzed": analyzed,
        "ok": counts["ok"],
        "failed": counts["failed"],
        "ignored": counts["ignored"],
        "skipped_unchanged": plan.unchanged if have_plan else 0,
        "moved": len(plan.moved) if have_plan else 0,
        "gone": missing_counts["gone"],
        "purged_missing": missing_counts["purged"],
        "known_broken": plan.known_broken if have_plan else 0,
        "unreadable_folders": sum(1 for p in plan.scan_problems if p.message.startswith("cannot list folder"))
        if have_plan else 0,
        "scan_problems": len(plan.scan_problems) if have_plan else 0,
        "success_rate": round(counts["ok"] / analyzed, 4) if analyzed else 1.0,
        "error_rate": round(counts["failed"] / analyzed, 4) if analyzed else 0.0,
        "files_per_second": round(analyzed / cpu_elapsed, 2) if cpu_elapsed > 0 else 0.0,
        "workers": settings.effective_workers(),
        "analyzers": list(analyzers),
        "batch_analyzers": list(batch_analyzers),
        "stage_seconds": {k: round(v, 3) for k, v in sorted(stage_seconds.items())},
        "stage_cpu_seconds": {k: round(v, 3) for k, v in sorted(stage_cpu_seconds.items())},
        "errors_by_stage": errors_by_stage,
        "pixels_sources": pixels_sources,
        "quality_distribution": quality_distribution(catalog, root) if catalog_error is None else {},
        "vision": vision_summary,
        "executor": executor_stats,
        "plugin_problems": [f"{p.name}: {p.error}" for p in manager.problems],
        "warnings": setup_warnings,
        "interrupted": interrupted,
        "catalog_error": str(catalog_error) if catalog_error else None,
    }
    logger.write_summary(summary)
    logger.info(f"done: {analyzed} analysed ({counts['failed']} failed), {summary['skipped_unchanged']} unchanged, "
                f"{elapsed:.1f}s")
    _emit(manager, logger, "run_finished", run=info, summary=summary)
    if catalog_error is None:
        try:
            catalog.record_run(run_id, "analyze", display_path(root), started, time.time(), summary)
        except CatalogError as exc:
            catalog_error = exc
    if own_logger:
        logger.close()
    if own_catalog:
        catalog.close()
    if catalog_error is not None:
        saved = written[0]
        raise CatalogError(f"{catalog_error} ({saved:,} file(s) of this run were saved before it failed"
                           f"{'; they are kept' if saved else ''})" if plan_made else str(catalog_error))
    if interrupted:
        raise KeyboardInterrupt
    return RunResult(run_id, summary, failures, catalog.path)


def quality_distribution(catalog: Catalog, root: Path | None = None) -> dict[str, int]:
    order = ["excellent", "good", "average", "poor"]
    got = catalog.result_value_counts("content", "quality", root)
    return {q: got.get(q, 0) for q in order}
