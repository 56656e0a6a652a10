"""imgengine's own commands: analyze/show/stats, undo/history, rename/organize, duplicates, search, models,
plugins, feedback."""

from __future__ import annotations

from typing import Any

from .. import hookimpl


@hookimpl
def register_commands(cli: Any) -> None:
    from ...cli import albums, analyze, duplicates, export, feedback, history, models, organize, plugins, search

    analyze.register(cli)
    history.register(cli)   # undo, history: shared by every file-changing command
    organize.register(cli)  # rename, organize
    duplicates.register(cli)
    search.register(cli)
    models.register(cli)
    plugins.register(cli)
    export.register(cli)    # export gallery / catalog
    albums.register(cli)    # smart albums
    feedback.register(cli)  # feedback, feedback history, feedback rollback
