"""The Ray executor: the per-file stage of a run as Ray tasks, on a local Ray (``ray.init()`` starts one
on this machine) or a cluster (``--ray-address auto|ray://host:10001``).

Imported only when a run asks for ``--engine ray`` (settings.executor == "ray"); Ray itself comes from the
optional extra ``imgengine[scale]``. Each Ray task analyses a small chunk of files with the same code as
the local pool (``StageContext.run``), so results are identical. The run's analyzers travel once, as the
context's recipe (``StageContext.__getstate__``), and each worker process rebuilds them once per run.
A worker that dies mid-task (killed, out of memory, node lost) costs nothing: the driver re-runs its
files (see ``RayExecutor``) and the run records it. Outcomes stream back as chunks finish; the driver alone
writes the catalog, so the catalog store needs no change.
"""

from __future__ import annotations

import os
import pickle
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import ImgEngineError
from .perfile import FileOutcome, Task

_CONTEXTS: dict[str, Any] = {}   # per worker process: context key -> rebuilt StageContext


def _run_chunk(ctx_blob: bytes, ctx_key: str, tasks: list[Task]) -> list[FileOutcome]:
    # keyed by a token unique to this executor, not by the run id: run ids are unique only within one log
    # folder, and a worker that outlives a run (Ray reuses worker processes) must never reuse another run's
    # analyzers and their config
    ctx = _CONTEXTS.get(ctx_key)
    if ctx is None:
        _CONTEXTS.clear()
        ctx = _CONTEXTS[ctx_key] = pickle.loads(ctx_blob)
    return [ctx.run(t) for t in tasks]


def _lost_worker_errors(ray: Any) -> tuple[type, ...]:
    """Ray's exceptions for a task whose worker process (or node) went away, as opposed to one that raised."""
    names = ("WorkerCrashedError", "NodeDiedError", "OutOfMemoryError", "LocalRayletDiedError", "ObjectLostError",
             "OwnerDiedError")
    return tuple(getattr(ray.exceptions, n) for n in names if hasattr(ray.exceptions, n))


class RayExecutor:
    """Per-file tasks as Ray tasks. A worker that dies (killed, out of memory, node lost) is retried by
    the driver, not silently by Ray: the chunk's files are re-submitted one file per task (so a file that
    kills its worker is isolated and cannot take its neighbours down again), each death is recorded in
    the file's ``errors`` (errors.jsonl, stage ``worker``) and counted in ``stats()`` (the run summary), and
    a file whose worker dies ``max_retries`` times is reported failed: nothing is lost silently, and the
    driver never runs a file that kills processes itself."""

    name = "ray"

    def __init__(self, ctx: Any, workers: int, address: str | None = None, chunk: int = 1,
                 max_retries: int = 3):
        self.ctx = ctx
        self.workers = max(1, workers)
        self.address = address or None
        self.chunk = max(1, chunk)
        self.max_retries = max_retries
        self.worker_deaths = 0
        self.files_retried = 0
        self.files_failed = 0
        self._owns = False

    def stats(self) -> dict[str, Any]:
        """What the run summary says about the engine (``summary["executor"]``)."""
        return {"name": self.name, "address": self.address or "local", "worker_deaths": self.worker_deaths,
                "files_retried": self.files_retried, "files_failed_worker_died": self.files_failed}

    def __enter__(self) -> RayExecutor:
        self.ray, self._owns = start_ray(self.address, self.workers)
        ray = self.ray
        self._blob = ray.put(pickle.dumps(self.ctx))
        self._key = f"{self.ctx.run_id}-{secrets.token_hex(8)}"
        # retries are the driver's (see the class docstring): Ray itself does not re-run a dead task
        self._remote = ray.remote(max_retries=0, retry_exceptions=False)(_run_chunk)
        self._pending: list[Any] = []
        return self

    def __exit__(self, *exc: Any) -> None:
        for ref in getattr(self, "_pending", []):
            try:
                self.ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        if self._owns:
            self.ray.shutdown()

    def map(self, tasks: Iterable[Task]) -> Iterator[FileOutcome]:
        ray = self.ray
        lost = _lost_worker_errors(ray)
        chunks = iter(_chunked(tasks, self.chunk))
        window = self.workers * 2
        chunk_of: dict[Any, tuple[list[Task], int]] = {}
        retry: list[tuple[list[Task], int]] = []           # (one-file chunk, attempt) waiting to go again
        notes: dict[Path, list[dict]] = {}                   # worker deaths seen by each file, for its outcome

        def submit() -> bool:
            chunk, attempt = retry.pop(0) if retry else (next(chunks, None), 0)
            if chunk is None:
                return False
            ref = self._remote.remote(self._blob, self._key, chunk)
            chunk_of[ref] = (chunk, attempt)
            self._pending.append(ref)
            return True

        while len(self._pending) < window and submit():
            pass
        while self._pending:
            done, self._pending = ray.wait(self._pending, num_returns=1)
            ref = done[0]
            chunk, attempt = chunk_of.pop(ref)
            try:
                outcomes = ray.get(ref)
            except lost as exc:
                self.worker_deaths += 1
                for t in chunk:
                    notes.setdefault(t.path, []).append(self._death_record(t, exc, attempt))
                    if attempt + 1 <= self.max_retries:
                        self.files_retried += 1
                        retry.append(([t], attempt + 1))
                    else:
                        self.files_failed += 1
                        yield self._failed(t, exc, attempt + 1, notes.pop(t.path, []))
                outcomes = []
            for o in outcomes:
                o.errors[:0] = notes.pop(o.path, [])
                yield o
            while len(self._pending) < window and submit():
                pass

    def _death_record(self, task: Task, exc: BaseException, attempt: int) -> dict:
        from ..core.photo import display_path
        from ..logs.session import error_record

        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        what = ("retried" if attempt + 1 <= self.max_retries
                else f"not retried: {attempt + 1} workers died on it")
        note = WorkerLost(f"the Ray worker analysing this file died (attempt {attempt + 1}; {what}): {first}")
        return error_record(self.ctx.run_id, display_path(task.path), "worker", note).to_dict()

    @staticmethod
    def _failed(task: Task, exc: BaseException, tries: int, errors: list[dict]) -> FileOutcome:
        return FileOutcome(task.path, task.size, task.mtime_ns, status="error",
                           error=f"not analysed: the worker died {tries} times on this file ({type(exc).__name__})",
                           replace_results=False, errors=errors)


class WorkerLost(Exception):
    """A Ray worker process died while it analysed a file (recorded, not raised)."""


def start_ray(address: str | None, workers: int) -> tuple[Any, bool]:
    """(the ray module, True when this call started it: the caller shuts it down), Ray started on this
    machine (``ray.init`` with ``workers`` CPUs, no dashboard) or connected to ``address``, unless this process
    already has it; one clear error when it cannot."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")   # no usage reporting from a photo tool
    try:
        import ray
    except ImportError:
        raise ImgEngineError("--engine ray needs Ray: pip install 'imgengine[scale]'")
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        try:
            if address:
                ray.init(address=address, **kwargs)
            else:
                ray.init(num_cpus=workers, **kwargs)
        except Exception as exc:  # noqa: BLE001 - Ray raises many types; one clear line for the user
            raise ImgEngineError(f"cannot start Ray ({address or 'local'}): {exc}".splitlines()[0])
        return ray, True
    return ray, False


def _chunked(tasks: Iterable[Task], n: int) -> Iterator[list[Task]]:
    chunk: list[Task] = []
    for t in tasks:
        chunk.append(t)
        if len(chunk) >= n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
