"""Vision stage end to end with tiny randomly initialised CLIP and DETR models (CPU, no downloads).

The models are built from configs, saved with their processors to a temp folder, and loaded through the
same code that loads real checkpoints. Random weights make the labels meaningless, so the tests check
what must hold whatever the weights: batching does not change results, an OOM loses nothing, results
land in the catalog with the right shapes and coordinates, search finds a planted near-duplicate.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import piexif
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from typer.testing import CliRunner  # noqa: E402

from imgengine.analyzers.vision.embedding import decode_embedding  # noqa: E402
from imgengine.analyzers.vision.models import load_pretrained, locate_model  # noqa: E402
from imgengine.cli.app import app  # noqa: E402
from imgengine.core.catalog import Catalog  # noqa: E402
from imgengine.engine.run import run_analysis  # noqa: E402
from imgengine.errors import ModelUnavailableError  # noqa: E402
from imgengine.settings import Settings  # noqa: E402
from imgengine.testing.models import build_clip, build_detr  # noqa: E402


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {"clip": build_clip(root / "clip"), "detr": build_detr(root / "detr")}


def make_photos(folder: Path, n: int = 9) -> dict[str, Path]:
    """n distinct noise-textured JPEGs, one rotated by EXIF (orientation 6), and a planted near-twin of p0."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    out = {}
    for i in range(n):
        h, w = 48 + 4 * i, 64
        base = rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8)
        arr = np.asarray(Image.fromarray(base).resize((w, h), Image.Resampling.NEAREST))
        path = folder / f"p{i}.jpg"
        if i == 1:  # stored 64x52, shown upright as 52x64
            exif = piexif.dump({"0th": {piexif.ImageIFD.Orientation: 6}})
            Image.fromarray(arr).save(path, quality=92, exif=exif)
        else:
            Image.fromarray(arr).save(path, quality=92)
        out[path.name] = path
        if i == 0:
            twin = np.clip(arr.astype(int) + rng.integers(-3, 4, arr.shape), 0, 255).astype(np.uint8)
            Image.fromarray(twin).save(folder / "p0_twin.jpg", quality=85)
            out["p0_twin.jpg"] = folder / "p0_twin.jpg"
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 40)  # fails in the CPU stage
    return out


def settings_for(tmp: Path, models: dict[str, Path], **kw) -> Settings:
    base = {"workers": 1, "log_dir": tmp / "logs", "models_dir": tmp / "models_dir", "clip_model": str(models["clip"]),
            "detr_model": str(models["detr"]), "detr_threshold": 0.0, "device": "cpu"}
    base.update(kw)
    return Settings(**base)


def results_by_name(catalog_path: Path, analyzer: str) -> dict[str, dict]:
    with Catalog(catalog_path) as cat:
        return {Path(p["path"]).name: d for p, d in cat.results_of(analyzer)}


def test_tiny_models_load_through_the_real_loader(tiny_models, tmp_path):
    s = settings_for(tmp_path, tiny_models)
    loc = locate_model("clip", s)
    assert loc.path == tiny_models["clip"] and loc.source == "folder"
    model, processor = load_pretrained("clip", loc.path)
    assert model.config.model_type == "clip" and processor.tokenizer is not None
    # the models-dir layout that `imgengine models import` creates is found by name
    dest = tmp_path / "models_dir" / "acme" / "tiny-detr"
    shutil.copytree(tiny_models["detr"], dest)
    loc = locate_model("detr", s.replace(detr_model="acme/tiny-detr"))
    assert loc.path == dest and loc.source == "models dir"


