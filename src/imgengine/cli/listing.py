"""The command list of ``imgengine --help`` without importing every command module and plugin.

Listing the commands means importing each built-in command module (numpy, Pillow, rich...), building the
plugin manager, scanning the installed distributions' entry points and importing every plugin: ~300 ms, for
a screen that changes only when code changes (target <= 120 ms; benchmarks/bench_startup.py). So the list
(name, help, short help, hidden, deprecated) is kept in ``$XDG_CACHE_HOME/imgengine/commands.json`` with what
it was made from; it is used only while all of that is unchanged:

- the key: imgengine's version, the interpreter, ``sys.path``, the plugin folders in force (``./plugins``,
  the config's ``plugin_dirs``, the user plugin folder) and the config file;
- the stamps (mtime_ns and size) of imgengine's own ``cli`` and ``plugins`` sources, of every file in the
  plugin folders (and the folders themselves: a plugin added or removed) and of the source files of the
  entry-point plugins that were loaded; and the installed distributions (plugins/discovery.py: their names
  in each ``sys.path`` folder and the stamp of each ``entry_points.txt``).

Anything else (no cache, a stale or unreadable one) lists the commands the slow, exact way and writes the
cache again; a cache that cannot be written is skipped silently. Running a command never uses this list.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

CACHE_NAME = "commands.json"
FORMAT = 1
MAX_KEYS = 16   # working folders remembered (each may have its own ./plugins)
MAX_FILES = 2000  # a plugin folder with more files than this is not cached (stat-ing it would cost more)


def cache_path() -> Path:
    from ..workspace import cache_home

    return cache_home() / CACHE_NAME


def _plugin_dirs() -> tuple[list[Path], str]:
    """The plugin folders in force and the config file (whose plugin_dirs chose some of them)."""
    from ..plugins.discovery import plugin_folders
    from ..workspace import config_file

    try:
        from .common import settings_from

        dirs = tuple(getattr(settings_from(None), "plugin_dirs", ()) or ())
    except Exception:  # noqa: BLE001 - a broken config is reported by the command that reads it
        dirs = ()
    return plugin_folders(dirs), str(config_file())


def _key(folders: list[Path], config: str) -> str:
    from .. import __version__

    return json.dumps([FORMAT, __version__, sys.executable, sys.path, os.getcwd(), [str(f) for f in folders],
                       config])


def _stamp(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size]


def _source_files(folder: Path, limit: int) -> list[str] | None:
    """Every folder and ``.py`` file under ``folder`` (None when there are more than ``limit``)."""
    out = [str(folder)]
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d != "__pycache__" and not d.startswith(".")]
        out.extend(os.path.join(root, d) for d in dirs)
        out.extend(os.path.join(root, f) for f in files if f.endswith(".py"))
        if len(out) > limit:
            return None
    return out


def _watched(folders: list[Path], extra: list[str]) -> list[str] | None:
    pkg = Path(__file__).resolve().parents[1]
    paths: list[str] = []
    for folder in (pkg / "cli", pkg / "plugins", *folders):
        files = _source_files(folder, MAX_FILES)
        if files is None:
            return None
        paths.extend(files)
    paths.extend(extra)
    return list(dict.fromkeys(paths))


def _read() -> dict[str, Any]:
    try:
        data = json.loads(cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("format") == FORMAT else {}


def cached_commands() -> list[dict[str, Any]] | None:
    """The cached command list, if everything it was made from is unchanged; else None."""
    entry = _read().get("entries", {}).get(_key(*_plugin_dirs()))
    if not isinstance(entry, dict):
        return None
    stamps = entry.get("stamps")
    if not isinstance(stamps, dict) or not stamps:
        return None
    for path, stamp in stamps.items():
        if _stamp(path) != stamp:
            return None
    from ..plugins.discovery import _distribution_stamps

    if entry.get("distributions") != _distribution_stamps():  # a distribution (an entry point) came or went
        return None
    commands = entry.get("commands")
    return commands if isinstance(commands, list) else None


def store_commands(commands: list[dict[str, Any]], module_files: list[str]) -> None:
    """Remember ``commands`` (as :func:`describe` makes them) for the current key, with the stamps of what
    they came from; ``module_files`` are the external plugins' source files."""
    folders, config = _plugin_dirs()
    watched = _watched(folders, module_files)
    if watched is None:
        return
    stamps = {p: _stamp(p) for p in watched}
    data = _read()
    entries = data.get("entries") if isinstance(data.get("entries"), dict) else {}
    key = _key(folders, config)
    entries.pop(key, None)
    from ..plugins.discovery import _distribution_stamps

    entries[key] = {"commands": commands, "stamps": stamps, "distributions": _distribution_stamps()}
    while len(entries) > MAX_KEYS:
        entries.pop(next(iter(entries)))
    path = cache_path()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"format": FORMAT, "entries": entries}), encoding="utf-8")
        os.replace(tmp, path)  # readers see the old file or the new one, never half of one
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass


def describe(name: str, cmd: Any) -> dict[str, Any]:
    """What the command list needs of one command."""
    deprecated = getattr(cmd, "deprecated", False)
    return {"name": name, "help": getattr(cmd, "help", None), "short_help": getattr(cmd, "short_help", None),
            "hidden": bool(getattr(cmd, "hidden", False)),
            "deprecated": deprecated if isinstance(deprecated, (bool, str)) else bool(deprecated)}


def placeholder(command_class: type, entry: dict[str, Any]) -> Any:
    """A command that only shows itself in the list (never run: running looks the real one up)."""
    return command_class(entry["name"], help=entry.get("help"), short_help=entry.get("short_help"),
                         hidden=bool(entry.get("hidden")), deprecated=entry.get("deprecated") or False)
