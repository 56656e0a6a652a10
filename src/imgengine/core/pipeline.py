"""The analysis pipeline: scan -> decide what changed -> analyse in a process pool -> batched catalog writes.

* One file per task; each worker reads the file once and decodes its pixels once for all analyzers.
* An unchanged file (same path, size and mtime_ns, same analyzer versions) is not touched; a file whose
  analyzer is outdated re-runs only that analyzer; a file that moved is recognised by its sha256.
* One bad file never stops a run: its errors are recorded and the run goes on.
* Ctrl-C stops the pool, commits what is done, and re-raises; the next run resumes.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..analyzers.base import AnalysisInput, Analyzer
from ..analyzers.registry import select_analyzers
from ..errors import CatalogError, DecodeError, ImgEngineError, UnsupportedFormatError
from ..logs import RunLogger, error_record
from ..settings import Settings
from .catalog import MISSING_GRACE_SECONDS, Catalog, KnownFile, path_key
from .filehash import sha256_of
from .formats import CANDIDATE_EXTENSIONS, HEAD_BYTES, detect_format, extension_matches
from .photo import Photo, display_path, escape_control
from .scan import ScanEntry, scan


@dataclass
class Task:
    path: Path
    size: int
    mtime_ns: int
    analyzers: tuple[str, ...]
    replace_results: bool = True


@dataclass
class FileOutcome:
    path: Path
    size: int
    mtime_ns: int
    format: str | None = None
    extension_mismatch: bool = False
    sha256: str | None = None
    status: str = "ok"                 # ok | error | ignored
    error: str | None = None           # first error, one line
    replace_results: bool = True
    results: dict[str, tuple[str, dict | None, str | None]] = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    pixels_source: str | None = None


class Progress(Protocol):
    def start(self, total: int, skipped: int) -> None: ...
    def advance(self, outcome: FileOutcome) -> None: ...


class NullProgress:
    def start(self, total: int, skipped: int) -> None:
        pass

    def advance(self, outcome: FileOutcome) -> None:
        pass


# -- the per-file work (runs in worker processes) -----------------------------------------------------

def _one_line(exc: BaseException, name: str | None = None) -> str:
    """The first line of an error, with the file's name (which may hold a newline) escaped first, so a
    reason is never cut inside the name."""
    text = str(exc)
    if name and name != escape_control(name):
        text = text.replace(name, escape_control(name))
    return text.splitlines()[0] if text else type(exc).__name__


def analyze_task(task: Task, settings: Settings, analyzers: dict[str, Analyzer], run_id: str) -> FileOutcome:
    out = FileOutcome(task.path, task.size, task.mtime_ns, replace_results=task.replace_results)
    raw_name = display_path(task.path)
    shown = escape_control(raw_name)  # for messages; the error record keeps the exact name

    def fail(stage: str, exc: BaseException, message: str | None = None) -> None:
        rec = error_record(run_id, raw_name, stage, exc)
        if message:
            rec.message = message
        out.errors.append(rec.to_dict())
        out.status = "error"
        if out.error is None or stage in ("read", "decode"):  # the root cause is the one to show
            out.error = f"[{stage}] {rec.message}"
        if stage == "read":  # nothing can run: mark every analyzer as attempted, so an unchanged
            for name in task.analyzers:  # bad file is not retried on every run (--force retries)
                out.results[name] = (analyzers[name].version, None, rec.message)

    t0 = time.perf_counter()
    try:
        if task.size == 0:
            raise UnsupportedFormatError(f"{shown}: empty file (0 bytes)")
        with open(task.path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
        fmt = detect_format(head, task.path.suffix)
        if fmt is None:
            if task.path.suffix.lower() not in CANDIDATE_EXTENSIONS:
                out.status = "ignored"
                return out
            what = "text" if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head[:32]) else "unknown data"
            raise UnsupportedFormatError(
                f"{shown}: not an image: named {task.path.suffix} but its bytes are {what}")
        out.format = fmt
        out.extension_mismatch = not extension_matches(fmt, task.path.suffix)
        photo = Photo(task.path, task.size, task.mtime_ns, fmt, out.extension_mismatch)
    except FileNotFoundError as exc:
        fail("read", exc, f"{shown}: file vanished before it could be analysed")
        return out
    except PermissionError as exc:
        fail("read", exc, f"{shown}: permission denied")
        return out
    except ImgEngineError as exc:
        fail("read", exc, _one_line(exc, raw_name))
        return out
    except OSError as exc:
        fail("read", exc, f"{shown}: cannot read: {exc.strerror or exc}")
        return out

    item = AnalysisInput(photo, settings)
    try:
        if any(analyzers[n].needs_pixels for n in task.analyzers):
            _ = item.data  # read the bytes once, here, so a vanished/unreadable file fails in one place
    except OSError as exc:
        msg = "file vanished before it could be analysed" if isinstance(exc, FileNotFoundError) else \
            f"cannot read: {exc.strerror or exc}"
        fail("read", exc, f"{shown}: {msg}")
        return out
    out.timings["read"] = time.perf_counter() - t0

    decode_failed = False
    for name in task.analyzers:
        analyzer = analyzers[name]
        if analyzer.needs_pixels and decode_failed:
            out.results[name] = (analyzer.version, None, "skipped: pixels could not be decoded")
            continue
        t = time.perf_counter()
        decode_before = item.decode_seconds
        try:
            result = analyzer.analyze(item)
            data = result.to_dict()
            out.results[name] = (analyzer.version, data, None)
            if name == "hashes":
                out.sha256 = data.get("sha256")
        except (DecodeError, UnsupportedFormatError) as exc:
            decode_failed = True
            fail("decode", exc, _one_line(exc, raw_name))
            out.results[name] = (analyzer.version, None, _one_line(exc, raw_name))
        except MemoryError as exc:
            decode_failed = True
            fail(name, exc, f"{shown}: out of memory in {name}")
            out.results[name] = (analyzer.version, None, "out of memory")
        except Exception as exc:  # noqa: BLE001 - one bad file never stops a run
            fail(name, exc, f"{shown}: {type(exc).__name__}: {_one_line(exc, raw_name)}")
            out.results[name] = (analyzer.version, None, f"{type(exc).__name__}: {_one_line(exc, raw_name)}")
        spent = time.perf_counter() - t - (item.decode_seconds - decode_before)
        out.timings[name] = out.timings.get(name, 0.0) + spent
    if item.decode_seconds:
        out.timings["decode"] = item.decode_seconds
    if item._pixels is not None:
        out.pixels_source = item._pixels.pixels_source
    return out


_WORKER: dict[str, Any] = {}


def _init_worker(settings: Settings, names: tuple[str, ...], run_id: str) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the pool
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # pool.terminate() ends workers with SIGTERM
    _WORKER.update(settings=settings, analyzers=select_analyzers(names), run_id=run_id)


def _worker_run(task: Task) -> FileOutcome:
    return analyze_task(task, _WORKER["settings"], _WORKER["analyzers"], _WORKER["run_id"])


# -- planning ------------------------------------------------------------------------------------------

@dataclass
class Plan:
    tasks: list[Task]
    unchanged: int
    moved: list[tuple[bytes, Path]]      # (old key, new path) recognised by sha256
    scan_problems: list
    seen: int
    seen_keys: set[bytes] = field(default_factory=set)
    known_broken: int = 0                # unchanged files that failed before (not retried; --retry-failed)


def plan_run(root: Path, settings: Settings, catalog: Catalog, analyzers: dict[str, Analyzer]) -> Plan:
    problems: list = []
    entries: list[ScanEntry] = list(scan(root, settings, problems))
    known = catalog.known_files(root if Path(root).is_dir() else None)
    wanted = {name: a.version for name, a in analyzers.items()}
    tasks: list[Task] = []
    unchanged = 0
    known_broken = 0
    new_entries: list[ScanEntry] = []
    seen_keys = set()
    for e in entries:
        key = path_key(e.path)
        seen_keys.add(key)
        k: KnownFile | None = known.get(key)
        if k is None:
            new_entries.append(e)
            continue
        if settings.force or k.size != e.size or k.mtime_ns != e.mtime_ns or \
                (settings.retry_failed and k.status == "error"):
            tasks.append(Task(e.path, e.size, e.mtime_ns, tuple(wanted), True))
            continue
        if k.status == "ignored":
            unchanged += 1
            continue
        stale = tuple(n for n, v in wanted.items() if k.versions.get(n) != v)
        if stale:
            tasks.append(Task(e.path, e.size, e.mtime_ns, stale, False))
        else:
            unchanged += 1
            known_broken += k.status == "error"
    moved: list[tuple[bytes, Path]] = []
    if new_entries:
        # a catalogued file that is gone from its old path and whose size and sha256 match a new path moved
        orphans_by_size: dict[int, list[bytes]] = {}
        for key, k in known.items():
            if key not in seen_keys and k.status == "ok":
                orphans_by_size.setdefault(k.size, []).append(key)
        still_new = []
        if orphans_by_size and not settings.force:
            for e in new_entries:
                candidates = [key for key in orphans_by_size.get(e.size, []) if not os.path.lexists(key)]
                match = None
                if candidates:
                    try:
                        sha = sha256_of(e.path)
                    except OSError:
                        sha = None
                    for row in catalog.find_by_sha256(sha) if sha else []:
                        rk = path_key(row["path"])
                        if rk in candidates:
                            match = rk
                            break
                if match is not None:
                    moved.append((match, e.path))
                    orphans_by_size[e.size].remove(match)
                    k = known[match]
                    stale = tuple(n for n, v in wanted.items() if k.versions.get(n) != v)
                    if stale:
                        tasks.append(Task(e.path, e.size, e.mtime_ns, stale, False))
                else:
                    still_new.append(e)
        else:
            still_new = new_entries
        tasks.extend(Task(e.path, e.size, e.mtime_ns, tuple(wanted), True) for e in still_new)
    return Plan(tasks, unchanged, moved, problems, len(entries), seen_keys, known_broken)


# -- the run ------------------------------------------------------------------------------------------

@dataclass
class RunResult:
    run_id: str
    summary: dict[str, Any]
    failures: list[FileOutcome]        # only the failed files: a 500,000-file run keeps no per-file list
    catalog_path: Path

    @property
    def failed(self) -> int:
        return self.summary["failed"]


def _set_cv2_threads(n: int | None) -> int | None:
    if n is None:
        return None
    try:
        import cv2
    except ImportError:  # pragma: no cover
        return None
    before = cv2.getNumThreads()
    cv2.setNumThreads(n)
    return before


def _pool_context():
    # fork is fastest and safe while no threads are running (no torch/CUDA imported in this process)
    if sys.platform.startswith("linux") and "torch" not in sys.modules:
        return mp.get_context("fork")
    return mp.get_context("spawn")


def run_analysis(root: Path, settings: Settings, *, progress: Progress | None = None,
                 logger: RunLogger | None = None, catalog: Catalog | None = None) -> RunResult:
    root = Path(root)
    progress = progress or NullProgress()
    analyzers = select_analyzers(settings.analyzers)
    own_logger = logger is None
    logger = logger or RunLogger(settings.log_dir, command="analyze")
    run_id = logger.run_id
    own_catalog = catalog is None
    catalog = catalog or Catalog(settings.catalog_path(root if root.is_dir() else root.parent))
    started = time.time()
    t_start = time.perf_counter()
    stage_seconds: dict[str, float] = {}
    failures: list[FileOutcome] = []
    pixels_sources: dict[str, int] = {}
    counts = {"ok": 0, "failed": 0, "ignored": 0}
    errors_by_stage: dict[str, int] = {}
    interrupted = False
    catalog_error: CatalogError | None = None
    missing_counts = {"gone": 0, "back": 0, "purged": 0}
    written = [0]  # outcomes committed to the catalog
    plan_made = False
    logger.info(f"analyze {display_path(root)} with {', '.join(analyzers)}",
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
            for err in outcome.errors:
                from ..logs.session import ErrorRecord

                logger.error(ErrorRecord(**err))
                errors_by_stage[err["stage"]] = errors_by_stage.get(err["stage"], 0) + 1
            if outcome.status == "error":
                failures.append(outcome)
            if outcome.pixels_source:
                pixels_sources[outcome.pixels_source] = pixels_sources.get(outcome.pixels_source, 0) + 1
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

        workers = min(settings.effective_workers(), max(1, len(plan.tasks)))
        try:
            if workers <= 1 or len(plan.tasks) < 4:
                for task in plan.tasks:
                    handle(analyze_task(task, settings, analyzers, run_id))
            else:
                ctx = _pool_context()
                # one process per core already: OpenCV's own thread pool would only oversubscribe the
                # cores. Set in the parent before forking (touching it in a forked child can deadlock).
                cv_threads = _set_cv2_threads(1)
                pool = ctx.Pool(workers, initializer=_init_worker,
                                initargs=(settings, tuple(analyzers), run_id))
                try:
                    # one file per task when pixels are decoded; header-only runs batch tasks to cut IPC
                    pixels = any(a.needs_pixels for a in analyzers.values())
                    chunk = 1 if pixels else max(1, min(32, len(plan.tasks) // (workers * 8)))
                    for outcome in pool.imap_unordered(_worker_run, plan.tasks, chunksize=chunk):
                        handle(outcome)
                    pool.close()
                except BaseException:
                    pool.terminate()
                    raise
                finally:
                    pool.join()
                    _set_cv2_threads(cv_threads)
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
    cpu_elapsed = time.perf_counter() - t_start  # files/s of the CPU stage; the vision stage reports its own
    vision_summary: dict[str, Any] | None = None
    if settings.vision and catalog_error is None and not interrupted:
        from ..analyzers.vision.stage import run_vision_stage  # imports torch only when models exist

        try:
            vision_summary = run_vision_stage(root, settings, catalog, logger, progress)
            interrupted = bool(vision_summary.get("interrupted"))
        except CatalogError as exc:
            catalog_error = exc
    elapsed = time.perf_counter() - t_start
    analyzed = counts["ok"] + counts["failed"]
    summary = {
        "root": display_path(root),
        "catalog": str(catalog.path),
        "started": started,
        "seconds": round(elapsed, 3),
        "files_seen": plan.seen if "plan" in locals() else 0,
        "analyzed": analyzed,
        "ok": counts["ok"],
        "failed": counts["failed"],
        "ignored": counts["ignored"],
        "skipped_unchanged": plan.unchanged if "plan" in locals() else 0,
        "moved": len(plan.moved) if "plan" in locals() else 0,
        "gone": missing_counts["gone"],
        "known_broken": plan.known_broken if "plan" in locals() else 0,
        "unreadable_folders": sum(1 for p in plan.scan_problems if p.message.startswith("cannot list folder"))
        if "plan" in locals() else 0,
        "scan_problems": len(plan.scan_problems) if "plan" in locals() else 0,
        "purged_missing": missing_counts["purged"],
        "success_rate": round(counts["ok"] / analyzed, 4) if analyzed else 1.0,
        "error_rate": round(counts["failed"] / analyzed, 4) if analyzed else 0.0,
        "files_per_second": round(analyzed / cpu_elapsed, 2) if cpu_elapsed > 0 else 0.0,
        "workers": settings.effective_workers(),
        "analyzers": list(analyzers),
        "stage_seconds": {k: round(v, 3) for k, v in sorted(stage_seconds.items())},
        "errors_by_stage": errors_by_stage,
        "pixels_sources": pixels_sources,
        "quality_distribution": quality_distribution(catalog, root) if catalog_error is None else {},
        "vision": vision_summary,
        "interrupted": interrupted,
        "catalog_error": str(catalog_error) if catalog_error else None,
    }
    logger.write_summary(summary)
    logger.info(f"done: {analyzed} analysed ({counts['failed']} failed), {summary['skipped_unchanged']} unchanged, "
                f"{elapsed:.1f}s")
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
    where, params = "", ()
    if root is not None and Path(root).is_dir():
        prefix = path_key(root).rstrip(b"/") + b"/"
        where, params = "AND substr(p.path, 1, ?) = ?", (len(prefix), prefix)
    rows = catalog.db.execute(
        "SELECT json_extract(r.data, '$.quality') AS q, count(*) AS n FROM results r JOIN photos p "
        f"ON p.id = r.photo_id WHERE r.analyzer = 'content' AND r.data IS NOT NULL AND p.missing_since IS NULL "
        f"{where} GROUP BY q",
        params).fetchall()
    order = ["excellent", "good", "average", "poor"]
    got = {row["q"]: row["n"] for row in rows}
    return {q: got.get(q, 0) for q in order}
