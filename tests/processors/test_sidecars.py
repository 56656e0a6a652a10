"""`imgengine export sidecars` and `export keywords --lightroom`: sidecars read back by ExifTool, field by
field (keywords with hierarchy, rating, label, title, description, GPS, date, MWG face regions with names)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from imgengine.cli.app import app
from imgengine.metadata.fields import regions_from_upright
from imgengine.plugins.builtin.keyword_list import lightroom_keyword_list
from imgengine.processors.sidecars import capture_date, sidecar_for
from imgengine.testing.samples import camera_exif, jpeg_bytes, store_rotated

runner = CliRunner()
EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(EXIFTOOL is None, reason="ExifTool is not installed")


def _exiftool(path: Path) -> dict:
    out = subprocess.run([EXIFTOOL, "-j", "-struct", "-n", "-G1", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)[0]


def _tag(path: Path, *args: str) -> None:
    r = runner.invoke(app, ["tag", str(path), *args, "--apply", "-q", "--state-dir", str(path.parent.parent / "st")])
    assert r.exit_code == 0, r.output


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> tuple[Path, Path, dict]:
    """The astronaut (a real face, recognised as Eileen from a reference photo), upright and stored rotated
    (orientation 6), with keywords, rating, label, title and description written by `tag`; a photo without
    people; a catalog analysed with metadata + faces."""
    skdata = pytest.importorskip("skimage.data")
    tmp = tmp_path_factory.mktemp("sidecars")
    with pytest.MonkeyPatch.context() as mp:    # module scope runs before the per-test private HOME
        for var, sub in (("HOME", ""), ("XDG_STATE_HOME", ".local/state"), ("XDG_DATA_HOME", ".local/share"),
                         ("XDG_CONFIG_HOME", ".config"), ("XDG_CACHE_HOME", ".cache")):
            mp.setenv(var, str(tmp / "home" / sub))
        for var in ("IMGENGINE_STATE_DIR", "IMGENGINE_RUN_INDEX", "IMGENGINE_LOG_DIR", "IMGENGINE_MODELS_DIR"):
            mp.delenv(var, raising=False)
        return _make_library(skdata, tmp)


def _make_library(skdata, tmp: Path) -> tuple[Path, Path, dict]:
    root = tmp / "photos"
    root.mkdir()
    astro = Image.fromarray(skdata.astronaut())
    when = dt.datetime(2023, 7, 4, 18, 32, 11)
    (root / "astro.jpg").write_bytes(jpeg_bytes(astro, camera_exif(when=when, gps=(48.8584, 2.2945, 35.0))))
    (root / "astro_rot.jpg").write_bytes(jpeg_bytes(store_rotated(astro, 6), camera_exif(orientation=6, when=when)))
    (root / "coffee.jpg").write_bytes(jpeg_bytes(Image.fromarray(skdata.coffee()), camera_exif(when=when)))
    _tag(root / "astro.jpg", "-k", "space", "-k", "Events|NASA|STS-93", "--rating", "4", "--label", "Red",
         "--title", "Eileen Collins", "--description", "Portrait, 1998")
    known = tmp / "known" / "Eileen"
    known.mkdir(parents=True)
    astro.crop((120, 30, 380, 290)).save(known / "ref.jpg")
    cat = tmp / "cat.db"
    env = {"IMGENGINE_PLUGINS__FACES__KNOWN_FACES_DIR": str(known.parent)}
    r = runner.invoke(app, ["analyze", str(root), "--analyzers", "metadata,faces", "--workers", "1", "--no-vision",
                            "--catalog", str(cat), "-q"], env=env)
    assert r.exit_code == 0, r.output
    return root, cat, {"when": when}


def _export(root: Path, cat: Path, *extra: str, code: int = 0) -> str:
    r = runner.invoke(app, ["export", "sidecars", str(root), "--catalog", str(cat), "--state-dir",
                            str(root.parent / "state"), *extra])
    assert r.exit_code == code, r.output
    return r.output


def _region(doc: dict) -> tuple[dict, list[dict]]:
    info = doc["XMP-mwg-rs:RegionInfo"]
    return info["AppliedToDimensions"], info["RegionList"]


@needs_exiftool
def test_sidecars_preview_then_apply_and_exiftool_reads_every_field(library):
    root, cat, facts = library
    from imgengine.core.catalog import Catalog

    with Catalog(cat, readonly=True) as c:       # the catalog itself knows the label and the hierarchy
        md = next(r for r in c.stream_records() if r["path"].name == "astro.jpg")["results"]["metadata"]
    assert md["label"] == "Red" and md["hierarchical_keywords"] == ["Events|NASA|STS-93"]
    out = _export(root, cat)
    assert "nothing changed" in out and not list(root.glob("*.xmp"))
    _export(root, cat, "--apply", "-q")
    assert sorted(p.name for p in root.glob("*.xmp")) == ["astro.xmp", "astro_rot.xmp", "coffee.xmp"]
    doc = _exiftool(root / "astro.xmp")
    assert set(doc["XMP-dc:Subject"]) >= {"space", "STS-93", "Eileen"}
    assert set(doc["XMP-lr:HierarchicalSubject"]) >= {"Events|NASA|STS-93", "People|Eileen"}
    assert "People/Eileen" in doc["XMP-digiKam:TagsList"]
    assert doc["XMP-xmp:Rating"] == 4 and doc["XMP-xmp:Label"] == "Red"
    assert doc["XMP-dc:Title"] == "Eileen Collins" and doc["XMP-dc:Description"] == "Portrait, 1998"
    assert doc["XMP-exif:GPSLatitude"] == pytest.approx(48.8584, abs=1e-6)
    assert doc["XMP-exif:GPSLongitude"] == pytest.approx(2.2945, abs=1e-6)
    assert doc["XMP-exif:GPSAltitude"] == pytest.approx(35.0)
    assert str(doc["XMP-exif:DateTimeOriginal"]).startswith(facts["when"].strftime("%Y:%m:%d %H:%M:%S"))
    assert str(doc["XMP-photoshop:DateCreated"]).startswith(facts["when"].strftime("%Y:%m:%d %H:%M:%S"))
    dims, regions = _region(doc)
    assert (dims["W"], dims["H"], dims["Unit"]) == (512, 512, "pixel")
    assert [(r["Type"], r.get("Name")) for r in regions] == [("Face", "Eileen")]
    area = regions[0]["Area"]
    assert area["Unit"] == "normalized"
    assert 0.3 < area["X"] < 0.7 and 0.1 < area["Y"] < 0.5 and 0.1 < area["W"] < 0.5    # her face
    coffee = _exiftool(root / "coffee.xmp")
    assert "XMP-mwg-rs:RegionInfo" not in coffee and "XMP-dc:Subject" not in coffee
    assert str(coffee["XMP-exif:DateTimeOriginal"]).startswith("2023:07:04 18:32:11")


@needs_exiftool
def test_region_of_a_rotated_photo_is_on_the_face_in_the_stored_pixels(library):
    """MWG regions are relative to the stored image: the rotated copy's region, cut out of its stored pixels
    and turned upright, shows the same face as the upright photo's region."""
    root, cat, _ = library
    if not (root / "astro_rot.xmp").exists():
        _export(root, cat, "--apply", "-q")
    crops = []
    for name in ("astro", "astro_rot"):
        dims, regions = _region(_exiftool(root / f"{name}.xmp"))
        stored = Image.open(root / f"{name}.jpg")
        assert stored.size == (dims["W"], dims["H"])
        a = regions[0]["Area"]
        box = ((a["X"] - a["W"] / 2) * dims["W"], (a["Y"] - a["H"] / 2) * dims["H"],
               (a["X"] + a["W"] / 2) * dims["W"], (a["Y"] + a["H"] / 2) * dims["H"])
        face = stored.crop(tuple(round(v) for v in box))
        if name == "astro_rot":
            face = face.transpose(Image.Transpose.ROTATE_270)      # what orientation 6 does on display
        crops.append(np.asarray(face.convert("L").resize((64, 64)), dtype=np.float32))
    assert np.abs(crops[0] - crops[1]).mean() < 12
    stored = np.asarray(Image.open(root / "astro_rot.jpg").convert("L").resize((64, 64)), dtype=np.float32)
    assert np.abs(crops[0] - stored).mean() > 25        # the check can fail: a wrong region shows something else


