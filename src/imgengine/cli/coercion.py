"""Option values without pydantic on the common path.

typer >= 0.2x converts every parameter value through a pydantic ``TypeAdapter``: the first option a command
parses imports pydantic and builds its schemas (~90 ms of a ~220 ms ``imgengine stats``; target <= 120 ms,
benchmarks/bench_startup.py). Almost every imgengine parameter is a plain ``str``, ``int``, ``float`` or
``Path`` whose conversion is one Python call, so :func:`install` puts a light converter in front of typer's:

- a value it can convert exactly as typer would (a ``str`` to ``str``; a ``bool`` as it is; digits to ``int``;
  a decimal number to ``float``; a non-empty ``str`` to ``Path``, then typer's own path checks; lists of those
  for repeatable options) is converted here;
- anything else (another type, a value that does not parse or is out of range, choices, parsers, dates,
  files) goes to typer's own pydantic converter, built only then, so errors read exactly as typer's.

tests/cli/test_coercion.py checks that both give the same value for every parameter of every built-in command.
Older typer (click-based, no ``build_runtime_param``) is left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_INT = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")


def install() -> bool:
    """Put the light converter in front of typer's (once). False when this typer has no such layer."""
    try:
        from typer import _coercion, _param_types
        from typer import core as typer_core
    except ImportError:
        return False
    build = getattr(typer_core, "build_runtime_param", None)
    if build is None or getattr(build, "_imgengine", False) or not hasattr(_coercion, "RuntimeParam"):
        return build is not None and getattr(build, "_imgengine", False)

    @dataclass(frozen=True)
    class LightRuntimeParam(_coercion.RuntimeParam):
        """Converts what it can exactly; hands everything else to typer's own converter."""

        descriptor: Any = None
        kind: str = ""

        def _fallback(self) -> Any:
            cached = self.__dict__.get("_full")
            if cached is None:
                cached = build(self.descriptor)
                object.__setattr__(self, "_full", cached)
            return cached

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            leaf = self.kind[5:] if self.kind.startswith("list:") else None
            if leaf is None:
                out = self._one(self.kind, value, param, ctx)
            elif isinstance(value, (list, tuple)):
                out = [self._one(leaf, v, param, ctx) for v in value]
                out = _NO if any(v is _NO for v in out) else out
            else:
                out = _NO
            if out is _NO:
                return self._fallback()._coerce_value(value, param=param, ctx=ctx)
            return out

        def _one(self, kind: str, value: Any, param: Any, ctx: Any) -> Any:
            out = light_value(kind, value)
            if out is _NO:
                return out
            info = self.parameter_info
            if kind in ("int", "float") and ((info.min is not None and out < info.min)
                                             or (info.max is not None and out > info.max)):
                return _NO  # out of range: typer's converter says so in its own words
            if kind == "path":
                return _param_types.coerce_cli_path(out, info, path_type=Path, param=param, ctx=ctx)
            return out

    def light_build(descriptor: Any) -> Any:
        kind = light_kind(descriptor, _param_types)
        if kind is None:
            return build(descriptor)
        return LightRuntimeParam(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation,
                                 descriptor=descriptor, kind=kind)

    light_build._imgengine = True
    light_build.original = build
    typer_core.build_runtime_param = light_build
    return True


def light_kind(descriptor: Any, param_types: Any) -> str | None:
    """Which light conversion fits this parameter: "str", "bool", "int", "float", "path", "list:<one of
    those>" (a repeatable option), or None (typer's own)."""
    info = descriptor.parameter_info
    if getattr(descriptor, "file_annotation", None) is not None or getattr(info, "parser", None) is not None:
        return None
    ann = descriptor.annotation
    if getattr(ann, "__origin__", None) is list and len(getattr(ann, "__args__", ())) == 1:
        leaf = _leaf_kind(ann.__args__[0], info, param_types)
        return f"list:{leaf}" if leaf is not None else None
    return _leaf_kind(ann, info, param_types)


def _leaf_kind(ann: Any, info: Any, param_types: Any) -> str | None:
    if ann is str:
        return "str"
    if ann is bool:
        return "bool"
    if ann in (int, float):
        return None if getattr(info, "clamp", False) else ann.__name__  # ranges are checked after converting
    if ann is Path and info.path_type in (None, Path) and param_types.routes_to_path(ann, info):
        return "path"
    return None


class _No:
    def __repr__(self) -> str:
        return "<not converted>"


_NO = _No()


def light_value(kind: str, value: Any) -> Any:
    """``value`` converted as typer's pydantic adapter converts it, or ``_NO`` where this cannot be sure."""
    t = type(value)
    if kind == "str":
        return value if t is str else _NO
    if kind == "bool":
        return value if t is bool else _NO
    if kind == "int":
        if t is int:
            return value
        return int(value) if t is str and _INT.match(value) else _NO
    if kind == "float":
        if t is float:
            return value
        return float(value) if t is str and _FLOAT.match(value) else _NO
    if kind == "path":
        if isinstance(value, Path):
            return value
        return Path(value) if t is str and value else _NO
    return _NO
