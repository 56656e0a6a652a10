"""The batch (vision) stage on Ray: the batch analyzers run in Ray actors, each holding the models once
(``num_gpus=--gpus-per-actor``: one GPU per actor on a GPU cluster, 0 on CPUs), fed shards of the photos
that need them. Inside an actor the shard goes through the same batched loop as the local stage
(``batch.process_batches``: one decode per photo shared by every analyzer, OOM halving, per-analyzer
errors), writing into a collector instead of the catalog; the driver alone writes the catalog and the log.

An actor that dies (killed, out of memory, node lost) is replaced; its shard is re-run once on the new actor,
and a shard that kills its actor twice is reported failed, photo by photo: every death is in errors.jsonl
(stage ``worker``) and the stage's summary (``executor.actor_deaths``), never silent.
"""

from __future__ import annotations

import time
from typing import Any

from ..core.photo import display_path
from ..logs.session import ErrorRecord, error_record
from ..progress import steps_of
from .perfile import PluginOrigin
from .ray_executor import WorkerLost, _lost_worker_errors, start_ray

SHARD_PHOTOS = 64          # photos per actor call: several loader batches, small enough to spread the work
MAX_SHARD_TRIES = 2


class _Collector:
    """What ``process_batches`` sees as its catalog and its logger inside an actor."""

    def __init__(self, run_id: str, known: dict[int, dict[str, dict]]):
        self.run_id = run_id
        self.known = known
        self.outcomes: list[Any] = []
        self.errors: list[dict] = []
        self.messages: list[tuple[str, str]] = []

    def results_for(self, photo_ids, analyzers) -> dict[int, dict[str, dict]]:
        names = set(analyzers)
        return {i: {a: d for a, d in self.known.get(i, {}).items() if a in names} for i in photo_ids
                if i in self.known}

    def write_outcomes(self, outcomes) -> None:
        self.outcomes.extend(outcomes)

    def error(self, record: ErrorRecord) -> None:
        self.errors.append(record.to_dict())

    def warning(self, message: str, **fields: Any) -> None:
        self.messages.append(("warning", message))

    def info(self, message: str, **fields: Any) -> None:
        self.messages.append(("info", message))


class BatchActor:
    """One Ray actor: the run's batch analyzers rebuilt from their recipe (plugins rediscovered, as the
    per-file workers do), set up and loaded once on the actor's device."""

    def __init__(self, settings: Any, recipes: dict[str, dict], origins: dict[str, PluginOrigin], run_id: str):
        import os

        from ..plugins.manager import get_manager
        from .batching import resolve_device

        classes = get_manager(settings).analyzer_classes()
        self.settings, self.origins, self.run_id = settings, origins, run_id
        self.device = resolve_device(settings.device)
        self.analyzers = {}
        for name, config in recipes.items():
            analyzer = classes[name][0](config)
            analyzer.setup(settings)
            analyzer.load(self.device)
            self.analyzers[name] = analyzer
        self.pid = os.getpid()

    def run(self, todo: list, versions: dict[str, str], known: dict[int, dict[str, dict]]) -> tuple:
        from .batch import process_batches

        sink = _Collector(self.run_id, known)
        summary = process_batches(todo, self.analyzers, versions, self.settings, self.device, sink, sink,
                                  self.origins)
        return sink.outcomes, sink.errors, sink.messages, summary, self.pid


def gpus_per_actor(settings: Any, ray: Any) -> float:
    """``--gpus-per-actor``; auto (negative): 1 when the cluster has GPUs, else 0."""
    if settings.gpus_per_actor >= 0:
        return float(settings.gpus_per_actor)
    return 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0


