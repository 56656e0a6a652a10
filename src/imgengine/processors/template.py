"""Name templates: ``{date:%Y-%m-%d_%H%M%S}_{camera}{seq}``.

Fields (``{field}``, ``{field:format}``, ``{field|other|"literal"}`` for fallbacks):

* ``date`` (any strftime after the colon; default ``%Y-%m-%d_%H%M%S``), ``date_source``
* ``make``, ``model``, ``camera`` (make + model without the make repeated), ``lens``
* ``name`` (original file name), ``stem`` (without extension), ``ext`` (lower case, ``jpeg`` -> ``jpg``
  with ``normalize_ext``), ``width``, ``height`` (upright), ``sha`` (``{sha:12}``: a prefix, default 8)
* ``counter`` (running number in the plan, ``{counter:04d}``), ``seq`` (empty when the rest of the
  name is unique, else ``-1``, ``-2``...; ``{seq:02d}``)
* ``city``, ``country`` (when known; the places plugin fills them from GPS), ``person`` (the people
  in the photo from the faces plugin, named clusters or recognised, sorted and joined by ``, ``),
  ``tag`` (top scene tag when ML ran, else the first keyword), ``event`` (organize --by event)

A value never adds folders: ``/``, ``\\``, control characters and look-alike slashes are replaced by ``_``.
A missing value without a fallback renders as ``unknown`` (``undated`` for dates).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError
from ..metadata.values import camera_name
from .dates import DateInfo

FIELDS = {"date", "date_source", "make", "model", "camera", "lens", "name", "stem", "ext", "width", "height",
          "sha", "counter", "seq", "city", "country", "tag", "event", "person"}
DEFAULT_DATE = "%Y-%m-%d_%H%M%S"

# "/"-like characters that would look like folders to a person (and are folders to some tools)
_SLASHES = "/\\\u2215\u2044\uff0f\u29f8\u29f9\u2571\u2572\uff3c\u1735\u2cc6\u30ce\u3033\u27cb\u27cd\u2f03"
_BAD = re.compile("[" + re.escape(_SLASHES) + "\x00-\x1f\x7f]")
_EXT_ALIASES = {"jpeg": "jpg", "jpe": "jpg", "jfif": "jpg", "tiff": "tif", "heif": "heic"}


# characters exFAT, SMB shares and Windows reject in a name; replaced as digiKam does
_NOT_PORTABLE = re.compile(r'[<>:"|?*\\]')
_RESERVED = re.compile(r"^(CON|PRN|AUX|NUL|COM[1-9]|LPT[1-9])(\..*)?$", re.IGNORECASE)


def portable_name(name: str) -> str:
    """A rendered name every file system accepts: ``<>:"\\|?*`` become ``_``, trailing dots and spaces
    go, and a Windows device name (CON, NUL, COM1 ...) gets a ``_``."""
    name = _NOT_PORTABLE.sub("_", name).rstrip(". ")
    if _RESERVED.match(name):
        name += "_"
    return name


def clean_value(value: str) -> str:
    """A template value that is safe inside one path component."""
    v = _BAD.sub("_", value).strip()
    v = re.sub(r"\s+", " ", v)
    return v.lstrip(".") or "_"


@dataclass
class Context:
    """Everything a template can use about one file."""

    name: str
    date: DateInfo | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    sha256: str | None = None
    tag: str | None = None
    event: str | None = None
    counter: int = 0
    seq: int = 0                  # 0 = unique
    normalize_ext: bool = False


@dataclass(frozen=True)
class _Part:
    literal: str
    names: tuple[str, ...] = ()   # fallback chain; a quoted name is a literal fallback
    spec: str = ""


class Template:
    def __init__(self, text: str):
        self.text = text
        self.parts: list[_Part] = []
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise UsageError(f"template {text!r}: {exc}")
        for literal, fname, spec, conv in parsed:
            if conv:
                raise UsageError(f"template {text!r}: '!{conv}' is not supported")
            names: tuple[str, ...] = ()
            if fname is not None:
                if fname == "":
                    raise UsageError(f"template {text!r}: empty field {{}}")
                names = tuple(n.strip() for n in fname.split("|"))
                for n in names:
                    if not (n.startswith('"') and n.endswith('"')) and n not in FIELDS:
                        raise UsageError(f"template {text!r}: unknown field {{{n}}}; known: "
                                         + ", ".join(sorted(FIELDS)))
            self.parts.append(_Part(literal, names, spec or ""))

    @property
    def fields(self) -> set[str]:
        return {n for p in self.parts for n in p.names}

    def render(self, ctx: Context, without_seq: bool = False) -> str:
        out = []
        for part in self.parts:
            out.append(part.literal)
            if not part.names:
                continue
            if without_seq and part.names == ("seq",):
                continue
            value = None
            for n in part.names:
                if n.startswith('"'):
                    value = n[1:-1]
                    break
                value = _value(n, part.spec, ctx)
                if value not in (None, ""):
                    break
            if value is None:
                value = "undated" if part.names[0] == "date" else "unknown"
            out.append(clean_value(value) if value else "")
        return portable_name("".join(out))


def _ext(name: str, normalize: bool) -> str:
    i = name.rfind(".")
    ext = name[i + 1:].lower() if i > 0 else ""
    return _EXT_ALIASES.get(ext, ext) if normalize else ext


def _value(name: str, spec: str, ctx: Context) -> str | None:
    m = ctx.meta
    if name == "date":
        if ctx.date is None or ctx.date.source == "none":
            return None
        try:
            return ctx.date.value.strftime(spec or DEFAULT_DATE)
        except ValueError as exc:
            raise UsageError(f"date format {spec!r}: {exc}")
    if name == "date_source":
        return ctx.date.source.replace(":", "-") if ctx.date else None
    if name in ("make", "model"):
        return m.get(name)
    if name == "camera":
        return camera_name(m.get("make"), m.get("model"))
    if name == "lens":
        return m.get("lens_model")
    if name == "name":
        return ctx.name
    if name == "stem":
        i = ctx.name.rfind(".")
        return ctx.name[:i] if i > 0 else ctx.name
    if name == "ext":
        return _ext(ctx.name, ctx.normalize_ext)
    if name in ("width", "height"):
        v = m.get(f"upright_{name}") or m.get(name)
        return str(v) if v else None
    if name == "sha":
        n = int(spec) if spec.isdigit() else 8
        return ctx.sha256[:n] if ctx.sha256 else None
    if name == "counter":
        return format(ctx.counter, spec or "d")
    if name == "seq":
        return "" if not ctx.seq else "-" + format(ctx.seq, spec or "d")
    if name in ("city", "country", "person"):
        v = m.get(name)
        return str(v) if v else None
    if name == "tag":
        return ctx.tag
    if name == "event":
        return ctx.event
    return None
