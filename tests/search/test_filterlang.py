"""The filter language used by export --filter, galleries and albums."""

from __future__ import annotations

import pytest

from imgengine.errors import UsageError
from imgengine.search.filterlang import compile_filter


def rec(**kw):
    md = {"datetime_original": kw.get("date"), "make": kw.get("make"), "model": kw.get("model"),
          "camera": kw.get("camera"), "keywords": kw.get("keywords", []),
          "gps_latitude": kw.get("lat"), "gps_longitude": kw.get("lon")}
    return {"display_path": kw.get("path", "a.jpg"), "format": kw.get("format", "jpeg"), "size": 10,
            "results": {"metadata": md,
                        "content": {"quality": kw.get("quality"), "quality_score": kw.get("score"),
                                    "blurry": kw.get("blurry", False)},
                        "clip": {"scenes": [{"label": s, "score": 0.5} for s in kw.get("scenes", [])]},
                        "detr": {"labels": kw.get("objects", [])},
                        "faces": {"people": kw.get("people", [])},
                        "places": {"city": kw.get("city"), "country": kw.get("country")}}}


BEACH = rec(date="2023-07-04T09:00:00", camera="Canon EOS 5D", scenes=["beach", "sea"], objects=["person", "boat"],
            people=["Anna"], city="Paris", country="France", quality="good", score=70, lat=48.8, lon=2.3,
            keywords=["Holiday, 2023"])
NIGHT = rec(date="2021-01-02T22:00:00", camera="Apple iPhone 12", scenes=["night"], quality="poor", score=20,
            blurry=True, people=[{"name": "Bob"}])
UNDATED = rec(path="scan.png", format="png")


@pytest.mark.parametrize("query, expected", [
    ("", [True, True, True]),
    ("year = 2023", [True, False, False]),
    ("year = 2023 and person = Anna", [True, False, False]),
    ("person = anna", [True, False, False]),          # case-insensitive
    ("person = Bob", [False, True, False]),           # people as {"name": ...}
    ("scene = beach or scene = night", [True, True, False]),
    ("not scene = beach", [False, True, True]),
    ("(scene = beach or blurry) and year < 2022", [False, True, False]),
    ("quality >= good", [True, False, False]),
    ("quality < average", [False, True, False]),
    ("camera ~ canon", [True, False, False]),
    ("date >= 2022-01-01", [True, False, False]),
    ("date = 2023-07", [True, False, False]),         # a prefix compares at its own precision
    ("has_gps", [True, False, False]),
    ("not has_gps", [False, True, True]),
    ('place = "Paris"', [True, False, False]),
    ("country = france", [True, False, False]),
    ("object = boat and tag = sea", [True, False, False]),
    ('keyword = "Holiday, 2023"', [True, False, False]),
    ("format = png", [False, False, True]),
    ("quality_score > 50", [True, False, False]),
    ("object != boat", [False, True, True]),
    ("YEAR = 2021 OR Year = 2023", [True, True, False]),
])
def test_queries(query, expected):
    pred = compile_filter(query)
    assert [pred(r) for r in (BEACH, NIGHT, UNDATED)] == expected


@pytest.mark.parametrize("query, fragment", [
    ("colour = red", "unknown field"),
    ("year = ", "expected a value"),
    ("year = abc", "needs a number"),
    ("quality >= great", "quality is one of"),
    ("(year = 2023", "missing ')'"),
    ("year = 2023 2024", "unexpected"),
    ("date > 2023/01/01", "date needs"),
    ("and year = 1", "expected a field name"),
])
def test_bad_queries_are_one_line_usage_errors(query, fragment):
    with pytest.raises(UsageError) as exc:
        compile_filter(query)
    assert fragment in str(exc.value)
    assert "\n" not in str(exc.value)
