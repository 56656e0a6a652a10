"""Where plugins come from, without importing any: the plugin folders and the installed entry points.

Kept apart from :mod:`imgengine.plugins.manager` (pluggy's manager, inspect, tracebacks) so that
``imgengine --help`` can check its cached command list against these sources cheaply (cli/listing.py).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path


def user_plugin_dir() -> Path:
    from ..workspace import config_file

    return config_file().parent / "plugins"


def plugin_folders(extra: Iterable[os.PathLike | str] = (), cwd: Path | None = None) -> list[Path]:
    """./plugins/, the configured ``plugin_dirs``, ~/.config/imgengine/plugins/ — existing ones, no repeats."""
    cands = [Path(cwd or os.getcwd()) / "plugins", *(Path(p).expanduser() for p in extra),
             user_plugin_dir()]
    out, seen = [], set()
    for c in cands:
        try:
            real = c.resolve()
        except OSError:
            continue
        if real in seen or not c.is_dir():
            continue
        seen.add(real)
        out.append(c)
    return out


EP_CACHE = "entry_points.json"


def _distribution_stamps() -> dict[str, list]:
    """What the installed distributions look like: for every ``sys.path`` folder the sorted names of the
    distributions in it (a zip or missing entry: its own mtime and size), and the (mtime_ns, size) of each
    ``entry_points.txt``. Installing, removing, upgrading (a new name) or editing a distribution changes it;
    files written into a folder on ``sys.path`` (the working folder of ``python -c``) do not."""
    out: dict[str, list] = {}

    def stamp(path: str) -> list[int] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return [st.st_mtime_ns, st.st_size]

    for entry in sys.path:
        folder = entry or os.getcwd()
        try:
            names = sorted(e.name for e in os.scandir(folder) if e.name.endswith((".dist-info", ".egg-info")))
        except OSError:  # a zip file or a missing folder
            out[folder] = ["file", stamp(folder)]
            continue
        out[folder] = ["distributions", *names]
        for name in names:
            path = os.path.join(folder, name, "entry_points.txt")
            out[path] = stamp(path)  # type: ignore[assignment]
    return out


def installed_entry_points(group: str) -> list[tuple[str, str, str | None, str | None]]:
    """(name, value, distribution, version) of the installed entry points of ``group``.

    Scanning every installed distribution's metadata (importlib.metadata: ~10-40 ms with a hundred packages,
    more on a busy machine) is done once and kept in ``$XDG_CACHE_HOME/imgengine/entry_points.json`` with the
    stamps of what it read (:func:`_distribution_stamps`); it is scanned again as soon as one differs."""
    from ..workspace import cache_home

    path = cache_home() / EP_CACHE
    key = json.dumps([group, sys.path])
    stamps = _distribution_stamps()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entry = data.get(key) if isinstance(data, dict) else None
        if isinstance(entry, dict) and entry.get("stamps") == stamps:
            return [tuple(e) for e in entry["entries"]]  # type: ignore[misc]
    except (OSError, ValueError, TypeError, KeyError):
        data = {}
    from importlib.metadata import entry_points

    entries = []
    for ep in entry_points(group=group):
        dist = getattr(ep, "dist", None)
        entries.append((ep.name, ep.value, dist.name if dist is not None else None,
                        dist.version if dist is not None else None))
    data = data if isinstance(data, dict) else {}
    data.pop(key, None)
    data[key] = {"stamps": stamps, "entries": entries}
    while len(data) > 8:
        data.pop(next(iter(data)))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:  # a cache that cannot be written: scan next time too
        try:
            tmp.unlink()
        except OSError:
            pass
    return entries