def test_results_land_in_the_catalog_and_rerun_only_when_needed(tiny_models, tmp_path):
    photos = make_photos(tmp_path / "photos")
    s = settings_for(tmp_path, tiny_models)
    result = run_analysis(tmp_path / "photos", s)
    v = result.summary["vision"]
    assert v["status"] == "done" and v["photos"] == len(photos) and v["failed"] == 0
    assert result.summary["failed"] == 1  # broken.jpg fails in the CPU stage and is not sent to vision
    cat_path = result.catalog_path
    clip = results_by_name(cat_path, "clip")
    detr = results_by_name(cat_path, "detr")
    assert set(clip) == set(detr) == set(photos)
    one = clip["p2.jpg"]
    assert len(one["scenes"]) == 5 and one["setting"] in ("indoors", "outdoors")
    scores = [x["score"] for x in one["scenes"]]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1.0001
    emb = decode_embedding(one["embedding"])
    assert emb.shape == (16,) and abs(float(np.linalg.norm(emb)) - 1) < 1e-3
    # DETR boxes are in upright coordinates: p1 is stored 64x52 with orientation 6, upright 52x64
    rotated = detr["p1.jpg"]
    assert rotated["image_size"] == [52, 64]
    assert len(rotated["objects"]) == 10  # threshold 0: every query of the tiny model is kept
    for obj in rotated["objects"]:
        x0, y0, x1, y1 = obj["box"]
        assert 0 <= x0 <= x1 <= 52 and 0 <= y0 <= y1 <= 64
        assert obj["label"] in ("N/A", "person", "bicycle", "car", "cat", "dog")
    # unchanged files are not recomputed; a new DETR threshold re-runs DETR only
    again = run_analysis(tmp_path / "photos", s)
    assert again.summary["vision"]["status"] == "up to date"
    redo = run_analysis(tmp_path / "photos", s.replace(detr_threshold=0.5))
    assert redo.summary["vision"]["photos"] == len(photos)
    assert redo.summary["vision"]["batch_sizes_used"] == {"detr": [4, 2]}  # 10 photos at batch 4
    assert results_by_name(cat_path, "clip")["p2.jpg"]["embedding"] == one["embedding"]


def _embeddings(cat_path: Path) -> dict[str, np.ndarray]:
    return {k: decode_embedding(v["embedding"]) for k, v in results_by_name(cat_path, "clip").items()}


def test_batching_equals_one_by_one(tiny_models, tmp_path):
    make_photos(tmp_path / "a")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    batched = run_analysis(tmp_path / "a", settings_for(tmp_path, tiny_models, batch_size="auto"))
    single = run_analysis(tmp_path / "b", settings_for(tmp_path, tiny_models, batch_size="1"))
    assert batched.summary["vision"]["batch_size"] == {"clip": 16, "detr": 4}
    assert single.summary["vision"]["batch_sizes_used"] == {"clip": [1], "detr": [1]}
    ea, eb = _embeddings(batched.catalog_path), _embeddings(single.catalog_path)
    assert set(ea) == set(eb)
    for name in ea:
        assert np.allclose(ea[name], eb[name], atol=2e-3), name
    da, db = results_by_name(batched.catalog_path, "detr"), results_by_name(single.catalog_path, "detr")
    for name in da:
        boxes_a = np.array([o["box"] for o in da[name]["objects"]])
        boxes_b = np.array([o["box"] for o in db[name]["objects"]])
        assert boxes_a.shape == boxes_b.shape and np.allclose(np.sort(boxes_a, 0), np.sort(boxes_b, 0), atol=0.2)


def test_out_of_memory_at_the_model_call_halves_and_loses_nothing(tiny_models, tmp_path, monkeypatch):
    from transformers import CLIPModel, DetrForObjectDetection

    photos = make_photos(tmp_path / "photos")
    reference = run_analysis(tmp_path / "photos", settings_for(tmp_path, tiny_models, catalog=tmp_path / "ref.db"))
    calls = {"clip": 0, "detr": 0}
    real_image = CLIPModel.get_image_features
    real_forward = DetrForObjectDetection.forward

    def image_features(self, pixel_values=None, **kw):
        if pixel_values.shape[0] > 3:
            calls["clip"] += 1
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")
        return real_image(self, pixel_values=pixel_values, **kw)

    def forward(self, pixel_values=None, pixel_mask=None, **kw):
        if pixel_values.shape[0] > 1:
            calls["detr"] += 1
            raise RuntimeError("CUDA error: out of memory (injected)")
        return real_forward(self, pixel_values=pixel_values, pixel_mask=pixel_mask, **kw)

    monkeypatch.setattr(CLIPModel, "get_image_features", image_features)
    monkeypatch.setattr(DetrForObjectDetection, "forward", forward)
    result = run_analysis(tmp_path / "photos", settings_for(tmp_path, tiny_models, batch_size="8"))
    v = result.summary["vision"]
    assert calls["clip"] >= 1 and calls["detr"] >= 1
    assert v["oom_retries"] == calls["clip"] + calls["detr"]
    assert v["batch_size"] == {"clip": 2, "detr": 1} and v["failed"] == 0
    got, want = _embeddings(result.catalog_path), _embeddings(reference.catalog_path)
    assert set(got) == set(want) == set(photos)
    for name in got:
        assert np.allclose(got[name], want[name], atol=2e-3)
    assert len(results_by_name(result.catalog_path, "detr")) == len(photos)


