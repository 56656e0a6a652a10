"""`imgengine tag` end to end: preview changes nothing, --apply writes, --json tells the truth, undo
restores bytes; --from-analysis turns catalog results into hierarchical keywords."""

from __future__ import annotations

import json
import os

import pytest

from imgengine.analyzers.metadata import read_metadata
from imgengine.core.catalog import Catalog
from imgengine.engine.perfile import FileOutcome
from imgengine.processors.tag import keywords_from_results

from ..conftest import run_cli
from .helpers import make_jpeg


def test_preview_apply_json_and_undo(tmp_path):
    photos = tmp_path / "photos"
    a, b = make_jpeg(photos / "a.jpg"), make_jpeg(photos / "sub" / "b.jpg", seed=4)
    before = {p: p.read_bytes() for p in (a, b)}
    res = run_cli(["tag", photos, "-k", "Beach, sunny", "-k", "Scenes|Beach", "--rating", "5"])
    assert res.returncode == 0, res.stderr
    assert "nothing changed" in res.stdout and {p: p.read_bytes() for p in (a, b)} == before
    res = run_cli(["tag", photos, "-k", "Beach, sunny", "-k", "Scenes|Beach", "--rating", "5", "--apply", "--json"])
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["applied"] and doc["results"]["done"] == 2 and doc["summary"]["embedded"] == 2
    assert read_metadata(a).keywords == ("Beach, sunny", "Beach") and read_metadata(b).rating == 5
    res = run_cli(["undo", "--dir", photos])
    assert res.returncode == 0, res.stderr
    assert {p: p.read_bytes() for p in (a, b)} == before


def test_bad_values_are_one_line_usage_errors(tmp_path):
    photo = make_jpeg(tmp_path / "a.jpg")
    for args, text in ((["--rating", "9"], "--rating"), (["--gps", "95,10"], "latitude"),
                       (["--date", "yesterday"], "--date"), (["--label", "Pink"], "--label"), ([], "nothing to write")):
        res = run_cli(["tag", photo, *args])
        assert res.returncode == 2, (args, res.stderr)
        assert text in res.stderr and "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_keywords_from_results_generic_with_only_and_min_confidence():
    results = {
        "clip": {"scenes": [{"label": "beach", "group": "scene", "score": 0.8}, {"label": "city", "score": 0.1}]},
        "detr": {"objects": [{"label": "dog", "score": 0.95, "box": [0, 0, 1, 1]}, {"label": "cat", "score": 0.2}]},
        "content": {"quality": "good"},
        "faces": {"count": 2, "people": ["Anna", {"name": "Ben", "confidence": 0.9}]},
        "places": {"city": "Paris", "country": "France"},
    }
    assert keywords_from_results(results, min_confidence=0.5) == [
        "Scenes|beach", "Objects|dog", "Quality|good", "People|Anna", "People|Ben", "Places|France|Paris"]
    assert keywords_from_results(results, only=("objects", "places")) == [
        "Objects|dog", "Objects|cat", "Places|France|Paris"]


def test_from_analysis_writes_catalog_results_as_keywords(tmp_path):
    photos = tmp_path / "photos"
    a = make_jpeg(photos / "a.jpg")
    b = make_jpeg(photos / "b.jpg", seed=5)
    cat_path = photos / ".imgengine" / "catalog.db"
    cat_path.parent.mkdir()
    with Catalog(cat_path) as cat:
        outcomes = []
        for p, scene in ((a, "beach"), (b, "forest")):
            st = p.stat()
            outcomes.append(FileOutcome(p, st.st_size, st.st_mtime_ns, format="jpeg", results={
                "clip": ("1", {"scenes": [{"label": scene, "score": 0.9}, {"label": "low", "score": 0.05}]}, None),
                "detr": ("1", {"objects": [{"label": "dog", "score": 0.99}]}, None),
                "content": ("1", {"quality": "excellent"}, None)}))
        cat.write_outcomes(outcomes)
    res = run_cli(["tag", "--from-analysis", photos, "--only", "scenes,objects", "--min-confidence", "0.5",
                   "--apply", "-q"])
    assert res.returncode == 0, res.stderr
    assert read_metadata(a).keywords == ("beach", "dog")
    assert read_metadata(b).keywords == ("forest", "dog")
    res = run_cli(["tag", "--from-analysis", photos, "--only", "colours"])
    assert res.returncode == 2 and "--only" in res.stderr
    assert os.path.exists(cat_path)


