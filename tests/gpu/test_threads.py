"""The CPU thread plan of the model stage: sizing, the OpenMP wait policy, and what the summary shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from imgengine.errors import ConfigError
from imgengine.gpu.threads import plan_cpu_threads, prepare_wait_policy


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("_IMGENGINE_SET_OMP_WAIT", raising=False)
    return monkeypatch


def test_threads_are_the_cores_left_after_the_loader(clean_env):
    assert plan_cpu_threads(1, cores=8, wait_policy="default").threads == 7
    assert plan_cpu_threads(0, cores=8, wait_policy="default").threads == 8
    assert plan_cpu_threads(4, cores=2, wait_policy="default").threads == 1   # never below one
    plan = plan_cpu_threads(1, configured=3, cores=2, wait_policy="default")
    assert plan.threads == 3 and plan.configured and plan.loader_workers == 1 and plan.cores == 2


def test_wait_policy_is_set_only_before_torch_and_never_over_the_user(clean_env, monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert prepare_wait_policy("passive") == ("passive", "set-by-imgengine")
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert prepare_wait_policy("passive") == ("passive", "set-by-imgengine")   # a second run in the process
    clean_env.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert prepare_wait_policy("passive") == ("active", "environment")         # the user's choice wins
    clean_env.delenv("OMP_WAIT_POLICY")
    clean_env.delenv("_IMGENGINE_SET_OMP_WAIT")
    assert prepare_wait_policy("default") == ("default", "default") and "OMP_WAIT_POLICY" not in os.environ
    monkeypatch.setitem(sys.modules, "torch", object())
    assert prepare_wait_policy("passive") == ("default", "too-late")          # libgomp has read it already
    assert "OMP_WAIT_POLICY" not in os.environ
    with pytest.raises(ConfigError, match="omp_wait_policy"):
        prepare_wait_policy("sometimes")


def test_a_fresh_analyze_sets_the_policy_before_torch_and_reports_the_plan(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from imgengine.testing.models import build_clip
    from tests.test_vision import make_photos

    clip = build_clip(tmp_path / "clip")
    make_photos(tmp_path / "photos")
    env = {**os.environ, "IMGENGINE_CLIP_MODEL": str(clip), "IMGENGINE_DETR_MODEL": "absent/detr",
           "IMGENGINE_DEVICE": "cpu", "IMGENGINE_MODELS_DIR": str(tmp_path / "none"),
           "IMGENGINE_LOG_DIR": str(tmp_path / "logs"), "IMGENGINE_WORKERS": "1", "IMGENGINE_CPU_THREADS": "2"}
    env.pop("OMP_WAIT_POLICY", None)
    env.pop("_IMGENGINE_SET_OMP_WAIT", None)
    p = subprocess.run([sys.executable, "-m", "imgengine.cli.app", "analyze", str(tmp_path / "photos"), "-q"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode in (0, 1), p.stderr  # broken.jpg fails in the CPU stage
    summary = json.loads(next(Path(tmp_path / "logs").glob("*_summary.json")).read_text())
    v = summary["vision"]
    assert v["status"] == "done" and v["torch_threads"] == 2
    assert v["cpu_threads"] == {"threads": 2, "cores": v["cpu_threads"]["cores"], "loader_workers":
                                v["loader_workers"], "wait_policy": "passive",
                                "wait_policy_source": "set-by-imgengine", "configured": True}
