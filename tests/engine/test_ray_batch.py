"""The batch (vision) stage on Ray actors (``--engine ray``; 0 GPUs per actor on this CPU machine): the same
results as the local batch stage, and an actor killed mid-run loses nothing and is recorded."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("torch")

from imgengine.catalog import open_catalog  # noqa: E402
from imgengine.engine.run import run_analysis  # noqa: E402

from ..conftest import write_jpeg  # noqa: E402
from ..plugins.helpers import write_plugin  # noqa: E402
from .test_batch_plugins import BATCH_PLUGIN  # noqa: E402

# kills its actor's process the first time it runs (the marker remembers), as a lost GPU node would
KILLER_BATCH = '''
    import os
    import signal
    from pathlib import Path

    from imgengine.analyzers.base import BatchAnalyzer
    from imgengine.plugins import hookimpl


    class KillerHead(BatchAnalyzer):
        name = "killer_head"
        version = "1"
        input_spec = None
        requires = ("content",)
        config_defaults = {"marker": ""}

        def load(self, device):
            pass

        def run(self, batch):
            marker = Path(self.config["marker"])
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
            return [{"pid": 0, "brightness": r["content"]["brightness"]} for r in batch.results]


    @hookimpl
    def register_analyzers():
        return [KillerHead]
'''


def _photos(tmp_path: Path, n: int = 5) -> Path:
    root = tmp_path / "photos"
    for i in range(n):
        write_jpeg(root / f"p{i}.jpg", size=(320, 200), seed=i)
    return root


def _records(spec) -> dict[str, dict]:
    with open_catalog(str(spec)) as cat:
        return {r["path"].name: r["results"] for r in cat.iter_records()}


def _base(settings, tmp_path: Path, plugin: str, source: str, **plugins):
    write_plugin(tmp_path / "plug", plugin, source)
    return settings.replace(plugin_dirs=(str(tmp_path / "plug"),), device="cpu", workers=2, gpus_per_actor=0,
                            models_dir=tmp_path / "no-models", clip_model="nobody/none", detr_model="nobody/none",
                            plugins=plugins)


def test_batch_stage_on_ray_actors_matches_the_local_stage(ray_session, tmp_path, settings):
    root = _photos(tmp_path)
    base = _base(settings, tmp_path, "colours", BATCH_PLUGIN)
    local = run_analysis(root, base.replace(catalog=tmp_path / "local.db"))
    on_ray = run_analysis(root, base.replace(catalog=tmp_path / "ray.db", executor="ray"))
    v = on_ray.summary["vision"]
    assert v["status"] == "done" and v["photos"] == 5 and local.summary["vision"]["photos"] == 5
    assert v["executor"]["name"] == "ray-actors" and v["executor"]["gpus_per_actor"] == 0
    assert v["executor"]["actor_processes"] == 1 and v["executor"]["actor_deaths"] == 0
    ray_recs, local_recs = _records(tmp_path / "ray.db"), _records(tmp_path / "local.db")
    assert ray_recs == local_recs
    assert all(r["warmth_head"]["brightness"] == r["content"]["brightness"] for r in ray_recs.values())
    assert all(r["broken_batch"]["_error"] == "RuntimeError: model exploded" for r in ray_recs.values())
    errs = [json.loads(x) for x in (base.log_dir / "errors.jsonl").read_text().splitlines()]
    assert len([e for e in errs if e["stage"] == "broken_batch"]) == 10   # 5 per run, the plugin named
    assert {e["plugin"] for e in errs if e["stage"] == "broken_batch"} == {"colours"}


def test_actor_killed_mid_run_loses_nothing_and_is_recorded(ray_session, tmp_path, settings):
    root = _photos(tmp_path)
    marker = tmp_path / "killed.pid"
    s = _base(settings, tmp_path, "killer", KILLER_BATCH, killer_head={"marker": str(marker)}).replace(
        catalog=tmp_path / "c.db", executor="ray")
    r = run_analysis(root, s)
    assert marker.exists() and int(marker.read_text()) != os.getpid()       # an actor process really died
    v = r.summary["vision"]
    assert v["executor"]["actor_deaths"] == 1 and v["photos"] == 5 and v["failed"] == 0
    recs = _records(tmp_path / "c.db")
    assert len(recs) == 5 and all(res["killer_head"]["brightness"] == res["content"]["brightness"]
                                  for res in recs.values())
    errs = [json.loads(x) for x in (s.log_dir / "errors.jsonl").read_text().splitlines()]
    deaths = [e for e in errs if e["stage"] == "worker"]
    assert sorted(Path(e["file"]).name for e in deaths) == sorted(recs)   # each photo of the shard, once
    assert all("retried on a new actor" in e["message"] for e in deaths)
