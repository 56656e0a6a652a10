"""The one place analyzers are registered. Order matters only for display."""

from __future__ import annotations

from ..errors import UsageError
from .base import Analyzer
from .content import ContentAnalyzer
from .hashes import HashAnalyzer
from .metadata import MetadataAnalyzer

BUILTIN: tuple[type[Analyzer], ...] = (MetadataAnalyzer, ContentAnalyzer, HashAnalyzer)


def all_analyzers() -> dict[str, Analyzer]:
    return {cls.name: cls() for cls in BUILTIN}


def select_analyzers(names: tuple[str, ...] | list[str] = ()) -> dict[str, Analyzer]:
    available = all_analyzers()
    if not names:
        return available
    unknown = [n for n in names if n not in available]
    if unknown:
        raise UsageError(f"unknown analyzer(s): {', '.join(unknown)}; available: {', '.join(available)}")
    return {n: available[n] for n in available if n in names}
