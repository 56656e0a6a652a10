"""`imgengine analyze --catalog postgresql://…` end to end on generated photos: the same records as SQLite."""

from __future__ import annotations

import json

from imgengine.catalog import open_catalog
from tests.conftest import run_cli

VOLATILE = {"analyzed_at", "id"}


def _photos(doc: dict) -> list[dict]:
    return [{k: v for k, v in p.items() if k not in VOLATILE} for p in doc["photos"]]


def test_analyze_into_postgres_matches_sqlite(photo_dir, tmp_path, postgres_url):
    common = ["analyze", photo_dir, "--json", "--no-vision", "-w", "1", "--log-dir", tmp_path / "logs"]
    pg = run_cli([*common, "--catalog", postgres_url])
    assert pg.returncode == 0, pg.stderr
    lite = run_cli([*common, "--catalog", tmp_path / "c.db"])
    assert lite.returncode == 0, lite.stderr
    pg_doc, lite_doc = json.loads(pg.stdout), json.loads(lite.stdout)
    assert len(pg_doc["photos"]) == 7
    assert _photos(pg_doc) == _photos(lite_doc)
    assert pg_doc["summary"]["ok"] == lite_doc["summary"]["ok"] == 7

    again = run_cli([*common, "--catalog", postgres_url])          # incremental: nothing re-analysed
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)["summary"]
    assert (summary["skipped_unchanged"], summary["analyzed"]) == (7, 0)
    with open_catalog(postgres_url) as cat:
        assert cat.count() == 7
        runs = list(cat.export_rows("runs"))
        assert len(runs) == 2

    stats = run_cli(["stats", photo_dir, "--catalog", postgres_url, "--json"])
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["photos"] == 7


def test_unreachable_postgres_is_one_line(photo_dir, tmp_path):
    r = run_cli(["analyze", photo_dir, "--no-vision", "--catalog", "postgresql://x@127.0.0.1:1/none",
                 "--log-dir", tmp_path / "logs"])
    assert r.returncode != 0
    assert "cannot connect" in r.stderr and "Traceback" not in r.stderr


def test_two_concurrent_analyze_processes_on_overlapping_folders(tmp_path, postgres_url):
    """Two machines (here: processes) analysing overlapping folders into one catalog at the same time:
    every file once, nothing lost, no error."""
    import subprocess
    import sys

    from tests.conftest import write_jpeg

    root = tmp_path / "nas"
    for i in range(12):
        write_jpeg(root / ("shared" if i < 8 else "only_a") / f"IMG_{i:04d}.jpg", size=(160, 120), seed=i)
    code = "import sys; from imgengine.cli.app import main; sys.argv[0] = 'imgengine'; main()"

    def start(folder, n):
        return subprocess.Popen([sys.executable, "-c", code, "analyze", str(folder), "--no-vision", "-q", "-w", "1",
                                 "--catalog", postgres_url, "--log-dir", str(tmp_path / f"logs{n}")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    procs = [start(root, 1), start(root / "shared", 2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    with open_catalog(postgres_url) as cat:
        recs = list(cat.iter_records())
        assert cat.count() == 12
    assert sorted(r["path"].name for r in recs) == [f"IMG_{i:04d}.jpg" for i in range(12)]
    assert all(r["status"] == "ok" and {"metadata", "content"} <= set(r["results"]) for r in recs)


def test_search_albums_and_faces_commands_on_postgres_match_sqlite(photo_dir, tmp_path, postgres_url):
    """The reading commands take a postgresql:// --catalog and answer as on SQLite."""
    lite = str(tmp_path / "c.db")

    def both(*args: str) -> tuple[dict, dict]:
        out = []
        for spec in (postgres_url, lite):
            r = run_cli([*args, "--catalog", spec])
            assert r.returncode == 0, r.stderr
            out.append(json.loads(r.stdout) if "--json" in args else r.stdout)
        return out[0], out[1]

    both("analyze", photo_dir, "--json", "--no-vision", "-w", "1", "--log-dir", str(tmp_path / "logs"))
    pg, sq = both("search", "--min-quality", "poor", "--json", "--limit", "50")
    assert pg["results"] and sorted(h["path"] for h in pg["results"]) == sorted(h["path"] for h in sq["results"])
    both("albums", "add", "All", "has_gps or not has_gps", "--link", "none", "--library", str(photo_dir))
    pg, sq = both("albums", "refresh", "--library", str(photo_dir))
    assert pg == sq and "All: 7 photos (+0" in pg      # add filled it already
    pg, sq = both("albums", "list", "--json", "--library", str(photo_dir))
    assert [(a["name"], a["photos"]) for a in pg] == [(a["name"], a["photos"]) for a in sq] == [("All", 7)]
    from tests.conftest import write_jpeg

    write_jpeg(photo_dir / "new.jpg", size=(160, 120), seed=42)      # the albums plugin refreshes after analyze
    both("analyze", photo_dir, "--json", "--no-vision", "-w", "1", "--log-dir", str(tmp_path / "logs"))
    pg, sq = both("albums", "list", "--json", "--library", str(photo_dir))
    assert [a["photos"] for a in pg] == [a["photos"] for a in sq] == [8]
    pg, sq = both("faces", "list", "--json")
    assert pg == sq
