"""End-to-end: the real `imgengine` entry point on generated sample photos (and on the corpus)."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from imgengine.testing.samples import make_sample_set

CLI = [sys.executable, "-c", "import sys; from imgengine.cli.app import main; sys.argv[0]='imgengine'; main()"]


def imgengine(*args, cwd=None, env=None, check_code=None):
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    p = subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, cwd=cwd, env=full_env)
    if check_code is not None:
        assert p.returncode == check_code, p.stdout + p.stderr
    return p


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("samples") / "photos"
    make_sample_set(root, size=(800, 600))
    return root


def test_analyze_samples_end_to_end(samples: Path, tmp_path: Path):
    out = tmp_path / "results.json"
    p = imgengine("analyze", samples, "-o", out, "--log-dir", tmp_path / "logs", "--workers", 2, cwd=tmp_path)
    assert p.returncode == 1  # the sample set holds deliberately broken files
    assert "analysed" in p.stdout and "failed" in p.stdout
    doc = json.loads(out.read_text())
    assert doc["schema_version"] == 1
    photos = {Path(ph["path"]).name: ph for ph in doc["photos"]}
    n_photos = len(doc["photos"])
    assert n_photos >= 38
    assert photos["empty.jpg"]["status"] == "error"
    assert photos["not_really.jpg"]["status"] == "error"
    assert photos["broken_truncated.jpg"]["status"] == "error"
    png = photos["png_named.jpg"]
    assert png["format"] == "png" and png["extension_mismatch"] and png["status"] == "ok"
    assert photos["IMG_2001.HEIC"]["format"] == "heic" and photos["IMG_2001.HEIC"]["status"] == "ok"
    assert photos["blurred.jpg"]["results"]["content"]["blurry"] is True
    assert photos["sharp.jpg"]["results"]["content"]["blurry"] is False
    assert photos["underexposed.jpg"]["results"]["content"]["exposure"] == "under"
    assert photos["overexposed.jpg"]["results"]["content"]["exposure"] == "over"
    # all eight orientations give the same upright size
    for o in range(1, 9):
        meta = photos[f"orientation_{o}.jpg"]["results"]["metadata"]
        assert (meta["upright_width"], meta["upright_height"]) == (800, 600), o
    # logs written
    assert list((tmp_path / "logs").glob("*_summary.json"))
    assert (tmp_path / "logs" / "errors.jsonl").exists()

    # re-run: nothing to do, fast; the broken files are still broken (exit 1, counted, not retried)
    p = imgengine("analyze", samples, "--json", "--log-dir", tmp_path / "logs")
    assert p.returncode == 1, p.stderr
    doc = json.loads(p.stdout)
    assert doc["summary"]["analyzed"] == 0 and doc["summary"]["skipped_unchanged"] == doc["summary"]["files_seen"]
    assert doc["summary"]["known_broken"] == sum(ph["status"] == "error" for ph in photos.values())

    # CSV output: flat columns
    out_csv = tmp_path / "results.csv"
    imgengine("analyze", samples, "-o", out_csv, "-q", "--log-dir", tmp_path / "logs", check_code=1)
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert len(rows) == n_photos
    assert {"path", "format", "sharpness", "quality", "phash", "make", "dominant_colors"} <= set(rows[0])

    # show and stats
    p = imgengine("show", samples / "sharp.jpg", "--json", check_code=0)
    rec = json.loads(p.stdout)
    assert rec["results"]["content"]["quality_score"] > 0
    p = imgengine("stats", samples, "--json", check_code=0)
    stats = json.loads(p.stdout)
    assert stats["photos"] == n_photos and stats["formats"]["jpeg"] >= 30 and stats["quality"]
    p = imgengine("stats", samples, check_code=0)
    assert "cameras" in p.stdout


def test_show_analyses_a_file_not_in_the_catalog(tmp_path: Path):
    from .conftest import write_jpeg

    photo = write_jpeg(tmp_path / "lonely" / "a.jpg", seed=3)
    p = imgengine("show", photo, "--json", cwd=tmp_path, check_code=0)
    assert json.loads(p.stdout)["results"]["hashes"]["sha256"]


def test_usage_errors_exit_2(tmp_path: Path):
    assert imgengine("analyze", tmp_path / "missing").returncode == 2
    assert imgengine("analyze", tmp_path, "-o", tmp_path / "x.txt").returncode == 2
    assert imgengine("analyze").returncode == 2
    assert imgengine("stats", tmp_path).returncode == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("workers: lots\n")
    p = imgengine("analyze", tmp_path, "--config", bad)
    assert p.returncode == 2 and "workers" in p.stderr


def test_config_env_and_flags(tmp_path: Path):
    from .conftest import write_jpeg

    write_jpeg(tmp_path / "p" / "a.jpg")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"log_dir: {tmp_path / 'from_config'}\nanalyzers: [metadata]\n")
    p = imgengine("analyze", tmp_path / "p", "--config", cfg, "--json", check_code=0)
    assert json.loads(p.stdout)["summary"]["analyzers"] == ["metadata"]
    assert list((tmp_path / "from_config").glob("*.log"))
    p = imgengine("analyze", tmp_path / "p", "--config", cfg, "--json", "--force",
                  env={"IMGENGINE_LOG_DIR": str(tmp_path / "from_env")}, check_code=0)
    assert list((tmp_path / "from_env").glob("*.log"))
    p = imgengine("analyze", tmp_path / "p", "--config", cfg, "--json", "--force", "--log-dir",
                  tmp_path / "from_flag", env={"IMGENGINE_LOG_DIR": str(tmp_path / "from_env")}, check_code=0)
    assert list((tmp_path / "from_flag").glob("*.log"))


def test_corpus_end_to_end(corpus: Path, tmp_path: Path):
    out = tmp_path / "corpus.json"
    p = imgengine("analyze", corpus, "-o", out, "-q", "--catalog", tmp_path / "c.db", "--log-dir",
                  tmp_path / "logs", "--workers", 2)
    assert p.returncode in (0, 1), p.stderr
    doc = json.loads(out.read_text())
    photos = {ph["path"].split("corpus/", 1)[1]: ph for ph in doc["photos"]}
    heics = [k for k in photos if k.lower().endswith((".heic", ".heif"))]
    assert heics and all(photos[k]["status"] == "ok" for k in heics)
    # the orientation set: every file is stored rotated/flipped, all must come out upright and alike
    ref = photos["jpg/orientation/landscape_1.jpg"]["results"]
    for i in range(2, 9):
        res = photos[f"jpg/orientation/landscape_{i}.jpg"]["results"]
        meta = res["metadata"]
        assert meta["upright_width"] > meta["upright_height"]
        d = bin(int(res["hashes"]["phash"], 16) ^ int(ref["hashes"]["phash"], 16)).count("1")
        assert d <= 8, f"landscape_{i} not upright (pHash distance {d})"
    ok = sum(ph["status"] == "ok" for ph in photos.values())
    assert ok >= len(photos) - 10


def test_ctrl_c_mid_run_then_resume(tmp_path: Path):
    """A real SIGINT to a running `imgengine analyze`: exit 130, a consistent catalog, and a resume."""
    import signal
    import sqlite3

    from .conftest import signal_once_rows_committed, write_jpeg

    root = tmp_path / "many"
    for i in range(80):
        write_jpeg(root / f"p{i:03d}.jpg", size=(1600, 1200), seed=i % 7)
    cat = tmp_path / "c.db"
    proc = subprocess.Popen(CLI + ["analyze", str(root), "--catalog", str(cat), "--log-dir", str(tmp_path / "logs"),
                                   "--workers", "2", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "IMGENGINE_BATCH_COMMIT": "5"})
    out, err = signal_once_rows_committed(proc, cat, signal.SIGINT)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    with sqlite3.connect(cat) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        saved = db.execute("SELECT count(*) FROM photos").fetchone()[0]
    assert 0 < saved < 80
    p = imgengine("analyze", root, "--catalog", cat, "--log-dir", tmp_path / "logs", "--json", check_code=0)
    summary = json.loads(p.stdout)["summary"]
    assert summary["skipped_unchanged"] == saved and summary["analyzed"] == 80 - saved
