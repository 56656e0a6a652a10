"""`imgengine export catalog`: CSV, JSON, Parquet and SQLite read back and compared with `analyze -o`."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imgengine.cli.app import app
from tests.conftest import write_jpeg

runner = CliRunner()


@pytest.fixture
def analysed(photo_dir: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """(photos, catalog, analyze -o CSV) with a broken file among the photos."""
    (photo_dir / "broken.jpg").write_bytes(b"not a jpeg at all")
    cat = tmp_path / "cat.db"
    out_csv = tmp_path / "analyze.csv"
    res = runner.invoke(app, ["analyze", str(photo_dir), "--catalog", str(cat), "--no-vision", "-o", str(out_csv),
                              "--workers", "1"])
    assert res.exit_code == 1, res.output  # the broken file
    return photo_dir, cat, out_csv


def _export(photos: Path, cat: Path, target: Path, *extra: str) -> str:
    res = runner.invoke(app, ["export", "catalog", str(photos), "--catalog", str(cat), "-o", str(target), *extra])
    assert res.exit_code == 0, res.output
    return res.output


def test_csv_matches_analyze_output(analysed, tmp_path):
    photos, cat, analyze_csv = analysed
    out = tmp_path / "export.csv"
    assert "exported 8 photos" in _export(photos, cat, out)
    with open(analyze_csv, encoding="utf-8") as a, open(out, encoding="utf-8") as b:
        assert list(csv.DictReader(a)) == list(csv.DictReader(b))


def test_json_parquet_sqlite_round_trip(analysed, tmp_path):
    pa = pytest.importorskip("pyarrow.parquet")
    photos, cat, analyze_csv = analysed
    with open(analyze_csv, encoding="utf-8") as fh:
        expected = {r["path"]: r for r in csv.DictReader(fh)}

    _export(photos, cat, tmp_path / "x.json")
    doc = json.loads((tmp_path / "x.json").read_text(encoding="utf-8"))
    assert doc["schema_version"] == 1
    assert {p["path"] for p in doc["photos"]} == set(expected)
    one = next(p for p in doc["photos"] if p["path"].endswith("IMG_0001.jpg"))
    assert one["results"]["metadata"]["gps_latitude"] == pytest.approx(11.0)
    assert one["results"]["hashes"]["phash"] == expected[one["path"]]["phash"]

    _export(photos, cat, tmp_path / "x.parquet")
    table = pa.read_table(tmp_path / "x.parquet").to_pylist()
    assert {r["path"] for r in table} == set(expected)
    for r in table:
        e = expected[r["path"]]
        assert r["sha256"] == (e["sha256"] or None)
        assert r["phash"] == (e["phash"] or None)
        if e["gps_latitude"]:
            assert r["gps_latitude"] == pytest.approx(float(e["gps_latitude"]))
        assert json.loads(r["results_json"]).keys() >= ({"metadata"} if r["status"] == "ok" else set())

    _export(photos, cat, tmp_path / "x.sqlite")
    db = sqlite3.connect(tmp_path / "x.sqlite")
    rows = db.execute("SELECT path, sha256, quality FROM photos").fetchall()
    assert {r[0] for r in rows} == set(expected)
    assert all(r[2] == (expected[r[0]]["quality"] or None) for r in rows)
    n_results = db.execute("SELECT count(*) FROM results WHERE analyzer = 'metadata'").fetchone()[0]
    assert n_results == len(expected)


def test_filter_and_format_flag(analysed, tmp_path):
    photos, cat, _ = analysed
    out = tmp_path / "gps.data"
    assert "exported 2 photos" in _export(photos, cat, out, "--format", "json", "--filter", "has_gps")
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert sorted(Path(p["path"]).name for p in doc["photos"]) == ["IMG_0001.jpg", "IMG_0003.jpg"]


@pytest.mark.parametrize("args, fragment", [
    (["-o", "{tmp}/x.txt"], "--format"),
    (["-o", "{tmp}/nowhere/x.csv"], "no such folder"),
    (["-o", "{tmp}"], "is a folder"),
    (["-o", "{tmp}/x.csv", "--filter", "year =="], "filter"),
    (["-o", "{tmp}/x.csv", "--format", "xml"], "--format"),
])
def test_bad_targets_are_one_line_errors(analysed, tmp_path, args, fragment):
    photos, cat, _ = analysed
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    res = runner.invoke(app, ["export", "catalog", str(photos), "--catalog", str(cat), *args])
    assert res.exit_code == 2, res.output
    assert fragment in res.output
    assert "Traceback" not in res.output
    assert not list(tmp_path.glob("*.partial"))


def test_export_from_a_catalog_file_and_no_catalog(tmp_path, photo_dir):
    res = runner.invoke(app, ["export", "catalog", str(photo_dir), "-o", str(tmp_path / "x.csv")])
    assert res.exit_code == 2 and "run `imgengine analyze" in res.output
    cat = tmp_path / "c.db"
    runner.invoke(app, ["analyze", str(photo_dir), "--catalog", str(cat), "--no-vision", "--workers", "1"])
    shutil.copy(cat, tmp_path / "copy.db")
    res = runner.invoke(app, ["export", "catalog", str(tmp_path / "copy.db"), "-o", str(tmp_path / "x.csv")])
    assert res.exit_code == 0, res.output
    assert "exported 7 photos" in res.output
    write_jpeg(photo_dir / "later.jpg", seed=99)  # not analysed: not in the export
    with open(tmp_path / "x.csv", encoding="utf-8") as fh:
        assert not any("later.jpg" in r["path"] for r in csv.DictReader(fh))


def test_analyze_writes_parquet_and_sqlite_through_the_writer_hook(photo_dir, tmp_path):
    pa = pytest.importorskip("pyarrow.parquet")
    cat = tmp_path / "c.db"
    for name in ("out.parquet", "out.sqlite"):
        res = runner.invoke(app, ["analyze", str(photo_dir), "--catalog", str(cat), "--no-vision", "--workers", "1",
                                  "-o", str(tmp_path / name)])
        assert res.exit_code == 0, res.output
    assert len(pa.read_table(tmp_path / "out.parquet")) == 7
    assert sqlite3.connect(tmp_path / "out.sqlite").execute("SELECT count(*) FROM photos").fetchone()[0] == 7
