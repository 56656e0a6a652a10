"""`imgengine plugins list|info`: every plugin (built-ins included), where it came from, what it provides."""

from __future__ import annotations

import json
import sys

import typer

from .common import ConfigOption, console, handle_errors, settings_from

plugins_app = typer.Typer(help="List and inspect plugins (analyzers, commands, writers, layouts, processors).",
                          no_args_is_help=True)


def _infos(config):
    from ..plugins.manager import get_manager

    settings = settings_from(config)
    manager = get_manager(settings)
    return manager, manager.all_infos()


def _version_of(manager, name: str) -> dict:
    entry = manager.analyzer_classes().get(name)
    if entry is None:
        return {}
    cls = entry[0]
    return {"name": name, "kind": cls.kind, "version": str(cls.version), "description": cls.description,
            "requires": list(cls.requires), "csv_fields": {k: v if isinstance(v, str) else "(computed)"
                                                            for k, v in cls.csv_fields.items()},
            "pixel_size": cls.pixel_size, "config_defaults": dict(cls.config_defaults)}


@plugins_app.command("list")
@handle_errors
def list_plugins(json_out: bool = typer.Option(False, "--json", help="Print JSON."),
                 config=ConfigOption) -> None:
    """Every plugin: name, version, category, source, hooks, config defaults, and whether it loaded."""
    manager, infos = _infos(config)
    if json_out:
        doc = {"plugins": [{**i.to_dict(), "analyzer_details": [_version_of(manager, a) for a in i.analyzers]}
                           for i in infos]}
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
        return
    from rich.table import Table

    table = Table(title="imgengine plugins", title_justify="left")
    for col in ("name", "version", "category", "source", "provides", "status"):
        table.add_column(col, overflow="fold")
    for i in infos:
        status = "[green]loaded[/]" if i.loaded else f"[red]not loaded[/]: {i.error}"
        if i.loaded and i.error:
            status += f" [yellow]({i.error})[/]"
        origin = i.source if i.source == "built-in" else f"{i.source}: {i.origin}"
        provides = ", ".join([*i.analyzers, *(f"process {p}" for p in i.processors)]) or \
            ", ".join(h.replace("register_", "") for h in i.hooks)
        table.add_row(i.name, i.version or "-", ", ".join(i.categories) or "-", origin, provides or "-", status)
    console.print(table)
    problems = [p for p in manager.problems if p.name in manager.infos]
    for p in problems:
        console.print(f"[yellow]warning:[/] plugin {p.name}: {p.error}", highlight=False)


@plugins_app.command("info")
@handle_errors
def plugin_info(name: str = typer.Argument(..., help="A plugin or analyzer name."),
                json_out: bool = typer.Option(False, "--json", help="Print JSON."),
                config=ConfigOption) -> None:
    """Everything about one plugin (or the plugin providing an analyzer), with its traceback if it failed."""
    from ..errors import UsageError

    manager, infos = _infos(config)
    matches = [i for i in infos if i.name == name] or [i for i in infos if name in i.analyzers]
    if not matches:
        raise UsageError(f"no plugin or analyzer named {name!r}; see `imgengine plugins list`")
    info = matches[0]
    doc = {**info.to_dict(), "analyzer_details": [_version_of(manager, a) for a in info.analyzers],
           "problems": [p.error for p in manager.problems if p.name == info.name and p is not info]}
    if json_out:
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
        return
    from rich.table import Table

    table = Table(title=f"plugin {info.name}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key in ("version", "source", "origin", "loaded", "description", "error"):
        if doc.get(key) not in (None, ""):
            table.add_row(key, str(doc[key]))
    table.add_row("hooks", ", ".join(info.hooks) or "-")
    table.add_row("categories", ", ".join(info.categories) or "-")
    for a in doc["analyzer_details"]:
        table.add_row(f"analyzer {a['name']}", f"{a['kind']} v{a['version']}: {a['description']}")
        if a["requires"]:
            table.add_row("  requires", ", ".join(a["requires"]))
        if a["csv_fields"]:
            table.add_row("  csv columns", ", ".join(a["csv_fields"]))
    if info.config_defaults:
        table.add_row("config defaults", json.dumps(info.config_defaults, default=str))
    for p in doc["problems"]:
        table.add_row("problem", p)
    console.print(table)
    if info.traceback:
        console.print(info.traceback, markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(plugins_app, name="plugins")
