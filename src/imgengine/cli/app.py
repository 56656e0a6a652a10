"""The ``imgengine`` command. Each command group lives in its own module and registers itself here."""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from .. import __version__


class PluginAwareGroup(TyperGroup):
    """The root command group: built-in commands are registered at import (through the built-in
    ``commands`` plugin); third-party plugins' commands are looked for only when a command name is
    unknown or the command list is shown (``--help``), so a plain ``imgengine analyze`` never imports them."""

    _external_loaded = False

    def _load_external(self) -> None:
        if self._external_loaded:
            return
        PluginAwareGroup._external_loaded = True
        from ..plugins.manager import get_manager

        try:
            from .common import settings_from

            settings = settings_from(None)
        except Exception:  # noqa: BLE001 - a broken config is reported by the command that reads it
            settings = None
        extra = typer.Typer()
        get_manager(settings).register_commands(extra, builtin=False)
        if not extra.registered_commands and not extra.registered_groups:
            return
        group = typer.main.get_group(extra)
        for name, cmd in group.commands.items():
            if name not in self.commands:
                self.add_command(cmd, name)

    def get_command(self, ctx, cmd_name):
        cmd = super().get_command(ctx, cmd_name)
        if cmd is None:
            self._load_external()
            cmd = super().get_command(ctx, cmd_name)
        return cmd

    def list_commands(self, ctx):
        self._load_external()
        return super().list_commands(ctx)


app = typer.Typer(
    name="imgengine",
    help="Analyse, search and organise photo collections.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=PluginAwareGroup,
    # plain help and usage errors: typer's rich formatter imports markdown-it and pygments (~200 modules),
    # which would be most of `imgengine --help`'s start-up (target <= 120 ms; benchmarks/bench_startup.py)
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"imgengine {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Show the version and exit.")) -> None:
    """imgengine: analyse, search and organise photo collections."""


def _register() -> None:
    # the built-in commands arrive through the same hook as a plugin's (no discovery of others here)
    from ..plugins.manager import get_manager

    get_manager(external=False).register_commands(app, builtin=True)


_register()


def main() -> None:
    import sys

    from .common import install_signal_handlers

    install_signal_handlers()
    try:
        app()
    except SystemExit as exc:
        # click reports usage errors with exit code 2 already; keep it
        raise exc
    finally:
        sys.stdout.flush()


if __name__ == "__main__":  # pragma: no cover
    main()
