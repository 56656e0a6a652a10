"""`convert`: HEIC -> JPEG and the other targets keep EXIF/XMP/ICC/file times, normalise orientation, drop
the old thumbnail, refuse animations with a reason, convert 16-bit and CMYK correctly, and undo."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image, ImageCms

from imgengine.analyzers.metadata import read_metadata
from imgengine.processors.convert import ConvertOptions, apply_convert, convert_file, plan_convert
from imgengine.processors.journal import Journal, undo
from imgengine.settings import Settings
from imgengine.testing.samples import camera_exif, jpeg_bytes, scene, store_rotated

from ..metadata.helpers import make_image, needs_exiftool


def heic_with_metadata(path, size=(320, 240), fmt="HEIF"):
    import pillow_heif

    pillow_heif.register_heif_opener()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    extra = {"enc_params": {"preset": "ultrafast"}, "quality": 60} if fmt == "HEIF" else {"quality": 90}
    scene(*size, seed=3).save(path, fmt, icc_profile=icc,
                              exif=camera_exif(make="Apple", model="iPhone 15", gps=(48.5, -2.25, 30.0)), **extra)
    return path


def run(plan, tmp_path, workers=1):
    with Journal.begin(tmp_path / "state", "convert", {}) as j:
        results = apply_convert(plan, j, workers=workers)
    return results, j.run_id


@pytest.mark.parametrize("to,ext", [("jpeg", ".jpg"), ("webp", ".webp"), ("png", ".png"), ("avif", ".avif"),
                                    ("heic", ".heic")])
def test_heic_converts_with_metadata_icc_and_times(tmp_path, to, ext):
    src = heic_with_metadata(tmp_path / ("IMG_1.JPG" if to == "heic" else "IMG_1.HEIC"),
                             fmt="JPEG" if to == "heic" else "HEIF")
    os.utime(src, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    plan = plan_convert([tmp_path], Settings(), ConvertOptions(to, speed="fast"))
    results, run_id = run(plan, tmp_path)
    assert [r.status for r in results] == ["done"], results
    out = tmp_path / f"IMG_1{ext}"
    assert results[0].dst == out and out.stat().st_mtime_ns == 1_600_000_000_000_000_000
    meta = read_metadata(out)
    assert meta.make == "Apple" and meta.model == "iPhone 15"
    assert meta.gps_latitude == pytest.approx(48.5, abs=1e-4) and meta.gps_longitude == pytest.approx(-2.25, abs=1e-4)
    assert meta.datetime_original.startswith("2023-07-04T18:32:11")
    with Image.open(out) as im:
        assert im.size == (320, 240)
        assert im.info.get("icc_profile")                                  # the profile came along
    assert undo(tmp_path / "state", run_id).ok and not out.exists() and src.exists()


@needs_exiftool
def test_jpeg_output_validates_and_has_no_stale_thumbnail(tmp_path):
    from imgengine.metadata.exiftool import ExifTool
    from imgengine.metadata.verify import new_warnings

    src = tmp_path / "rot.jpg"
    img = scene(300, 200, seed=4)
    src.write_bytes(jpeg_bytes(store_rotated(img, 6), camera_exif(orientation=6)))
    plan = plan_convert([src], Settings(), ConvertOptions("jpeg", max_size=150))
    results, _ = run(plan, tmp_path)
    out = results[0].dst
    assert out.name == "rot_1.jpg"                                          # never replaces the original name
    with ExifTool() as et:
        doc = et.read_json(out, "-n")
        assert new_warnings(et.validate(src), et.validate(out)) == []       # no worse than the original
    assert doc["IFD0:Orientation"] == 1 and "IFD1:ThumbnailLength" not in doc
    with Image.open(out) as im:
        assert im.size == (150, 100)                                        # upright: the landscape picture
    up = np.asarray(Image.open(out).convert("RGB").resize((30, 20)), dtype=float)
    ref = np.asarray(img.convert("RGB").resize((30, 20)), dtype=float)
    assert np.abs(up - ref).mean() < 12


def test_animated_and_multipage_are_refused_with_a_reason(tmp_path):
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "pages.tif", save_all=True, append_images=frames[1:])
    raw = tmp_path / "x.NEF"
    make_image(raw.with_suffix(".tif"), "TIFF").rename(raw)
    plan = plan_convert([tmp_path], Settings(), ConvertOptions("jpeg"))
    reasons = {p.name: r for p, r in plan.skipped}
    assert "animated GIF with 2 frames" in reasons["anim.gif"]
    assert "multi-page TIFF with 2 frames" in reasons["pages.tif"]
    assert "RAW" in reasons["x.NEF"] and not plan.actions


def test_16_bit_is_scaled_not_clipped(tmp_path):
    arr = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    src = tmp_path / "deep.png"
    Image.fromarray(arr).save(src)
    assert Image.open(src).mode.startswith("I")
    out = Image.open(io.BytesIO(convert_file(str(src), ConvertOptions("webp", quality=100).validate())))
    g = np.asarray(out.convert("L"), dtype=float)
    assert g.min() < 5 and g.max() > 250 and abs(g.mean() - 127.5) < 6


def test_cmyk_becomes_rgb(tmp_path):
    src = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (40, 40), (0, 255, 255, 0)).save(src)             # pure red in CMYK
    out = Image.open(io.BytesIO(convert_file(str(src), ConvertOptions("png").validate())))
    r, g, b = np.asarray(out.convert("RGB"), dtype=float).reshape(-1, 3).mean(0)
    assert r > 200 and g < 60 and b < 60


def test_replace_trashes_originals_and_undo_brings_them_back(tmp_path):
    srcs = [heic_with_metadata(tmp_path / f"IMG_{i}.HEIC", size=(64, 48)) for i in range(3)]
    before = {p: p.read_bytes() for p in srcs}
    plan = plan_convert([tmp_path], Settings(), ConvertOptions("jpeg"), replace=True)
    results, run_id = run(plan, tmp_path, workers=2)
    assert all(r.status == "done" for r in results)
    assert not any(p.exists() for p in srcs) and all(p.with_suffix(".jpg").exists() for p in srcs)
    rep = undo(tmp_path / "state", run_id)
    assert rep.ok, rep.problems
    assert {p: p.read_bytes() for p in srcs} == before and not list(tmp_path.glob("*.jpg"))


def test_broken_file_fails_alone(tmp_path):
    good = heic_with_metadata(tmp_path / "a.HEIC", size=(64, 48))
    bad = tmp_path / "b.jpg"
    bad.write_bytes(jpeg_bytes(scene(64, 48))[:200])
    plan = plan_convert([tmp_path], Settings(), ConvertOptions("png"))
    results, _ = run(plan, tmp_path)
    by = {r.src.name: r for r in results}
    assert by["a.HEIC"].status == "done"
    assert by["b.jpg"].status == "failed" and "decode" in by["b.jpg"].reason
    assert bad.exists() and good.exists()


@needs_exiftool
def test_corpus_heic_to_every_target_validates_no_worse(corpus, tmp_path):
    from imgengine.core.formats import sniff
    from imgengine.metadata.exiftool import ExifTool
    from imgengine.metadata.verify import new_warnings

    heics = [p for p in (corpus / "heic").rglob("*") if p.is_file() and sniff(p) == "heic"][:3]
    if not heics:
        pytest.skip("no HEIC in the corpus")
    with ExifTool() as et:
        for src in heics:
            before = et.validate(src)
            src_doc = et.read_json(src)
            for to in ("jpeg", "avif", "webp"):
                out = tmp_path / f"{src.stem}.{to}"
                out.write_bytes(convert_file(str(src), ConvertOptions(to, max_size=640, speed="fast").validate()))
                assert new_warnings(before, et.validate(out)) == [], (src.name, to, et.validate(out))
                doc = et.read_json(out)
                for tag in ("IFD0:Make", "IFD0:Model", "ExifIFD:DateTimeOriginal", "GPS:GPSLatitude"):
                    assert doc.get(tag) == src_doc.get(tag), (src.name, to, tag)
