"""The filter language shared by ``export --filter``, smart albums and galleries.

    year = 2023 and person = Anna
    (scene = beach or object = boat) and quality >= good
    camera ~ canon and date >= 2021-06-01 and not blurry
    has_gps and place = Paris

* ``field OP value`` with OP one of ``=`` ``!=`` ``<`` ``<=`` ``>`` ``>=`` and ``~`` (contains,
  case-insensitive); a bare field name is true when the field has a value (``has_gps``, ``blurry``).
* ``and`` binds tighter than ``or``; ``not`` and parentheses as usual; words are case-insensitive.
* Values are bare words, numbers, dates (``2023-06-01``) or quoted strings (``"New York"``).
* Fields with several values (scene, object, tag, person) match when any value matches.
* ``quality`` compares by bucket order: poor < average < good < excellent.

A query is parsed once into a predicate over a catalog record (photo fields + ``results``), so it works on
any store and streams over any number of photos.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError

QUALITY_ORDER = ("poor", "average", "good", "excellent")


def _metadata(rec: dict[str, Any]) -> dict[str, Any]:
    return rec.get("results", {}).get("metadata") or {}


def _date(rec: dict[str, Any]) -> str | None:
    md = _metadata(rec)
    value = md.get("datetime_original") or md.get("create_date")
    return value[:10] if isinstance(value, str) and len(value) >= 10 else None


def _camera(rec: dict[str, Any]) -> str | None:
    md = _metadata(rec)
    if md.get("camera"):
        return md["camera"]
    parts = [p for p in (md.get("make"), md.get("model")) if p]
    return " ".join(parts) or None


def _scenes(rec: dict[str, Any]) -> list[str]:
    clip = rec.get("results", {}).get("clip") or {}
    labels = [s.get("label") for s in clip.get("scenes") or [] if s.get("label")]
    custom = rec.get("results", {}).get("scene_custom") or {}
    labels += [s.get("label") for s in custom.get("labels") or custom.get("scenes") or []
               if isinstance(s, dict) and s.get("label")]
    return labels


def _objects(rec: dict[str, Any]) -> list[str]:
    return list((rec.get("results", {}).get("detr") or {}).get("labels") or [])


def _keywords(rec: dict[str, Any]) -> list[str]:
    return list(_metadata(rec).get("keywords") or [])


def _people(rec: dict[str, Any]) -> list[str]:
    if rec.get("people") is not None:   # from the faces index: named clusters included
        return list(rec["people"])
    faces = rec.get("results", {}).get("faces") or {}
    people = faces.get("people") or []
    return [p if isinstance(p, str) else p.get("name") for p in people if p]


def _place(rec: dict[str, Any]) -> list[str]:
    places = rec.get("results", {}).get("places") or {}
    return [v for v in (places.get("city"), places.get("region"), places.get("country"),
                        places.get("country_code")) if v]


def _quality(rec: dict[str, Any]) -> str | None:
    return (rec.get("results", {}).get("content") or {}).get("quality")


def _gps(rec: dict[str, Any]) -> bool:
    md = _metadata(rec)
    return md.get("gps_latitude") is not None and md.get("gps_longitude") is not None


# field name -> (getter, kind); kinds: text, list, number, date, quality, bool
FIELDS: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "year": (lambda r: int(d[:4]) if (d := _date(r)) else None, "number"),
    "month": (lambda r: int(d[5:7]) if (d := _date(r)) else None, "number"),
    "date": (_date, "date"),
    "camera": (_camera, "text"),
    "make": (lambda r: _metadata(r).get("make"), "text"),
    "model": (lambda r: _metadata(r).get("model"), "text"),
    "lens": (lambda r: _metadata(r).get("lens_model"), "text"),
    "format": (lambda r: r.get("format"), "text"),
    "path": (lambda r: r.get("display_path"), "text"),
    "scene": (_scenes, "list"),
    "setting": (lambda r: (r.get("results", {}).get("clip") or {}).get("setting"), "text"),
    "object": (_objects, "list"),
    "tag": (lambda r: _keywords(r) + _scenes(r) + _objects(r), "list"),
    "keyword": (_keywords, "list"),
    "person": (_people, "list"),
    "place": (_place, "list"),
    "city": (lambda r: (r.get("results", {}).get("places") or {}).get("city"), "text"),
    "country": (lambda r: (r.get("results", {}).get("places") or {}).get("country"), "text"),
    "quality": (_quality, "quality"),
    "quality_score": (lambda r: (r.get("results", {}).get("content") or {}).get("quality_score"), "number"),
    "blurry": (lambda r: bool((r.get("results", {}).get("content") or {}).get("blurry")), "bool"),
    "has_gps": (_gps, "bool"),
    "rating": (lambda r: _metadata(r).get("rating"), "number"),
    "iso": (lambda r: _metadata(r).get("iso"), "number"),
    "width": (lambda r: _metadata(r).get("upright_width"), "number"),
    "height": (lambda r: _metadata(r).get("upright_height"), "number"),
    "size": (lambda r: r.get("size"), "number"),
    "duplicate": (lambda r: bool(r.get("duplicate")), "bool"),
}

_TOKEN = re.compile(r"""\s*(?:(?P<op><=|>=|!=|=|<|>|~)|(?P<paren>[()])|"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'"""
                    r"""|(?P<word>[^\s()<>=!~"']+))""")

Predicate = Callable[[dict[str, Any]], bool]


