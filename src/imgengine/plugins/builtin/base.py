"""What the built-in plugin analyzers share until the plugin platform (issue 9) provides it: the merged
per-plugin config, a version that names the model and the config that produced a result, and pixels at
the size an analyzer asks for.

When the platform's ``Analyzer`` stores ``self.config`` and ``AnalysisInput.pixels_at`` exists, these
helpers defer to them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar

import numpy as np

from ...analyzers.base import AnalysisInput, Analyzer


class ConfiguredAnalyzer(Analyzer):
    """An analyzer with its own config section (``config_defaults`` merged with the user's values).

    ``version`` on an instance is ``<class version>.<model>.<config fingerprint>``: a result made with
    another model or other settings is stale and is redone on the next run.
    """

    config_defaults: ClassVar[dict[str, Any]] = {}
    requires: ClassVar[tuple[str, ...]] = ()
    csv_fields: ClassVar[dict[str, str]] = {}
    pixel_size: ClassVar[int | None] = None
    # config keys that do not change the result (e.g. a batch size): left out of the fingerprint
    unversioned_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: dict[str, Any] | None = None, **overrides: Any):
        merged = dict(self.config_defaults)
        for source in (config or {}, overrides):
            for key, value in source.items():
                if key not in self.config_defaults:
                    from ...errors import ConfigError

                    raise ConfigError(f"plugins.{self.name}: unknown setting {key!r} "
                                      f"(known: {', '.join(sorted(self.config_defaults))})")
                merged[key] = value
        self.config = merged
        self.version = f"{type(self).version}.{self.model_id()}.{self.config_fingerprint()}"

    def model_id(self) -> str:
        return "none"

    def config_fingerprint(self) -> str:
        relevant = {k: v for k, v in self.config.items() if k not in self.unversioned_keys}
        blob = json.dumps(relevant, sort_keys=True, default=str).encode()
        return hashlib.sha1(blob).hexdigest()[:8]


def config_from_env(cls: type[ConfiguredAnalyzer], environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The analyzer's section from the environment, ``IMGENGINE_PLUGINS__<NAME>__<KEY>`` (the plugin platform's
    naming), each value turned into the type of its default."""
    import os

    from ...settings import _coerce

    env = os.environ if environ is None else environ
    prefix = f"IMGENGINE_PLUGINS__{cls.name.upper()}__"
    out: dict[str, Any] = {}
    for key, default in cls.config_defaults.items():
        raw = env.get(prefix + key.upper())
        if raw is not None:
            typ = type(default) if default is not None else str
            out[key] = _coerce(f"plugins.{cls.name}.{key}", typ, raw) if raw != "" or typ is not str else None
    return out


def pixels_at(item: AnalysisInput, size: int | None) -> np.ndarray:
    """Upright RGB uint8 pixels, long side at most ``size`` (None: the shared analysis size)."""
    if hasattr(item, "pixels_at"):
        return item.pixels_at(size)
    if size is None or size <= item.settings.analysis_size:
        img = item.pixels.image
        if size is not None and max(img.size) > size:
            img = img.copy()
            img.thumbnail((size, size))
        return np.asarray(img)
    from ...core.decode import decode_for_analysis

    cache = item.__dict__.setdefault("_plugin_pixels", {})
    if size not in cache:
        cache[size] = np.asarray(decode_for_analysis(item.photo, item.data, size, item.settings.max_pixels).image)
    return cache[size]
