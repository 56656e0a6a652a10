"""Where things live: catalogs, journal state, logs, models and the per-user run index.

One module answers every "where" question, so that no command writes into the folder it happens to be
run from. Precedence is the same everywhere: a command-line flag, then the environment (``IMGENGINE_*``),
then the YAML config, then the defaults below (flags, environment and config reach us through
``Settings``; the defaults are computed here, honouring the XDG base-directory variables):

* catalog     ``<folder>/.imgengine/catalog.db``; a read-only folder's catalog under
                ``$XDG_DATA_HOME/imgengine/catalogs/<name>-<hash>/``
* state       ``<folder>/.imgengine`` (journal, trash) beside the files a run changes
* logs        ``$XDG_STATE_HOME/imgengine/logs`` (default ``~/.local/state/imgengine/logs``)
* models      ``$XDG_DATA_HOME/imgengine/models`` (default ``~/.local/share/imgengine/models``)
* run index   ``$XDG_STATE_HOME/imgengine/runs.sqlite``: every file-changing run, so ``undo`` and
                ``history`` work from any folder
* config      ``$XDG_CONFIG_HOME/imgengine/config.yaml``; user plugins in ``.../imgengine/plugins/``
"""

from __future__ import annotations

import os
from pathlib import Path

STATE_FOLDER = ".imgengine"
APP = "imgengine"


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    if value and os.path.isabs(value):  # the spec says relative values are to be ignored
        return Path(value)
    return Path.home() / fallback


def state_home() -> Path:
    """``$XDG_STATE_HOME/imgengine`` (default ``~/.local/state/imgengine``)."""
    return _xdg("XDG_STATE_HOME", ".local/state") / APP


def data_home() -> Path:
    """``$XDG_DATA_HOME/imgengine`` (default ``~/.local/share/imgengine``)."""
    return _xdg("XDG_DATA_HOME", ".local/share") / APP


def cache_home() -> Path:
    """``$XDG_CACHE_HOME/imgengine`` (default ``~/.cache/imgengine``): things safe to delete at any time."""
    return _xdg("XDG_CACHE_HOME", ".cache") / APP


def config_file() -> Path:
    """``$XDG_CONFIG_HOME/imgengine/config.yaml`` (default ``~/.config/imgengine/config.yaml``)."""
    return _xdg("XDG_CONFIG_HOME", ".config") / APP / "config.yaml"


def default_log_dir() -> Path:
    return state_home() / "logs"


def default_models_dir() -> Path:
    return data_home() / "models"


def run_index_path() -> Path:
    """``IMGENGINE_RUN_INDEX`` when set, else ``$XDG_STATE_HOME/imgengine/runs.sqlite``."""
    env = os.environ.get("IMGENGINE_RUN_INDEX")
    return Path(env).expanduser() if env else state_home() / "runs.sqlite"


def state_dir_for(folder: Path, flag: Path | None = None) -> Path:
    """Where a file-changing run keeps its journal: ``--state-dir``, else ``IMGENGINE_STATE_DIR``, else
    ``<folder>/.imgengine`` (beside the files, so the journal travels with the drive)."""
    if flag is not None:
        return Path(flag)
    env = os.environ.get("IMGENGINE_STATE_DIR")
    return Path(env) if env else Path(folder) / STATE_FOLDER


def catalog_path(root: Path, flag: Path | None = None) -> Path:
    """``--catalog`` (or its env/config layer) when given; else ``<root>/.imgengine/catalog.db`` when it
    exists or ``root`` is writable; else (a read-only share, a DVD) a per-folder catalog under the user's
    data folder, so analysing never writes where it may not."""
    if flag is not None:
        return Path(flag).expanduser()
    root = Path(os.path.abspath(root))
    local = root / STATE_FOLDER / "catalog.db"
    if local.exists() or not root.is_dir() or _writable_folder(root):
        return local
    return user_catalog_path(root)


def existing_catalog_path(start: Path) -> Path | None:
    """The catalog a read-only command uses for ``start``: the nearest ``.imgengine/catalog.db`` in it or a
    parent, else the per-user catalog of a read-only folder; None when there is none (nothing is created)."""
    start = Path(os.path.abspath(start))
    for folder in (start, *start.parents):
        candidate = folder / STATE_FOLDER / "catalog.db"
        if candidate.is_file():
            return candidate
        user = user_catalog_path(folder)
        if user.is_file():
            return user
    return None


def _writable_folder(folder: Path) -> bool:
    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return bool(mode & 0o222) and os.access(folder, os.W_OK)


def user_catalog_path(root: Path) -> Path:
    """Where the catalog of a read-only folder lives: ``$XDG_DATA_HOME/imgengine/catalogs/<folder name>-<hash
    of its absolute path>/catalog.db``."""
    import hashlib  # here: loading OpenSSL costs ~3 ms of every command's start-up

    key = hashlib.sha1(os.fsencode(os.path.abspath(root))).hexdigest()[:12]
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(root).name)[:40] or "root"
    return data_home() / "catalogs" / f"{name}-{key}" / "catalog.db"


__all__ = ["STATE_FOLDER", "catalog_path", "config_file", "data_home", "default_log_dir", "default_models_dir",
           "existing_catalog_path", "run_index_path", "state_dir_for", "state_home", "user_catalog_path"]
