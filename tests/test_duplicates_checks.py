"""Issue 17 item 2: `duplicates` checks every member before it reports (gone, changed)."""

import json
import os
from pathlib import Path

from imgengine.core.catalog import Catalog
from imgengine.engine.run import run_analysis
from imgengine.processors.dedup import DedupParams, scan_duplicates
from imgengine.testing.samples import camera_exif, jpeg_bytes, scene

from .conftest import run_cli


def _pair(tmp_path: Path) -> tuple[Path, Path, Path]:
    root = tmp_path / "p"
    root.mkdir()
    a = root / "a.jpg"
    a.write_bytes(jpeg_bytes(scene(320, 240, seed=5), camera_exif(), 90))
    b = root / "b copy.jpg"
    b.write_bytes(a.read_bytes())
    return root, a, b


def test_a_group_whose_keeper_is_gone_is_not_shown(tmp_path: Path, settings):
    root, a, b = _pair(tmp_path)
    settings = settings.replace(vision=False)
    result, _, _ = scan_duplicates(root, settings, DedupParams(exact_only=True))
    keeper = result.groups[0].keeper.path
    keeper.unlink()
    result, summary, _ = scan_duplicates(root, settings, DedupParams(exact_only=True), analyze=False)
    assert result.groups == [] and summary["members"]["gone"] == 1
    with Catalog(settings.catalog) as cat:
        assert [m["path"] for m in cat.missing()] == [keeper]


def test_changed_member_is_analysed_again(tmp_path: Path, settings):
    root, a, b = _pair(tmp_path)
    settings = settings.replace(vision=False)
    run_analysis(root, settings)
    b.write_bytes(jpeg_bytes(scene(320, 240, seed=9), camera_exif(), 90))  # no longer a copy
    os.utime(b, ns=(1, 10**18))
    result, summary, _ = scan_duplicates(root, settings, DedupParams(exact_only=True), analyze=False)
    assert result.groups == [] and summary["members"]["reanalysed"] == 1
    with Catalog(settings.catalog) as cat:
        assert cat.get(b)["sha256"] != cat.get(a)["sha256"]


def test_cli_never_offers_to_remove_the_last_copy(tmp_path: Path):
    root, a, b = _pair(tmp_path)
    p = run_cli(["duplicates", root, "--json", "--no-clip"])
    doc = json.loads(p.stdout)
    keeper = Path(doc["groups"][0]["keeper"])
    keeper.unlink()
    for args in (["--no-analyze"], []):
        p = run_cli(["duplicates", root, "--json", *args])
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["groups"] == []
    p = run_cli(["duplicates", root, "--no-analyze"])
    assert "0 duplicate groups" in " ".join(p.stdout.split())
