"""`tag`: every value lands where Lightroom/digiKam/Immich read it, ExifTool reads back exactly what was
written and validates no worse, JPEG scan data stays byte-identical, and undo restores every byte."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from imgengine.analyzers.metadata import read_metadata
from imgengine.metadata import exiv2_backend
from imgengine.metadata.exiftool import ExifTool
from imgengine.metadata.fields import Gps, TagEdit, parse_capture_date
from imgengine.metadata.verify import readback_problems, verify_write
from imgengine.metadata.writer import MetadataWriter
from imgengine.processors.dates import parse_timezone
from imgengine.processors.journal import Journal, undo
from imgengine.processors.tag import apply_tag, plan_tag
from imgengine.settings import Settings

from .helpers import jpeg_scan, make_image, make_jpeg, needs_exiftool

FULL = TagEdit(add_keywords=("Beach, sunny", "Ünïcode café", "🐶 dog", "Scenes|Beach", "Places|France|Paris"),
               title="Tïtle, with comma", description="A description — with “quotes”", rating=4, label="Red",
               gps=Gps(-33.8688197, -70.25, -12.5), date=parse_capture_date("2024-05-06 07:08:09-03:30"),
               artist="Anna Müller", copyright="© 2024 Anna")


def tag(paths, edit, tmp_path, **writer_kw):
    settings = Settings(workers=1)
    with MetadataWriter(**writer_kw) as w:
        plan = plan_tag(paths, settings, w, lambda _p: edit)
        with Journal.begin(tmp_path / "state", "tag", {}) as j:
            results = apply_tag(plan, j, w)
    return plan, results, j.run_id


@needs_exiftool
def test_jpeg_every_value_reads_back_in_exiftool_lossless_and_undo_is_byte_identical(tmp_path):
    photo = make_jpeg(tmp_path / "p" / "IMG_1.jpg", gps=(10.0, 20.0, 5.0))
    before = photo.read_bytes()
    with ExifTool() as et:
        warnings_before = et.validate(photo)
        plan, results, run_id = tag([photo], FULL, tmp_path)
        assert [r.status for r in results] == ["done"]
        assert verify_write(et, photo, FULL, "jpeg", warnings_before) == []
        doc = et.read_json(photo, "-n")
    after = photo.read_bytes()
    assert jpeg_scan(after) == jpeg_scan(before)                       # entropy-coded data untouched
    # values not named are kept (camera, lens settings, sub-seconds)
    assert doc["IFD0:Make"] == "Canon" and doc["ExifIFD:SubSecTimeOriginal"] in (123, "123")
    assert doc["IPTC:Keywords"][:3] == ["Beach, sunny", "Ünïcode café", "🐶 dog"]
    # our own reader (what `analyze` stores) agrees
    meta = read_metadata(photo)
    assert meta.keywords[:3] == ("Beach, sunny", "Ünïcode café", "🐶 dog")
    assert meta.title == FULL.title and meta.description == FULL.description and meta.rating == 4
    assert meta.artist == "Anna Müller" and meta.copyright == "© 2024 Anna"
    assert meta.gps_latitude == pytest.approx(-33.8688197, abs=1e-6)
    assert meta.gps_longitude == pytest.approx(-70.25) and meta.gps_altitude == pytest.approx(-12.5)
    assert meta.datetime_original == "2024-05-06T07:08:09.123-03:30"
    rep = undo(tmp_path / "state", run_id)
    assert rep.ok and photo.read_bytes() == before


def test_writing_the_same_values_again_changes_nothing(tmp_path):
    photo = make_jpeg(tmp_path / "a.jpg")
    tag([photo], FULL, tmp_path)
    once = photo.read_bytes()
    _plan, results, _ = tag([photo], FULL, tmp_path)
    assert results[0].status == "skipped" and results[0].reason == "already as asked"
    assert photo.read_bytes() == once


def test_remove_keyword_and_hierarchy_removed_everywhere(tmp_path):
    photo = make_jpeg(tmp_path / "a.jpg")
    tag([photo], TagEdit(add_keywords=("keep", "Scenes|Beach", "drop")), tmp_path)
    tag([photo], TagEdit(remove_keywords=("drop", "Beach")), tmp_path)
    data = photo.read_bytes()
    import exiv2

    img = exiv2.ImageFactory.open(data)
    img.readMetadata()
    b = exiv2_backend._Blocks(img, "jpeg")
    assert b.xmp_list("Xmp.dc.subject") == ["keep"]
    assert b.iptc_all("Iptc.Application2.Keywords") == ["keep"]
    assert b.xmp_list("Xmp.lr.hierarchicalSubject") == []


@needs_exiftool
@pytest.mark.parametrize("fmt,ext", [("PNG", "png"), ("WEBP", "webp"), ("TIFF", "tif")])
def test_png_webp_tiff_embedded_and_read_back(tmp_path, fmt, ext):
    photo = make_image(tmp_path / f"a.{ext}", fmt)
    with ExifTool() as et:
        warnings_before = et.validate(photo)
        plan, results, run_id = tag([photo], FULL, tmp_path)
        assert plan.actions[0].target.how == "exiv2" and results[0].status == "done", results[0].reason
        kind = {"PNG": "png", "WEBP": "webp", "TIFF": "tiff"}[fmt]
        assert verify_write(et, photo, FULL, kind, warnings_before) == []
    meta = read_metadata(photo)
    assert "🐶 dog" in meta.keywords and meta.rating == 4


@needs_exiftool
def test_heic_written_through_exiftool_stay_open(tmp_path):
    photo = make_image(tmp_path / "a.heic", "HEIF")
    before = photo.read_bytes()
    with ExifTool() as et:
        warnings_before = et.validate(photo)
        plan, results, run_id = tag([photo], FULL, tmp_path)
        assert plan.actions[0].target.how == "exiftool" and results[0].status == "done", results[0].reason
        assert verify_write(et, photo, FULL, "heic", warnings_before) == []
    assert "Beach, sunny" in read_metadata(photo).keywords
    assert undo(tmp_path / "state", run_id).ok and photo.read_bytes() == before


def test_heic_without_exiftool_goes_to_a_sidecar_with_a_note(tmp_path):
    photo = make_image(tmp_path / "a.heic", "HEIF")
    before = photo.read_bytes()
    plan, results, run_id = tag([photo], TagEdit(add_keywords=("x",)), tmp_path, use_exiftool=False)
    assert plan.actions[0].target.how == "sidecar-new" and "ExifTool" in plan.actions[0].target.note
    assert photo.read_bytes() == before and (tmp_path / "a.xmp").is_file()
    assert undo(tmp_path / "state", run_id).ok and not (tmp_path / "a.xmp").exists()


def raw_file(path: Path) -> Path:
    """A TIFF-based RAW stand-in (a .dng name on TIFF bytes with EXIF, as our sniffer classes it)."""
    from imgengine.testing.samples import camera_exif

    make_image(path.with_suffix(".tif"), "TIFF", exif=camera_exif(make="Nikon", model="D70"))
    path.with_suffix(".tif").rename(path)
    return path


@needs_exiftool
@pytest.mark.parametrize("naming,name", [("stem", "DSC_1.xmp"), ("full", "DSC_1.NEF.xmp")])
def test_raw_gets_a_sidecar_never_the_raw_itself_and_analyze_reads_it(tmp_path, naming, name):
    photo = raw_file(tmp_path / "DSC_1.NEF")
    before = photo.read_bytes()
    plan, results, run_id = tag([photo], FULL, tmp_path, sidecar_naming=naming)
    assert [a.target.how for a in plan.actions] == ["sidecar-new"] and results[0].status == "done"
    side = tmp_path / name
    assert photo.read_bytes() == before and side.is_file()
    with ExifTool() as et:
        doc = et.read_json(side, "-n")
    assert readback_problems(doc, FULL, "xmp") == []
    # a second edit updates the existing sidecar in place (rewrite), keeping the first values
    _plan, results2, _ = tag([photo], TagEdit(add_keywords=("second",)), tmp_path, sidecar_naming=naming)
    assert results2[0].op == "rewrite" and results2[0].status == "done"
    from imgengine.analyzers.base import AnalysisInput
    from imgengine.analyzers.metadata import MetadataAnalyzer
    from imgengine.core.photo import Photo

    st = photo.stat()
    item = AnalysisInput(Photo(photo, st.st_size, st.st_mtime_ns, "raw"), Settings())
    meta = MetadataAnalyzer().analyze(item)
    assert "second" in meta.keywords and "Beach, sunny" in meta.keywords     # sidecar over embedded
    assert meta.rating == 4 and meta.title == FULL.title
    assert meta.gps_latitude == pytest.approx(FULL.gps.lat, abs=1e-6)
    assert meta.make == "Nikon"                                                # embedded values still read


@needs_exiftool
def test_shift_time_and_timezone_move_every_date_together(tmp_path):
    photo = make_jpeg(tmp_path / "a.jpg", when=dt.datetime(2023, 12, 31, 23, 30, 0), offset=None)
    edit = TagEdit(shift=dt.timedelta(hours=1), timezone=parse_timezone("Europe/Berlin"))
    with ExifTool() as et:
        warnings_before = et.validate(photo)
        tag([photo], edit, tmp_path)
        doc = et.read_json(photo)
        assert et.validate(photo) == warnings_before or len(et.validate(photo)) <= len(warnings_before)
    assert doc["ExifIFD:DateTimeOriginal"] == "2024:01:01 00:30:00"
    assert doc["ExifIFD:CreateDate"] == "2024:01:01 00:30:00" and doc["IFD0:ModifyDate"] == "2024:01:01 00:30:00"
    assert doc["ExifIFD:OffsetTimeOriginal"] == "+01:00"                       # CET in winter


def test_read_only_file_and_changed_since_plan_are_skipped(tmp_path):
    a, b = make_jpeg(tmp_path / "a.jpg"), make_jpeg(tmp_path / "b.jpg", seed=3)
    a.chmod(0o444)
    settings = Settings(workers=1)
    with MetadataWriter() as w:
        plan = plan_tag([tmp_path], settings, w, lambda _p: TagEdit(rating=3))
        b.write_bytes(b.read_bytes() + b"\0")            # changed after planning
        with Journal.begin(tmp_path / "state", "tag", {}) as j:
            results = apply_tag(plan, j, w)
    reasons = {r.src.name: (r.status, r.reason) for r in results}
    assert reasons["a.jpg"][0] == "skipped" and "read-only" in reasons["a.jpg"][1]
    assert reasons["b.jpg"][0] == "skipped" and "changed" in reasons["b.jpg"][1]


def test_broken_exif_is_refused_with_the_reason(tmp_path):
    photo = make_jpeg(tmp_path / "a.jpg")
    data = bytearray(photo.read_bytes())
    i = data.find(b"Exif\0\0")
    data[i + 6:i + 14] = b"XX\x00\x2a\xff\xff\xff\xff"       # not a TIFF header any more
    photo.write_bytes(bytes(data))
    _plan, results, _ = tag([photo], TagEdit(rating=3), tmp_path)
    assert results[0].status == "failed"
    assert results[0].reason == ("metadata cannot be read (This does not look like a TIFF image); not changed "
                                 "(--repair rebuilds it)")
    assert photo.read_bytes() == bytes(data)
    _plan, results, run_id = tag([photo], TagEdit(rating=3, gps=Gps(1.5, 2.5)), tmp_path, repair=True)
    assert results[0].status == "done"
    meta = read_metadata(photo)
    assert meta.rating == 3 and meta.gps_latitude == pytest.approx(1.5) and not meta.warnings
    assert jpeg_scan(photo.read_bytes()) == jpeg_scan(bytes(data))
    assert undo(tmp_path / "state", run_id).ok and photo.read_bytes() == bytes(data)


def test_exif_over_the_64k_app1_limit_is_refused(tmp_path):
    photo = make_jpeg(tmp_path / "a.jpg")
    before = photo.read_bytes()
    _plan, results, _ = tag([photo], TagEdit(description="x" * 70000), tmp_path)
    assert results[0].status == "failed", results[0]
    assert "64" in results[0].reason or "large" in results[0].reason.lower() or "metadata" in results[0].reason
    assert photo.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".imgengine-tmp")]


@needs_exiftool
def test_non_utf8_iptc_is_converted_not_garbled(tmp_path):
    photo = make_jpeg(tmp_path / "a.jpg")
    os.system(f"exiftool -q -overwrite_original -charset iptc=latin -codedcharacterset= "
              f"'-IPTC:Caption-Abstract=Caf\xe9 cr\xe8me' {photo} >/dev/null 2>&1")
    with ExifTool() as et:
        assert et.read_json(photo, "-charset", "iptc=latin")["IPTC:Caption-Abstract"] == "Café crème"
        _plan, results, _ = tag([photo], TagEdit(add_keywords=("neu",)), tmp_path)
        assert results[0].status == "done"
        doc = et.read_json(photo)
    assert doc["IPTC:Keywords"] == "neu" and doc["IPTC:CodedCharacterSet"] == "UTF8"
    assert doc["IPTC:Caption-Abstract"] == "Café crème"


@needs_exiftool
def test_png_carries_xmp_in_itxt_and_exif_in_exif_chunk_and_says_it_has_no_iptc(tmp_path):
    """PNG: what it can carry is written where readers look (XMP in iTXt, EXIF in eXIf), read back by
    ExifTool; IPTC, which PNG has no standard place for, is not written, and the plan says so."""
    photo = make_image(tmp_path / "a.png", "PNG")           # no metadata at all to start from
    with ExifTool() as et:
        warnings_before = et.validate(photo)
        plan, results, run_id = tag([photo], FULL, tmp_path)
        assert results[0].status == "done", results[0].reason
        assert "no standard IPTC" in plan.actions[0].target.note
        assert verify_write(et, photo, FULL, "png", warnings_before) == []
        doc = et.read_json(photo, "-n")
        chunks, _ = et.run(["-v1", os.fspath(photo)])
    assert "PNG eXIf" in chunks and "PNG iTXt" in chunks and "Raw profile" not in chunks
    assert doc["XMP-dc:Subject"][:3] == ["Beach, sunny", "Ünïcode café", "🐶 dog"]
    assert doc["XMP-dc:Title"] == FULL.title and doc["XMP-xmp:Label"] == "Red"
    assert doc["ExifIFD:DateTimeOriginal"] == "2024:05:06 07:08:09" and doc["ExifIFD:OffsetTimeOriginal"] == "-03:30"
    assert doc["GPS:GPSLatitudeRef"] == "S" and doc["Composite:GPSLatitude"] == pytest.approx(-33.8688197, abs=1e-6)
    assert not [k for k in doc if k.startswith("IPTC")]
    assert undo(tmp_path / "state", run_id).ok


def test_shift_time_on_a_raw_writes_the_shifted_capture_time_into_its_sidecar(tmp_path):
    """The RAW is never written, so its sidecar carries the shifted time (seeded from the RAW's EXIF);
    `analyze` then reads the sidecar's time over the embedded one."""
    from imgengine.analyzers.base import AnalysisInput
    from imgengine.analyzers.metadata import MetadataAnalyzer
    from imgengine.core.photo import Photo

    photo = raw_file(tmp_path / "DSC_2.NEF")
    before = photo.read_bytes()
    assert read_metadata(photo).datetime_original.startswith("2023-07-04T18:32:11")
    for _ in range(2):            # a new sidecar, then the existing one updated: each shift counts once
        _plan, results, _run = tag([photo], TagEdit(shift=dt.timedelta(hours=1)), tmp_path)
        assert results[0].status == "done", results[0].reason
    assert photo.read_bytes() == before
    st = photo.stat()
    meta = MetadataAnalyzer().analyze(AnalysisInput(Photo(photo, st.st_size, st.st_mtime_ns, "raw"), Settings()))
    assert meta.datetime_original.startswith("2023-07-04T20:32:11") and meta.date_source.startswith("sidecar")