# what a viewer does to show stored pixels upright (Pillow's ImageOps.exif_transpose table)
SHOW = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90}


def test_regions_map_every_orientation_back_to_the_stored_image():
    """A box on the upright image maps to the stored image so that the stored pixels there, shown upright,
    are the same pixels (a real image, all eight orientations)."""
    skdata = pytest.importorskip("skimage.data")
    upright = Image.fromarray(skdata.astronaut()).resize((400, 300))
    w, h = upright.size
    box = [0.2, 0.1, 0.5, 0.3]
    want = np.asarray(upright.crop((box[0] * w, box[1] * h, box[2] * w, box[3] * h)).convert("L").resize((32, 32)),
                      dtype=np.float32)
    for orientation in range(1, 9):
        stored = store_rotated(upright, orientation)
        sw, sh = stored.size
        r = regions_from_upright([(box, None)], sw, sh, orientation).items[0]
        crop = stored.crop((round((r.x - r.w / 2) * sw), round((r.y - r.h / 2) * sh),
                            round((r.x + r.w / 2) * sw), round((r.y + r.h / 2) * sh)))
        shown = crop.transpose(SHOW[orientation]) if orientation in SHOW else crop
        got = np.asarray(shown.convert("L").resize((32, 32)), dtype=np.float32)
        assert np.abs(got - want).mean() < 4, orientation


