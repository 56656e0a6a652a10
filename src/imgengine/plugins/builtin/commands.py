"""imgengine's own commands: analyze/show/stats, undo/history, rename/organize, duplicates, search, models,
plugins, catalog prune, export, albums, gpu-monitor, trash, train, feedback."""

from __future__ import annotations

from typing import Any

from .. import hookimpl


@hookimpl
def register_commands(cli: Any) -> None:
    from ...cli import (
        albums,
        analyze,
        catalog,
        duplicates,
        export,
        feedback,
        gpu_monitor,
        history,
        models,
        organize,
        plugins,
        search,
        train,
        trash,
    )

    analyze.register(cli)
    history.register(cli)   # undo, history: shared by every file-changing command
    organize.register(cli)  # rename, organize
    duplicates.register(cli)
    trash.register(cli)     # trash list / trash empty (the journal's trash)
    search.register(cli)
    models.register(cli)
    plugins.register(cli)
    export.register(cli)    # export gallery / catalog
    albums.register(cli)    # smart albums
    gpu_monitor.register(cli)
    train.register(cli)     # train inventory|download|augment|scene|export
    catalog.register(cli)   # catalog prune
    feedback.register(cli)  # feedback, feedback history, feedback rollback
