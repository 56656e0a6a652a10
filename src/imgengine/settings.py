"""Settings: built-in defaults < YAML config file < IMGENGINE_* environment < command-line flags.

A ``Settings`` object is built once by the CLI and passed down explicitly; no module keeps mutable
global state. Every field can be set in YAML by its name, and in the environment as
``IMGENGINE_<NAME>`` (upper case), e.g. ``IMGENGINE_WORKERS=4``.

Plugins have their own sections: ``plugins: {faces: {min_confidence: 0.6}}`` in YAML, or
``IMGENGINE_PLUGINS__FACES__MIN_CONFIDENCE=0.6`` in the environment; the plugin declares the defaults
(``config_defaults``) and the values are coerced to the types of those defaults when the analyzer is
built. An unknown top-level key is a warning (``Settings.warnings``), not an error, so that a config
written for a plugin that is not installed still works.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from . import workspace
from .errors import ConfigError

PLUGIN_ENV_PREFIX = "IMGENGINE_PLUGINS__"

ENV_PREFIX = "IMGENGINE_"

DEFAULT_SKIP_DIRS = (
    ".git", ".hg", ".svn", "@eaDir", ".thumbnails", ".imgengine", "$RECYCLE.BIN",
    "System Volume Information", ".Trash", ".Trashes", ".Spotlight-V100", ".fseventsd",
    "__pycache__", "node_modules", "lost+found",
)


@dataclass
class Settings:
    # scanning
    skip_hidden: bool = True
    skip_dirs: tuple[str, ...] = DEFAULT_SKIP_DIRS
    follow_symlinks: bool = True
    # decoding
    analysis_size: int = 512           # long side of the pixels the CPU analyzers share (they all measure
                                       # at ~512 px); raise it for plugins that need more detail
    max_pixels: int = 180_000_000      # decompression-bomb guard (pixels in the declared size)
    # pipeline
    workers: int = 0                   # 0 = all cores
    batch_commit: int = 200            # rows per SQLite transaction
    commit_seconds: float = 2.0        # ... or this long since the last commit, whichever comes first
    force: bool = False
    retry_failed: bool = False         # re-analyse files that failed before even when unchanged
    analyzers: tuple[str, ...] = ()    # empty = all registered analyzers
    # content thresholds
    blur_threshold: float = 100.0      # variance of Laplacian below this = blurry
    # locations
    catalog: Path | str | None = None  # default <dir>/.imgengine/catalog.db; or a postgresql:// URL
    roots: dict[str, tuple[str, ...]] = field(default_factory=dict)  # named library roots -> this machine's
                                       # mount points: one photo is one row whichever machine sees it
    log_dir: Path = field(default_factory=workspace.default_log_dir)        # ~/.local/state/imgengine/logs
    models_dir: Path = field(default_factory=workspace.default_models_dir)  # ~/.local/share/imgengine/models
    # vision (used by the ML stage)
    vision: bool = True
    device: str = "auto"
    batch_size: str = "auto"
    clip_model: str = "openai/clip-vit-base-patch32"
    detr_model: str = "facebook/detr-resnet-50"
    detr_threshold: float = 0.7
    cpu_threads: int = 0               # torch threads for models on a CPU; 0 = the cores left after the loader
    omp_wait_policy: str = "passive"   # passive|active|default: how idle OpenMP threads wait (set before torch)
    # feedback loop (imgengine feedback)
    feedback_min_confidence: float = 0.6   # --auto-approve applies fixes at or above this confidence
    feedback_check_command: str = ""       # must pass after a fix ({file} = the fixed file); "" = its tests
    # output
    quiet: bool = False
    # plugins
    plugins: dict[str, dict[str, Any]] = field(default_factory=dict)   # per-plugin sections
    plugin_dirs: tuple[str, ...] = ()  # extra plugin folders (besides ./plugins and ~/.config/imgengine/plugins)
    enable_plugins: tuple[str, ...] = ()   # --plugin NAME: add analyzers/plugins to the run
    disable_plugins: tuple[str, ...] = ()  # --no-plugin NAME: leave them out
    analyzer_timeout: float = 600.0    # seconds one per-file analyzer may spend on one photo (0 = no limit);
                                       # per analyzer: plugins: {name: {timeout: 30}}
    executor: str = "auto"             # auto (pool, serial for tiny runs) | serial | pool | ray (--engine ray)
    ray_address: str = ""              # --ray-address: "" = a local Ray on this machine; auto | ray://host:10001
    gpus_per_actor: float = -1.0       # --gpus-per-actor: GPUs of each Ray actor of the batch (vision) stage;
                                       # negative = auto (1 when the Ray cluster has GPUs, else 0)
    warnings: tuple[str, ...] = ()     # problems found while loading the config (unknown keys)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def effective_workers(self) -> int:
        if self.workers and self.workers > 0:
            return self.workers
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # pragma: no cover - not Linux
            return max(1, os.cpu_count() or 1)

    def catalog_path(self, root: Path) -> Path:
        """The catalog of ``root`` (see ``workspace.catalog_path``)."""
        if isinstance(self.catalog, str) and self.catalog.startswith(("postgresql://", "postgres://")):
            return self.catalog   # type: ignore[return-value] - a PostgreSQL catalog (imgengine.catalog)
        return workspace.catalog_path(root, self.catalog)


user_catalog_path = workspace.user_catalog_path


def _coerce(name: str, typ: Any, value: Any) -> Any:
    """Turn a YAML or environment value into the field's type, with a clear error."""
    try:
        if value is None:
            return None
        if typ is bool or typ == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if typ is int:
            return int(value)
        if typ is float:
            return float(value)
        if typ is str:
            return str(value)
        origin = getattr(typ, "__origin__", None)
        if origin is tuple:
            if isinstance(value, str):
                return tuple(v.strip() for v in value.split(",") if v.strip())
            return tuple(str(v) for v in value)
        # Path or Path | None
        if value == "":
            return None
        if isinstance(value, str) and value.startswith(("postgresql://", "postgres://")):
            return value   # the catalog on PostgreSQL (imgengine.catalog.open_catalog)
        return Path(str(value)).expanduser()
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name!r}: cannot use {value!r} (expected {getattr(typ, '__name__', typ)})")


