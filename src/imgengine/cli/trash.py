"""`imgengine trash`: what the journal's trash holds (bytes not yet freed) and `trash empty`."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from ..errors import UsageError
from .common import console, err_console, handle_errors, print_json
from .history import DirOption, StateDirOption, resolve_state_dir

trash_app = typer.Typer(help="The journal's trash: files that `duplicates --delete` (and replaced hard-link "
                        "copies) moved aside. They still use disk space until the trash is emptied.",
                        no_args_is_help=True)


@trash_app.command("list")
@handle_errors
def list_(directory: Path | None = DirOption, state_dir: Path | None = StateDirOption,
          json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """What each run's trash holds, and the bytes emptying it would free."""
    from rich.table import Table

    from ..processors.dedup.report import _size
    from ..processors.dedup.trash import trash_contents

    sdir = resolve_state_dir(directory, state_dir)
    runs = trash_contents(sdir)
    if json_out:
        print_json([t.__dict__ for t in runs])
        return
    if not runs:
        console.print("the trash is empty")
        return
    t = Table(title=f"trash in {sdir}", title_justify="left")
    for col in ("run id", "command", "trashed", "files", "size"):
        t.add_column(col)
    for r in runs:
        t.add_row(r.run_id, r.command or "?", time.strftime("%Y-%m-%d %H:%M", time.localtime(r.trashed_at)),
                  str(r.files), _size(r.bytes))
    console.print(t)
    console.print(f"{_size(sum(r.bytes for r in runs))} would be freed by `imgengine trash empty`")


@trash_app.command("empty")
@handle_errors
def empty(directory: Path | None = DirOption, state_dir: Path | None = StateDirOption,
          older_than: str | None = typer.Option(None, "--older-than", help="Only runs older than this "
                                                "(30d, 12h, 2w)."),
          apply: bool = typer.Option(False, "--apply", help="Delete for real (default: show what would go)."),
          json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Delete the trash for good (those runs can then no longer be undone); recorded in the journal."""
    from ..processors.dedup.report import _size
    from ..processors.dedup.trash import empty_trash, parse_age

    try:
        age = parse_age(older_than) if older_than is not None else None
    except ValueError as exc:
        raise UsageError(f"--older-than {exc}") from None
    sdir = resolve_state_dir(directory, state_dir)
    report = empty_trash(sdir, age, dry_run=not apply)
    if json_out:
        doc = report.to_dict()
        doc["applied"] = apply
        print_json(doc)
    else:
        verb = "deleted" if apply else "[bold]dry run[/]: would delete"
        console.print(f"{verb} {report.files_deleted} file(s) from the trash of {len(report.emptied)} run(s): "
                      f"{_size(report.bytes_freed)} {'freed' if apply else 'to free'}"
                      + (f"; {len(report.kept)} newer run(s) kept" if report.kept else "")
                      + (f" (recorded as run {report.run_id})" if report.run_id else ""))
        if not apply and report.emptied:
            console.print("nothing changed; add --apply to delete (this cannot be undone)")
        for p in report.problems:
            err_console.print(f"[yellow]problem:[/] {p}", highlight=False)
    if report.problems:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(trash_app, name="trash")
