"""The one place analyzers are registered. Order matters only for display."""

from __future__ import annotations

from ..errors import UsageError
from .base import Analyzer
from .content import ContentAnalyzer
from .hashes import HashAnalyzer
from .metadata import MetadataAnalyzer

BUILTIN: tuple[type[Analyzer], ...] = (MetadataAnalyzer, ContentAnalyzer, HashAnalyzer)


# Built-in plugin analyzers (issue 14): run only when named (`--analyzers metadata,faces`) until the plugin
# platform (issue 9) registers them through its hooks with their config sections. Imported lazily: their
# models and packages load on the first photo, not at import.
OPT_IN: dict[str, str] = {
    "faces": "imgengine.plugins.builtin.faces:FaceRecognitionAnalyzer",
    "places": "imgengine.plugins.builtin.places:PlacesAnalyzer",
    "ocr": "imgengine.plugins.builtin.ocr:OcrAnalyzer",
}


def _opt_in(name: str) -> Analyzer:
    import importlib

    from ..plugins.builtin.base import config_from_env

    module, _, attr = OPT_IN[name].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    return cls(config_from_env(cls))


def all_analyzers() -> dict[str, Analyzer]:
    return {cls.name: cls() for cls in BUILTIN}


def select_analyzers(names: tuple[str, ...] | list[str] = ()) -> dict[str, Analyzer]:
    available = all_analyzers()
    if not names:
        return available
    for name in names:
        if name in OPT_IN and name not in available:
            available[name] = _opt_in(name)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise UsageError(f"unknown analyzer(s): {', '.join(unknown)}; available: {', '.join(available)}")
    return {n: available[n] for n in available if n in names}
