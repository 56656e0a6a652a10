"""The Ray executor: the per-file stage of a run as Ray tasks, on a local Ray (``ray.init()`` starts one
on this machine) or a cluster (``--ray-address auto|ray://host:10001``).

Imported only when a run asks for ``--engine ray`` (settings.executor == "ray"); Ray itself comes from the
optional extra ``imgengine[scale]``. Each Ray task analyses a small chunk of files with the same code as
the local pool (``StageContext.run``), so results are identical. The run's analyzers travel once, as the
context's recipe (``StageContext.__getstate__``), and each worker process rebuilds them once per run.
A worker that dies mid-task (killed, out of memory, node lost) costs nothing: Ray re-runs the task's
files on another worker (``max_retries``); should those retries run out, the driver analyses the chunk
itself (``self.rerun_here`` counts such chunks). Outcomes stream back as chunks finish; the driver alone writes
the catalog, so the catalog store needs no change.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import ImgEngineError
from .perfile import FileOutcome, Task

_CONTEXTS: dict[str, Any] = {}   # per worker process: run id -> rebuilt StageContext


def _run_chunk(ctx_blob: bytes, run_id: str, tasks: list[Task]) -> list[FileOutcome]:
    ctx = _CONTEXTS.get(run_id)
    if ctx is None:
        _CONTEXTS.clear()
        ctx = _CONTEXTS[run_id] = pickle.loads(ctx_blob)
    return [ctx.run(t) for t in tasks]


class RayExecutor:
    name = "ray"

    def __init__(self, ctx: Any, workers: int, address: str | None = None, chunk: int = 1,
                 max_retries: int = 3):
        self.ctx = ctx
        self.workers = max(1, workers)
        self.address = address or None
        self.chunk = max(1, chunk)
        self.max_retries = max_retries
        self.rerun_here = 0
        self._owns = False

    def __enter__(self) -> RayExecutor:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")   # no usage reporting from a photo tool
        try:
            import ray
        except ImportError:
            raise ImgEngineError("--engine ray needs Ray: pip install 'imgengine[scale]'")
        self.ray = ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "configure_logging": False}
            try:
                if self.address:
                    ray.init(address=self.address, **kwargs)
                else:
                    ray.init(num_cpus=self.workers, **kwargs)
            except Exception as exc:  # noqa: BLE001 - Ray raises many types; one clear line for the user
                raise ImgEngineError(f"cannot start Ray ({self.address or 'local'}): {exc}".splitlines()[0])
            self._owns = True
        self._blob = ray.put(pickle.dumps(self.ctx))
        self._remote = ray.remote(max_retries=self.max_retries, retry_exceptions=False)(_run_chunk)
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
        chunks = iter(_chunked(tasks, self.chunk))
        window = self.workers * 2
        chunk_of: dict[Any, list[Task]] = {}

        def submit() -> bool:
            chunk = next(chunks, None)
            if chunk is None:
                return False
            ref = self._remote.remote(self._blob, self.ctx.run_id, chunk)
            chunk_of[ref] = chunk
            self._pending.append(ref)
            return True

        while len(self._pending) < window and submit():
            pass
        while self._pending:
            done, self._pending = ray.wait(self._pending, num_returns=1)
            ref = done[0]
            chunk = chunk_of.pop(ref)
            try:
                outcomes = ray.get(ref)
            except ray.exceptions.WorkerCrashedError:
                # retries exhausted: run the chunk once more here rather than lose its files
                self.rerun_here += 1
                outcomes = [self.ctx.run(t) for t in chunk]
            yield from outcomes
            submit()


def _chunked(tasks: Iterable[Task], n: int) -> Iterator[list[Task]]:
    chunk: list[Task] = []
    for t in tasks:
        chunk.append(t)
        if len(chunk) >= n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
