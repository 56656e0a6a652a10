"""imgengine's own per-file analyzers, in display order. They reach the engine through the built-in
``analyzers`` plugin (:mod:`imgengine.plugins.builtin.analyzers`), the same ``register_analyzers`` hook a
third-party plugin implements; the engine asks the plugin manager, never this list."""

from __future__ import annotations

from .base import Analyzer
from .content import ContentAnalyzer
from .hashes import HashAnalyzer
from .metadata import MetadataAnalyzer

BUILTIN: tuple[type[Analyzer], ...] = (MetadataAnalyzer, ContentAnalyzer, HashAnalyzer)
