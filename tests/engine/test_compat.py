"""The deprecated import paths from before the engine still work (for code written against them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..conftest import write_jpeg


def test_core_pipeline_alias(tmp_path: Path, settings):
    from imgengine.core import pipeline
    from imgengine.engine import perfile, run

    assert pipeline.run_analysis is run.run_analysis and pipeline.FileOutcome is perfile.FileOutcome
    write_jpeg(tmp_path / "p" / "a.jpg", size=(96, 64))
    assert pipeline.run_analysis(tmp_path / "p", settings.replace(vision=False)).summary["ok"] == 1
    with pytest.raises(AttributeError):
        pipeline.no_such_name  # noqa: B018


def test_run_vision_stage_wrapper(tmp_path: Path, settings):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from imgengine.analyzers.vision.stage import run_vision_stage
    from imgengine.core.catalog import Catalog
    from imgengine.engine.run import run_analysis
    from imgengine.logs import RunLogger
    from imgengine.testing.models import build_clip

    for i in range(3):
        write_jpeg(tmp_path / "p" / f"a{i}.jpg", size=(96, 64), seed=i)
    s = settings.replace(vision=False, device="cpu", clip_model=str(build_clip(tmp_path / "clip")),
                         detr_model="nobody/none", models_dir=tmp_path / "none")
    run_analysis(tmp_path / "p", s)
    logger = RunLogger(s.log_dir)
    with Catalog(s.catalog) as cat:
        v = run_vision_stage(tmp_path / "p", s, cat, logger)
    logger.close()
    assert v["status"] == "done" and v["photos"] == 3 and "nobody/none" in v["warning"]
