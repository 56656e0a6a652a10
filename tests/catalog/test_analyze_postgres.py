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
