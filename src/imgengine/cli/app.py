"""The ``imgengine`` command. Each command group lives in its own module and registers itself here."""

from __future__ import annotations

import typer

from .. import __version__

app = typer.Typer(
    name="imgengine",
    help="Analyse, search and organise photo collections.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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
    # one line per command module
    from . import analyze as _analyze

    _analyze.register(app)
    from . import history as _history  # undo, history: shared by every file-changing command

    _history.register(app)
    from . import organize as _organize  # rename, organize

    _organize.register(app)
    from . import duplicates as _duplicates  # duplicates

    _duplicates.register(app)
    from . import models as _models  # vision: imgengine search / imgengine models
    from . import search as _search

    _search.register(app)
    _models.register(app)
    from . import feedback as _feedback  # feedback, feedback history, feedback rollback

    _feedback.register(app)


_register()


def main() -> None:
    import sys

    try:
        app()
    except SystemExit as exc:
        # click reports usage errors with exit code 2 already; keep it
        raise exc
    finally:
        sys.stdout.flush()


if __name__ == "__main__":  # pragma: no cover
    main()