@dataclass
class _Tok:
    kind: str   # op | paren | str | word
    text: str
    pos: int


def _tokens(query: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(query):
        if query[pos:].strip() == "":
            break
        m = _TOKEN.match(query, pos)
        if not m or m.end() == pos:
            raise UsageError(f"filter {query!r}: cannot read from position {pos + 1}: {query[pos:pos + 20]!r}")
        if m.group("op"):
            out.append(_Tok("op", m.group("op"), m.start("op")))
        elif m.group("paren"):
            out.append(_Tok("paren", m.group("paren"), m.start("paren")))
        elif m.group("dq") is not None or m.group("sq") is not None:
            out.append(_Tok("str", m.group("dq") if m.group("dq") is not None else m.group("sq"), m.start()))
        else:
            out.append(_Tok("word", m.group("word"), m.start("word")))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, query: str):
        self.query = query
        self.toks = _tokens(query)
        self.i = 0

    def error(self, what: str) -> UsageError:
        return UsageError(f"filter {self.query!r}: {what}; see `imgengine export --help` for the filter language")

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def keyword(self, word: str) -> bool:
        t = self.peek()
        if t is not None and t.kind == "word" and t.text.lower() == word:
            self.i += 1
            return True
        return False

    def parse(self) -> Predicate:
        if not self.toks:
            return lambda rec: True
        pred = self.parse_or()
        if self.peek() is not None:
            raise self.error(f"unexpected {self.peek().text!r}")
        return pred

    def parse_or(self) -> Predicate:
        parts = [self.parse_and()]
        while self.keyword("or"):
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else (lambda rec: any(p(rec) for p in parts))

    def parse_and(self) -> Predicate:
        parts = [self.parse_not()]
        while self.keyword("and"):
            parts.append(self.parse_not())
        return parts[0] if len(parts) == 1 else (lambda rec: all(p(rec) for p in parts))

    def parse_not(self) -> Predicate:
        if self.keyword("not"):
            inner = self.parse_not()
            return lambda rec: not inner(rec)
        t = self.peek()
        if t is not None and t.kind == "paren" and t.text == "(":
            self.i += 1
            inner = self.parse_or()
            t = self.peek()
            if t is None or t.text != ")":
                raise self.error("missing ')'")
            self.i += 1
            return inner
        return self.parse_comparison()

    def parse_comparison(self) -> Predicate:
        t = self.peek()
        if t is None or t.kind != "word" or t.text.lower() in ("and", "or"):
            raise self.error("expected a field name" + (f", got {t.text!r}" if t else " at the end"))
        name = t.text.lower()
        if name not in FIELDS:
            raise self.error(f"unknown field {t.text!r} (fields: {', '.join(sorted(FIELDS))})")
        self.i += 1
        getter, kind = FIELDS[name]
        op_tok = self.peek()
        if op_tok is None or op_tok.kind != "op":
            return lambda rec: _truthy(getter(rec))
        self.i += 1
        v = self.peek()
        if v is None or v.kind not in ("word", "str"):
            raise self.error(f"expected a value after {name} {op_tok.text}")
        self.i += 1
        return _compare(name, getter, kind, op_tok.text, v.text, self.error)


def _truthy(value: Any) -> bool:
    return bool(value) if not isinstance(value, (int, float)) or isinstance(value, bool) else True


def _compare(name: str, getter, kind: str, op: str, raw: str, error) -> Predicate:
    if kind in ("number",):
        try:
            target: Any = float(raw)
        except ValueError:
            raise error(f"{name} needs a number, not {raw!r}")
    elif kind == "quality":
        if raw.lower() not in QUALITY_ORDER:
            raise error(f"quality is one of {', '.join(QUALITY_ORDER)}, not {raw!r}")
        target = QUALITY_ORDER.index(raw.lower())
    elif kind == "date":
        if not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", raw):
            raise error(f"date needs YYYY, YYYY-MM or YYYY-MM-DD, not {raw!r}")
        target = raw
    elif kind == "bool":
        if raw.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise error(f"{name} is true or false, not {raw!r}")
        target = raw.lower() in ("true", "yes", "1")
    else:
        target = raw.lower()

    def test(value: Any) -> bool:
        if value is None:
            return op == "!="
        if kind == "number":
            return _ordered(float(value), target, op)
        if kind == "quality":
            if value not in QUALITY_ORDER:
                return False
            return _ordered(QUALITY_ORDER.index(value), target, op)
        if kind == "date":
            # a date prefix compares on its own precision: date = 2023-06 is any day in June 2023
            return _ordered(str(value)[:len(target)], target, op)
        if kind == "bool":
            return _ordered(bool(value), target, op) if op in ("=", "!=") else False
        text = str(value).lower()
        if op == "~":
            return target in text
        return _ordered(text, target, op)

    if kind == "list":
        if op == "!=":
            return lambda rec: not any(str(v).lower() == target for v in getter(rec) or [])
        return lambda rec: any(test(v) for v in getter(rec) or [])
    return lambda rec: test(getter(rec))


def _ordered(a: Any, b: Any, op: str) -> bool:
    if op == "=":
        return a == b
    if op == "!=":
        return a != b
    if op == "~":
        return str(b).lower() in str(a).lower()
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    return a >= b


def compile_filter(query: str | None) -> Predicate:
    """Parse ``query`` into a predicate over catalog records; an empty query matches everything.
    Raises UsageError (one line) on a bad query."""
    return _Parser(query or "").parse()