@needs_exiftool
def test_existing_sidecars_kept_unless_overwrite_and_undo_restores(library, tmp_path):
    root, cat, _ = library
    if not (root / "astro.xmp").exists():
        _export(root, cat, "--apply", "-q")
    mine = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>"
    (root / "coffee.xmp").write_bytes(mine)
    before = {p.name: p.read_bytes() for p in root.glob("*.xmp")}
    out = _export(root, cat, "--apply", "--json")
    doc = json.loads(out)
    assert doc["summary"]["files"] == 0
    assert {Path(s["path"]).name for s in doc["left_alone"]} == {"astro.jpg", "astro_rot.jpg", "coffee.jpg"}
    assert {p.name: p.read_bytes() for p in root.glob("*.xmp")} == before
    out = _export(root, cat, "--apply", "--overwrite", "--json")
    doc = json.loads(out)
    assert doc["results"]["done"] == 1 and (root / "coffee.xmp").read_bytes() != mine   # only coffee changed
    assert "XMP-exif:DateTimeOriginal" in _exiftool(root / "coffee.xmp")
    r = runner.invoke(app, ["undo", doc["run_id"], "--state-dir", str(root.parent / "state")])
    assert r.exit_code == 0, r.output
    assert (root / "coffee.xmp").read_bytes() == mine


@needs_exiftool
def test_digikam_naming_and_lightroom_raw_jpeg_pair(library, tmp_path):
    root, cat, _ = library
    out = _export(root, cat, "--style", "digikam", "--apply", "--json", "--filter", "person = Eileen")
    doc = json.loads(out)
    assert sorted(Path(c).name for c in doc["results"]["changed"]) == ["astro.jpg.xmp", "astro_rot.jpg.xmp"]
    assert _exiftool(root / "astro_rot.jpg.xmp")["XMP-mwg-rs:RegionInfo"]["RegionList"][0]["Name"] == "Eileen"
    assert sidecar_for(Path("a/IMG_1.CR2"), "lightroom") == Path("a/IMG_1.xmp")
    assert sidecar_for(Path("a/IMG_1.CR2"), "digikam") == Path("a/IMG_1.CR2.xmp")
    r = runner.invoke(app, ["export", "sidecars", str(root), "--catalog", str(cat), "--style", "picasa"])
    assert r.exit_code == 2 and "--style" in r.output and "Traceback" not in r.output


def test_lightroom_keyword_list(library, tmp_path):
    root, cat, _ = library
    target = tmp_path / "keywords.txt"
    r = runner.invoke(app, ["export", "keywords", str(root), "--catalog", str(cat), "--lightroom", str(target)])
    assert r.exit_code == 0, r.output
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines == ["[Events]", "\t[NASA]", "\t\tSTS-93", "[People]", "\tEileen", "space"]
    text = lightroom_keyword_list(["Places|France|Paris", "Places|France|Lyon", "beach", "Scenes|beach",
                                   "Travel", "Travel|Rome", "a[b]"])
    assert text.splitlines() == ["a(b)", "[Places]", "\t[France]", "\t\tLyon", "\t\tParis", "[Scenes]", "\tbeach",
                                 "Travel", "\tRome"]


