"""Helpers every command shares: settings from the layers, one-line errors, consoles."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ..errors import ImgEngineError

if TYPE_CHECKING:
    from ..settings import Settings


class _LazyConsole:
    """A rich Console made on first use: importing rich costs ~30 ms, which `--help` and most quick
    commands never need. Attribute access and assignment go to the real Console."""

    def __init__(self, **kwargs: Any):
        object.__setattr__(self, "_kwargs", kwargs)
        object.__setattr__(self, "_console", None)

    def get(self) -> Any:
        """The rich Console itself: pass this, not the proxy, to rich objects (Progress, Live)."""
        if self._console is None:
            from rich.console import Console

            object.__setattr__(self, "_console", Console(**self._kwargs))
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.get(), name, value)

    def __enter__(self) -> Any:  # dunder methods bypass __getattr__
        return self.get().__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.get().__exit__(*exc)


console = _LazyConsole()
err_console = _LazyConsole(stderr=True)

ConfigOption = typer.Option(None, "--config", help="YAML config file (default ~/.config/imgengine/config.yaml).",
                            dir_okay=False)


def settings_from(config: Path | None, **flags: Any) -> Settings:
    from ..settings import load_settings

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
