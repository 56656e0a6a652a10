"""Incremental `analyze` and XMP sidecars: a sidecar edited, added or removed while the photo stays the same
re-reads that photo's metadata (the sidecar's name, size and mtime are part of the change check)."""

from __future__ import annotations

import os
from pathlib import Path

from imgengine.core.catalog import Catalog
from imgengine.engine.run import run_analysis
from imgengine.metadata import exiv2_backend
from imgengine.metadata.fields import TagEdit
from imgengine.settings import Settings

from ..metadata.helpers import make_jpeg


def write_sidecar(path: Path, *keywords: str, mtime_ns: int | None = None) -> None:
    path.write_bytes(exiv2_backend.new_sidecar(TagEdit(add_keywords=keywords)))
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))


def keywords(settings: Settings, photo: Path) -> list[str]:
    with Catalog(settings.catalog_path(photo.parent)) as cat:
        return cat.get(photo)["results"]["metadata"]["keywords"]


def test_sidecar_only_edits_are_picked_up_by_an_incremental_run(tmp_path):
    settings = Settings(workers=1, log_dir=tmp_path / "logs", analyzers=("metadata",))
    photo = make_jpeg(tmp_path / "a.jpg")
    other = make_jpeg(tmp_path / "b.jpg", seed=3)
    run_analysis(tmp_path, settings)
    assert keywords(settings, photo) == []
    side = tmp_path / "a.xmp"
    write_sidecar(side, "first")                                   # a sidecar appears
    run = run_analysis(tmp_path, settings)
    assert run.summary["analyzed"] == 1                            # a.jpg only; b.jpg unchanged
    assert keywords(settings, photo) == ["first"]
    st = side.stat()
    write_sidecar(side, "again, longer", mtime_ns=st.st_mtime_ns)  # same mtime, other size: still seen
    run_analysis(tmp_path, settings)
    assert keywords(settings, photo) == ["again, longer"]
    write_sidecar(side, "third", mtime_ns=st.st_mtime_ns + 10**9)
    run_analysis(tmp_path, settings)
    assert keywords(settings, photo) == ["third"]
    side.unlink()                                                  # and goes away
    run_analysis(tmp_path, settings)
    assert keywords(settings, photo) == []
    assert run_analysis(tmp_path, settings).summary["analyzed"] == 0          # nothing left to do now
    assert keywords(settings, other) == []


def test_a_single_photo_run_checks_its_sidecar_too(tmp_path):
    settings = Settings(workers=1, log_dir=tmp_path / "logs", analyzers=("metadata",))
    photo = make_jpeg(tmp_path / "a.jpg")
    run_analysis(tmp_path, settings)
    write_sidecar(tmp_path / "a.jpg.xmp", "digiKam naming")
    run_analysis(photo, settings)
    assert keywords(settings, photo) == ["digiKam naming"]


def test_only_photos_in_folders_with_an_xmp_file_look_for_a_sidecar(tmp_path, monkeypatch):
    """The folder scan already listed every sidecar: a photo in a folder without any XMP file is sent with
    ``may_have_sidecar`` False and its worker makes no look-up; one beside an XMP file still reads it."""
    from imgengine.analyzers import metadata as metadata_mod

    settings = Settings(workers=1, log_dir=tmp_path / "logs", analyzers=("metadata",), catalog=tmp_path / "c.db")
    root = tmp_path / "photos"          # the catalog and logs stay outside the scanned folder
    with_side = make_jpeg(root / "tagged" / "a.jpg")
    write_sidecar(root / "tagged" / "a.xmp", "beside")
    bare = make_jpeg(root / "plain" / "b.jpg", seed=3)
    looked: list[str] = []
    real = metadata_mod.read_sidecar
    monkeypatch.setattr(metadata_mod, "read_sidecar", lambda p: looked.append(p.name) or real(p))
    run_analysis(root, settings)
    assert looked == ["a.jpg"]
    assert keywords(settings, with_side) == ["beside"] and keywords(settings, bare) == []
    write_sidecar(root / "plain" / "b.xmp", "later")           # a sidecar appears where there was none
    assert run_analysis(root, settings).summary["analyzed"] == 1
    assert keywords(settings, bare) == ["later"]
