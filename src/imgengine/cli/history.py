"""`imgengine undo` and `imgengine history`: shared by every file-changing command (rename, organize, dedup)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import typer

from ..core.catalog import Catalog
from ..core.photo import display_path
from ..errors import UsageError
from .common import console, err_console, handle_errors

DirOption = typer.Option(None, "--dir", "-d", help="Folder whose runs to use: its .imgengine/ or the nearest "
                         "parent's (default: the current folder).")
StateDirOption = typer.Option(None, "--state-dir", help="The state folder itself (holds journal/ and trash/).")


def resolve_state_dir(directory: Path | None, state_dir: Path | None) -> Path:
    """Where the journals are: --state-dir, else IMGENGINE_STATE_DIR, else .imgengine in --dir or a parent."""
    if state_dir is not None:
        return state_dir
    env = os.environ.get("IMGENGINE_STATE_DIR")
    if env:
        return Path(env)
    from ..processors import journal as jr

    start = directory or Path.cwd()
    found = jr.find_state_dir(start)
    if found is None:
        raise UsageError(f"no imgengine runs recorded in {display_path(start)} or its parents; "
                         "use --dir <folder the command was run on> or --state-dir")
    return found


def _open_catalog(path: str | None) -> Catalog | None:
    if path and Path(path).is_file():
        return Catalog(Path(path))
    return None


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def undo(
        run_id: str | None = typer.Argument(None, help="Run to undo (default: the latest with changes left). "
                                            "A unique prefix or suffix is enough."),
        directory: Path | None = DirOption,
        state_dir: Path | None = StateDirOption,
        json_out: bool = typer.Option(False, "--json", help="Print the undo report as JSON."),
    ) -> None:
        """Restore the files a run of rename/organize/dedup changed, exactly as they were."""
        from ..processors import journal as jr

        sdir = resolve_state_dir(directory, state_dir)
        runs = jr.history(sdir)
        target = None
        if run_id is not None:
            target = next((r for r in runs if r.run_id == run_id), None) or \
                next((r for r in runs if r.run_id.startswith(run_id) or r.run_id.endswith(run_id)), None)
        else:
            left = [r for r in runs if r.steps_done > 0]
            target = left[-1] if left else None
        catalog = _open_catalog(target.catalog if target else None)
        try:
            report = jr.undo(sdir, target.run_id if target else run_id, catalog=catalog)
        finally:
            if catalog is not None:
                catalog.close()
        if json_out:
            sys.stdout.write(json.dumps(report.to_dict(), ensure_ascii=False) + "\n")
        else:
            console.print(f"run [bold]{report.run_id}[/]: {report.restored} file(s) restored"
                          + (f", {report.removed_copies} cop{'y' if report.removed_copies == 1 else 'ies'} removed"
                             if report.removed_copies else "")
                          + (f", {report.already_undone} already undone" if report.already_undone else ""))
            for p in report.problems:
                err_console.print(f"[yellow]not undone:[/] {p}", highlight=False)
        if report.problems:
            raise typer.Exit(1)

    @app.command()
    @handle_errors
    def history(
        run_id: str | None = typer.Argument(None, help="Show the steps of this run."),
        directory: Path | None = DirOption,
        state_dir: Path | None = StateDirOption,
        json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """List past runs of file-changing commands (newest last), or the steps of one run."""
        from ..processors import journal as jr

        sdir = resolve_state_dir(directory, state_dir)
        runs = jr.history(sdir)
        if run_id is not None:
            match = [r for r in runs if r.run_id == run_id] or \
                [r for r in runs if r.run_id.startswith(run_id) or r.run_id.endswith(run_id)]
            if len(match) != 1:
                raise UsageError(f"no single run matches {run_id!r}; see `imgengine history`")
            steps = list(jr.iter_steps(match[0].path))
            if json_out:
                sys.stdout.write(json.dumps({"run": match[0].to_dict(), "steps": steps}, ensure_ascii=False) + "\n")
                return
            from rich.table import Table

            t = Table(title=f"run {match[0].run_id} ({match[0].command}, {match[0].status})", title_justify="left")
            for col in ("#", "op", "from", "to", "status"):
                t.add_column(col, overflow="fold")
            for s in steps:
                t.add_row(str(s["n"]), s["op"], s["src"], s["dst"] or "", s["status"])
            console.print(t)
            return
        if json_out:
            sys.stdout.write(json.dumps([r.to_dict() for r in runs], ensure_ascii=False) + "\n")
            return
        if not runs:
            console.print(f"no runs recorded in {display_path(sdir)}")
            return
        from rich.table import Table

        t = Table(title=f"runs in {display_path(sdir)}", title_justify="left")
        t.add_column("run id", no_wrap=True)
        for col in ("command", "started", "status", "files changed"):
            t.add_column(col)
        for r in runs:
            t.add_row(r.run_id, r.command, _when(r.started_at), r.status,
                      f"{r.steps_done}" + (f" ({r.steps_undone} undone)" if r.steps_undone else ""))
        console.print(t)
