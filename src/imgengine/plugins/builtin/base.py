"""What the built-in model plugins (faces, OCR, places, aesthetics) add to the analyzer contract: keyword
configuration for direct use (``FaceRecognitionAnalyzer(min_confidence=0.6)``), unknown settings refused
with one line, and a stored version that names the model as well as the config."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from ...analyzers.base import ENGINE_KEYS, Analyzer
from ...errors import ConfigError


class ModelConfigMixin:
    """Mixed into an :class:`Analyzer` (or ``BatchAnalyzer``) subclass before it."""

    name: ClassVar[str]
    config_defaults: ClassVar[Mapping[str, Any]]
    config: dict[str, Any]
    # config keys that do not change the result (a thread count): left out of the fingerprint
    unversioned_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Mapping[str, Any] | None = None, **overrides: Any):
        merged = {**(config or {}), **overrides}
        unknown = sorted(k for k in merged if k not in self.config_defaults and k not in ENGINE_KEYS)
        if unknown:
            raise ConfigError(f"plugins.{self.name}: unknown setting {unknown[0]!r} "
                              f"(known: {', '.join(sorted(self.config_defaults))})")
        super().__init__(merged)  # type: ignore[call-arg]

    def model_id(self) -> str:
        """The model(s) behind the results; part of the stored version."""
        return "none"

    @property
    def config_fingerprint(self) -> str:
        relevant = {k: v for k, v in self.config.items() if k not in ENGINE_KEYS and k not in self.unversioned_keys}
        text = json.dumps({"model": self.model_id(), "config": relevant}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:8]


class ConfiguredAnalyzer(ModelConfigMixin, Analyzer):
    """A per-file analyzer with a model and its own config section."""
