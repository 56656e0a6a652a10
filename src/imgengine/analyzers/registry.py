"""The one place analyzers are registered. Order matters only for display.

Entries name their class by module path, so selecting analyzers imports only the selected ones: a
metadata-only run never imports numpy, OpenCV, Pillow or imagehash (the content and hash analyzers'
modules do), which is most of its start-up. A class object is accepted as an entry too."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ..errors import UsageError
from .base import Analyzer

BUILTIN: tuple[type[Analyzer] | tuple[str, str], ...] = (
    ("metadata", "imgengine.analyzers.metadata:MetadataAnalyzer"),
    ("content", "imgengine.analyzers.content:ContentAnalyzer"),
    ("hashes", "imgengine.analyzers.hashes:HashAnalyzer"),
)


def _entries() -> dict[str, type[Analyzer] | tuple[str, str]]:
    return {e[0] if isinstance(e, tuple) else e.name: e for e in BUILTIN}


def _load(entry: type[Analyzer] | tuple[str, str]) -> type[Analyzer]:
    if not isinstance(entry, tuple):
        return entry
    module, _, cls = entry[1].partition(":")
    return getattr(import_module(module), cls)


def all_analyzers() -> dict[str, Analyzer]:
    return {name: _load(e)() for name, e in _entries().items()}


def select_analyzers(names: tuple[str, ...] | list[str] = ()) -> dict[str, Analyzer]:
    available = _entries()
    if not names:
        return {name: _load(e)() for name, e in available.items()}
    unknown = [n for n in names if n not in available]
    if unknown:
        raise UsageError(f"unknown analyzer(s): {', '.join(unknown)}; available: {', '.join(available)}")
    return {n: _load(e)() for n, e in available.items() if n in names}


def __getattr__(name: str) -> Any:  # registry.MetadataAnalyzer etc., imported on first use
    for entry in BUILTIN:
        if isinstance(entry, tuple) and entry[1].endswith(f":{name}"):
            return _load(entry)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
