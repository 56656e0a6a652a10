"""Issue 17 item 6: every long step reports progress through one protocol; the counts reach the totals."""

from pathlib import Path

import numpy as np
import pytest

from imgengine.analyzers.vision.embedding import encode_embedding
from imgengine.core.catalog import Catalog
from imgengine.engine.perfile import FileOutcome
from imgengine.engine.run import run_analysis
from imgengine.processors.dedup import DedupParams, scan_duplicates
from imgengine.processors.journal import Journal
from imgengine.processors.plan import apply_plan
from imgengine.processors.rename import plan_rename
from imgengine.progress import CountingSteps
from imgengine.search.store import EmbeddingStore
from imgengine.testing.samples import camera_exif, jpeg_bytes, scene

from .conftest import write_jpeg


class Recorder(CountingSteps):
    """The per-file progress of the analysis and the step protocol, both counted."""

    def __init__(self):
        super().__init__()
        self.files_total = None
        self.files_done = 0

    def start(self, total, skipped):
        self.files_total = total

    def advance(self, outcome):
        self.files_done += 1


def _reached(rec: CountingSteps, step: str) -> None:
    assert step in rec.totals, f"{step} never started"
    assert rec.done[step] == rec.totals[step], f"{step}: {rec.done[step]} of {rec.totals[step]}"
    assert step in rec.ended


def test_duplicate_comparison_counts_every_candidate_pair(tmp_path: Path, settings):
    root = tmp_path / "p"
    root.mkdir()
    for i in range(6):
        img = scene(320, 240, seed=i)
        (root / f"a{i}.jpg").write_bytes(jpeg_bytes(img, camera_exif(), 90))
        img.resize((200, 150)).save(root / f"a{i}_small.jpg", quality=80)
    rec = Recorder()
    result, _, _ = scan_duplicates(root, settings.replace(vision=False), DedupParams(), progress=rec)
    _reached(rec, "comparing")
    assert rec.totals["comparing"] == result.candidate_pairs > 0
    assert rec.files_done == rec.files_total == 12


def test_search_index_build_counts_every_embedding(tmp_path: Path):
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((1200, 16)).astype(np.float32)
    model = "1:test/clip:abcd"
    with Catalog(tmp_path / "c.db") as cat:
        cat.write_outcomes([FileOutcome(tmp_path / f"{i}.jpg", 1, 1, "jpeg", False, None, "ok", None, True,
                                        {"clip": ("1", {"embedding": encode_embedding(v), "model": model}, None)})
                            for i, v in enumerate(vectors)])
        rec = CountingSteps()
        report = EmbeddingStore(cat, model, backend="numpy").sync(rec)
    _reached(rec, "search index")
    assert rec.totals["search index"] == report.total == 1200


def test_rename_apply_counts_every_file(tmp_path: Path, settings):
    root = tmp_path / "p"
    for i in range(5):
        write_jpeg(root / f"IMG_{i}.jpg", seed=i)
    plan = plan_rename(root, "x_{counter}", settings, None)
    seen = []
    journal = Journal.begin(tmp_path / "state", "rename", {})
    with journal:
        apply_plan(plan, journal, progress=seen.append)
    assert len(seen) == len(plan.todo) == 5


def test_vision_stage_and_model_loading_report_progress(tmp_path: Path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from imgengine.settings import Settings
    from imgengine.testing.models import build_clip, build_detr

    models = tmp_path / "models"
    clip, detr = build_clip(models / "clip"), build_detr(models / "detr")
    root = tmp_path / "p"
    for i in range(5):
        write_jpeg(root / f"v{i}.jpg", size=(160, 120), seed=i)
    settings = Settings(workers=1, log_dir=tmp_path / "logs", models_dir=tmp_path / "md", clip_model=str(clip),
                        detr_model=str(detr), device="cpu", catalog=tmp_path / "c.db")
    rec = Recorder()
    result = run_analysis(root, settings, progress=rec)
    assert result.summary["vision"]["photos"] == 5
    _reached(rec, "loading models")
    assert rec.totals["loading models"] == 2
    _reached(rec, "vision")
    assert rec.totals["vision"] == 5


def test_the_terminal_front_end_speaks_the_protocol():
    from imgengine.cli.analyze import RichProgress
    from imgengine.progress import StepProgress

    bar = RichProgress(False)
    assert isinstance(bar, StepProgress)
    with bar:
        bar.step_start("comparing", 10, "pairs")
        bar.step_advance("comparing", 4)
        bar.step_advance("comparing", 6)
        assert bar._steps["comparing"][3] == 10
        bar.step_done("comparing")
    assert "comparing" not in bar._steps
