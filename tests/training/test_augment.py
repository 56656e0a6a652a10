"""Augmentation: each effect does what it says, the weights follow the gaps, labels (folders) are kept, the
manifest records every output, the source is never written and nothing is overwritten."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torchvision")

import cv2  # noqa: E402
from PIL import Image  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from imgengine.cli.app import app  # noqa: E402
from imgengine.core.formats import detect_format  # noqa: E402
from imgengine.testing.samples import scene  # noqa: E402
from imgengine.testing.scene_dataset import make_scene_dataset  # noqa: E402
from imgengine.training.augment import EFFECTS, augment_folder, op_weights  # noqa: E402


def _tensor(img: Image.Image):
    from torchvision.transforms.v2 import functional as F

    return F.pil_to_tensor(img)


def _gray(t) -> np.ndarray:
    return cv2.cvtColor(t.permute(1, 2, 0).numpy(), cv2.COLOR_RGB2GRAY)


@pytest.fixture
def photo():
    return scene(256, 256, seed=5)


def test_each_effect_changes_the_image_the_way_it_says(photo):
    t = _tensor(photo)
    rng = lambda: np.random.default_rng(1)  # noqa: E731
    sharp = cv2.Laplacian(_gray(t), cv2.CV_32F).var()
    for name, fn in EFFECTS.items():
        out, params = fn(t.clone(), rng())
        assert out.shape == t.shape and out.dtype == t.dtype, name
        assert isinstance(params, dict)
        if name != "heic_roundtrip":  # that one happens when the file is written
            assert not np.array_equal(out.numpy(), t.numpy()), name
    assert EFFECTS["low_light"](t, rng())[0].float().mean() < 0.6 * t.float().mean()
    for blur in ("motion_blur", "defocus_blur"):
        assert cv2.Laplacian(_gray(EFFECTS[blur](t, rng())[0]), cv2.CV_32F).var() < 0.6 * sharp
    noisy = EFFECTS["sensor_noise"](t, rng())[0]
    assert cv2.Laplacian(_gray(noisy), cv2.CV_32F).var() > 1.5 * sharp


def test_weights_follow_the_gaps():
    base = op_weights(None)
    assert set(base.values()) == {1.0}
    w = op_weights([{"dimension": "quality", "bucket": "poor", "target_percent": 15, "actual_percent": 0},
                    {"dimension": "formats", "bucket": "HEIC", "target_percent": 15, "actual_percent": 5}])
    assert w["motion_blur"] == w["sensor_noise"] == 4.0 and w["heic_roundtrip"] == 3.0 and w["low_light"] == 1.0


def test_augment_folder_keeps_labels_writes_a_manifest_and_never_overwrites(tmp_path):
    src = make_scene_dataset(tmp_path / "src", per_class=3, size=(80, 60), classes=("beach", "night"))
    before = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    gaps = [{"dimension": "formats", "bucket": "HEIC", "target_percent": 40, "actual_percent": 0}]
    out = tmp_path / "out"
    report = augment_folder(src, out, per_image=2, gaps=gaps, seed=3)
    assert report.made == 12 and report.sources == 6 and not report.failed
    lines = [json.loads(x) for x in report.manifest.read_text().splitlines()]
    assert len(lines) == 12
    for entry in lines:
        made = out / entry["output"]
        assert made.is_file() and Path(entry["source"]).parent == Path(entry["output"]).parent  # same class
        assert entry["ops"] and all(o["op"] in EFFECTS for o in entry["ops"])
        fmt = detect_format(made.read_bytes()[:64], made.suffix)
        assert fmt == ("heic" if any(o["op"] == "heic_roundtrip" for o in entry["ops"]) else "jpeg")
    assert report.ops["heic_roundtrip"] > 0
    assert {p: p.read_bytes() for p in src.rglob("*") if p.is_file()} == before  # the source is untouched
    # same seed, new folder: the same effects with the same parameters
    again = augment_folder(src, tmp_path / "out2", per_image=2, gaps=gaps, seed=3)
    assert again.manifest.read_text() == report.manifest.read_text()
    # into the same folder again: nothing replaced
    snapshot = {p: p.read_bytes() for p in out.rglob("*.jpg")}
    third = augment_folder(src, out, per_image=2, gaps=gaps, seed=4)
    assert third.made == 0 and len(third.failed) == 12
    assert {p: p.read_bytes() for p in out.rglob("*.jpg")} == snapshot


def test_cli_augment_with_inventory_gaps_and_bad_input(tmp_path):
    src = make_scene_dataset(tmp_path / "src", per_class=2, size=(64, 48), classes=("forest", "document"))
    inv = tmp_path / "inventory.json"
    inv.write_text(json.dumps({"gaps": [{"dimension": "lighting", "bucket": "challenging",
                                         "target_percent": 20, "actual_percent": 0}]}))
    runner = CliRunner()
    r = runner.invoke(app, ["train", "augment", "--source", str(src), "--output", str(tmp_path / "o"),
                            "--target-gaps", str(inv), "--per-image", "1", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["made"] == 4 and doc["weights"]["low_light"] == 5.0
    r = runner.invoke(app, ["train", "augment", "--source", str(src), "--output", str(src / "inside")])
    assert r.exit_code == 2 and "outside the source" in r.output
    (tmp_path / "bad.json").write_text("{")
    r = runner.invoke(app, ["train", "augment", "--source", str(src), "--output", str(tmp_path / "p"),
                            "--target-gaps", str(tmp_path / "bad.json")])
    assert r.exit_code == 2 and "not an inventory JSON" in r.output and "Traceback" not in r.output
