"""The aesthetics plugin: LAION heads of the real architectures, randomly initialised at the embedding size of
a tiny random CLIP, loaded through the real loading code from the models folder, over embeddings the real
vision stage stored; without a head, BRISQUE with the SVR the brisque package ships, on real photos
(scikit-image's, the corpus's) against degraded copies of themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from imgengine.analyzers.vision.embedding import decode_embedding  # noqa: E402
from imgengine.core.catalog import Catalog  # noqa: E402
from imgengine.engine import run_analysis  # noqa: E402
from imgengine.errors import ModelUnavailableError  # noqa: E402
from imgengine.plugins.builtin.aesthetics import AestheticsAnalyzer, build_head  # noqa: E402
from imgengine.settings import Settings  # noqa: E402
from imgengine.testing.models import build_clip  # noqa: E402

DIM = 16  # the tiny random CLIP's embedding size


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    return build_clip(tmp_path_factory.mktemp("aes") / "clip")


def make_photos(folder: Path) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(folder / f"p{i}.jpg")
    return folder


def settings_for(tmp: Path, clip: Path, **aesthetics) -> Settings:
    return Settings(workers=1, log_dir=tmp / "logs", models_dir=tmp / "models", clip_model=str(clip), device="cpu",
                    catalog=tmp / "catalog.db", plugins={"aesthetics": {"enabled": True, **aesthetics},
                                                         "detr": {"enabled": False}})


def save_head(models: Path, name: str, kind: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    head = torch.nn.Linear(DIM, 1) if kind == "linear" else build_head(_mlp_state(), DIM)
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


def stored(cat_path: Path, analyzer: str) -> dict[str, dict]:
    with Catalog(cat_path) as cat:
        return {p["path"].name: d for p, d in cat.results_of(analyzer)}


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_analyze_scores_the_stored_clip_embeddings_with_the_head(tiny_clip, kind, tmp_path):
    head = save_head(tmp_path / "models", f"{kind}.pth", kind)
    s = settings_for(tmp_path, tiny_clip, head=f"{kind}.pth")
    summary = run_analysis(make_photos(tmp_path / "photos"), s).summary
    assert summary["failed"] == 0 and not summary["vision"].get("warning"), summary["vision"]
    scores, clips = stored(s.catalog, "aesthetics"), stored(s.catalog, "clip")
    assert set(scores) == set(clips) == {f"p{i}.jpg" for i in range(5)}
    for name, res in scores.items():
        with torch.no_grad():
            expected = float(head(torch.from_numpy(decode_embedding(clips[name]["embedding"]))[None])[0, 0])
        assert res["score"] == pytest.approx(expected, abs=1e-3)
        assert res["head"].startswith(f"{kind}.pth@") and res["clip_model"] == clips[name]["model"]
        assert res["scorer"] == "laion" and res["brisque"] is None and "1-10" in res["scale"]
    again = run_analysis(tmp_path / "photos", s).summary
    assert again["vision"]["status"] == "up to date"
    # another head file: only the scores are redone
    save_head(tmp_path / "models", f"{kind}.pth", kind, seed=1)
    redo = run_analysis(tmp_path / "photos", s).summary["vision"]
    assert redo["photos"] == 5 and stored(s.catalog, "aesthetics") != scores


def test_without_a_head_and_no_fallback_the_run_goes_on_with_one_warning(tiny_clip, tmp_path):
    s = settings_for(tmp_path, tiny_clip, fallback="none")
    summary = run_analysis(make_photos(tmp_path / "photos"), s).summary
    assert "no LAION aesthetic head" in summary["vision"]["warning"]
    assert summary["failed"] == 0 and len(stored(s.catalog, "clip")) == 5 and not stored(s.catalog, "aesthetics")


def test_a_head_for_another_clip_model_is_refused_clearly(tiny_clip, tmp_path):
    (tmp_path / "models" / "laion-aesthetic").mkdir(parents=True)
    torch.save(torch.nn.Linear(512, 1).state_dict(), tmp_path / "models" / "laion-aesthetic" /
               "sa_0_4_vit_b_32_linear.pth")
    s = settings_for(tmp_path, tiny_clip)
    run_analysis(make_photos(tmp_path / "photos"), s)
    with Catalog(s.catalog) as cat:
        errors = [r[0] for r in cat.db.execute("SELECT error FROM results WHERE analyzer = 'aesthetics'")]
    assert len(errors) == 5 and all("no LAION head is known for 16-d" in e for e in errors)
    a = AestheticsAnalyzer(head="sa_0_4_vit_b_32_linear.pth", models_dir=tmp_path / "models")
    with pytest.raises(ModelUnavailableError, match="takes 512-d embeddings, the catalog's CLIP model gives 16-d"):
        a.head_for(DIM)
    (tmp_path / "models" / "laion-aesthetic" / "broken.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelUnavailableError, match="cannot read"):
        AestheticsAnalyzer(head="broken.pth", models_dir=tmp_path / "models").head_for(DIM)
    assert AestheticsAnalyzer(head="x.pth").stored_version != AestheticsAnalyzer().stored_version


# -- BRISQUE, when no LAION head is there ------------------------------------------------------------------

def degraded(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """Clearly worse copies: Gaussian blur, white noise, JPEG at quality 5."""
    import io

    from PIL import ImageFilter

    img = Image.fromarray(rgb)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=5)
    noise = np.random.default_rng(0).normal(0, 25, rgb.shape)
    return {"blur": np.asarray(img.filter(ImageFilter.GaussianBlur(4))),
            "noise": np.clip(rgb + noise, 0, 255).astype(np.uint8),
            "jpeg5": np.asarray(Image.open(buf).convert("RGB"))}


def skimage_photos() -> dict[str, np.ndarray]:
    from skimage import data

    return {n: getattr(data, n)() for n in ("astronaut", "coffee", "chelsea", "rocket")}


def assert_degraded_scores_worse(photos: dict[str, np.ndarray]) -> None:
    from imgengine.plugins.builtin.aesthetics import BrisqueModel

    model = BrisqueModel()
    for name, rgb in photos.items():
        original = model.score(rgb)
        for how, worse in degraded(rgb).items():
            assert model.score(worse) > original + 10, (name, how)


def test_brisque_scores_each_degraded_copy_of_a_real_photo_worse():
    pytest.importorskip("brisque")
    from imgengine.plugins.builtin.aesthetics import BrisqueModel

    assert_degraded_scores_worse(skimage_photos())
    model = BrisqueModel()
    grey = skimage_photos()["astronaut"].mean(axis=2).astype(np.uint8)
    assert model.score(grey) == pytest.approx(model.score(np.stack([grey] * 3, -1)), abs=1.0)


def test_brisque_on_corpus_photos(corpus):
    pytest.importorskip("brisque")
    photos = {}
    for name in ("Canon_40D.jpg", "gps/DSCN0010.jpg", "Nikon_D70.jpg", "Pentax_K10D.jpg"):
        img = Image.open(corpus / "jpg" / name).convert("RGB")
        img.thumbnail((512, 512))
        photos[name] = np.asarray(img)
    assert_degraded_scores_worse(photos)


def test_without_a_head_a_run_scores_brisque_from_pixels_and_says_so(tiny_clip, tmp_path):
    pytest.importorskip("brisque")
    from skimage import data

    photos = tmp_path / "photos"
    photos.mkdir()
    rgb = data.astronaut()
    Image.fromarray(rgb).save(photos / "original.png")
    for how, worse in degraded(rgb).items():
        Image.fromarray(worse).save(photos / f"{how}.png")
    s = settings_for(tmp_path, tiny_clip)
    summary = run_analysis(photos, s).summary
    assert summary["failed"] == 0 and not summary["vision"].get("warning"), summary["vision"]
    assert summary["vision"]["models"]["aesthetics"]["name"].startswith("brisque")
    got = stored(s.catalog, "aesthetics")
    assert set(got) == {"original.png", "blur.png", "noise.png", "jpeg5.png"}
    for res in got.values():
        assert res["scorer"] == "brisque" and res["score"] is None and "lower" in res["scale"]
    assert all(got[f"{how}.png"]["brisque"] > got["original.png"]["brisque"] + 10 for how in ("blur", "noise", "jpeg5"))
    # the same pixels the loader gives (512 px, bicubic) score what the model scores directly
    from imgengine.plugins.builtin.aesthetics import BrisqueModel

    assert got["original.png"]["brisque"] == pytest.approx(BrisqueModel().score(rgb), abs=0.5)
    # a LAION head put in the models folder later: the scorer changes and every photo is redone
    save_head(tmp_path / "models", "linear.pth", "linear")
    redo = run_analysis(photos, settings_for(tmp_path, tiny_clip, head="linear.pth")).summary["vision"]
    assert redo["photos"] == 4
    assert {r["scorer"] for r in stored(s.catalog, "aesthetics").values()} == {"laion"}


def test_a_fallback_that_is_not_known_is_refused():
    from imgengine.errors import ConfigError

    with pytest.raises(ConfigError, match="fallback 'nima'"):
        AestheticsAnalyzer(fallback="nima")


def test_brisque_of_a_flat_or_tiny_image_is_none_not_nan():
    pytest.importorskip("brisque")
    from imgengine.plugins.builtin.aesthetics import BrisqueModel

    model = BrisqueModel()
    assert model.score(np.full((300, 400, 3), 128, np.uint8)) is None
    assert model.score(np.zeros((8, 8, 3), np.uint8)) is None
