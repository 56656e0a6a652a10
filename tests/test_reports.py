"""Issue 17 items 4, 9, 10, 14: what stats, show, rename and the logs say."""

import json
import re
from pathlib import Path

import pytest

from imgengine.metadata.values import aperture_text, camera_name, exposure_text, flash_text
from imgengine.testing.samples import camera_exif

from .conftest import run_cli, unprivileged_prefix, write_jpeg


@pytest.fixture(autouse=True)
def _wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")


def cli(args, prefix=None):
    p = run_cli(args, prefix)
    p.flat = " ".join((p.stdout + p.stderr).split())  # table titles wrap: compare words, not lines
    return p


# -- item 4: stats lists every camera in JSON, and says how many the table leaves out -----------------
def test_stats_json_is_complete_and_table_says_how_many_more(tmp_path: Path):
    root = tmp_path / "p"
    for i in range(24):
        write_jpeg(root / f"c{i}.jpg", size=(64, 48), seed=i, exif=camera_exif(make="Acme", model=f"Acme Cam {i}"))
    assert cli(["analyze", root, "--no-vision", "-q", "--analyzers", "metadata"]).returncode == 0
    p = cli(["stats", root, "--json"])
    assert len(json.loads(p.stdout)["cameras"]) == 24
    p = cli(["stats", root])
    assert "… 4 more cameras (use --all or --json)" in p.flat
    p = cli(["stats", root, "--all"])
    assert "Acme Cam 23" in p.stdout and "more cameras" not in p.stdout


# -- item 9: control characters in names -------------------------------------------------------------
def test_newline_in_a_name_cannot_forge_a_log_line_or_split_a_row(tmp_path: Path):
    root = tmp_path / "p"
    root.mkdir()
    fake = "x\n2026-12-01 19:44:33 ERROR fake.jpg"
    (root / fake).write_bytes(b"not an image at all")
    write_jpeg(root / "tab\there.jpg", seed=1)
    logs = tmp_path / "logs"
    p = cli(["analyze", root, "--no-vision", "--log-dir", logs])
    assert p.returncode == 1
    log = next(logs.glob("*.log")).read_text()
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", line) for line in log.splitlines())
    assert "2026-12-01 19:44:33 ERROR fake.jpg" not in [line[:len("2026-12-01 19:44:33 ERROR fake.jpg")]
                                                       for line in log.splitlines()]
    assert "x\\n2026-12-01 19:44:33 ERROR fake.jpg" in log
    errors = [json.loads(line) for line in (logs / "errors.jsonl").read_text().splitlines()]
    assert any(e["file"].endswith(fake) for e in errors)  # JSON keeps the exact name
    assert any("\\n2026-12-01" in e["message"] and "not an image" in e["message"] for e in errors)  # not cut
    p = cli(["rename", root, "--template", "{stem}-new"])
    assert "tab\\there" in p.stdout and not any(line.startswith("2026-12-01") for line in p.stdout.splitlines())
    p = cli(["rename", root, "--template", "{stem}-new", "--json"])
    assert any(a["src"].endswith("tab\there.jpg") for a in json.loads(p.stdout)["actions"])


# -- item 10: rename on a read-only folder; portable names -------------------------------------------
def test_rename_in_a_read_only_folder_says_skipped_and_exits_1(tmp_path: Path):
    prefix = unprivileged_prefix()
    if prefix is None:
        pytest.skip("cannot drop root's override of file modes here")
    root = tmp_path / "ro"
    for i in range(3):
        write_jpeg(root / f"IMG_{i}.jpg", seed=i)
    root.chmod(0o555)
    try:
        p = cli(["rename", root, "--template", "new_{counter}"], prefix)
        assert p.returncode == 1, p.stdout + p.stderr
        assert "3 skipped (read-only folder)" in p.flat and "0 unchanged" in p.flat
        p = cli(["rename", root, "--template", "new_{counter}", "--apply"], prefix)
        assert p.returncode == 1
        assert "nothing could be done: 3 skipped (read-only folder)" in p.flat
        assert "already in place" not in p.stdout + p.stderr
    finally:
        root.chmod(0o755)


