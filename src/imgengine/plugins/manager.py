"""Finding, loading and introspecting plugins.

Sources, in order (a later plugin with a name already taken is reported as a duplicate and not loaded):

1. built-ins: the modules of :mod:`imgengine.plugins.builtin` (analyzers, vision, writers, layouts, commands)
2. entry points in the group ``imgengine.plugins`` (``pip install imgengine-something``)
3. plugin folders: ``./plugins/``, the config's ``plugin_dirs``, ``~/.config/imgengine/plugins/``; each
   ``*.py`` file or package folder (with ``__init__.py``) is one plugin named after the file.

A plugin that fails to import, or whose name is taken, is recorded in :attr:`PluginManager.problems`
with the reason and the traceback (the run logs them, ``imgengine plugins list`` shows them); it is
never fatal. Nothing is discovered until a manager is built, and the CLI builds one only when a command
needs plugins (``analyze``, ``plugins``, an unknown command name).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from ..errors import UsageError
from . import ENTRY_POINT_GROUP, PROJECT, hookspecs
from .discovery import (  # noqa: F401 - plugin_folders, user_plugin_dir: this module's API since issue 9
    _distribution_stamps,
    installed_entry_points,
    plugin_folders,
    user_plugin_dir,
)

BUILTIN_MODULES = ("analyzers", "vision", "writers", "layouts", "commands", "faces", "places", "ocr", "aesthetics",
                   "albums", "exports", "thumbnails")
USER_PLUGIN_DIR = Path("~/.config/imgengine/plugins")  # the default; $XDG_CONFIG_HOME moves it (workspace)


HOOK_CATEGORY = {"register_analyzers": "analyzer", "register_commands": "command",
                 "register_writers": "exporter", "register_layouts": "storage layout",
                 "register_processors": "processor"}


@dataclass
class PluginInfo:
    """What ``imgengine plugins list`` shows for one plugin."""

    name: str
    source: str                    # "built-in" | "entry point" | "folder"
    origin: str                    # module name, "distribution x.y", or the file path
    version: str | None = None
    loaded: bool = False
    hooks: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    analyzers: list[str] = field(default_factory=list)
    processors: list[str] = field(default_factory=list)   # for `imgengine process NAME`
    config_defaults: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    error: str | None = None       # why it did not load (one line)
    traceback: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PluginManager:
    """pluggy's manager plus the bookkeeping ``plugins list`` needs and the registries the engine uses."""

    def __init__(self, plugin_dirs: Iterable[os.PathLike | str] = (), *, external: bool = True,
                 cwd: Path | None = None):
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.problems: list[PluginInfo] = []
        self.builtin_names: set[str] = set()
        self._event_failed: set[tuple[str, str]] = set()
        for mod_name in BUILTIN_MODULES:
            module = importlib.import_module(f"{__package__}.builtin.{mod_name}")
            self._add(module, PluginInfo(mod_name, "built-in", module.__name__,
                                         version=_imgengine_version()))
            self.builtin_names.add(mod_name)
        if external:
            self._load_entry_points()
            for folder in plugin_folders(plugin_dirs, cwd):
                self._load_folder(folder)

    # -- loading ---------------------------------------------------------------------------------
    def _add(self, module: ModuleType, info: PluginInfo) -> bool:
        info.name = str(getattr(module, "PLUGIN_NAME", info.name))
        info.version = str(getattr(module, "__version__", None) or info.version or "") or None
        info.description = (inspect.getdoc(module) or "").split("\n\n")[0].replace("\n", " ")
        if info.name in self.infos:
            first = self.infos[info.name]
            info.error = f"duplicate plugin name {info.name!r}: already loaded from {first.source} {first.origin}"
            self.problems.append(info)
            return False
        try:
            self.pm.register(module, name=info.name)
        except Exception as exc:  # noqa: BLE001 - a bad hook signature is the plugin's problem only
            info.error = f"cannot register: {type(exc).__name__}: {_first_line(exc)}"
            info.traceback = traceback.format_exc()
            self.problems.append(info)
            return False
        info.loaded = True
        info.hooks = sorted(h.name for h in self.pm.get_hookcallers(module) or [])
        info.categories = sorted({HOOK_CATEGORY[h] for h in info.hooks if h in HOOK_CATEGORY}
                                 | ({"event listener"} if {"run_started", "run_finished", "photo_analyzed",
                                                           "file_moved"} & set(info.hooks) else set()))
        self.infos[info.name] = info
        return True

    def _failed(self, info: PluginInfo, exc: BaseException) -> None:
        info.error = f"failed to import: {type(exc).__name__}: {_first_line(exc)}"
        info.traceback = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.problems.append(info)

    def _load_entry_points(self) -> None:
        for name, value, dist_name, dist_version in installed_entry_points(ENTRY_POINT_GROUP):
            origin = f"{dist_name} {dist_version}" if dist_name is not None else value
            info = PluginInfo(name, "entry point", origin, version=dist_version)
            try:
                from importlib.metadata import EntryPoint

                module = EntryPoint(name, value, ENTRY_POINT_GROUP).load()
            except BaseException as exc:  # noqa: BLE001 - SystemExit/ImportError in a plugin: never fatal
                if isinstance(exc, KeyboardInterrupt):
                    raise
                self._failed(info, exc)
                continue
            if not isinstance(module, ModuleType):  # an entry point may name an object holding hooks
                module = _as_module(module, name)
            self._add(module, info)

    def _load_folder(self, folder: Path) -> None:
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith(("_", ".")):
                continue
            if entry.is_file() and entry.suffix == ".py":
                path, name = entry, entry.stem
            elif entry.is_dir() and (entry / "__init__.py").is_file():
                path, name = entry / "__init__.py", entry.name
            else:
                continue
            info = PluginInfo(name, "folder", str(entry))
            if name in self.infos:  # do not even import a second plugin of a taken name
                first = self.infos[name]
                info.error = f"duplicate plugin name {name!r}: already loaded from {first.source} {first.origin}"
                self.problems.append(info)
                continue
            mod_name = f"imgengine_plugins.{name}"
            try:
                spec = importlib.util.spec_from_file_location(
                    mod_name, path, submodule_search_locations=[str(entry)] if entry.is_dir() else None)
                if spec is None or spec.loader is None:
                    raise ImportError(f"cannot load {path}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[mod_name] = module  # so that its classes pickle for the worker processes
                spec.loader.exec_module(module)
            except BaseException as exc:  # noqa: BLE001 - a broken plugin file is reported, never fatal
                sys.modules.pop(mod_name, None)
                if isinstance(exc, KeyboardInterrupt):
                    raise
                self._failed(info, exc)
                continue
            self._add(module, info)

    # -- registries ----------------------------------------------------------------------------------
    def analyzer_classes(self) -> dict[str, tuple[type, str]]:
        """{analyzer name: (class, plugin name)} over every loaded plugin; a second analyzer with a
        taken name, or a non-analyzer, is reported in :attr:`problems` and left out. Asked afresh each
        time (a few microseconds): the hooks stay the one source of truth."""
        from ..analyzers.base import Analyzer

        for info in self.infos.values():
            info.analyzers = []

        out: dict[str, tuple[type, str]] = {}
        for plugin_name, classes in self._collect("register_analyzers"):
            info = self.infos[plugin_name]
            for cls in classes or []:
                if not (isinstance(cls, type) and issubclass(cls, Analyzer) and cls.name):
                    self._problem(info, f"register_analyzers returned {cls!r}, not an Analyzer subclass "
                                        "with a name")
                    continue
                if cls.name in out:
                    self._problem(info, f"analyzer name {cls.name!r} is taken by plugin {out[cls.name][1]!r}; "
                                        "this one is ignored")
                    continue
                out[cls.name] = (cls, plugin_name)
                info.analyzers.append(cls.name)
                if cls.config_defaults:
                    info.config_defaults[cls.name] = dict(cls.config_defaults)
        return out

    def _problem(self, info: PluginInfo, message: str, tb: str | None = None) -> None:
        if any(p.name == info.name and p.error == message for p in self.problems):
            return
        self.problems.append(PluginInfo(info.name, info.source, info.origin, info.version, error=message,
                                        traceback=tb))

    def _collect(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call ``hook`` on each plugin separately, so one plugin's exception costs only its own entry."""
        out = []
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            name = self.pm.get_name(impl.plugin)
            try:
                out.append((name, impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})))
            except Exception as exc:  # noqa: BLE001
                info = self.infos.get(name)
                if info is not None:
                    self._problem(info, f"{hook} raised {type(exc).__name__}: {_first_line(exc)}",
                                  traceback.format_exc())
        return out  # get_hookimpls() lists in registration order: built-ins first

    def writers(self) -> dict[str, Any]:
        """{extension (".json"): writer}; the first plugin to claim an extension keeps it."""
        out: dict[str, Any] = {}
        for _name, writers in self._collect("register_writers"):
            for w in writers or []:
                for ext in getattr(w, "extensions", ()):
                    out.setdefault(ext.lower(), w)
        return out

    def _named(self, hook: str, what: str) -> dict[str, tuple[Any, str]]:
        """{name: (object, plugin name)} of a registration hook whose objects carry a ``name``; the first
        plugin to claim a name keeps it, a later one (or an object without a name) is reported."""
        out: dict[str, tuple[Any, str]] = {}
        for plugin_name, objects in self._collect(hook):
            for obj in objects or []:
                name = getattr(obj, "name", None)
                if not isinstance(name, str) or not name:
                    self._problem(self.infos[plugin_name], f"{hook} returned {obj!r}, which has no name")
                elif name in out:
                    self._problem(self.infos[plugin_name], f"{what} name {name!r} is taken by plugin "
                                                           f"{out[name][1]!r}; this one is ignored")
                else:
                    out[name] = (obj, plugin_name)
        return out

    def layouts(self) -> dict[str, Any]:
        return {name: layout for name, (layout, _plugin) in self._named("register_layouts", "layout").items()}

    def processors(self) -> dict[str, tuple[Any, str]]:
        """{processor name: (processor, plugin name)}."""
        out = self._named("register_processors", "processor")
        for info in self.infos.values():
            info.processors = [name for name, (_p, plugin) in out.items() if plugin == info.name]
        return out

    def config_defaults(self) -> dict[str, dict[str, Any]]:
        """Every declared config section: analyzers' ``config_defaults`` and the ``config_defaults`` hook."""
        out: dict[str, dict[str, Any]] = {}
        for name, (cls, _plugin) in self.analyzer_classes().items():
            out[name] = dict(cls.config_defaults)
        for plugin_name, sections in self._collect("config_defaults"):
            for section, values in (sections or {}).items():
                out.setdefault(section, {}).update(values or {})
                self.infos[plugin_name].config_defaults.setdefault(section, dict(values or {}))
        return out

    def register_commands(self, cli: Any, *, builtin: bool | None = None, exclude: Iterable[str] = ()) -> None:
        """Let plugins add commands to ``cli``: the built-ins (``builtin=True``), the others (``False``) or
        all (None), leaving out the plugins named in ``exclude``."""
        skip = set(exclude)
        plugins = [self.pm.get_plugin(n) for n in self.infos
                   if n in skip or (builtin is not None and (n in self.builtin_names) != builtin)]
        caller = self.pm.subset_hook_caller("register_commands", remove_plugins=plugins)
        for impl in caller.get_hookimpls():
            name = self.pm.get_name(impl.plugin)
            try:
                impl.function(cli=cli)
            except Exception as exc:  # noqa: BLE001 - a plugin's broken command costs only itself
                self._problem(self.infos[name], f"register_commands raised {type(exc).__name__}: "
                                                f"{_first_line(exc)}")

    @property
    def hook(self) -> Any:
        return self.pm.hook

    # -- events ------------------------------------------------------------------------------------------
    def listens(self, event: str) -> bool:
        return bool(getattr(self.pm.hook, event).get_hookimpls())

    def emit(self, event: str, **kwargs: Any) -> list[str]:
        """Call an event hook on each plugin separately; returns one line per listener that raised (its
        traceback is kept in :attr:`problems`). A listener's failure costs nothing else."""
        failures = []
        for impl in getattr(self.pm.hook, event).get_hookimpls():
            try:
                impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
            except Exception as exc:  # noqa: BLE001 - an event listener never breaks what it listens to
                name = self.pm.get_name(impl.plugin)
                line = f"plugin {name}: {event} raised {type(exc).__name__}: {_first_line(exc)}"
                failures.append(line)
                if name in self.infos and (name, event) not in self._event_failed:  # the first traceback
                    self._event_failed.add((name, event))
                    self._problem(self.infos[name], line, traceback.format_exc())
        return failures

    def move_listener(self) -> MoveEvents | None:
        """The journal's ``on_moved`` for commands that move files: it fires ``file_moved`` in every
        plugin that implements it. None when no plugin listens (the journal then pays nothing)."""
        return MoveEvents(self) if self.listens("file_moved") else None

    def plugin_of(self, analyzer: str) -> PluginInfo | None:
        entry = self.analyzer_classes().get(analyzer)
        return self.infos.get(entry[1]) if entry else None

    def all_infos(self) -> list[PluginInfo]:
        self.analyzer_classes()
        self.processors()
        self.config_defaults()
        return list(self.infos.values()) + [p for p in self.problems if p.name not in self.infos]

    # -- instances for a run ---------------------------------------------------------------------------
    def select(self, settings: Any, names: Iterable[str] = (), *, enable: Iterable[str] = (),
               disable: Iterable[str] = ()) -> dict[str, Any]:
        """Analyzer instances for a run, configured from ``settings.plugins``, in dependency order.

        ``names`` (``--analyzers``) picks analyzers by name; empty = all registered, minus those whose
        config says ``enabled: false``. ``enable``/``disable`` (``--plugin``/``--no-plugin``) name
        analyzers or whole plugins. A selected analyzer's ``requires`` are added to the run."""
        classes = self.analyzer_classes()
        by_plugin: dict[str, list[str]] = {}
        for aname, (_cls, pname) in classes.items():
            by_plugin.setdefault(pname, []).append(aname)

        def expand(items: Iterable[str], what: str) -> list[str]:
            out = []
            for item in items:
                if item in classes:
                    out.append(item)
                elif item in by_plugin:
                    out.extend(by_plugin[item])
                elif item in self.infos or any(p.name == item for p in self.problems):
                    continue  # a plugin with no analyzers (or one that failed to load: reported already)
                else:
                    raise UsageError(f"unknown {what} {item!r}; available: {', '.join(classes)}")
            return out

        sections: Mapping[str, Any] = getattr(settings, "plugins", None) or {}
        if names:
            unknown = [n for n in names if n not in classes]
            if unknown:
                raise UsageError(f"unknown analyzer(s): {', '.join(unknown)}; available: {', '.join(classes)}")
            chosen = [n for n in classes if n in set(names)]
        else:
            chosen = [n for n in classes if enabled_by_config(n, classes[n][0], sections)]
        chosen += [n for n in expand(enable, "plugin") if n not in chosen]
        dropped = set(expand(disable, "plugin"))
        chosen = [n for n in chosen if n not in dropped]
        # requirements join the run (unless the user dropped them: then the dependant cannot run)
        i = 0
        while i < len(chosen):
            for req in classes[chosen[i]][0].requires:
                if req not in classes:
                    raise UsageError(f"analyzer {chosen[i]!r} requires {req!r}, which no plugin provides")
                if req in dropped:
                    raise UsageError(f"analyzer {chosen[i]!r} requires {req!r}; do not disable it")
                if req not in chosen:
                    chosen.append(req)
            i += 1
        order = dependency_order({n: classes[n][0].requires for n in chosen}, list(classes))
        out: dict[str, Any] = {}
        for n in order:
            cls, plugin = classes[n]
            if any(r not in out for r in cls.requires):
                self._problem(self.infos[plugin], f"analyzer {n!r} left out: a requirement could not be built")
                continue
            try:
                out[n] = cls(sections.get(n) or {})
            except Exception as exc:  # noqa: BLE001 - a plugin whose constructor fails costs only itself
                self._problem(self.infos[plugin], f"analyzer {n!r} could not be created: {type(exc).__name__}: "
                                                  f"{_first_line(exc)}", traceback.format_exc())
        return out


