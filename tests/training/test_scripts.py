"""The documented script names under training/scripts/ run the same commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from imgengine.cli.train import script_argv
from imgengine.testing.scene_dataset import make_scene_dataset

SCRIPTS = Path(__file__).resolve().parents[2] / "training" / "scripts"


def _run(script: str, *args, cwd: Path):
    env = {**os.environ, "IMGENGINE_LOG_DIR": str(cwd / "logs")}
    return subprocess.run([sys.executable, str(SCRIPTS / script), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env)


def test_every_documented_script_exists_and_maps_to_its_command():
    names = {"inventory_photos.py": "inventory", "download_public_data.py": "download",
             "augment_dataset.py": "augment", "train_scene_classifier.py": "scene", "export_model.py": "export"}
    for name, command in names.items():
        text = (SCRIPTS / name).read_text()
        assert f'script_main("{command}")' in text
    assert script_argv("scene", ["--dataset", "d", "--epochs", "10", "--batch-size", "32", "--gpu"]) == [
        "train", "scene", "--dataset", "d", "--epochs", "10", "--batch-size", "32", "--device", "cuda"]


def test_inventory_script_runs_end_to_end(tmp_path):
    data = make_scene_dataset(tmp_path / "photos", per_class=2, size=(64, 48), classes=("beach", "night"))
    out = tmp_path / "datasets" / "inventory.json"
    r = _run("inventory_photos.py", "--source", data, "--output", out, "--no-vision", "--catalog",
             tmp_path / "c.db", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text())["total_photos"] == 4
    r = _run("train_scene_classifier.py", "--help", cwd=tmp_path)
    assert r.returncode == 0 and "--dataset" in r.stdout and "--linear-probe" in r.stdout
    r = _run("augment_dataset.py", "--source", tmp_path / "missing", "--output", tmp_path / "o", cwd=tmp_path)
    assert r.returncode == 2 and "no such folder" in r.stderr and "Traceback" not in r.stderr