def test_templates_make_names_every_file_system_accepts(tmp_path: Path):
    root = tmp_path / "p"
    write_jpeg(root / "a.jpg", seed=1)
    p = cli(["rename", root, "--template", '{date:%H:%M:%S}<{camera}>?*"x"|y. ', "--json"])
    dst = Path(json.loads(p.stdout)["actions"][0]["dst"]).name
    assert not set('<>:"\\|?*') & set(dst), dst
    assert dst == "18_32_11_Canon EOS 5D Mark IV____x__y.jpg"


# -- item 14: show in human units, one camera name -----------------------------------------------------
def test_human_units():
    assert exposure_text(1 / 75) == "1/75 s" and exposure_text(2.0) == "2 s" and exposure_text(0.5) == "0.5 s"
    assert aperture_text(2.8) == "f/2.8" and aperture_text(8.0) == "f/8"
    assert flash_text(0x59) == "flash fired, auto, red-eye" and flash_text(16) == "flash did not fire, off"
    assert flash_text(0x20) == "no flash"


@pytest.mark.parametrize(("make", "model", "expected"), [
    ("OLYMPUS IMAGING CORP.", "E-M5", "OLYMPUS E-M5"),
    ("EASTMAN KODAK COMPANY", "KODAK DX6490 ZOOM DIGITAL CAMERA", "KODAK DX6490 ZOOM DIGITAL CAMERA"),
    ("NIKON CORPORATION", "NIKON D70", "NIKON D70"),
    ("Canon", "Canon EOS 40D", "Canon EOS 40D"),
    ("Apple", "iPhone 6", "Apple iPhone 6"),
    ("PENTAX Corporation", "PENTAX K10D", "PENTAX K10D"),
    ("Minolta Co., Ltd.", "DiMAGE 7", "Minolta DiMAGE 7"),
])
def test_one_camera_name(make, model, expected):
    assert camera_name(make, model) == expected


def test_show_stats_and_rename_agree_on_the_camera_and_show_is_human(tmp_path: Path):
    root = tmp_path / "p"
    photo = write_jpeg(root / "a.jpg", seed=2, exif=camera_exif(make="OLYMPUS IMAGING CORP.", model="E-M5",
                                                                exposure=1 / 75, f_number=2.8, flash=0x59))
    assert cli(["analyze", root, "--no-vision", "-q"]).returncode == 0
    stats = json.loads(cli(["stats", root, "--json"]).stdout)
    assert list(stats["cameras"]) == ["OLYMPUS E-M5"]
    plan = json.loads(cli(["rename", root, "--template", "{camera}", "--json"]).stdout)
    assert Path(plan["actions"][0]["dst"]).name == "OLYMPUS E-M5.jpg"
    shown = cli(["show", photo]).stdout
    assert "OLYMPUS E-M5" in shown and "IMAGING CORP" not in shown
    assert "1/75 s" in shown and "f/2.8" in shown and "flash fired, auto, red-eye" in shown
    thumb = json.loads(cli(["show", photo, "--json"]).stdout)["results"]["hashes"].get("thumb")
    assert thumb and thumb[:40] not in shown  # no base64 thumbnail for people


def test_show_creates_nothing_in_the_current_folder(tmp_path: Path):
    import subprocess
    import sys

    here = tmp_path / "here"
    photo = write_jpeg(here / "a.jpg", seed=4)
    code = "import sys; from imgengine.cli.app import main; sys.argv[0] = 'imgengine'; main()"
    p = subprocess.run([sys.executable, "-c", code, "show", "a.jpg", "--json"], cwd=here, capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["results"]["hashes"]["sha256"]
    assert sorted(x.name for x in here.iterdir()) == [photo.name]  # no logs/, no .imgengine/


def test_missing_weights_warning_is_one_short_line(tmp_path: Path):
    root = tmp_path / "p"
    write_jpeg(root / "a.jpg", seed=1)
    p = cli(["analyze", root, "-q"])
    p = cli(["analyze", root, "--force"])
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning: vision skipped: model weights not found")
    assert len(lines[0]) <= 150 and "--no-vision" in lines[0]
