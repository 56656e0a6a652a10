"""Smart albums: saved queries, folders of links kept in line with the catalog, and never a photo removed."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imgengine.cli.app import app
from imgengine.core.catalog import Catalog
from imgengine.testing.samples import camera_exif
from tests.conftest import write_jpeg

runner = CliRunner()


@pytest.fixture
def lib(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "lib"
    for i in range(4):
        write_jpeg(root / f"IMG_{i}.jpg", seed=i,
                   exif=camera_exif(gps=(40.0 + i, 3.0, 0.0) if i < 2 else None, when=dt.datetime(2023, 5, 1 + i)))
    write_jpeg(root / "sub" / "IMG_0.jpg", seed=9, exif=camera_exif(gps=(1.0, 1.0, 0.0), when=dt.datetime(2022, 1, 1)))
    cat = tmp_path / "cat.db"
    _ok(["analyze", str(root), "--catalog", str(cat), "--no-vision", "--workers", "1"])
    return root, cat


def _ok(args: list[str], code: int = 0) -> str:
    res = runner.invoke(app, args)
    assert res.exit_code == code, res.output
    return res.output


def _albums(root: Path, cat: Path, *args: str, code: int = 0) -> str:
    return _ok(["albums", *args, "--library", str(root), "--catalog", str(cat)], code)


def test_album_folder_of_relative_links_follows_the_catalog(lib):
    root, cat = lib
    out = _albums(root, cat, "add", "Trips: GPS", "has_gps")
    assert "3 photos (+3" in out
    folder = root / "Albums" / "Trips_ GPS"             # ':' is not allowed on exFAT/SMB/Windows
    links = sorted(p.name for p in folder.iterdir() if p.name != ".imgengine-album")
    assert links == ["IMG_0-2.jpg", "IMG_0.jpg", "IMG_1.jpg"]   # two members named IMG_0.jpg
    for name in links:
        link = folder / name
        assert link.is_symlink() and not os.path.isabs(os.readlink(link))
        assert link.resolve().parent in (root.resolve(), (root / "sub").resolve())

    # the links are not catalogued as more photos by the next analyze
    _ok(["analyze", str(root), "--catalog", str(cat), "--no-vision", "--workers", "1"])
    with Catalog(cat) as c:
        assert c.count() == 5

    # a new matching photo joins at the end of the analyze run that catalogues it (the albums plugin)
    write_jpeg(root / "IMG_9.jpg", seed=19, exif=camera_exif(gps=(5.0, 5.0, 0.0)))
    _ok(["analyze", str(root), "--catalog", str(cat), "--no-vision", "--workers", "1"])
    assert (folder / "IMG_9.jpg").is_symlink()
    # a photo that left the catalog leaves the album on refresh, its link removed
    with Catalog(cat) as c:
        c.remove(root / "IMG_1.jpg")
    out = _albums(root, cat, "refresh")
    assert "3 photos (+0 −1" in out
    assert not (folder / "IMG_1.jpg").exists()
    assert (root / "IMG_1.jpg").is_file()                  # the photo itself is untouched

    data = json.loads(_albums(root, cat, "list", "--json"))
    assert data[0]["name"] == "Trips: GPS" and data[0]["photos"] == 3 and data[0]["query"] == "has_gps"
    shown = json.loads(_albums(root, cat, "show", "trips: gps", "--json"))
    assert len(shown["paths"]) == 3


def test_remove_only_removes_links_imgengine_made(lib):
    root, cat = lib
    _albums(root, cat, "add", "2023", "year = 2023", "--link", "hardlink")
    folder = root / "Albums" / "2023"
    assert (folder / "IMG_2.jpg").stat().st_ino == (root / "IMG_2.jpg").stat().st_ino
    (folder / "notes.txt").write_text("mine")             # the user's own file
    os.unlink(root / "IMG_3.jpg")                          # the album's hard link is now the last copy
    out = _albums(root, cat, "remove", "2023", code=1)
    assert "3 links removed" in out and "never removed" in out
    assert (folder / "notes.txt").read_text() == "mine"
    assert (folder / "IMG_3.jpg").is_file()                # kept: it is the only copy left
    assert not (folder / "IMG_0.jpg").exists()
    assert json.loads(_albums(root, cat, "list", "--json")) == []


def test_bad_album_input_is_one_line(lib):
    root, cat = lib
    out = _albums(root, cat, "add", "x", "colour = red", code=2)
    assert "unknown field" in out and "Traceback" not in out
    assert json.loads(_albums(root, cat, "list", "--json")) == []
    _albums(root, cat, "add", "only in catalog", "year = 2022", "--link", "none")
    assert not (root / "Albums").exists()
    out = _albums(root, cat, "add", "ONLY IN CATALOG", "year = 2022", code=2)
    assert "exists already" in out
    out = _albums(root, cat, "show", "nope", code=2)
    assert "no album named 'nope'" in out
    busy = root / "busy"
    busy.mkdir()
    (busy / "x.txt").write_text("x")
    out = _albums(root, cat, "add", "b", "has_gps", "--folder", str(busy), code=2)
    assert "not empty" in out


def test_gallery_of_an_album(lib, tmp_path):
    root, cat = lib
    _albums(root, cat, "add", "Old", "year < 2023", "--link", "none")
    out = _ok(["export", "gallery", str(root), "--catalog", str(cat), "--out", str(tmp_path / "site"),
               "--album", "Old", "--workers", "1"])
    assert "gallery: 1 photos" in out
    page = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "<title>Old</title>" in page