class MoveEvents:
    """Journal moves (rename, organize, duplicates, process, undo) as ``file_moved`` events. A listener that
    raises is counted in :attr:`failures` (one line per distinct failure) and never stops the run."""

    def __init__(self, manager: PluginManager):
        self.manager = manager
        self.failures: dict[str, int] = {}
        self.sent = 0

    def __call__(self, src: Path, dst: Path, kind: str) -> None:
        self.sent += 1
        for line in self.manager.emit("file_moved", src=src, dst=dst, kind=kind):
            self.failures[line] = self.failures.get(line, 0) + 1

    def failure_lines(self) -> list[str]:
        return [line if n == 1 else f"{line} (for {n} files)" for line, n in self.failures.items()]


def enabled_by_config(name: str, cls: type, sections: Mapping[str, Any]) -> bool:
    """Whether an analyzer runs when none are named: its section's ``enabled``, else its declared default
    (costly model plugins such as faces and OCR declare ``enabled: False`` and run when asked for)."""
    default = (getattr(cls, "config_defaults", None) or {}).get("enabled", True)
    return (sections.get(name) or {}).get("enabled", default) is not False


def dependency_order(requires: Mapping[str, Iterable[str]], registered: list[str]) -> list[str]:
    """Names so that each comes after what it requires; otherwise in registration order."""
    rank = {n: i for i, n in enumerate(registered)}
    done: list[str] = []
    state: dict[str, int] = {}

    def visit(n: str, path: tuple[str, ...]) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            raise UsageError(f"analyzers require each other in a cycle: {' -> '.join(path + (n,))}")
        state[n] = 1
        for r in sorted(requires.get(n, ()), key=lambda x: rank.get(x, 0)):
            visit(r, path + (n,))
        state[n] = 2
        done.append(n)

    for n in sorted(requires, key=lambda x: rank.get(x, 0)):
        visit(n, ())
    return done


_MANAGERS: dict[tuple, PluginManager] = {}


def get_manager(settings: Any = None, *, external: bool = True) -> PluginManager:
    """The process's plugin manager for these plugin folders (built once, then reused: the worker
    processes of a run inherit it, and one CLI call builds it at most once)."""
    dirs = tuple(str(p) for p in (getattr(settings, "plugin_dirs", ()) or ()))
    key = (dirs, os.getcwd(), str(user_plugin_dir()), external)
    manager = _MANAGERS.get(key)
    if manager is None:
        manager = _MANAGERS[key] = PluginManager(dirs, external=external)
    return manager


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _as_module(obj: Any, name: str) -> ModuleType:
    module = ModuleType(f"imgengine_plugins.{name}")
    for attr in dir(obj):
        if not attr.startswith("_"):
            setattr(module, attr, getattr(obj, attr))
    return module


def _imgengine_version() -> str:
    from .. import __version__

    return __version__
