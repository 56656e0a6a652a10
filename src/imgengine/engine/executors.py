"""Executors run the per-file tasks of a run: serially (debugging, tiny runs) or in a local process pool.

An executor is anything with ``map(tasks) -> iterator of FileOutcome`` (in any order) used as a context
manager; the scale-out engine adds a Ray executor behind the same interface.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from ..settings import Settings
from . import perfile
from .perfile import FileOutcome, PluginOrigin, Task


class Executor(Protocol):
    name: str

    def map(self, tasks: Iterable[Task]) -> Iterator[FileOutcome]: ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: Any) -> None: ...


class StageContext:
    """What every task of a run needs: settings, the per-file analyzer instances (configured and set up
    in the parent), who provides each, their timeouts, and the run id."""

    def __init__(self, settings: Settings, analyzers: dict[str, Any], origins: dict[str, PluginOrigin],
                 timeouts: dict[str, float | None], run_id: str):
        self.settings = settings
        self.analyzers = analyzers
        self.origins = origins
        self.timeouts = timeouts
        self.run_id = run_id

    def __getstate__(self) -> dict[str, Any]:
        # pickled only for ``spawn`` workers: send the recipe, not the instances (a folder plugin's
        # classes live in modules the child cannot import by name); the child rediscovers the plugins
        state = dict(self.__dict__)
        state["analyzers"] = {n: (dict(a.config)) for n, a in self.analyzers.items()}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        from ..plugins.manager import get_manager

        self.__dict__.update(state)
        classes = get_manager(self.settings).analyzer_classes()
        analyzers = {}
        for name, config in state["analyzers"].items():
            analyzer = classes[name][0](config)
            analyzer.setup(self.settings)
            analyzers[name] = analyzer
        self.analyzers = analyzers

    def run(self, task: Task) -> FileOutcome:
        # looked up on the module each call, so a test can observe the tasks
        return perfile.analyze_task(task, self.settings, self.analyzers, self.run_id, self.origins, self.timeouts)


class SerialExecutor:
    name = "serial"

    def __init__(self, ctx: StageContext):
        self.ctx = ctx

    def __enter__(self) -> SerialExecutor:
        self._handler = perfile.timeout_handler().__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._handler.__exit__(*exc)

    def map(self, tasks: Iterable[Task]) -> Iterator[FileOutcome]:
        for task in tasks:
            yield self.ctx.run(task)


_WORKER: dict[str, Any] = {}


def _init_worker(ctx: StageContext) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the pool
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # pool.terminate() ends workers with SIGTERM
    perfile.timeout_handler().__enter__()         # for the analyzers' timeouts, once per worker
    _WORKER["ctx"] = ctx


def _worker_run(task: Task) -> FileOutcome:
    return _WORKER["ctx"].run(task)


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


def fork_unsafe(*also: str) -> bool:
    """Whether this process has loaded a library whose native threads make ``fork`` unsafe: Ray always (its
    gRPC, core-worker I/O and jemalloc threads outlive ``ray.shutdown()``; a child forked while one holds a
    lock hangs for ever), plus ``also`` (e.g. torch, whose OpenMP/CUDA threads a plain pool must not fork)."""
    return any(name in sys.modules for name in ("ray", *also))


def pool_context():
    """The start method for a process pool: fork where it is fastest and safe (Linux, and no torch/CUDA or
    Ray threads in this process), else spawn."""
    if sys.platform.startswith("linux") and not fork_unsafe("torch"):
        return mp.get_context("fork")
    return mp.get_context("spawn")


class PoolExecutor:
    """A local process pool, one process per core. With ``fork`` the workers inherit the analyzer
    instances (folder plugins included); with ``spawn`` (torch already imported) they are pickled."""

    name = "pool"

    def __init__(self, ctx: StageContext, workers: int, chunksize: int = 1):
        self.ctx = ctx
        self.workers = workers
        self.chunksize = chunksize
        self.pool = None

    def __enter__(self) -> PoolExecutor:
        # one process per core already: OpenCV's own thread pool would only oversubscribe the
        # cores. Set in the parent before forking (touching it in a forked child can deadlock).
        needs_cv = any(a.needs_pixels for a in self.ctx.analyzers.values())
        self._cv_threads = _set_cv2_threads(1) if needs_cv else None
        if needs_cv:  # the decoder (numpy, Pillow) imported once here, shared by the forked workers
            from ..core import decode  # noqa: F401
        self.pool = pool_context().Pool(self.workers, initializer=_init_worker, initargs=(self.ctx,))
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is None:
            self.pool.close()
        else:
            self.pool.terminate()
        self.pool.join()
        _set_cv2_threads(self._cv_threads)

    def map(self, tasks: Iterable[Task]) -> Iterator[FileOutcome]:
        yield from self.pool.imap_unordered(_worker_run, tasks, chunksize=self.chunksize)


def make_executor(ctx: StageContext, n_tasks: int) -> Executor:
    """Ray when asked for (``--engine ray``); serial for one worker or a handful of files; else the local pool."""
    settings = ctx.settings
    if getattr(settings, "executor", "auto") == "ray":
        from .ray_executor import RayExecutor  # imports Ray only now

        pixels = any(a.needs_pixels for a in ctx.analyzers.values())
        return RayExecutor(ctx, settings.effective_workers(), getattr(settings, "ray_address", "") or None,
                           chunk=1 if pixels else 8)
    workers = min(settings.effective_workers(), max(1, n_tasks))
    if getattr(settings, "executor", "auto") == "serial" or workers <= 1 or n_tasks < 4:
        return SerialExecutor(ctx)
    # one file per task when pixels are decoded; header-only runs batch tasks to cut IPC
    pixels = any(a.needs_pixels for a in ctx.analyzers.values())
    chunk = 1 if pixels else max(1, min(32, n_tasks // (workers * 8)))
    return PoolExecutor(ctx, workers, chunk)
