"""`imgengine rename`: templates, the date fallback chain, companions, collisions, bad names, undo."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import piexif
import pytest
from PIL import Image
from typer.testing import CliRunner

from imgengine.cli.app import app
from imgengine.core.catalog import Catalog
from imgengine.engine.run import run_analysis
from imgengine.errors import UsageError
from imgengine.processors.dates import date_from_name, parse_shift, parse_timezone, resolve_date
from imgengine.processors.journal import Journal, undo
from imgengine.processors.plan import apply_plan
from imgengine.processors.rename import plan_rename
from imgengine.processors.template import Context, Template, camera_name, clean_value
from imgengine.settings import Settings

SETTINGS = Settings(workers=1, log_dir=Path("/nonexistent-logs"))


def make_jpeg(path: Path, dto: str | None = None, *, create: str | None = None, offset: str | None = None,
              make: str | None = None, model: str | None = None, lens: str | None = None,
              gps: tuple[float, float] | None = None, xmp_date: str | None = None, color=(200, 30, 30),
              size=(16, 12), mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    exif: dict = {"0th": {}, "Exif": {}, "GPS": {}}
    if make:
        exif["0th"][piexif.ImageIFD.Make] = make.encode()
    if model:
        exif["0th"][piexif.ImageIFD.Model] = model.encode()
    if dto:
        exif["Exif"][piexif.ExifIFD.DateTimeOriginal] = dto
    if create:
        exif["Exif"][piexif.ExifIFD.DateTimeDigitized] = create
    if offset:
        exif["Exif"][0x9011] = offset
    if lens:
        exif["Exif"][piexif.ExifIFD.LensModel] = lens
    if gps:
        def dms(v):
            v = abs(v)
            d = int(v)
            m = int((v - d) * 60)
            s = round(((v - d) * 60 - m) * 60 * 100)
            return ((d, 1), (m, 1), (s, 100))
        exif["GPS"] = {piexif.GPSIFD.GPSLatitudeRef: "N" if gps[0] >= 0 else "S",
                       piexif.GPSIFD.GPSLatitude: dms(gps[0]),
                       piexif.GPSIFD.GPSLongitudeRef: "E" if gps[1] >= 0 else "W",
                       piexif.GPSIFD.GPSLongitude: dms(gps[1])}
    kw = {"exif": piexif.dump(exif)}
    if xmp_date:
        kw["xmp"] = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
                     b'syntax-ns#"><rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreateDate="'
                     + xmp_date.encode() + b'"/></rdf:RDF></x:xmpmeta>')
    Image.new("RGB", size, color).save(path, quality=90, **kw)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != ".imgengine")


def snapshot(root: Path) -> dict[bytes, bytes]:
    out = {}
    for folder, dirs, files in os.walk(os.fsencode(root)):
        dirs[:] = [d for d in dirs if d != b".imgengine"]
        for n in files:
            p = os.path.join(folder, n)
            out[os.path.relpath(p, os.fsencode(root))] = Path(os.fsdecode(p)).read_bytes()
    return out


def do_rename(root: Path, template: str, catalog: Catalog | None = None, **kw):
    plan = plan_rename(root, template, SETTINGS, catalog, **kw)
    j = Journal.begin(root / ".imgengine", "rename", {"template": template}, catalog)
    results = apply_plan(plan, j)
    j.finish()
    return plan, results


# -- dates ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("IMG_20190704_183211.jpg", datetime(2019, 7, 4, 18, 32, 11)),
    ("PXL_20190704_183211123.jpg", datetime(2019, 7, 4, 18, 32, 11)),
    ("Screenshot_20190704-183211.png", datetime(2019, 7, 4, 18, 32, 11)),
    ("Screenshot 2019-07-04 at 18.32.11.png", datetime(2019, 7, 4, 18, 32, 11)),
    ("IMG-20190704-WA0001.jpg", datetime(2019, 7, 4)),
    ("20190704_183211.heic", datetime(2019, 7, 4, 18, 32, 11)),
    ("signal-2019-07-04-183211.jpg", datetime(2019, 7, 4, 18, 32, 11)),
    ("VID_20190704_183211.jpg", datetime(2019, 7, 4, 18, 32, 11)),
    ("DSC00042 (1).jpg", None),
    ("IMG_1234.JPG", None),
    ("IMG_20191399_999999.jpg", None),
])
def test_dates_in_file_names(name, expected):
    assert date_from_name(name) == expected


def test_fallback_chain_each_source():
    p = Path("/x/IMG_20180102_030405.jpg")
    mt = int(datetime(2017, 1, 1, 12, 0, tzinfo=UTC).timestamp() * 1e9)
    full = {"datetime_original": "2019-07-04T18:32:11", "date_source": "EXIF:DateTimeOriginal",
            "create_date": "2019-07-05T10:00:00", "xmp_date": "2019-07-06T10:00:00"}
    assert resolve_date(full, p, mt).source == "EXIF:DateTimeOriginal"
    no_dto = {k: v for k, v in full.items() if k not in ("datetime_original", "date_source")}
    d = resolve_date(no_dto, p, mt)
    assert (d.source, d.value) == ("EXIF:CreateDate", datetime(2019, 7, 5, 10))
    d = resolve_date({"xmp_date": "2019-07-06T10:00:00+02:00"}, p, mt)
    assert d.source.startswith("XMP") and d.value.utcoffset() == timedelta(hours=2)
    d = resolve_date({"create_date": "2019-07-06T10:00:00", "date_source": "XMP:CreateDate"}, p, mt)
    assert d.source == "XMP:CreateDate"          # the analyzer says where create_date came from
    assert resolve_date({}, p, mt).source == "filename"
    d = resolve_date({}, Path("/x/IMG_1234.jpg"), mt)
    assert d.source == "mtime" and d.value.astimezone(UTC).year == 2017


def test_implausible_dates_fall_through_with_a_note():
    mt = int(datetime(2016, 5, 5, tzinfo=UTC).timestamp() * 1e9)
    d = resolve_date({"datetime_original": "1970-01-01T00:00:00", "create_date": "2999-01-01T00:00:00"},
                     Path("/x/a.jpg"), mt)
    assert d.source == "mtime" and "1971" in d.note and "future" in d.note
    d = resolve_date({"datetime_original": "0000:00:00 00:00:00"}, Path("/x/a.jpg"), mt)
    assert d.source == "mtime" and "unreadable" in d.note
    d = resolve_date({}, Path("/x/a.jpg"), 0)      # mtime 1970 too: undated, and says why
    assert d.source == "none" and "mtime" in d.note


def test_shift_and_timezone_parsing():
    assert parse_shift("+1h") == timedelta(hours=1)
    assert parse_shift("-30m") == -timedelta(minutes=30)
    assert parse_shift("+1d2h") == timedelta(days=1, hours=2)
    assert parse_shift("-0:30") == -timedelta(minutes=30)
    with pytest.raises(UsageError):
        parse_shift("one hour")
    assert parse_timezone("+02:00").utcoffset(None) == timedelta(hours=2)
    with pytest.raises(UsageError):
        parse_timezone("Mars/Olympus")


# -- templates ------------------------------------------------------------------------------------------

def test_template_fields_and_fallbacks():
    from imgengine.processors.dates import DateInfo

    ctx = Context("IMG_0001.JPEG", DateInfo(datetime(2019, 7, 4, 18, 32, 11), "EXIF:DateTimeOriginal"),
                  {"make": "Canon", "model": "Canon EOS 5D", "lens_model": "EF 50mm f/1.8", "upright_width": 4000,
                   "upright_height": 3000, "city": "Paris"}, "abcdef0123456789", "beach", None, 7, 2, True)
    t = Template("{date:%Y/%m}|{date}_{camera}_{lens}_{stem}_{ext}_{width}x{height}_{sha}_{sha:4}_{counter:03d}{seq}"
                 "_{city}_{country|\"nowhere\"}_{tag}_{date_source}")
    out = t.render(ctx)  # "|" is not portable (SMB, exFAT)
    assert out == ("2019_07_2019-07-04_183211_Canon EOS 5D_EF 50mm f_1.8_IMG_0001_jpg_4000x3000_abcdef01_abcd_007-2"
                   "_Paris_nowhere_beach_EXIF-DateTimeOriginal")
    assert Template("{make}{model|camera|\"x\"}").render(Context("a.jpg")) == "unknownx"
    with pytest.raises(UsageError, match="unknown field"):
        Template("{nope}")
    with pytest.raises(UsageError):
        Template("{date")


def test_values_never_make_folders_and_camera_names():
    assert clean_value("a/b\\c\u2215d\uff0fe\x00f") == "a_b_c_d_e_f"
    assert clean_value("..") == "_"
    assert camera_name("Canon", "Canon EOS 5D") == "Canon EOS 5D"
    assert camera_name("NIKON CORPORATION", "NIKON D750") == "NIKON D750"
    assert camera_name("Apple", "iPhone 12") == "Apple iPhone 12"
    assert camera_name(None, None) is None


# -- rename end to end -----------------------------------------------------------------------------------

def test_rename_uses_every_date_source_and_says_which(tmp_path):
    make_jpeg(tmp_path / "a.jpg", "2019:07:04 18:32:11")
    make_jpeg(tmp_path / "b.jpg", create="2019:07:05 10:00:00")
    make_jpeg(tmp_path / "c.jpg", xmp_date="2019-07-06T11:12:13")
    make_jpeg(tmp_path / "IMG-20190707-WA0001.jpg")
    make_jpeg(tmp_path / "e.jpg", mtime=datetime(2015, 3, 3, 12, 0).timestamp())
    plan, results = do_rename(tmp_path, "{date:%Y-%m-%d}_{date_source}")
    assert all(r.status == "done" for r in results)
    assert names(tmp_path) == ["2015-03-03_mtime.jpg", "2019-07-04_EXIF-DateTimeOriginal.jpg",
                               "2019-07-05_EXIF-CreateDate.jpg", "2019-07-06_XMP-CreateDate.jpg",
                               "2019-07-07_filename.jpg"]
    sources = {a.src.name: a.date.source for a in plan.actions}
    assert sources["b.jpg"] == "EXIF:CreateDate" and sources["e.jpg"] == "mtime"


def test_rename_seq_numbers_only_clashing_names_and_is_idempotent(tmp_path):
    for i in range(3):
        make_jpeg(tmp_path / f"IMG_000{i}.JPG", "2019:07:04 18:32:11", make="Canon", model="Canon EOS 5D",
                  color=(i * 50, 0, 0))
    make_jpeg(tmp_path / "IMG_0009.JPG", "2019:07:04 18:40:00", make="Canon", model="Canon EOS 5D")
    tpl = "{date:%Y-%m-%d_%H%M%S}_{camera}{seq}"
    do_rename(tmp_path, tpl)
    assert names(tmp_path) == ["2019-07-04_183211_Canon EOS 5D-1.jpg", "2019-07-04_183211_Canon EOS 5D-2.jpg",
                               "2019-07-04_183211_Canon EOS 5D-3.jpg", "2019-07-04_184000_Canon EOS 5D.jpg"]
    again = plan_rename(tmp_path, tpl, SETTINGS, None)
    assert again.todo == [] and all(a.note == "already in place" for a in again.actions)


def test_companions_follow_their_photo(tmp_path):
    make_jpeg(tmp_path / "DSC001.JPG", "2019:07:04 18:32:11")
    (tmp_path / "DSC001.ARW").write_bytes(b"II*\x00" + b"\x00" * 100)        # RAW of the pair
    (tmp_path / "DSC001.xmp").write_text("<xmp/>")
    (tmp_path / "DSC001.JPG.json").write_text("{}")                           # Takeout style
    make_jpeg(tmp_path / "IMG_1.JPG", "2019:07:04 18:40:00")
    (tmp_path / "IMG_1.MOV").write_bytes(b"\x00\x00\x00\x14ftypqt  ")          # live photo video
    (tmp_path / "IMG_1.AAE").write_text("<plist/>")
    (tmp_path / "orphan.xmp").write_text("<xmp/>")
    plan, _ = do_rename(tmp_path, "{date:%Y%m%d_%H%M%S}")
    assert names(tmp_path) == ["20190704_183211.ARW", "20190704_183211.jpg", "20190704_183211.jpg.json",
                               "20190704_183211.xmp", "20190704_184000.AAE", "20190704_184000.MOV",
                               "20190704_184000.jpg", "orphan.xmp"]
    assert any("without a photo" in r for p, r in plan.skipped if p.name == "orphan.xmp")


def test_collisions_suffix_different_and_recognise_identical(tmp_path):
    d = tmp_path / "d"
    make_jpeg(d / "a.jpg", "2019:07:04 18:32:11", color=(1, 2, 3))
    make_jpeg(d / "b.jpg", "2019:07:04 18:32:11", color=(9, 9, 9))
    make_jpeg(d / "2019-07-04.jpg", "2001:01:01 00:00:00", color=(50, 50, 50))   # unrelated file owning the name
    plan = plan_rename(d, "{date:%Y-%m-%d}", SETTINGS, None)
    dsts = sorted(a.dst.name for a in plan.todo)
    # a.jpg, b.jpg both want 2019-07-04.jpg: the existing one keeps its name, as it moves to 2001-01-01.jpg
    assert dsts == ["2001-01-01.jpg", "2019-07-04.jpg", "2019-07-04_1.jpg"]
    j = Journal.begin(d / ".imgengine", "rename", {})
    apply_plan(plan, j)
    j.finish()
    assert len(names(d)) == 3

    e = tmp_path / "e"
    make_jpeg(e / "x.jpg", "2019:07:04 18:32:11", color=(1, 2, 3))
    make_jpeg(e / "y.jpg", "2019:07:04 18:32:11", color=(1, 2, 3))   # same bytes as x
    (e / "z.jpg").write_bytes((e / "x.jpg").read_bytes())
    os.rename(e / "z.jpg", e / "2019-07-04.jpg")                       # identical file already at the target
    plan = plan_rename(e, "{date:%Y-%m-%d}", SETTINGS, None)
    notes = {a.src.name: a.note for a in plan.actions}
    assert "identical file already at" in notes["x.jpg"] and "identical" in notes["y.jpg"]
    assert plan.todo == []


def test_two_photos_planned_to_one_name_with_same_bytes(tmp_path):
    make_jpeg(tmp_path / "a" / "x.jpg", "2019:07:04 18:32:11")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.jpg").write_bytes((tmp_path / "a" / "x.jpg").read_bytes())
    make_jpeg(tmp_path / "c" / "x.jpg", "2019:07:04 18:32:11", color=(0, 0, 250))   # same name, other bytes
    from imgengine.processors.organize import plan_organize
    plan = plan_organize(tmp_path, tmp_path / "lib", SETTINGS, None, op="move", layout="{date:%Y}")
    assert sorted(a.dst.name for a in plan.todo) == ["x.jpg", "x_1.jpg"]
    assert any("same content" in (a.note or "") for a in plan.actions if a.status == "skip")


def test_names_differing_only_in_case_do_not_merge(tmp_path):
    make_jpeg(tmp_path / "a.jpg", "2019:07:04 18:32:11", color=(1, 1, 1))
    make_jpeg(tmp_path / "b.jpg", "2019:07:04 18:32:11", color=(2, 2, 2))
    plan = plan_rename(tmp_path, "{stem|\"x\"}IMG", SETTINGS, None)   # a -> aIMG.jpg, b -> bIMG.jpg
    assert len({a.dst.name.casefold() for a in plan.todo}) == 2
    # two sources whose targets differ only in case get distinct names
    make_jpeg(tmp_path / "sub" / "P.jpg", "2019:07:04 18:32:11", color=(3, 3, 3))
    make_jpeg(tmp_path / "sub" / "p.JPG", "2019:07:04 18:32:11", color=(4, 4, 4))
    plan = plan_rename(tmp_path / "sub", "{stem}_{date:%Y}", SETTINGS, None)
    got = sorted(a.dst.name for a in plan.todo)
    assert len({g.casefold() for g in got}) == 2, got


def test_rename_chain_and_cycle_lose_nothing(tmp_path):
    make_jpeg(tmp_path / "1.jpg", "2019:07:04 18:32:12", color=(1, 1, 1))
    make_jpeg(tmp_path / "2.jpg", "2019:07:04 18:32:11", color=(2, 2, 2))
    before = sorted(snapshot(tmp_path).values())
    # "{counter}" in date order: 2.jpg -> 1.jpg and 1.jpg -> 2.jpg: a swap
    _plan, results = do_rename(tmp_path, "{counter}")
    assert sorted(snapshot(tmp_path).values()) == before
    assert all(r.status == "done" for r in results), [r.reason for r in results]
    assert (tmp_path / "1.jpg").exists() or (tmp_path / "1_1.jpg").exists()
    undo(tmp_path / ".imgengine")
    assert sorted(snapshot(tmp_path).values()) == before


def test_long_names_and_slash_lookalikes_and_non_utf8(tmp_path):
    make_jpeg(tmp_path / "a.jpg", "2019:07:04 18:32:11", model="Ünïcode∕Model " + "é" * 300)
    raw = os.fsencode(tmp_path) + b"/bad\xff\xfename.jpg"
    make_jpeg(Path(os.fsdecode(raw)), "2019:07:05 10:00:00")
    before = snapshot(tmp_path)
    _plan, results = do_rename(tmp_path, "{model|\"none\"}_{stem}")
    assert all(r.status == "done" for r in results)
    for p in tmp_path.iterdir():
        assert len(os.fsencode(p.name)) <= 255
        assert "/" not in p.name and "\u2215" not in p.name
    assert any(p.name.startswith("none_bad") for p in tmp_path.iterdir())
    assert any(n.endswith(".jpg") and "Model" in n for n in names(tmp_path))
    undo(tmp_path / ".imgengine")
    assert snapshot(tmp_path) == before


def test_rename_reads_the_catalog_and_the_catalog_follows(tmp_path):
    make_jpeg(tmp_path / "a.jpg", "2019:07:04 18:32:11", make="Canon", model="Canon EOS 5D")
    settings = SETTINGS.replace(analyzers=("metadata",))
    run_analysis(tmp_path, settings)
    cat = Catalog(tmp_path / ".imgengine" / "catalog.db")
    # the catalog answers (no re-reading): make it say something the file does not
    with cat.db:
        cat.db.execute("UPDATE results SET data = json_set(data, '$.model', 'Canon EOS R') WHERE analyzer='metadata'")
    plan = plan_rename(tmp_path, "{camera}", SETTINGS, cat)
    assert plan.todo[0].dst.name == "Canon EOS R.jpg"
    with cat.db:
        cat.db.execute("UPDATE results SET data = json_set(data, '$.model', 'Canon EOS 5D') WHERE analyzer='metadata'")
    plan = plan_rename(tmp_path, "{camera}", SETTINGS, cat)
    j = Journal.begin(tmp_path / ".imgengine", "rename", {}, cat)
    apply_plan(plan, j)
    j.finish()
    rec = cat.get(tmp_path / "Canon EOS 5D.jpg")
    assert rec is not None and rec["results"]["metadata"]["model"] == "Canon EOS 5D"
    assert cat.get(tmp_path / "a.jpg") is None
    undo(tmp_path / ".imgengine", catalog=cat)
    assert cat.get(tmp_path / "a.jpg") is not None
    cat.close()


def test_shift_time_and_timezone(tmp_path):
    make_jpeg(tmp_path / "a.jpg", "2019:07:04 23:30:00")
    plan = plan_rename(tmp_path, "{date:%Y-%m-%d_%H%M}", SETTINGS, None, shift=parse_shift("+1h"))
    assert plan.todo[0].dst.name == "2019-07-05_0030.jpg"
    # a bare camera time stays local time even with --timezone (its zone is unknown)
    plan = plan_rename(tmp_path, "{date:%H%M}", SETTINGS, None, tz=parse_timezone("+09:00"))
    assert plan.todo[0].dst.name == "2330.jpg"
    make_jpeg(tmp_path / "b" / "b.jpg", "2019:07:04 23:30:00", offset="+02:00")
    plan = plan_rename(tmp_path / "b", "{date:%H%M}", SETTINGS, None, tz=parse_timezone("+09:00"))
    assert plan.todo[0].dst.name == "0630.jpg"


def test_cli_preview_changes_nothing_then_apply_then_undo(tmp_path):
    make_jpeg(tmp_path / "IMG_0001.JPG", "2019:07:04 18:32:11", make="Canon", model="Canon EOS 5D")
    make_jpeg(tmp_path / "IMG_0002.JPG", "2019:07:04 18:32:11", make="Canon", model="Canon EOS 5D", color=(0, 9, 0))
    before = snapshot(tmp_path)
    runner = CliRunner()
    tpl = "{date:%Y-%m-%d_%H%M%S}_{camera}{seq}"
    r = runner.invoke(app, ["rename", str(tmp_path), "--template", tpl, "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["applied"] is False and doc["summary"]["to_change"] == 2
    assert snapshot(tmp_path) == before
    r = runner.invoke(app, ["rename", str(tmp_path), "--template", tpl])
    assert r.exit_code == 0 and "nothing changed" in r.output
    r = runner.invoke(app, ["rename", str(tmp_path), "--template", tpl, "--apply", "--json"])
    assert r.exit_code == 0, r.output
    run_id = json.loads(r.stdout)["run_id"]
    assert names(tmp_path) == ["2019-07-04_183211_Canon EOS 5D-1.jpg", "2019-07-04_183211_Canon EOS 5D-2.jpg"]
    r = runner.invoke(app, ["history", "--dir", str(tmp_path), "--json"])
    assert json.loads(r.stdout)[-1]["run_id"] == run_id
    r = runner.invoke(app, ["undo", run_id, "--dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert snapshot(tmp_path) == before
    r = runner.invoke(app, ["rename", str(tmp_path), "--template", "{bogus}"])
    assert r.exit_code == 2 and "unknown field" in r.output


def test_read_only_folder_is_not_renamed(tmp_path):
    from .conftest import run_cli, unprivileged_prefix

    prefix = unprivileged_prefix()  # as root (CI), folder modes are enforced through setpriv
    if prefix is None:
        pytest.skip("running as root without setpriv: folder modes cannot be enforced")
    make_jpeg(tmp_path / "ro" / "a.jpg", "2019:07:04 18:32:11")
    os.chmod(tmp_path / "ro", 0o555)
    try:
        p = run_cli(["rename", tmp_path / "ro", "--template", "{date:%Y}", "--json"], prefix)
        doc = json.loads(p.stdout)
        assert doc["summary"]["to_change"] == 0
        assert "read-only" in doc["actions"][0]["note"]
        assert (tmp_path / "ro" / "a.jpg").exists()
    finally:
        os.chmod(tmp_path / "ro", 0o755)


def test_sha_field_without_catalog_hashes_the_file(tmp_path):
    p = make_jpeg(tmp_path / "a.jpg", "2019:07:04 18:32:11")
    import hashlib
    plan = plan_rename(tmp_path, "{sha:10}", SETTINGS, None)
    assert plan.todo[0].dst.name == hashlib.sha256(p.read_bytes()).hexdigest()[:10] + ".jpg"


def test_template_never_yields_a_hidden_or_empty_name(tmp_path):
    make_jpeg(tmp_path / "a.jpg", "2019:07:04 18:32:11")
    plan = plan_rename(tmp_path, "{seq}", SETTINGS, None)
    assert plan.todo[0].dst.name == "unnamed.jpg"
    plan = plan_rename(tmp_path, ".{date:%Y}", SETTINGS, None)
    assert plan.todo[0].dst.name == "2019.jpg"


def test_a_long_rename_chain_is_ordered_without_recursion(tmp_path):
    from imgengine.processors.plan import Action, Plan, order_for_chains

    n = 5000                      # i.jpg -> (i+1).jpg for every i: each waits for the next
    plan = Plan("rename", tmp_path, tmp_path)
    plan.actions = [Action(tmp_path / f"{i}.jpg", tmp_path / f"{i + 1}.jpg", "move", 1, 1, "photo", i)
                    for i in range(n)]
    order_for_chains(plan)
    order = [int(a.src.stem) for a in plan.actions]
    assert order == list(range(n - 1, -1, -1))
