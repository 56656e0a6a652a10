"""`imgengine undo` and `imgengine history`: shared by every file-changing command (rename, organize, dedup)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..core.catalog import Catalog
from ..core.photo import display_path
from ..errors import ImgEngineError, UsageError
from ..processors import journal as jr
from ..processors import run_index
from .common import console, err_console, handle_errors, move_events, safe_text, settings_from, warn_event_failures

if TYPE_CHECKING:
    from ..settings import Settings

DirOption = typer.Option(None, "--dir", "-d", help="Folder whose runs to use: its .imgengine/ or the nearest "
                         "parent's.")
StateDirOption = typer.Option(None, "--state-dir", help="The state folder itself (holds journal/ and trash/).")
HereOption = typer.Option(False, "--here", help="Only runs recorded in the current folder or its parents "
                          "(default: every run in the per-user run index, newest first).")


def resolve_state_dir(directory: Path | None, state_dir: Path | None, here: bool = False) -> Path | None:
    """Where the journals are: --state-dir, else IMGENGINE_STATE_DIR, else .imgengine in --dir (or, with
    --here, the current folder) or a parent; None means "use the per-user run index"."""
    if state_dir is not None:
        return state_dir
    env = os.environ.get("IMGENGINE_STATE_DIR")
    if env:
        return Path(env)
    if directory is None and not here:
        return None
    start = directory or Path.cwd()
    found = jr.find_state_dir(start)
    if found is None:
        raise UsageError(f"no imgengine runs recorded in {display_path(start)} or its parents; "
                         "use --dir <folder the command was run on> or --state-dir")
    return found


def _indexed_state_dirs() -> list[Path]:
    """State folders of the run index, most recent run last; a folder whose journal is gone (a drive
    unplugged) is left out."""
    seen: dict[Path, None] = {}
    for r in run_index.runs():
        seen.pop(r.state_dir, None)
        seen[r.state_dir] = None
    return [d for d in seen if jr.journal_dir(d).is_dir()]


def _all_runs(sdir: Path | None) -> list[tuple[Path, jr.RunInfo]]:
    """(state folder, run) of every run to consider, oldest first."""
    dirs = [sdir] if sdir is not None else _indexed_state_dirs()
    if sdir is None and not dirs:  # no run index yet (runs from before it): the current folder's runs
        found = jr.find_state_dir(Path.cwd())
        dirs = [found] if found is not None else []
    out = [(d, r) for d in dirs for r in jr.history(d)]
    out.sort(key=lambda x: (x[1].started_at, x[1].run_id))
    return out


def _match(runs: list[tuple[Path, jr.RunInfo]], run_id: str) -> list[tuple[Path, jr.RunInfo]]:
    exact = [x for x in runs if x[1].run_id == run_id]
    return exact or [x for x in runs if x[1].run_id.startswith(run_id) or x[1].run_id.endswith(run_id)]


def _open_catalog(path: str | None) -> Catalog | None:
    if path and Path(path).is_file():
        return Catalog(Path(path))
    return None


def _settings_or_none() -> Settings | None:
    """The config's settings (its plugin folders) for the file_moved listeners; undo works without them."""
    try:
        return settings_from(None)
    except ImgEngineError:
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
        here: bool = HereOption,
        json_out: bool = typer.Option(False, "--json", help="Print the undo report as JSON."),
    ) -> None:
        """Restore the files a run of rename/organize/dedup changed, exactly as they were.

        Works from any folder: the latest run in the per-user run index by default; --here for the runs of
        the current folder, --dir or --state-dir for another one."""
        sdir = resolve_state_dir(directory, state_dir, here)
        runs = _all_runs(sdir)
        if run_id is not None:
            match = _match(runs, run_id)
            if not match:
                where = display_path(sdir) if sdir is not None else "the run index"
                raise UsageError(f"no run {run_id!r} in {where}; see `imgengine history`")
            if len(match) > 1:
                raise UsageError(f"{run_id!r} matches {len(match)} runs; give more of the run id")
            target_dir, target = match[0]
        else:
            left = [x for x in runs if x[1].steps_done > 0 and x[1].status not in ("running",)]
            if not left:
                where = f" in {display_path(sdir)}" if sdir is not None else ""
                console.print(f"nothing to undo{where}: no recorded run has changes left "
                              "(`imgengine history` lists the runs)")
                return
            target_dir, target = left[-1]
        if target.steps_done == 0:
            console.print(f"nothing to undo: run {target.run_id} has no changes left"
                          + (" (already undone)" if target.steps_undone else ""))
            return
        catalog = _open_catalog(target.catalog)
        events = move_events(_settings_or_none())
        try:
            report = jr.undo(target_dir, target.run_id, catalog=catalog, on_moved=events)
        finally:
            if catalog is not None:
                catalog.close()
        warn_event_failures(events, report.event_problems)
        if json_out:
            doc = report.to_dict()
            doc["state_dir"] = display_path(target_dir)
            sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
        else:
            console.print(f"run [bold]{report.run_id}[/] ({target.command}, {safe_text(display_path(target_dir))}): "
                          f"{report.restored} file(s) restored"
                          + (f", {report.removed_copies} cop{'y' if report.removed_copies == 1 else 'ies'} removed"
                             if report.removed_copies else "")
                          + (f", {report.already_undone} already undone" if report.already_undone else ""),
                          highlight=False)
            for p in report.problems:
                err_console.print(f"[yellow]not undone:[/] {safe_text(p)}", highlight=False)
        if report.problems:
            raise typer.Exit(1)

    @app.command()
    @handle_errors
    def history(
        run_id: str | None = typer.Argument(None, help="Show the steps of this run."),
        directory: Path | None = DirOption,
        state_dir: Path | None = StateDirOption,
        here: bool = HereOption,
        json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """List past runs of file-changing commands (newest last), or the steps of one run."""
        sdir = resolve_state_dir(directory, state_dir, here)
        runs = _all_runs(sdir)
        if run_id is not None:
            match = _match(runs, run_id)
            if len(match) != 1:
                raise UsageError(f"no single run matches {run_id!r}; see `imgengine history`")
            info = match[0][1]
            steps = list(jr.iter_steps(info.path))
            if json_out:
                sys.stdout.write(json.dumps({"run": info.to_dict(), "steps": steps}, ensure_ascii=False) + "\n")
                return
            from rich.table import Table

            t = Table(title=f"run {info.run_id} ({info.command}, {info.status})", title_justify="left")
            for col in ("#", "op", "from", "to", "status"):
                t.add_column(col, overflow="fold")
            for s in steps:
                t.add_row(str(s["n"]), s["op"], safe_text(s["src"]), safe_text(s["dst"] or ""), s["status"])
            console.print(t)
            return
        if json_out:
            sys.stdout.write(json.dumps([{**r.to_dict(), "state_dir": display_path(d)} for d, r in runs],
                                        ensure_ascii=False) + "\n")
            return
        where = display_path(sdir) if sdir is not None else "the run index"
        if not runs:
            console.print(f"no runs recorded in {safe_text(where)}")
            return
        from rich.table import Table

        t = Table(title=f"runs in {safe_text(where)}", title_justify="left")
        t.add_column("run id", no_wrap=True)
        for col in ("command", "started", "status", "files changed"):
            t.add_column(col)
        if sdir is None:
            t.add_column("folder", overflow="fold")
        for d, r in runs:
            row = [r.run_id, r.command, _when(r.started_at), r.status,
                   f"{r.steps_done}" + (f" ({r.steps_undone} undone)" if r.steps_undone else "")]
            if sdir is None:
                row.append(safe_text(display_path(d.parent if d.name == ".imgengine" else d)))
            t.add_row(*row)
        console.print(t)