def test_capture_date_keeps_the_offset():
    d = capture_date("2023-07-04T18:32:11.123+02:00")
    assert d.xmp == "2023-07-04T18:32:11+02:00"
    assert capture_date("2023-07-04T18:32:11").xmp == "2023-07-04T18:32:11"
    assert capture_date("garbage") is None


@needs_exiftool
def test_both_backends_write_the_same_regions(tmp_path):
    """libexiv2 (JPEG, sidecars) and ExifTool (HEIC/AVIF) write the same MWG regions; names with ExifTool's
    structure characters survive."""
    from imgengine.metadata import exiv2_backend
    from imgengine.metadata.exiftool import ExifTool
    from imgengine.metadata.fields import Region, Regions, TagEdit

    src = tmp_path / "a.jpg"
    src.write_bytes(jpeg_bytes(Image.new("RGB", (400, 300), "grey"), camera_exif()))
    edit = TagEdit(regions=Regions(400, 300, (Region(0.25, 0.4, 0.1, 0.2, "Anna, {the} [first]|x=1"),
                                              Region(0.75, 0.5, 0.12, 0.16))))
    (tmp_path / "exiv2.jpg").write_bytes(exiv2_backend.rewrite(src.read_bytes(), edit, "jpeg"))
    with ExifTool() as et:
        et.write_to(src, tmp_path / "exiftool.jpg", edit, fmt="jpeg")
    docs = [_exiftool(tmp_path / n)["XMP-mwg-rs:RegionInfo"] for n in ("exiv2.jpg", "exiftool.jpg")]
    for doc in docs:
        assert doc["AppliedToDimensions"] == {"W": 400, "H": 300, "Unit": "pixel"}
        regions = doc["RegionList"]
        assert [r.get("Name") for r in regions] == ["Anna, {the} [first]|x=1", None]
        assert [r["Type"] for r in regions] == ["Face", "Face"]
        assert [(r["Area"]["X"], r["Area"]["Y"], r["Area"]["W"], r["Area"]["H"]) for r in regions] == \
            [(0.25, 0.4, 0.1, 0.2), (0.75, 0.5, 0.12, 0.16)]
    cleared = exiv2_backend.rewrite((tmp_path / "exiv2.jpg").read_bytes(), TagEdit(regions=Regions(400, 300)), "jpeg")
    (tmp_path / "cleared.jpg").write_bytes(cleared)
    assert "XMP-mwg-rs:RegionInfo" not in _exiftool(tmp_path / "cleared.jpg")


def test_lightroom_pair_gives_the_sidecar_to_the_raw(tmp_path):
    """IMG_1.CR2 + IMG_1.JPG share IMG_1.xmp in Lightroom's naming: the RAW gets it, whichever comes first."""
    from imgengine.processors.sidecars import plan_sidecars

    recs = []
    for name, fmt in (("IMG_1.CR2", "raw"), ("IMG_1.JPG", "jpeg"), ("IMG_2.JPG", "jpeg")):
        path = tmp_path / name
        path.write_bytes(b"x" * 10)
        st = path.stat()
        recs.append({"id": len(recs) + 1, "path": path, "format": fmt, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                     "sha256": None, "results": {"metadata": {"title": name}}})
    for order in (recs, recs[::-1]):
        plan = plan_sidecars(order, "lightroom")
        assert sorted(a.photo.name for a in plan.actions) == ["IMG_1.CR2", "IMG_2.JPG"]
        assert [(p.name, "IMG_1.CR2" in why) for p, why in plan.skipped] == [("IMG_1.JPG", True)]
        assert {a.target.path.name for a in plan.actions} == {"IMG_1.xmp", "IMG_2.xmp"}
    plan = plan_sidecars(recs, "digikam")
    assert sorted(a.target.path.name for a in plan.actions) == ["IMG_1.CR2.xmp", "IMG_1.JPG.xmp", "IMG_2.JPG.xmp"]
    (tmp_path / "IMG_2.JPG").write_bytes(b"changed!!!!")
    plan = plan_sidecars(recs, "digikam")
    assert [(p.name, "analyze" in why) for p, why in plan.skipped] == [("IMG_2.JPG", True)]
