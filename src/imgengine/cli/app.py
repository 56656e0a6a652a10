"""The ``imgengine`` command. Each command group lives in its own module; the built-in ``commands`` plugin
(:mod:`imgengine.plugins.builtin.commands`) registers them, other plugins add theirs through the same hook."""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from .. import __version__
from . import coercion

coercion.install()  # plain option values without importing pydantic (see coercion.py)


class CommandTyper(typer.Typer):
    """The root Typer app, plus *lazy* commands: ``{command name: module}`` whose module is imported (and its
    ``register(app)`` called) only when that command runs or the command list is shown. This keeps
    ``imgengine --version`` or ``imgengine plugins list`` from importing numpy, OpenCV or Pillow."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands: dict[str, str] = {}

    def add_lazy_commands(self, module: str, names: list[str] | tuple[str, ...]) -> None:
        """``module`` (importable, with ``register(app)``) provides the commands ``names``."""
        for name in names:
            self.lazy_commands[name] = module


def _commands_of(register) -> dict:
    """The click commands a ``register(app)``-style function adds, built on a scratch Typer."""
    scratch = typer.Typer()
    register(scratch)
    if not scratch.registered_commands and not scratch.registered_groups:
        return {}
    return dict(typer.main.get_group(scratch).commands)


class PluginAwareGroup(TyperGroup):
    """The root command group. Built-in commands come through the built-in ``commands`` plugin as lazy
    commands (imported when used); other plugins' commands (third-party, and built-in plugins such as
    faces) are looked for only when a command name is unknown or the command list is shown (``--help``),
    so ``imgengine analyze`` never imports them."""

    def _load_lazy(self, names) -> None:
        import importlib

        wanted = {app.lazy_commands[n] for n in names if n in app.lazy_commands and n not in self.commands}
        for module in [m for m in dict.fromkeys(app.lazy_commands.values()) if m in wanted]:
            mod = importlib.import_module(module)
            for name, cmd in _commands_of(mod.register).items():
                self.commands.setdefault(name, cmd)

    def _load_external(self) -> None:
        if getattr(self, "_external_loaded", False):
            return
        self._external_loaded = True
        from ..plugins.manager import get_manager

        try:
            from .common import settings_from

            settings = settings_from(None)
        except Exception:  # noqa: BLE001 - a broken config is reported by the command that reads it
            settings = None
        manager = self._manager = get_manager(settings)
        # every plugin but `commands` (registered at import): built-ins with commands of their own (faces)
        # join here too, so that importing the CLI never imports their modules
        for name, cmd in _commands_of(lambda cli: manager.register_commands(cli, exclude=("commands",))).items():
            self.commands.setdefault(name, cmd)

    _listing: dict | None = None  # placeholders of the cached command list, while `--help` lists commands
    _manager = None

    def get_command(self, ctx, cmd_name):
        if self._listing is not None and cmd_name in self._listing:
            return self._listing[cmd_name]
        if cmd_name not in self.commands:
            self._load_lazy([cmd_name])
        cmd = super().get_command(ctx, cmd_name)
        if cmd is None:
            self._load_external()
            cmd = super().get_command(ctx, cmd_name)
        if cmd is None:  # a command some built-in module adds without listing it: load them all
            self._load_lazy(list(app.lazy_commands))
            cmd = super().get_command(ctx, cmd_name)
        return cmd

    def list_commands(self, ctx):
        if self._listing is not None:
            return list(self._listing)
        self._load_lazy(list(app.lazy_commands))
        self._load_external()
        return super().list_commands(ctx)

    def format_commands(self, ctx, formatter):
        """The command list of ``--help``: from the cache while nothing it came from changed (no command
        module or plugin imported), else the exact way, which refreshes the cache (cli/listing.py)."""
        from . import listing

        try:
            entries = listing.cached_commands()
        except Exception:  # noqa: BLE001 - a cache is never worth an error: list the exact way
            entries = None
        if entries is not None:
            from typer.core import TyperCommand

            self._listing = {e["name"]: listing.placeholder(TyperCommand, e) for e in entries}
            try:
                return super().format_commands(ctx, formatter)
            finally:
                self._listing = None
        super().format_commands(ctx, formatter)
        try:
            commands = [listing.describe(n, self.commands[n]) for n in self.list_commands(ctx) if n in self.commands]
            listing.store_commands(commands, self._external_files())
        except Exception:  # noqa: BLE001
            pass
        return None

    def _external_files(self) -> list[str]:
        """Source files of the entry-point plugins loaded (their command help is in them)."""
        manager = self._manager
        if manager is None:
            return []
        out = []
        for info in manager.infos.values():
            module = manager.pm.get_plugin(info.name) if info.source == "entry point" else None
            path = getattr(module, "__file__", None)
            if path:
                out.append(str(path))
        return out


app = CommandTyper(
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
    # imgengine's own commands arrive through the built-in `commands` plugin's hook implementation, called
    # here directly: building the plugin manager would import every built-in plugin (numpy, OpenCV...);
    # the other plugins' commands are added on demand (PluginAwareGroup)
    from ..plugins.builtin import commands

    commands.register_commands(cli=app)


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
        # the command is done: the interpreter's last garbage collection at exit would walk every object
        # of every module imported (typer, rich, sqlite...) only to free memory the OS takes back anyway,
        # ~15-30 ms of a ~100 ms `stats`. Frozen objects are left out of it; atexit handlers, log flushing
        # and module teardown still run.
        import gc

        gc.freeze()


if __name__ == "__main__":  # pragma: no cover
    main()
