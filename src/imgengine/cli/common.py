"""Helpers every command shares: settings from the layers, one-line errors, consoles."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from ..errors import ImgEngineError
from ..settings import Settings, load_settings

console = Console()
err_console = Console(stderr=True)

ConfigOption = typer.Option(None, "--config", help="YAML config file (default ~/.config/imgengine/config.yaml).",
                            dir_okay=False)


def settings_from(config: Path | None, **flags: Any) -> Settings:
    return load_settings(config, overrides=flags)


def fail(message: str, code: int = 1) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def handle_errors(fn: Callable) -> Callable:
    """Turn ImgEngineError into one line on stderr and its exit code; Ctrl-C into exit 130."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ImgEngineError as exc:
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]: work done so far is saved; run again to resume.")
            raise typer.Exit(130)
        except BrokenPipeError:  # `imgengine ... --json | head`
            sys.stderr.close()
            raise typer.Exit(0)

    return wrapper