def test_missing_weights_give_one_message_and_a_successful_run(tmp_path):
    make_photos(tmp_path / "photos", n=3)
    s = Settings(workers=1, log_dir=tmp_path / "logs", models_dir=tmp_path / "nothing-here",
                 clip_model="nobody/no-clip-here", detr_model="nobody/no-detr-here")
    result = run_analysis(tmp_path / "photos", s)
    v = result.summary["vision"]
    assert v["status"] == "skipped"
    assert "nobody/no-clip-here" in v["warning"] and "imgengine models download" in v["warning"]
    log = next((tmp_path / "logs").glob("*.log")).read_text()
    assert log.count("WARNING") == 1 and "models import" in log
    # the CLI prints the one warning and exits 0 (the CPU stage found only broken.jpg... which fails: exit 1)
    (tmp_path / "photos" / "broken.jpg").unlink()
    runner = CliRunner()
    env = {"IMGENGINE_MODELS_DIR": str(tmp_path / "nothing-here"), "IMGENGINE_CLIP_MODEL": "nobody/x",
           "IMGENGINE_DETR_MODEL": "nobody/y", "IMGENGINE_LOG_DIR": str(tmp_path / "logs2"),
           "IMGENGINE_WORKERS": "1", "HF_HUB_OFFLINE": "1"}
    out = runner.invoke(app, ["analyze", str(tmp_path / "photos"), "--force"], env=env)
    assert out.exit_code == 0, out.output
    assert out.output.count("model weights not found") == 1


def test_corrupt_model_folder_gives_a_clear_error_and_the_run_goes_on(tiny_models, tmp_path):
    bad = tmp_path / "bad-clip"
    shutil.copytree(tiny_models["clip"], bad)
    (bad / "model.safetensors").write_bytes(b"this is not a safetensors file")
    with pytest.raises(ModelUnavailableError, match="corrupt or incompatible"):
        load_pretrained("clip", bad)
    (bad / "config.json").unlink()
    with pytest.raises(ModelUnavailableError, match="incomplete: no config.json"):
        load_pretrained("clip", bad)
    make_photos(tmp_path / "photos", n=3)
    bad2 = tmp_path / "bad-detr"
    shutil.copytree(tiny_models["detr"], bad2)
    (bad2 / "model.safetensors").write_bytes(b"\x00" * 64)
    s = settings_for(tmp_path, {"clip": tiny_models["clip"], "detr": bad2})
    result = run_analysis(tmp_path / "photos", s)
    v = result.summary["vision"]
    assert v["status"] == "skipped" and "corrupt or incompatible" in v["warning"] and str(bad2) in v["warning"]


