"""Named library roots (``roots:``): one library mounted at different paths on two machines is one set of
rows in a shared catalog, on both stores. The two machines are two mount points (links) of one folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imgengine.catalog import open_catalog
from imgengine.catalog.roots import RootMap, parse_roots
from imgengine.engine.run import run_analysis
from imgengine.errors import ConfigError
from imgengine.settings import load_settings


def test_two_machines_with_different_mount_points_share_rows(catalog_spec, photo_dir, tmp_path, settings):
    laptop, server = tmp_path / "Volumes" / "photos", tmp_path / "mnt" / "photos"
    for mount in (laptop, server):
        mount.parent.mkdir(parents=True)
        mount.symlink_to(photo_dir, target_is_directory=True)
    roots = {"nas": (str(server), str(laptop))}
    base = settings.replace(vision=False, catalog=catalog_spec)

    first = run_analysis(server, base.replace(roots=roots))                          # the server
    assert first.summary["analyzed"] == 7
    again = run_analysis(laptop, base.replace(roots={"nas": (str(laptop),)}))        # the laptop: its own mount
    assert (again.summary["analyzed"], again.summary["skipped_unchanged"]) == (0, 7)
    with open_catalog(catalog_spec, roots={"nas": [str(laptop)]}) as cat:
        assert cat.count() == 7
        assert all(laptop in r["path"].parents for r in cat.iter_records())          # this machine's paths
        assert cat.get(laptop / "IMG_0001.jpg")["results"]["metadata"]
        assert len(cat.known_files(laptop)) == 7 and all(k.startswith(os.fsencode(laptop)) for k in cat.known_files())
        assert all(r["path"].startswith(os.fsencode(laptop) + b"/") for r in cat.photos_under(laptop))
        assert len(list(cat.photos_under(laptop / "trip"))) == len([p for p in (photo_dir / "trip").iterdir()])
        stored = [row["path"] for row in cat.export_rows("photos")]
        assert all(p.startswith(b"nas:/") for p in stored)                              # name + path below the root
        pid = cat.photo_id(laptop / "IMG_0002.jpg")
        assert cat.photo_path(pid)[0] == os.fsencode(laptop / "IMG_0002.jpg")
    with open_catalog(catalog_spec) as cat:                                            # no roots configured:
        assert all(str(r["path"]).startswith("nas:/") for r in cat.iter_records())   # shown as stored

    (photo_dir / "IMG_0003.jpg").unlink()                                              # gone on the NAS
    third = run_analysis(laptop, base.replace(roots=roots))
    assert third.summary["gone"] == 1
    with open_catalog(catalog_spec, roots=roots) as cat:
        assert cat.count() == 6 and [m["path"] for m in cat.missing()] == [server / "IMG_0003.jpg"]


def test_a_file_outside_every_root_keeps_its_absolute_path(tmp_path):
    m = RootMap({"nas": ["/mnt/photos"]})
    assert m.to_stored(b"/mnt/photos/a/b.jpg") == b"nas:/a/b.jpg"
    assert m.to_stored(b"/mnt/photos") == b"nas:"
    assert m.to_stored(b"/mnt/photos2/x.jpg") == b"/mnt/photos2/x.jpg"            # a sibling is not inside
    assert m.to_local(b"nas:/a/b.jpg") == b"/mnt/photos/a/b.jpg"
    assert m.to_local(b"other:/a.jpg") == b"other:/a.jpg"                          # unknown here: as stored
    inner = RootMap({"nas": ["/mnt/photos"], "raw": ["/mnt/photos/raw"]})
    assert inner.to_stored(b"/mnt/photos/raw/x.nef") == b"raw:/x.nef"              # the deeper mount wins
    mounts = RootMap({"nas": [str(tmp_path / "absent"), str(tmp_path)]})
    assert mounts.to_local(b"nas:/x.jpg") == os.fsencode(tmp_path) + b"/x.jpg"     # the mount that exists here


def test_roots_setting_from_config_and_environment(tmp_path, monkeypatch):
    config = tmp_path / "config.yaml"
    config.write_text("roots:\n  nas: [/mnt/photos, /Volumes/photos]\n  card: /media/sd\n")
    assert load_settings(config).roots == {"nas": ("/mnt/photos", "/Volumes/photos"), "card": ("/media/sd",)}
    monkeypatch.setenv("IMGENGINE_ROOTS", "nas=/srv/photos,/mnt/p;card=/media/x")
    assert load_settings(config).roots == {"nas": ("/srv/photos", "/mnt/p"), "card": ("/media/x",)}
    for bad in ({"nas": ["relative/path"]}, {"a/b": ["/x"]}, ["/x"], "nas"):
        with pytest.raises(ConfigError):
            parse_roots(bad)


def test_unconfigured_roots_are_no_change(tmp_path):
    with open_catalog(str(tmp_path / "c.db")) as cat:
        assert not cat.roots and cat.stored_key(Path("/a/b.jpg")) == b"/a/b.jpg"
