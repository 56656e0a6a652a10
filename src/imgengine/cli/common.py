"""Helpers every command shares: settings from the layers, one-line errors, consoles."""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ..core.photo import escape_control
from ..errors import ImgEngineError, UsageError

if TYPE_CHECKING:
    from ..plugins.manager import MoveEvents
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

def _flags_show_no_type() -> None:
    """`--help` lists a flag (--json, --apply, --vision/--no-vision) without a ``<bool>`` type: it takes
    no value. Typer renders a type for every option; this one rule is ours, for every command."""
    from typer.core import TyperOption

    if getattr(TyperOption.display_type_rich, "_imgengine", False):
        return
    shown = TyperOption.display_type_rich

    def display_type_rich(self, ctx):
        return None if getattr(self, "is_flag", False) else shown(self, ctx)

    display_type_rich._imgengine = True
    TyperOption.display_type_rich = display_type_rich


_flags_show_no_type()


def _pass_through() -> tuple[type[BaseException], ...]:
    """The exceptions the command-line layer itself handles (exits, aborts, usage errors): typer >= 0.26
    ships its own copy of click (typer._click) and no longer depends on click; older typer uses click."""
    out: tuple[type[BaseException], ...] = (typer.Exit, typer.Abort)
    try:
        from typer._click.exceptions import ClickException

        out += (ClickException,)
    except ImportError:  # pragma: no cover - older typer
        pass
    else:
        if "click" not in sys.modules:  # nothing can raise click's own exceptions: no 7 ms import for them
            return out
    try:
        import click

        out += (click.exceptions.Exit, click.ClickException, click.Abort)
    except ImportError:
        pass
    return out


_PASS_THROUGH = _pass_through()

ConfigOption = typer.Option(None, "--config", help="YAML config file (default ~/.config/imgengine/config.yaml).",
                            dir_okay=False)


def settings_from(config: Path | None, **flags: Any) -> Settings:
    from ..settings import load_settings

    return load_settings(config, overrides=flags)


def catalog_for(settings: Settings, directory: Path | None = None, start: Path | None = None) -> Path | str:
    """The catalog a command reads: ``--catalog`` (or the config's/environment's: a SQLite file or a
    ``postgresql://`` URL), else ``directory``'s own catalog, else the nearest one from ``start`` (default: the
    current folder) upwards, a read-only folder's per-user catalog included. A usage error (one line) when
    there is none."""
    from ..catalog import is_catalog_url
    from ..core.photo import display_path
    from ..workspace import existing_catalog_path

    if is_catalog_url(settings.catalog):
        return str(settings.catalog)   # a PostgreSQL catalog: the server says at open whether it is there
    if settings.catalog:
        path: Path | None = Path(settings.catalog)
    elif directory is not None:
        path = Path(settings.catalog_path(directory))
    else:
        path = existing_catalog_path(start if start is not None else Path.cwd())
    if path is None or not path.is_file():
        where = f" at {display_path(path)}" if path is not None else \
            f" for {display_path(start if start is not None else Path.cwd())}"
        raise UsageError(f"no catalog found{where}; run `imgengine analyze <folder>` first, or pass --catalog")
    return path


def open_existing_catalog(settings: Settings, directory: Path | None = None, start: Path | None = None):
    """The catalog of ``catalog_for``, opened (with this machine's ``roots:``); nothing is created."""
    from ..catalog import open_catalog

    return open_catalog(catalog_for(settings, directory, start), roots=settings.roots)


def move_events(settings: Settings | None = None) -> MoveEvents | None:
    """The plugins' ``file_moved`` listeners for a command that moves files through the journal (pass it as
    the journal's ``on_moved``); None when no plugin listens."""
    from ..plugins.manager import get_manager

    return get_manager(settings).move_listener()


def warn_event_failures(events: MoveEvents | None, *more: list[str]) -> None:
    """One warning line per listener failure (the moves themselves stand)."""
    lines = (events.failure_lines() if events is not None else []) + [line for group in more for line in group]
    for line in lines:
        err_console.print(f"[yellow]warning:[/] {safe_text(line)}; the file moves stand", highlight=False,
                          soft_wrap=True)


def safe_text(text: Any) -> str:
    """Text from outside (file names, error reasons) fit for a rich line: control characters escaped and
    rich markup brackets taken literally."""
    from rich.markup import escape

    return escape(escape_control(str(text)))


def print_json(doc: Any) -> None:
    """A ``--json`` document: one line of UTF-8 JSON on stdout (for programs; people get tables)."""
    sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")


def fail(message: str, code: int = 1) -> None:
    err_console.print(f"[bold red]error:[/] {safe_text(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


# -- interruption: SIGTERM (timeout, systemd, kill) behaves like Ctrl-C --------------------------------

class _Signals:
    terminated = False


def _on_sigterm(signum, frame) -> None:
    _Signals.terminated = True
    raise KeyboardInterrupt


def install_signal_handlers() -> None:
    """Make SIGTERM raise KeyboardInterrupt in the main thread, so every command stops the way Ctrl-C stops
    it (work done so far committed, journals finished) and exits 143 instead of 130."""
    _Signals.terminated = False
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _on_sigterm)


def interrupted_exit_code() -> int:
    return 143 if _Signals.terminated else 130


def _crash_log(exc: BaseException) -> Path | None:
    """Append the traceback of an unexpected error to the log folder; the terminal gets one line."""
    from ..workspace import default_log_dir

    folder = Path(os.environ.get("IMGENGINE_LOG_DIR") or default_log_dir()).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "crashes.log"
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"--- {dt.datetime.now().astimezone().isoformat(timespec='seconds')} "
                     f"{' '.join(map(escape_control, sys.argv))}\n")
            fh.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        return path
    except OSError:
        return None


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
            raise typer.Exit(interrupted_exit_code())
        except BrokenPipeError:  # `imgengine ... --json | head`
            sys.stderr.close()
            raise typer.Exit(0)
        except _PASS_THROUGH:
            raise
        except Exception as exc:  # noqa: BLE001 - the last resort: one line here, the traceback in the log
            where = _crash_log(exc)
            fail(f"unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                 + (f" (this is a bug; the details are in {where})" if where else " (this is a bug)"))

    return wrapper