def test_search_finds_the_planted_near_duplicate(tiny_models, tmp_path):
    make_photos(tmp_path / "photos")
    s = settings_for(tmp_path, tiny_models)
    result = run_analysis(tmp_path / "photos", s)
    runner = CliRunner()
    env = {"IMGENGINE_CLIP_MODEL": str(tiny_models["clip"]), "IMGENGINE_DETR_MODEL": str(tiny_models["detr"]),
           "IMGENGINE_MODELS_DIR": str(tmp_path / "models_dir")}
    out = runner.invoke(app, ["search", "--like", str(tmp_path / "photos" / "p0.jpg"), "--catalog",
                              str(result.catalog_path), "--json", "--limit", "3"], env=env)
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert Path(doc["results"][0]["path"]).name == "p0_twin.jpg"
    assert all(Path(r["path"]).name != "p0.jpg" for r in doc["results"])
    # a photo outside the catalog is embedded on the fly, the same way as in analyze: a copy of p5
    # finds p5 itself with cosine ~1 (float16 storage)
    shutil.copy(tmp_path / "photos" / "p5.jpg", tmp_path / "outside.jpg")
    out = runner.invoke(app, ["search", "--like", str(tmp_path / "outside.jpg"), "--catalog",
                              str(result.catalog_path), "--json", "--limit", "2"], env=env)
    assert out.exit_code == 0, out.output
    top = json.loads(out.stdout)["results"][0]
    assert Path(top["path"]).name == "p5.jpg" and top["score"] > 0.999
    # text search runs the text tower; results are ranked and the object filter applies
    detr = results_by_name(result.catalog_path, "detr")
    label = detr["p3.jpg"]["labels"][0]
    expected = {name for name, d in detr.items() if label in d["labels"]}
    out = runner.invoke(app, ["search", "a dog on the beach", "--catalog", str(result.catalog_path), "--json",
                              "--limit", "40", "--has-object", label], env=env)
    assert out.exit_code == 0, out.output
    res = json.loads(out.stdout)["results"]
    scores = [r["score"] for r in res]
    assert scores == sorted(scores, reverse=True)
    assert {Path(r["path"]).name for r in res} == expected


def test_models_cli_list_import_path(tiny_models, tmp_path):
    runner = CliRunner()
    env = {"IMGENGINE_MODELS_DIR": str(tmp_path / "md"), "IMGENGINE_CLIP_MODEL": "acme/clip-tiny",
           "IMGENGINE_DETR_MODEL": "acme/detr-tiny", "HF_HUB_OFFLINE": "1"}
    out = runner.invoke(app, ["models", "list", "--json"], env=env)
    assert out.exit_code == 0 and [m["status"] for m in json.loads(out.stdout)["models"]] == ["missing", "missing"]
    out = runner.invoke(app, ["models", "import", str(tiny_models["clip"])], env=env)
    assert out.exit_code == 0, out.output
    assert (tmp_path / "md" / "acme" / "clip-tiny" / "config.json").is_file()
    out = runner.invoke(app, ["models", "import", str(tiny_models["clip"])], env=env)
    assert out.exit_code == 2 and "already exists" in out.output
    out = runner.invoke(app, ["models", "list", "--json"], env=env)
    assert [m["status"] for m in json.loads(out.stdout)["models"]] == ["ok", "missing"]
    out = runner.invoke(app, ["models", "path"], env=env)
    assert out.exit_code == 0 and str(tmp_path / "md" / "acme" / "clip-tiny") in out.stdout
    out = runner.invoke(app, ["models", "import", str(tmp_path)], env=env)
    assert out.exit_code == 2 and "not a CLIP or DETR model folder" in out.output


@pytest.mark.parametrize("orientation", range(1, 9))
def test_gpu_path_orientation_and_resize_match_the_cpu_decoder(orientation):
    """The nvJPEG path orients and resizes tensors itself; its maths is device-agnostic, so it is checked
    here on CPU tensors against the CPU decoder's PIL transposes (nvJPEG itself needs a GPU)."""
    from imgengine.analyzers.base import InputSpec as ModelInput
    from imgengine.core.decode import _apply_orientation
    from imgengine.engine.loader import InputSpec, _orient, gpu_prepare

    arr = np.random.default_rng(orientation).integers(0, 255, (6, 10, 3), dtype=np.uint8)
    want = np.asarray(_apply_orientation(Image.fromarray(arr), orientation))
    got = _orient(torch.from_numpy(arr).permute(2, 0, 1), orientation).permute(1, 2, 0).numpy()
    assert np.array_equal(got, want)
    out = gpu_prepare(torch.from_numpy(np.array(want)).permute(2, 0, 1),
                      InputSpec(inputs=(("clip", ModelInput(4, crop=True, resize=4)),
                                        ("detr", ModelInput(8, crop=False, resample="bilinear")))))
    assert tuple(out["clip"].shape) == (3, 4, 4) and out["clip"].dtype == torch.uint8
    assert max(out["detr"].shape[1:]) == 8
