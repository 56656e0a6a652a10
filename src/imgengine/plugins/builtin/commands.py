"""imgengine's own commands: analyze/show/stats, undo/history, rename/organize, duplicates, search, models,
plugins, export, albums, gpu-monitor, feedback."""

from __future__ import annotations

from typing import Any

from .. import hookimpl


@hookimpl
def register_commands(cli: Any) -> None:
    from ...cli import (
        albums,
        analyze,
        duplicates,
        export,
        feedback,
        gpu_monitor,
        history,
        models,
        organize,
        plugins,
        search,
    )

    analyze.register(cli)
    history.register(cli)   # undo, history: shared by every file-changing command
    organize.register(cli)  # rename, organize
    duplicates.register(cli)
    search.register(cli)
    models.register(cli)
    plugins.register(cli)
    export.register(cli)    # export gallery / catalog
    albums.register(cli)    # smart albums
    gpu_monitor.register(cli)
    feedback.register(cli)  # feedback, feedback history, feedback rollback
