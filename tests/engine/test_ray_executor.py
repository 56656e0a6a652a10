"""The Ray executor on a real local Ray (2 CPUs): the same results as the local engine, a worker killed
mid-run loses nothing. One Ray session for the module (Ray takes seconds to start)."""

from __future__ import annotations

import os

from imgengine.catalog import open_catalog
from imgengine.engine.run import run_analysis
from tests.plugins.helpers import BRIGHTNESS_PLUS, write_plugin

VOLATILE = ("id", "analyzed_at")

# Kills its own worker process (SIGKILL, as an OOM killer or a lost node would) the first time it sees the
# photo named in the marker's folder; the retry finds the marker and analyses normally.
KILLER = '''
    import os
    import signal
    from dataclasses import dataclass
    from pathlib import Path

    from imgengine.analyzers.base import Analyzer, Result
    from imgengine.plugins import hookimpl


    @dataclass(frozen=True)
    class Seen(Result):
        name: str


    class Killer(Analyzer):
        name = "killer"
        version = "1"
        needs_pixels = False
        config_defaults = {"marker": "", "always": False}

        def analyze(self, item):
            marker = Path(self.config["marker"])
            if item.photo.path.name == "IMG_0002.jpg" and (self.config["always"] or not marker.exists()):
                marker.write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
            return Seen(item.photo.path.name)


    @hookimpl
    def register_analyzers():
        return [Killer]
'''


def _records(spec: str) -> list[dict]:
    with open_catalog(spec) as cat:
        return [{k: v for k, v in r.items() if k not in VOLATILE} for r in cat.iter_records()]


def test_ray_engine_matches_local_engine(ray_session, photo_dir, tmp_path, settings):
    write_plugin(tmp_path / "plug", "brightness_plus", BRIGHTNESS_PLUS)
    base = settings.replace(vision=False, workers=2, plugin_dirs=(str(tmp_path / "plug"),))
    local = run_analysis(photo_dir, base.replace(catalog=tmp_path / "local.db", executor="pool"))
    on_ray = run_analysis(photo_dir, base.replace(catalog=tmp_path / "ray.db", executor="ray"))
    assert on_ray.summary["ok"] == local.summary["ok"] == 7
    ray_records = _records(str(tmp_path / "ray.db"))
    assert ray_records == _records(str(tmp_path / "local.db"))
    assert all("brightness_plus" in r["results"] for r in ray_records)   # folder plugins run on Ray workers


def test_worker_killed_mid_run_loses_nothing(ray_session, photo_dir, tmp_path, settings):
    write_plugin(tmp_path / "plug", "killer", KILLER)
    marker = tmp_path / "killed.pid"
    s = settings.replace(vision=False, workers=2, executor="ray", catalog=tmp_path / "c.db",
                         plugin_dirs=(str(tmp_path / "plug"),),
                         plugins={"killer": {"marker": str(marker)}})
    result = run_analysis(photo_dir, s)
    assert marker.exists() and int(marker.read_text()) != os.getpid()   # a Ray worker really died
    assert (result.summary["ok"], result.summary["failed"]) == (7, 0)
    assert result.summary["executor"]["worker_deaths"] >= 1 and result.summary["executor"]["files_retried"] >= 1
    recs = _records(str(tmp_path / "c.db"))
    assert len(recs) == 7
    assert sorted(r["results"]["killer"]["name"] for r in recs) == sorted(r["path"].name for r in recs)
    deaths = _errors(s, "worker")                                  # recorded, not silent
    assert deaths and {d["file"].rsplit("/", 1)[-1] for d in deaths} >= {"IMG_0002.jpg"}
    assert all("retried" in d["message"] and d["exception_type"] == "WorkerLost" for d in deaths)


def _errors(settings, stage: str) -> list[dict]:
    import json

    lines = (settings.log_dir / "errors.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["stage"] == stage]


def test_a_file_that_always_kills_its_worker_is_reported_failed(ray_session, photo_dir, tmp_path, settings):
    """Its worker dies on every attempt: after the retries it is reported failed (summary, errors.jsonl, the
    catalog's status), and every other file of the run is analysed."""
    write_plugin(tmp_path / "plug", "killer", KILLER)
    s = settings.replace(vision=False, workers=2, executor="ray", catalog=tmp_path / "c.db",
                         plugin_dirs=(str(tmp_path / "plug"),),
                         plugins={"killer": {"marker": str(tmp_path / "m"), "always": True}})
    result = run_analysis(photo_dir, s)
    assert (result.summary["ok"], result.summary["failed"]) == (6, 1)
    ex = result.summary["executor"]
    assert ex["files_failed_worker_died"] == 1 and ex["worker_deaths"] >= 4      # first try + 3 retries
    assert [f.path.name for f in result.failures] == ["IMG_0002.jpg"]
    assert "the worker died 4 times" in result.failures[0].error
    deaths = [d for d in _errors(s, "worker") if d["file"].endswith("IMG_0002.jpg")]
    assert len(deaths) == 4 and "not retried" in deaths[-1]["message"]
    with open_catalog(str(tmp_path / "c.db")) as cat:
        assert cat.get(photo_dir / "IMG_0002.jpg")["status"] == "error"
        assert cat.count() == 7
