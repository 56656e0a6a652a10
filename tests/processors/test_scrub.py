"""`scrub`: copies by default, in place with undo; ExifTool finds no GPS, serials, owner names, history or
the old thumbnail afterwards; --keep keeps what it names; --gps-only keeps the rest."""

from __future__ import annotations

import io
import shutil

import pytest
from PIL import Image

from imgengine.metadata.exiftool import ExifTool
from imgengine.metadata.scrub import parse_keep
from imgengine.metadata.verify import new_warnings
from imgengine.metadata.writer import MetadataWriter
from imgengine.processors.journal import Journal, undo
from imgengine.processors.scrub import apply_scrub, plan_scrub
from imgengine.settings import Settings
from imgengine.testing.samples import camera_exif, jpeg_bytes, scene

from ..conftest import run_cli
from ..metadata.helpers import make_image, needs_exiftool


def private_jpeg(path):
    """GPS, serial numbers, owner, artist, XMP history and a thumbnail of the *uncropped* picture."""
    import piexif

    exif = piexif.load(camera_exif(gps=(52.52, 13.40, 34.0), artist="Anna Private"))
    exif["Exif"][piexif.ExifIFD.BodySerialNumber] = b"SN-1234567"
    exif["Exif"][piexif.ExifIFD.CameraOwnerName] = b"Anna Private"
    exif["Exif"][piexif.ExifIFD.LensSerialNumber] = b"LENS-987"
    buf = io.BytesIO()
    Image.new("RGB", (160, 120), (255, 0, 0)).save(buf, "JPEG")            # red: not this picture
    exif["thumbnail"] = buf.getvalue()
    exif["1st"] = {piexif.ImageIFD.Compression: 6}
    path.write_bytes(jpeg_bytes(scene(320, 240, seed=5), piexif.dump(exif)))
    import os
    os.system(f"exiftool -q -overwrite_original '-XMP-xmpMM:DocumentID=xmp.did:secret' "
              f"'-XMP-photoshop:History=edited by Anna' '-XMP-dc:Subject=holiday' {path} >/dev/null 2>&1")
    return path


def scrub(paths, tmp_path, **kw):
    with MetadataWriter() as w:
        plan = plan_scrub(paths, Settings(), exiftool_available=w.exiftool_available, **kw)
        with Journal.begin(tmp_path / "state", "scrub", {}) as j:
            results = apply_scrub(plan, j, w)
    return plan, results, j.run_id


@needs_exiftool
def test_default_scrub_writes_a_clean_copy_and_leaves_the_original(tmp_path):
    src = private_jpeg(tmp_path / "a.jpg")
    before = src.read_bytes()
    plan, results, _ = scrub([src], tmp_path)
    out = tmp_path / "a_scrubbed.jpg"
    assert results[0].status == "done" and results[0].dst == out and src.read_bytes() == before
    with ExifTool() as et:
        doc = et.read_json(out, "-b")
        assert new_warnings(et.validate(src), et.validate(out)) == []
    text = str(doc)
    for secret in ("SN-1234567", "LENS-987", "Anna Private", "xmp.did:secret", "edited by Anna"):
        assert secret not in text, secret
    assert not [k for k in doc if k.startswith("GPS:") or "GPS" in k and not k.startswith("Composite")]
    assert doc.get("XMP-dc:Subject") in ("holiday", ["holiday"])                          # not personal: kept
    thumb = doc["IFD1:ThumbnailImage"]                                      # regenerated: this picture, not red
    import base64

    raw = base64.b64decode(thumb.split(":", 1)[1])
    r, g, b = Image.open(io.BytesIO(raw)).convert("RGB").resize((1, 1)).getpixel((0, 0))
    assert not (r > 200 and g < 50 and b < 50)


@needs_exiftool
def test_gps_only_and_keep(tmp_path):
    src = private_jpeg(tmp_path / "a.jpg")
    _plan, results, _ = scrub([src], tmp_path, level="gps")
    with ExifTool() as et:
        doc = et.read_json(results[0].dst)
    assert not [k for k in doc if k.startswith("GPS:")]
    assert doc["ExifIFD:SerialNumber"] == "SN-1234567"                     # only the location went
    src2 = private_jpeg(tmp_path / "b.jpg")
    _plan, results, _ = scrub([src2], tmp_path, level="all", keep=parse_keep("copyright,artist"))
    with ExifTool() as et:
        doc = et.read_json(results[0].dst)
    assert doc["IFD0:Artist"] == "Anna Private" and "IFD0:Make" not in doc and "XMP-dc:Subject" not in doc
    assert doc["IFD0:Orientation"] == "Horizontal (normal)"


@needs_exiftool
def test_in_place_is_undoable_byte_identically(tmp_path):
    src = private_jpeg(tmp_path / "a.jpg")
    before = src.read_bytes()
    _plan, results, run_id = scrub([src], tmp_path, in_place=True)
    assert results[0].status == "done" and src.read_bytes() != before
    assert undo(tmp_path / "state", run_id).ok and src.read_bytes() == before


@needs_exiftool
def test_heic_scrubbed_through_exiftool(tmp_path):
    src = make_image(tmp_path / "a.heic", "HEIF", exif=camera_exif(gps=(1.0, 2.0, 3.0)))
    _plan, results, _ = scrub([src], tmp_path)
    assert results[0].status == "done", results[0].reason
    with ExifTool() as et:
        doc = et.read_json(results[0].dst)
    assert not [k for k in doc if k.startswith("GPS:")] and doc["IFD0:Make"] == "Canon"


def test_cli_scrub_preview_then_apply(tmp_path):
    src = tmp_path / "p" / "a.png"
    src.parent.mkdir()
    make_image(src, "PNG", exif=camera_exif(gps=(1.0, 2.0, 3.0)))
    res = run_cli(["scrub", tmp_path / "p"])
    assert res.returncode == 0 and "nothing changed" in res.stdout
    res = run_cli(["scrub", tmp_path / "p", "--out", tmp_path / "share", "--apply", "--json"])
    assert res.returncode == 0, res.stderr
    out = tmp_path / "share" / "a.png"
    assert out.exists()
    from imgengine.analyzers.metadata import read_metadata

    assert read_metadata(out).gps_latitude is None and read_metadata(src).gps_latitude == pytest.approx(1.0)
    res = run_cli(["scrub", tmp_path / "p", "--gps-only", "--all"])
    assert res.returncode == 2 and "choose one" in res.stderr
    shutil.rmtree(tmp_path / "share")
