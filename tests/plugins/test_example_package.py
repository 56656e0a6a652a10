"""The example third-party package (examples/imgengine-plugin-example): installed with pip into a temp
folder (no network, /work/venv untouched), found through its entry point, run by `imgengine analyze`."""

from __future__ import annotations

import csv
import json
import math
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "imgengine-plugin-example"


def horizon(path: Path, tilt_deg: float, warm: bool, size=(960, 640)) -> Path:
    """Sky over sea split by a straight horizon rising ``tilt_deg`` to the right; warm or cool light."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    line = h / 2 - (xx - w / 2) * math.tan(math.radians(tilt_deg))
    sky = yy < line
    rng = np.random.default_rng(1)
    img = np.empty((h, w, 3), np.float32)
    img[sky] = (210, 160, 100) if warm else (170, 190, 215)
    img[~sky] = (120, 80, 30) if warm else (70, 90, 110)
    img += rng.normal(0, 4, img.shape)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, quality=92)
    return path


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    import shutil

    target = tmp_path_factory.mktemp("site")
    source = tmp_path_factory.mktemp("src") / EXAMPLE.name   # pip builds in the source tree: not in the repo
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    p = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                        "--no-index", "--target", str(target), str(source)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot build the example package here: {p.stderr.strip().splitlines()[-1:]}")
    assert list(target.glob("imgengine_plugin_example-*.dist-info/entry_points.txt"))
    return target


def cli(args: list, target: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]),
           "COLUMNS": "200", "IMGENGINE_MODELS_DIR": str(cwd / "no-models"), "HF_HUB_OFFLINE": "1",
           "IMGENGINE_CLIP_MODEL": "nobody/none", "IMGENGINE_DETR_MODEL": "nobody/none"}
    code = "import sys; from imgengine.cli.app import main; sys.argv[0] = 'imgengine'; main()"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=env)


def test_installed_example_runs_in_analyze(installed: Path, tmp_path: Path):
    photos = tmp_path / "photos"
    photos.mkdir()
    horizon(photos / "warm_tilted.jpg", 4.0, warm=True)
    horizon(photos / "cool_level.jpg", 0.0, warm=False)

    p = cli(["plugins", "list", "--json"], installed, tmp_path)
    assert p.returncode == 0, p.stderr
    plugins = {x["name"]: x for x in json.loads(p.stdout)["plugins"]}
    ex = plugins["example"]
    assert ex["loaded"] and ex["source"] == "entry point" and ex["origin"] == "imgengine-plugin-example 0.1.0"
    assert ex["version"] == "0.1.0" and ex["analyzers"] == ["colour_temperature", "horizon_tilt", "edge_density"]
    assert ex["config_defaults"]["horizon_tilt"] == {"max_tilt": 20.0, "min_line_fraction": 0.25}

    out_csv = tmp_path / "out.csv"
    p = cli(["analyze", photos, "-o", out_csv, "-q", "-w", "1", "--log-dir", tmp_path / "logs"], installed, tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    rows = {Path(r["path"]).name: r for r in csv.DictReader(out_csv.open(encoding="utf-8"))}
    warm, cool = rows["warm_tilted.jpg"], rows["cool_level.jpg"]
    assert float(warm["colour_temp_k"]) < 4000 < 7000 < float(cool["colour_temp_k"])
    assert (warm["colour_cast"], cool["colour_cast"]) == ("warm", "cool")
    assert float(warm["tilt_deg"]) == pytest.approx(4.0, abs=0.75)
    assert float(cool["tilt_deg"]) == pytest.approx(0.0, abs=0.75)
    assert 0 < float(warm["edge_density"]) < 0.2     # one straight edge across a smooth, lightly noisy image

    # the catalog holds them under name + version (+ config fingerprint); JSON output has them too
    db = photos / ".imgengine" / "catalog.db"
    with sqlite3.connect(db) as con:
        versions = dict(con.execute("SELECT analyzer, version FROM results GROUP BY analyzer").fetchall())
    assert versions["colour_temperature"] == "1" and versions["horizon_tilt"].startswith("1+cfg.")
    p = cli(["analyze", photos, "--json", "-w", "1", "--log-dir", tmp_path / "logs"], installed, tmp_path)
    doc = json.loads(p.stdout)
    assert doc["summary"]["analyzed"] == 0           # nothing changed, nothing re-run
    res = {Path(x["path"]).name: x["results"] for x in doc["photos"]}
    assert res["warm_tilted.jpg"]["horizon_tilt"]["lines"] >= 1
    assert res["cool_level.jpg"]["edge_density"]["threshold"] == 60.0

    # a config change re-runs that analyzer only
    env_run = cli(["analyze", photos, "--json", "-w", "1", "--log-dir", tmp_path / "logs",
                   "--analyzers", "horizon_tilt"], installed, tmp_path)
    assert json.loads(env_run.stdout)["summary"]["analyzed"] == 0
    cfg = tmp_path / "c.yaml"
    cfg.write_text("plugins:\n  horizon_tilt: {max_tilt: 2}\n")
    p = cli(["analyze", photos, "--json", "-w", "1", "--log-dir", tmp_path / "logs", "--config", cfg],
            installed, tmp_path)
    doc = json.loads(p.stdout)
    assert doc["summary"]["analyzed"] == 2 and doc["summary"]["vision"]["status"] == "up to date"
    res = {Path(x["path"]).name: x["results"] for x in doc["photos"]}
    assert res["warm_tilted.jpg"]["horizon_tilt"]["tilt_degrees"] is None   # 4 degrees is over max_tilt 2

    # its processor, from the entry point: a preview, then the moves through the journal, then undo
    p = cli(["process", "sort-by-cast", photos, "--json"], installed, tmp_path)
    assert p.returncode == 0, p.stderr
    plan = json.loads(p.stdout)
    assert plan["plugin"] == "example" and not plan["applied"]
    assert sorted(Path(s["dst"]).relative_to(photos).as_posix() for s in plan["steps"]) == [
        "cool/cool_level.jpg", "warm/warm_tilted.jpg"]
    p = cli(["process", "sort-by-cast", photos, "--apply", "--json"], installed, tmp_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["results"]["done"] == 2 and (photos / "warm" / "warm_tilted.jpg").is_file()
    p = cli(["undo", "--state-dir", photos / ".imgengine"], installed, tmp_path)
    assert p.returncode == 0, p.stderr
    assert (photos / "warm_tilted.jpg").is_file() and not (photos / "warm").exists()


@pytest.mark.parametrize("tilt", [-7.0, -1.5, 0.0, 3.0, 10.0])
def test_example_horizon_tilt_measures_the_angle(tilt: float, tmp_path: Path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    from imgengine_plugin_example.perfile import ColourTemperature, HorizonTilt

    from imgengine.analyzers.base import AnalysisInput
    from imgengine.core.photo import Photo
    from imgengine.settings import Settings

    path = horizon(tmp_path / "h.jpg", tilt, warm=tilt > 0)
    item = AnalysisInput(Photo.from_path(path), Settings(), decode_size=HorizonTilt.pixel_size)
    got = HorizonTilt().analyze(item)
    assert got.tilt_degrees == pytest.approx(tilt, abs=0.6) and got.confidence > 0.5
    kelvin = ColourTemperature().analyze(item).kelvin
    assert (kelvin < 4000) if tilt > 0 else (kelvin > 7000)


def test_example_on_a_real_photo(tmp_path: Path, monkeypatch):
    skdata = pytest.importorskip("skimage.data")
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    from imgengine_plugin_example.perfile import ColourTemperature, HorizonTilt

    from imgengine.analyzers.base import AnalysisInput
    from imgengine.core.photo import Photo
    from imgengine.settings import Settings

    path = tmp_path / "coffee.jpg"
    Image.fromarray(skdata.coffee()).save(path, quality=92)
    item = AnalysisInput(Photo.from_path(path), Settings(), decode_size=768)
    assert ColourTemperature().analyze(item).cast == "warm"     # tungsten-lit coffee cup on a wooden table
    tilt = HorizonTilt().analyze(item)
    assert tilt.tilt_degrees is None or abs(tilt.tilt_degrees) <= 20
