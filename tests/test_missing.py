"""Issue 17 item 1: photos deleted from a folder are marked missing, left out of every report, purged."""

import json
import os
import sqlite3
from pathlib import Path

import pytest

from imgengine.cli.analyze import catalog_stats
from imgengine.core.catalog import MISSING_GRACE_SECONDS, Catalog
from imgengine.core.outputs import write_output
from imgengine.engine.run import run_analysis
from imgengine.search.query import Filters, filtered_ids

from .conftest import is_root, run_cli


def test_deleted_photos_are_marked_and_left_out(photo_dir: Path, settings):
    settings = settings.replace(vision=False)
    run_analysis(photo_dir, settings)
    gone = [photo_dir / "IMG_0001.jpg", photo_dir / "IMG_0003.jpg"]  # the two with GPS
    for p in gone:
        p.unlink()
    r = run_analysis(photo_dir, settings)
    assert r.summary["gone"] == 2
    with Catalog(settings.catalog) as cat:
        paths = {str(rec["path"]) for rec in cat.iter_records(photo_dir)}
        assert not paths & {str(p) for p in gone} and len(paths) == 5
        stats = catalog_stats(cat, photo_dir)
        assert stats["photos"] == 5 and stats["gps_share"] == 0.0
        assert {str(m["path"]) for m in cat.missing()} == {str(p) for p in gone}
        assert not filtered_ids(cat, Filters(camera="Canon")) & {m["id"] for m in cat.missing()}
        out = photo_dir.parent / "out.json"
        write_output(list(cat.iter_records(photo_dir)), out)
        assert len(json.loads(out.read_text())["photos"]) == 5
    # --force re-runs do not bring them back, and a run does not count them twice
    assert run_analysis(photo_dir, settings.replace(force=True)).summary["gone"] == 0
    with Catalog(settings.catalog) as cat:
        assert cat.count() == 5 and cat.count(include_missing=True) == 7


def test_photo_back_in_place_is_unmarked(photo_dir: Path, settings):
    settings = settings.replace(vision=False)
    run_analysis(photo_dir, settings)
    target = photo_dir / "IMG_0002.jpg"
    data, st = target.read_bytes(), target.stat()
    target.unlink()
    run_analysis(photo_dir, settings)
    target.write_bytes(data)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    r = run_analysis(photo_dir, settings)
    assert r.summary["analyzed"] == 0  # unchanged: nothing re-analysed, but it is counted again
    with Catalog(settings.catalog) as cat:
        assert cat.get(target)["missing_since"] is None and cat.count() == 7


@pytest.mark.skipif(is_root(), reason="root reads unreadable folders")
def test_unreadable_folder_keeps_its_photos(photo_dir: Path, settings):
    settings = settings.replace(vision=False)
    run_analysis(photo_dir, settings)
    trip = photo_dir / "trip"
    trip.chmod(0)
    try:
        r = run_analysis(photo_dir, settings)
    finally:
        trip.chmod(0o755)
    assert r.summary["gone"] == 0
    with Catalog(settings.catalog) as cat:
        assert cat.count() == 7


def test_purge_after_grace_period_and_prune_command(photo_dir: Path, settings, tmp_path: Path):
    settings = settings.replace(vision=False)
    run_analysis(photo_dir, settings)
    (photo_dir / "IMG_0000.jpg").unlink()
    (photo_dir / "IMG_0001.jpg").unlink()
    run_analysis(photo_dir, settings)
    with sqlite3.connect(settings.catalog) as db:  # one of them went missing long ago
        db.execute("UPDATE photos SET missing_since = missing_since - ? WHERE path = ?",
                   (MISSING_GRACE_SECONDS + 10, os.fsencode(photo_dir / "IMG_0000.jpg")))
    r = run_analysis(photo_dir, settings)
    assert r.summary["purged_missing"] == 1
    with Catalog(settings.catalog) as cat:
        assert cat.count(include_missing=True) == 6 and len(cat.missing()) == 1
    p = run_cli(["catalog", "prune", photo_dir, "--catalog", settings.catalog, "--json"])
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["purged"] == 1
    with Catalog(settings.catalog) as cat:
        assert cat.count(include_missing=True) == 5 and not cat.missing()


def test_summary_says_how_many_are_gone(photo_dir: Path, tmp_path: Path):
    args = ["analyze", photo_dir, "--no-vision", "--catalog", tmp_path / "c.db"]
    assert run_cli(args).returncode == 0
    (photo_dir / "IMG_0000.jpg").unlink()
    p = run_cli(args)
    assert p.returncode == 0, p.stderr
    assert "1 photo(s) gone since the last run" in p.stdout


def test_migration_from_schema_1(tmp_path: Path):
    from imgengine.core import catalog as catalog_mod

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    catalog_mod.MIGRATIONS[1](db)
    db.execute("INSERT INTO photos (path, display_path, size, mtime_ns) VALUES (?, 'x', 1, 1)", (b"/x",))
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with Catalog(path) as cat:
        assert cat.schema_version == catalog_mod.SCHEMA_VERSION and cat.count() == 1
        assert cat.get("/x")["missing_since"] is None


def test_catalog_past_the_placeholder_migration_gets_the_column(tmp_path: Path):
    """main ran a no-op migration 2 until this one merged: such a catalog is at a later schema without
    ``missing_since``, and opening it adds the column."""
    from imgengine.core import catalog as catalog_mod

    path = tmp_path / "placeholder.db"
    db = sqlite3.connect(path)
    catalog_mod.MIGRATIONS[1](db)
    for version in range(3, catalog_mod.SCHEMA_VERSION + 1):
        catalog_mod.MIGRATIONS[version](db)
    db.execute(f"PRAGMA user_version = {catalog_mod.SCHEMA_VERSION}")
    db.commit()
    db.close()
    with Catalog(path) as cat:
        assert cat.count() == 0 and cat.missing() == []


def test_unplugged_drive_keeps_its_photos(photo_dir: Path, settings, tmp_path: Path):
    """A folder that is a link to a drive that is not plugged in: the scan cannot see it at all."""
    settings = settings.replace(vision=False)
    drive = tmp_path / "drive"
    (photo_dir / "trip").rename(drive)
    (photo_dir / "trip").symlink_to(drive)
    run_analysis(photo_dir, settings)
    drive.rename(tmp_path / "unplugged")
    r = run_analysis(photo_dir, settings)
    assert r.summary["gone"] == 0
    with Catalog(settings.catalog) as cat:
        assert cat.count() == 7
