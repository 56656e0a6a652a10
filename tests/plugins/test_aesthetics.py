"""The aesthetics plugin: LAION heads of the real architectures, randomly initialised at the embedding size of
a tiny random CLIP, loaded through the real loading code from the models folder, over embeddings the real
vision stage stored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from imgengine.analyzers.vision.embedding import decode_embedding  # noqa: E402
from imgengine.analyzers.vision.random_models import build_clip  # noqa: E402
from imgengine.core.catalog import Catalog  # noqa: E402
from imgengine.core.pipeline import run_analysis  # noqa: E402
from imgengine.errors import ModelUnavailableError  # noqa: E402
from imgengine.plugins.builtin.aesthetics import AestheticsAnalyzer, build_head, score_catalog  # noqa: E402
from imgengine.settings import Settings  # noqa: E402

DIM = 16  # the tiny random CLIP's embedding size


@pytest.fixture(scope="module")
def clip_catalog(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("aes")
    clip = build_clip(root / "clip")
    photos = root / "photos"
    photos.mkdir()
    rng = np.random.default_rng(3)
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(photos / f"p{i}.jpg")
    s = Settings(workers=1, log_dir=root / "logs", models_dir=root / "models", clip_model=str(clip), detr_model="",
                 device="cpu", catalog=root / "catalog.db")
    summary = run_analysis(photos, s).summary
    assert summary["vision"]["photos"] == 5
    return root


def save_head(models: Path, name: str, kind: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    if kind == "linear":
        head = torch.nn.Linear(DIM, 1)
    else:
        head = build_head(_mlp_state(), DIM)
    (models / "laion-aesthetic").mkdir(parents=True, exist_ok=True)
    torch.save(head.state_dict(), models / "laion-aesthetic" / name)
    return head.eval()


def _mlp_state() -> dict:
    sizes = [(DIM, 1024), (1024, 128), (128, 64), (64, 16), (16, 1)]
    index = [0, 2, 4, 6, 7]  # Linear positions in the published nn.Sequential (Dropouts between)
    state = {}
    for i, (a, b) in zip(index, sizes, strict=True):
        layer = torch.nn.Linear(a, b)
        state[f"layers.{i}.weight"], state[f"layers.{i}.bias"] = layer.weight.data, layer.bias.data
    return state


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_scores_are_the_heads_output_on_the_stored_embeddings(clip_catalog, kind, tmp_path):
    models = tmp_path / "models"
    head = save_head(models, f"{kind}.pth", kind)
    analyzer = AestheticsAnalyzer(head=f"{kind}.pth", models_dir=models)
    cat_path = tmp_path / "catalog.db"
    cat_path.write_bytes((clip_catalog / "catalog.db").read_bytes())
    with Catalog(cat_path) as cat:
        assert score_catalog(cat, analyzer) == 5
        assert score_catalog(cat, analyzer) == 0          # up to date: nothing redone
        stored = {p["path"].name: d for p, d in cat.results_of("aesthetics")}
        clips = {p["path"].name: d for p, d in cat.results_of("clip")}
    assert set(stored) == {f"p{i}.jpg" for i in range(5)}
    for name, res in stored.items():
        with torch.no_grad():
            expected = float(head(torch.from_numpy(decode_embedding(clips[name]["embedding"]))[None])[0, 0])
        assert res["score"] == pytest.approx(expected, abs=1e-3)
        assert res["head"].startswith(f"{kind}.pth@") and res["clip_model"] == clips[name]["model"]
    assert AestheticsAnalyzer(head="other.pth").version != analyzer.version


def test_missing_or_mismatched_head_is_one_clear_message(clip_catalog, tmp_path):
    analyzer = AestheticsAnalyzer(models_dir=tmp_path / "empty")
    with Catalog(clip_catalog / "catalog.db") as cat:
        with pytest.raises(ModelUnavailableError, match="no LAION head is known for 16-d"):
            score_catalog(cat, analyzer)
    models = tmp_path / "models"
    (models / "laion-aesthetic").mkdir(parents=True)
    torch.save(torch.nn.Linear(512, 1).state_dict(), models / "laion-aesthetic" / "sa_0_4_vit_b_32_linear.pth")
    wrong = AestheticsAnalyzer(head="sa_0_4_vit_b_32_linear.pth", models_dir=models)
    with Catalog(clip_catalog / "catalog.db") as cat:
        with pytest.raises(ModelUnavailableError, match="takes 512-d embeddings, the catalog's CLIP model gives 16-d"):
            score_catalog(cat, wrong)
    (models / "laion-aesthetic" / "broken.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelUnavailableError, match="cannot read"):
        AestheticsAnalyzer(head="broken.pth", models_dir=models).load(DIM)
    missing = AestheticsAnalyzer(head="nope.pth", models_dir=models)
    with pytest.raises(ModelUnavailableError, match="nope.pth not found"):
        missing.load(DIM)
