"""Batch analyzers from a plugin: fed by the shared loader (one decode per photo), pixel-less heads that
read other analyzers' results, OOM halving, and a batch plugin that raises costs only its own results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from imgengine.core.catalog import Catalog  # noqa: E402
from imgengine.engine.run import run_analysis  # noqa: E402

from ..conftest import write_jpeg  # noqa: E402
from ..plugins.helpers import line_of, write_plugin  # noqa: E402

BATCH_PLUGIN = '''
    """Mean colour of a centre crop (batch, torch) and a head over it plus the content analyzer's result."""
    import torch

    from imgengine.analyzers.base import BatchAnalyzer, InputSpec
    from imgengine.plugins import hookimpl

    __version__ = "0.1"
    CALLS = []


    class MeanColour(BatchAnalyzer):
        name = "mean_colour"
        version = "1"
        input_spec = InputSpec(size=16, crop=True)
        batch_size = {"cpu": 4, "cuda": 4}

        def load(self, device):
            self.device = device

        def run(self, batch):
            CALLS.append(len(batch))
            if len(batch) > 2 and self.config.get("fail_big_batches"):
                raise torch.OutOfMemoryError("CUDA out of memory (injected)")
            x = batch.pixels.float().mean(dim=(2, 3))
            return [{"rgb": [round(float(v), 3) for v in row], "size": list(batch.pixels.shape[2:])} for row in x]


    class Head(BatchAnalyzer):
        name = "warmth_head"
        version = "1"
        input_spec = None
        requires = ("mean_colour", "content")
        csv_fields = {"warmth": "warmth"}

        def load(self, device):
            pass

        def run(self, batch):
            out = []
            for res in batch.results:
                r, g, b = res["mean_colour"]["rgb"]
                out.append({"warmth": round(r - b, 3), "brightness": res["content"]["brightness"]})
            return out


    class Broken(BatchAnalyzer):
        name = "broken_batch"
        version = "1"
        input_spec = InputSpec(size=8, crop=False)

        def load(self, device):
            pass

        def run(self, batch):
            raise RuntimeError("model exploded")  # BROKEN-RUN


    @hookimpl
    def register_analyzers():
        return [MeanColour, Head, Broken]
'''


def test_batch_plugins_share_the_loader_and_read_requirements(tmp_path: Path, settings):
    root = tmp_path / "photos"
    for i in range(5):
        write_jpeg(root / f"p{i}.jpg", size=(320, 200), seed=i)
    plugin = write_plugin(tmp_path / "plug", "colours", BATCH_PLUGIN)
    s = settings.replace(plugin_dirs=(str(tmp_path / "plug"),), device="cpu", batch_size="auto",
                         models_dir=tmp_path / "no-models", clip_model="nobody/none", detr_model="nobody/none",
                         plugins={"mean_colour": {"fail_big_batches": True}})
    r = run_analysis(root, s)
    v = r.summary["vision"]
    assert v["status"] == "done" and v["photos"] == 5
    assert "model weights not found" in v["warning"]            # CLIP/DETR: one warning, the plugins ran
    assert v["oom_retries"] >= 1 and v["batch_size"]["mean_colour"] == 2
    with Catalog(s.catalog) as cat:
        recs = {Path(x["path"]).name: x["results"] for x in cat.iter_records()}
    for res in recs.values():
        mc = res["mean_colour"]
        assert mc["size"] == [16, 16] and all(0 <= c <= 255 for c in mc["rgb"])
        head = res["warmth_head"]
        assert head["warmth"] == pytest.approx(mc["rgb"][0] - mc["rgb"][2], abs=1e-3)
        assert head["brightness"] == res["content"]["brightness"]
        assert res["broken_batch"]["_error"] == "RuntimeError: model exploded"
        assert res["metadata"]["_version"] == "2"
    errs = [json.loads(x) for x in (s.log_dir / "errors.jsonl").read_text().splitlines()]
    broken = [e for e in errs if e["stage"] == "broken_batch"]
    assert len(broken) == 5 and {e["source_line"] for e in broken} == {line_of(plugin, "BROKEN-RUN")}
    assert {e["plugin"] for e in broken} == {"colours"} and len({e["fingerprint"] for e in broken}) == 1
    # everything current: the batch stage has nothing to do
    assert run_analysis(root, s).summary["vision"]["status"] == "up to date"


SLEEPY_BATCH = '''
    import time

    from imgengine.analyzers.base import BatchAnalyzer
    from imgengine.plugins import hookimpl


    class SlowHead(BatchAnalyzer):
        name = "slow_head"
        input_spec = None
        requires = ("content",)

        def load(self, device):
            pass

        def run(self, batch):
            time.sleep(30)  # SLOW-HEAD
            return [{} for _ in range(len(batch))]


    @hookimpl
    def register_analyzers():
        return [SlowHead]
'''


def test_hanging_batch_plugin_times_out(tmp_path: Path, settings):
    root = tmp_path / "photos"
    for i in range(2):
        write_jpeg(root / f"p{i}.jpg", size=(160, 120), seed=i)
    plugin = write_plugin(tmp_path / "plug", "slow", SLEEPY_BATCH)
    s = settings.replace(plugin_dirs=(str(tmp_path / "plug"),), device="cpu", models_dir=tmp_path / "none",
                         clip_model="nobody/none", detr_model="nobody/none", plugins={"slow_head": {"timeout": 0.5}})
    r = run_analysis(root, s)
    assert r.summary["vision"]["status"] == "done" and r.summary["seconds"] < 20
    with Catalog(s.catalog) as cat:
        res = {Path(x["path"]).name: x["results"] for x in cat.iter_records()}
    assert res["p0.jpg"]["slow_head"]["_error"] == "timed out after 0.5s" and res["p0.jpg"]["content"]["quality"]
    errs = [json.loads(x) for x in (s.log_dir / "errors.jsonl").read_text().splitlines()]
    assert {e["source_line"] for e in errs if e["stage"] == "slow_head"} == {line_of(plugin, "SLOW-HEAD")}
