"""Inventory: buckets from the catalog, gaps against the (configurable) targets, JSON and the HTML report."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from imgengine.cli.app import app
from imgengine.testing.samples import camera_exif, jpeg_bytes, scene
from imgengine.training.inventory import lighting_bucket, resolution_bucket, source_bucket


def _jpeg(path: Path, exif: bytes | None, size=(480, 360), seed=0, dark=False) -> None:
    img = scene(*size, seed=seed)
    if dark:
        img = Image.fromarray((np.asarray(img) * 0.12).astype(np.uint8))
    path.parent.mkdir(parents=True, exist_ok=True)
    if exif is None:
        img.save(path, quality=90)
    else:
        path.write_bytes(jpeg_bytes(img, exif, 90))


@pytest.fixture
def collection(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    for i in range(4):
        _jpeg(root / f"phone_{i}.jpg", camera_exif("Apple", "iPhone 13 Pro", iso=50, exposure=1 / 500), seed=i,
              size=(1920, 1440))
    for i in range(2):
        _jpeg(root / f"canon_night_{i}.jpg", camera_exif(iso=6400, exposure=1 / 60), seed=10 + i, size=(1280, 960))
    _jpeg(root / "canon_indoor.jpg", camera_exif(iso=1000, exposure=1 / 15), seed=20, size=(3000, 2000))
    _jpeg(root / "dark_no_exif.jpg", None, seed=21, dark=True, size=(640, 480))
    scene(320, 240, seed=22).save(root / "drawing.png")
    import pillow_heif

    pillow_heif.register_heif_opener()
    scene(400, 300, seed=23).save(root / "phone.heic", quality=80,
                                  exif=camera_exif("Apple", "iPhone 15", iso=64, exposure=1 / 1000))
    return root


def _invoke(args, tmp_path):
    return CliRunner().invoke(app, ["train", "inventory", *map(str, args), "--no-vision", "--workers", "1"],
                              env={"IMGENGINE_LOG_DIR": str(tmp_path / "logs")})


def test_inventory_counts_gaps_json_and_html(collection, tmp_path):
    out, html = tmp_path / "datasets" / "inventory.json", tmp_path / "report.html"
    r = _invoke(["--source", collection, "-o", out, "--html", html, "--catalog", tmp_path / "cat.db"], tmp_path)
    assert r.exit_code == 0, r.output
    inv = json.loads(out.read_text())
    assert inv["total_photos"] == 10
    c = inv["counts"]
    assert c["formats"] == {"JPEG": 8, "HEIC": 1, "PNG": 1, "RAW": 0, "other": 0}
    assert c["sources"] == {"smartphone": 5, "dslr_mirrorless": 3, "other": 2}
    assert c["lighting"] == {"natural": 6, "artificial": 1, "challenging": 3}
    assert c["resolution"]["Full HD"] == 4 and c["resolution"]["4K"] == 1 and c["resolution"]["VGA"] == 3
    assert sum(c["quality"].values()) == 10
    assert inv["unknown"] == {"scenes": 10}
    gaps = {(g["dimension"], g["bucket"]): g for g in inv["gaps"]}
    # smartphone 50% vs 60%: (0.6*10 - 5) / 0.4 = 2.5 -> 3 more phone photos
    assert gaps[("sources", "smartphone")]["photos_needed"] == 3
    # artificial light 10% vs 30%: (0.3*10 - 1) / 0.7 = 2.86 -> 3
    assert gaps[("lighting", "artificial")]["photos_needed"] == 3
    assert ("formats", "HEIC") not in gaps  # 10% vs 15% is within the 5-point tolerance
    assert all(g["fill_with"] for g in inv["gaps"])
    page = html.read_text()
    charts = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert len(charts) == 5  # formats, resolution, quality, lighting, sources (no scenes without vision)
    assert Image.open(io.BytesIO(base64.b64decode(charts[0]))).size[0] > 300
    assert "smartphone" in page and "photos to add" in page
    # the table names the gaps too
    assert "gap" in r.output and "smartphone" in r.output


def test_targets_file_changes_the_gaps_and_bad_targets_are_one_line(collection, tmp_path):
    targets = tmp_path / "targets.yaml"
    targets.write_text("sources: {smartphone: 50, dslr_mirrorless: 30, other: 20}\n"
                       "lighting: {natural: 60, artificial: 10, challenging: 30}\ntolerance: 2\n"
                       "formats: {JPEG: 50, HEIC: 30, PNG: 10, RAW: 5, other: 5}\n")
    r = _invoke(["--source", collection, "--targets", targets, "--json", "--catalog", tmp_path / "c.db"], tmp_path)
    assert r.exit_code == 0, r.output
    gaps = {(g["dimension"], g["bucket"]) for g in json.loads(r.stdout)["gaps"] if g["dimension"] != "quality"}
    assert gaps == {("formats", "HEIC"), ("formats", "RAW"), ("formats", "other")}
    targets.write_text("sources: {smartphone: 50, other: 20}\n")
    r = _invoke(["--source", collection, "--targets", targets, "--catalog", tmp_path / "c.db"], tmp_path)
    assert r.exit_code == 2 and "adds up to 70%" in r.output and "Traceback" not in r.output
    targets.write_text("colours: {red: 100}\n")
    r = _invoke(["--source", collection, "--targets", targets], tmp_path)
    assert r.exit_code == 2 and "unknown dimension 'colours'" in r.output


def test_bucket_rules():
    assert resolution_bucket(640, 480) == "VGA" and resolution_bucket(4000, 3000) == "4K+"
    assert resolution_bucket(None, 100) is None
    assert source_bucket({"make": "samsung", "model": "SM-G991B"}) == "smartphone"
    assert source_bucket({"make": "SONY", "model": "ILCE-7M3"}) == "dslr_mirrorless"
    assert source_bucket({"make": "Sony", "model": "Xperia 1 V"}) == "smartphone"
    assert source_bucket({"make": "DJI", "model": "FC3582"}) == "other"
    assert source_bucket({"make": "Canon", "model": "Canon PowerShot G9"}) == "other"
    assert source_bucket({"make": "NIKON CORPORATION", "model": "NIKON D70s"}) == "dslr_mirrorless"
    assert source_bucket({"make": "HMD Global", "model": "Nokia 8.3 5G"}) == "smartphone"
    assert source_bucket({}) == "other"
    assert lighting_bucket({"flash_fired": True, "iso": 100}, {"brightness": 120})[0] == "artificial"
    assert lighting_bucket({}, {"brightness": 30})[0] == "challenging"
    assert lighting_bucket({"exposure_time": 0.5}, {"brightness": 120})[0] == "challenging"
    assert lighting_bucket({}, {}) == (None, None)


@pytest.mark.corpus
def test_inventory_of_the_real_corpus(corpus, tmp_path):
    out = tmp_path / "inv.json"
    r = _invoke(["--source", corpus, "-o", out, "--catalog", tmp_path / "corpus.db"], tmp_path)
    assert r.exit_code == 0, r.output
    inv = json.loads(out.read_text())
    assert inv["total_photos"] >= 50
    assert inv["counts"]["formats"]["JPEG"] > 0 and inv["counts"]["formats"]["HEIC"] > 0
    assert inv["counts"]["sources"]["smartphone"] > 0 and inv["counts"]["sources"]["dslr_mirrorless"] > 0
    assert sum(inv["counts"]["lighting"].values()) + inv["unknown"].get("lighting", 0) == inv["total_photos"]
    assert not (corpus / ".imgengine").exists()