def process_batches_on_ray(todo: list, analyzers: dict[str, Any], versions: dict[str, str], settings: Any,
                           catalog: Any, logger: Any, origins: dict[str, PluginOrigin],
                           progress: Any = None) -> dict[str, Any]:
    """The batched loop of ``batch.process_batches`` spread over Ray actors; returns the stage summary."""
    ray, owns = start_ray(settings.ray_address or None, settings.effective_workers())
    lost = (*_lost_worker_errors(ray), ray.exceptions.RayActorError)
    t0 = time.perf_counter()
    gpus = gpus_per_actor(settings, ray)
    cluster_gpus = ray.cluster_resources().get("GPU", 0)
    n_actors = max(1, int(cluster_gpus // gpus)) if gpus > 0 else 1   # on CPUs one actor: torch uses the cores
    recipes = {name: dict(a.config) for name, a in analyzers.items()}
    required = sorted({r for a in analyzers.values() for r in a.requires if r not in analyzers})
    actor_cls = ray.remote(num_gpus=gpus, num_cpus=1, max_restarts=0)(BatchActor)
    stats = {"photos": 0, "failed": 0, "batches": 0, "oom_retries": 0, "actor_deaths": 0}
    devices, pids = set(), set()
    shards = [todo[i:i + SHARD_PHOTOS] for i in range(0, len(todo), SHARD_PHOTOS)]
    queue = [(shard, 1) for shard in shards]
    steps = steps_of(progress)
    steps.step_start("vision", len(todo), "images")

    def spawn():
        return actor_cls.remote(settings, recipes, origins, logger.run_id)

    actors = [spawn() for _ in range(min(n_actors, len(shards)))]
    idle = list(actors)
    running: dict[Any, tuple[Any, list, int]] = {}
    try:
        while queue or running:
            while queue and idle:
                shard, tries = queue.pop(0)
                ids = [p.ref.photo_id for p in shard]
                known = catalog.results_for(ids, required) if required else {}
                actor = idle.pop(0)
                running[actor.run.remote(shard, versions, known)] = (actor, shard, tries)
            done, _ = ray.wait(list(running), num_returns=1)
            actor, shard, tries = running.pop(done[0])
            try:
                outcomes, errors, messages, summary, pid = ray.get(done[0])
            except lost as exc:
                stats["actor_deaths"] += 1
                ray.kill(actor, no_restart=True)
                idle.append(spawn())
                _record_death(logger, shard, exc, tries)
                if tries < MAX_SHARD_TRIES:
                    queue.append((shard, tries + 1))
                else:
                    catalog.write_outcomes([_failed(p, versions, exc, tries) for p in shard])
                    stats["failed"] += len(shard)
                    steps.step_advance("vision", len(shard))
                continue
            idle.append(actor)
            catalog.write_outcomes(outcomes)
            for err in errors:
                logger.error(ErrorRecord(**err))
            for level, message in messages:
                (logger.warning if level == "warning" else logger.info)(message)
            for key in ("photos", "failed", "batches", "oom_retries"):
                stats[key] += summary.get(key, 0)
            devices.add(summary.get("device"))
            pids.add(pid)
            steps.step_advance("vision", len(shard))
    finally:
        for actor in idle + [a for a, _, _ in running.values()]:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        if owns:
            ray.shutdown()
    steps.step_done("vision")
    elapsed = time.perf_counter() - t0
    return {"status": "done", "device": ", ".join(sorted(d for d in devices if d)) or None,
            "images_per_second": round(stats["photos"] / elapsed, 2) if elapsed > 0 else 0.0,
            "photos": stats["photos"], "failed": stats["failed"], "batches": stats["batches"],
            "oom_retries": stats["oom_retries"], "interrupted": False,
            "executor": {"name": "ray-actors", "actors": n_actors, "gpus_per_actor": gpus,
                         "actor_processes": len(pids), "actor_deaths": stats["actor_deaths"]}}


def _record_death(logger: Any, shard: list, exc: BaseException, tries: int) -> None:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    what = "retried on a new actor" if tries < MAX_SHARD_TRIES else f"not retried: {tries} actors died on it"
    for p in shard:
        note = WorkerLost(f"the Ray actor running the batch analyzers died (attempt {tries}; {what}): {first}")
        logger.error(error_record(logger.run_id, display_path(p.ref.path), "worker", note))


def _failed(p: Any, versions: dict[str, str], exc: BaseException, tries: int) -> Any:
    from .batch import _outcome

    out = _outcome(p)
    for name in p.wants:
        out.results[name] = (versions[name], None, f"not analysed: the actor died {tries} times "
                                                   f"({type(exc).__name__})")
    return out