_HINTS: dict[str, Any] | None = None


def _field_types() -> dict[str, Any]:
    global _HINTS  # cache of static type information only, not settings state
    if _HINTS is None:
        hints = get_type_hints(Settings)
        out = {}
        for f in fields(Settings):
            t = hints[f.name]
            args = getattr(t, "__args__", ())
            if type(None) in args and len(args) == 2:  # Optional[X]
                t = next(a for a in args if a is not type(None))
            out[f.name] = t
        _HINTS = out
    return _HINTS


def _apply(settings: Settings, values: Mapping[str, Any], source: str) -> Settings:
    types = _field_types()
    changes: dict[str, Any] = {}
    warnings = list(settings.warnings)
    for key, value in values.items():
        name = str(key).replace("-", "_").lower()
        if name == "warnings" or name not in types:
            warnings.append(f"{source}: unknown setting {key!r} (ignored)")
            continue
        if name == "plugins":
            changes[name] = merge_plugin_sections(settings.plugins, value, source)
            continue
        if name == "roots":
            from .catalog.roots import parse_roots

            changes[name] = parse_roots(value, source)
            continue
        changes[name] = _coerce(name, types[name], value)
    return settings.replace(**changes, warnings=tuple(warnings))


def merge_plugin_sections(base: Mapping[str, Any], value: Any, source: str) -> dict[str, dict[str, Any]]:
    """``base`` with the sections of ``value`` ({plugin: {key: value}}) merged in, key by key."""
    if value is None:
        return dict(base)
    if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) or v is None for v in value.values()):
        raise ConfigError(f"{source}: 'plugins' must map plugin names to sections of key: value")
    out = {k: dict(v) for k, v in base.items()}
    for name, section in value.items():
        out.setdefault(str(name).lower(), {}).update({str(k).lower(): v for k, v in (section or {}).items()})
    return out


def plugin_env(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """``IMGENGINE_PLUGINS__FACES__MIN_CONFIDENCE=0.6`` -> {"faces": {"min_confidence": "0.6"}}."""
    out: dict[str, dict[str, str]] = {}
    for key, value in environ.items():
        if key.startswith(PLUGIN_ENV_PREFIX):
            parts = key[len(PLUGIN_ENV_PREFIX):].split("__", 1)
            if len(parts) == 2 and parts[0] and parts[1]:
                out.setdefault(parts[0].lower(), {})[parts[1].lower()] = value
    return out


def coerce_like(default: Any, value: Any, where: str) -> Any:
    """A plugin setting (often a string from the environment) in the type of its declared default."""
    if default is None or value is None or isinstance(value, type(default)) and not isinstance(default, bool):
        return value
    if isinstance(default, bool):
        return _coerce(where, bool, value)
    if isinstance(default, (int, float, str)):
        return _coerce(where, type(default), value)
    if isinstance(default, (list, tuple)) and isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


def load_settings(
    config_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build Settings from the layers, lowest first. ``overrides`` are flags (None = not given)."""
    settings = Settings()
    path = Path(config_path).expanduser() if config_path else workspace.config_file()
    if config_path and not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    if path.is_file():
        import yaml  # only with a config file: most commands never pay for it

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
            raise ConfigError(f"cannot read config {path}: {str(exc).splitlines()[0]}")
        if not isinstance(data, dict):
            raise ConfigError(f"config {path}: expected a mapping of setting: value")
        settings = _apply(settings, data, f"config {path}")
    env = os.environ if environ is None else environ
    env_values: dict[str, Any] = {
        k[len(ENV_PREFIX):]: v for k, v in env.items()
        if k.startswith(ENV_PREFIX) and k[len(ENV_PREFIX):].lower() in _field_types()
        and k[len(ENV_PREFIX):].lower() not in ("plugins", "warnings")
    }
    sections = plugin_env(env)
    if sections:
        env_values["plugins"] = sections
    settings = _apply(settings, env_values, "environment")
    if overrides:
        settings = _apply(settings, {k: v for k, v in overrides.items() if v is not None}, "option")
    return settings


__all__ = ["DEFAULT_SKIP_DIRS", "Settings", "field", "load_settings"]