def test_read_only_folder_fails_with_a_reason_and_changes_nothing(tmp_path):
    from ..conftest import unprivileged_prefix

    prefix = unprivileged_prefix()       # as root (CI), file modes are enforced through setpriv
    if prefix is None:
        pytest.skip("running as root without setpriv: file modes cannot be enforced")
    folder = tmp_path / "ro"
    photo = make_jpeg(folder / "a.jpg")
    before = photo.read_bytes()
    folder.chmod(0o555)
    try:
        res = run_cli(["tag", photo, "-k", "x", "--apply", "--state-dir", tmp_path / "state"], prefix)
    finally:
        folder.chmod(0o755)
    assert res.returncode == 1, res.stderr
    assert "failed" in res.stderr and "Traceback" not in res.stderr
    assert photo.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["a.jpg"]


def test_round_trip_tag_then_analyze_reads_the_values_including_sidecars(tmp_path):
    from .test_tag_write import raw_file

    photos = tmp_path / "photos"
    jpg = make_jpeg(photos / "a.jpg")
    raw = raw_file(photos / "DSC_1.NEF")
    res = run_cli(["tag", photos, "-k", "Beach, sunny", "-k", "Places|France|Paris", "--rating", "4",
                   "--title", "Tïtle", "--gps", "-33.5,-70.25", "--apply", "-q"])
    assert res.returncode == 0, res.stderr
    assert (photos / "DSC_1.xmp").is_file()
    res = run_cli(["analyze", photos, "--analyzers", "metadata", "--no-vision", "-q"])
    assert res.returncode == 0, res.stderr
    with Catalog(photos / ".imgengine" / "catalog.db") as cat:
        for path in (jpg, raw):
            meta = cat.get(path)["results"]["metadata"]
            assert meta["keywords"] == ["Beach, sunny", "Paris"], path
            assert meta["rating"] == 4 and meta["title"] == "Tïtle"
            assert abs(meta["gps_latitude"] + 33.5) < 1e-6 and abs(meta["gps_longitude"] + 70.25) < 1e-6


def test_from_analysis_with_the_real_places_plugin(tmp_path):
    pytest.importorskip("reverse_geocode")
    from imgengine.testing.samples import camera_exif, jpeg_bytes, scene

    photos = tmp_path / "photos"
    photos.mkdir()
    photo = photos / "paris.jpg"
    photo.write_bytes(jpeg_bytes(scene(320, 240), camera_exif(gps=(48.8566, 2.3522, 35.0))))
    res = run_cli(["analyze", photos, "--analyzers", "metadata,places", "--no-vision", "-q"])
    assert res.returncode == 0, res.stderr
    res = run_cli(["tag", "--from-analysis", photos, "--only", "places", "--apply", "-q"])
    assert res.returncode == 0, res.stderr
    assert read_metadata(photo).keywords == ("Paris",)
    import exiv2

    from imgengine.metadata import exiv2_backend

    img = exiv2.ImageFactory.open(photo.read_bytes())
    img.readMetadata()
    blocks = exiv2_backend._Blocks(img, "jpeg")
    assert blocks.xmp_list("Xmp.lr.hierarchicalSubject") == ["Places|France|Île-de-France|Paris"]
    assert blocks.xmp_list("Xmp.digiKam.TagsList") == ["Places/France/Île-de-France/Paris"]
