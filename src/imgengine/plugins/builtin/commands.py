"""imgengine's own commands: analyze/show/stats, undo/history, rename/organize, duplicates, search, models,
plugins, catalog prune, export, albums, gpu-monitor, trash, train, tag, convert, scrub, feedback, process."""

from __future__ import annotations

from typing import Any

from .. import hookimpl

# module -> the commands its ``register(app)`` adds (imported only when one of them is used)
BUILTIN_COMMANDS: dict[str, tuple[str, ...]] = {
    "imgengine.cli.analyze": ("analyze", "show", "stats"),
    "imgengine.cli.history": ("undo", "history"),
    "imgengine.cli.organize": ("rename", "organize"),
    "imgengine.cli.duplicates": ("duplicates",),
    "imgengine.cli.trash": ("trash",),      # trash list / trash empty (the journal's trash)
    "imgengine.cli.search": ("search",),
    "imgengine.cli.models": ("models",),
    "imgengine.cli.plugins": ("plugins",),
    "imgengine.cli.export": ("export",),    # export gallery / catalog
    "imgengine.cli.albums": ("albums",),    # smart albums
    "imgengine.cli.gpu_monitor": ("gpu-monitor",),
    "imgengine.cli.train": ("train",),      # train inventory|download|augment|scene|export
    "imgengine.cli.catalog": ("catalog",),  # catalog prune
    "imgengine.cli.tag": ("tag",),          # metadata writing
    "imgengine.cli.convert": ("convert",),  # formats
    "imgengine.cli.scrub": ("scrub",),      # privacy before sharing
    "imgengine.cli.feedback": ("feedback",),  # feedback, feedback history, feedback rollback
    "imgengine.cli.process": ("process",),  # run a plugin's processor through the journal
}


@hookimpl
def register_commands(cli: Any) -> None:
    import importlib

    for module, names in BUILTIN_COMMANDS.items():
        if hasattr(cli, "add_lazy_commands"):  # the root app: import each module when its command is used
            cli.add_lazy_commands(module, names)
        else:
            importlib.import_module(module).register(cli)
