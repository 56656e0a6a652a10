"""`imgengine catalog migrate --to/--from`: SQLite -> PostgreSQL -> SQLite, verified by counts and checksums."""

from __future__ import annotations

import json
import os

import pytest

from imgengine.catalog import open_catalog
from imgengine.catalog.migrate import copy_catalog, table_checksum
from imgengine.errors import CatalogError
from tests.catalog.test_store import outcome
from tests.conftest import run_cli


def _fill(spec, root):
    with open_catalog(spec) as cat:
        outs = [outcome(root / f"{i}.jpg", i) for i in range(25)]
        outs.append(outcome(os.fsencode(root) + b"/caf\xe9.jpg", 30))   # non-UTF-8 name
        cat.write_outcomes(outs)
        cat.remove(root / "3.jpg")                                       # a gap in the ids
        cat.record_run("r1", "analyze", str(root), 1.5, 2.25, {"ok": 25})
        if hasattr(cat, "_virtual_tables") and "ocr_text" in cat.tables():   # migration 3's FTS5 table
            with cat.db:
                cat.db.execute("INSERT INTO ocr_text (rowid, text) VALUES (?, ?)", (cat.photo_id(root / "5.jpg"),
                                                                                    "Café — menu du jour"))


def _sums(spec):
    with open_catalog(spec) as cat:
        out = {}
        for t in cat.tables():
            rows = list(cat.export_rows(t))
            out[t] = table_checksum(rows, sorted(rows[0]) if rows else [])
        return out


def test_migrate_round_trip_through_postgres(tmp_path, postgres_url):
    src = tmp_path / "src" / "catalog.db"
    _fill(str(src), tmp_path / "photos")
    r = run_cli(["catalog", "migrate", tmp_path, "--catalog", src, "--to", postgres_url, "--json"])
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["tables"]["photos"]["rows"] == 25 and doc["tables"]["results"]["rows"] == 50
    assert doc["tables"]["runs"]["rows"] == 1
    assert _sums(postgres_url) == _sums(str(src))
    with open_catalog(postgres_url) as pg, open_catalog(str(src)) as lite:
        assert list(pg.iter_records()) == list(lite.iter_records())      # ids kept, bytes-exact paths
        pg.write_outcomes([outcome(tmp_path / "photos" / "new.jpg", 40)])  # ids continue after the copy
        assert pg.photo_id(tmp_path / "photos" / "new.jpg") > max(r["id"] for r in lite.iter_records())
        if "ocr_text" in pg.tables():
            assert [r["text"] for r in pg.export_rows("ocr_text")] == ["Café — menu du jour"]
            pg.remove(tmp_path / "photos" / "5.jpg")          # the translated trigger drops its text
            assert list(pg.export_rows("ocr_text")) == []

    back = tmp_path / "back" / "catalog.db"
    r = run_cli(["catalog", "migrate", tmp_path, "--catalog", back, "--from", postgres_url])
    assert r.returncode == 0, r.stderr
    assert "checksums match" in r.stdout
    with open_catalog(str(back)) as cat:
        assert cat.count() == 25          # 25 copied + new.jpg - 5.jpg

    again = run_cli(["catalog", "migrate", tmp_path, "--catalog", src, "--to", postgres_url])
    assert again.returncode != 0 and "not empty" in again.stderr and "Traceback" not in again.stderr


def test_copy_detects_a_mismatch(tmp_path):
    """The verification can fail: a destination that drops rows on import is caught."""
    _fill(str(tmp_path / "a.db"), tmp_path / "photos")
    with open_catalog(str(tmp_path / "a.db")) as src, open_catalog(str(tmp_path / "b.db")) as dst:
        real = dst.import_rows
        dst.import_rows = lambda table, rows: real(table, list(rows)[1:])   # lose one row per chunk
        with pytest.raises(CatalogError, match="does not match"):
            copy_catalog(src, dst)


def test_migrate_needs_exactly_one_direction(tmp_path):
    r = run_cli(["catalog", "migrate", tmp_path])
    assert r.returncode != 0 and "exactly one" in r.stderr
