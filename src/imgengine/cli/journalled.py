"""What `tag`, `scrub` and `convert` share after planning: the preview (or the plan as JSON) without
--apply, and with it one journal run under a progress bar, then the report (JSON or lines) and the exit
code. Each command keeps its own preview table and its own JSON result keys."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import typer

from ..core.catalog import Catalog
from ..core.photo import display_path
from ..processors.journal import Journal, StepResult
from ..workspace import state_dir_for as workspace_state_dir
from .common import console, err_console, safe_text

# the options tag, scrub and convert share
JSON_OUT = typer.Option(False, "--json", help="Print the plan (and results) as JSON.")
LIMIT = typer.Option(40, "--limit", help="Rows in the preview (0: all).")
QUIET = typer.Option(False, "--quiet", "-q", help="Print only errors and the result line.")
CONFIG = typer.Option("--config", help="YAML config file (default ~/.config/imgengine/config.yaml).", dir_okay=False)

Progress = Callable[[StepResult], None]
T = TypeVar("T")


def state_dir_for(flag: Path | None, paths: list[Path]) -> Path:
    """--state-dir, else IMGENGINE_STATE_DIR, else ``.imgengine`` in the (first) folder being changed."""
    first = Path(os.path.abspath(paths[0]))
    return workspace_state_dir(first if first.is_dir() else first.parent, flag)


def show_plan(plan_doc: dict[str, Any], json_out: bool, preview: Callable[[], None]) -> None:
    """Without --apply: the plan as JSON, or the preview and the line saying nothing changed."""
    if json_out:
        sys.stdout.write(json.dumps({**plan_doc, "applied": False}, ensure_ascii=False) + "\n")
    else:
        preview()
        console.print("[bold]nothing changed[/] (a preview); add [bold]--apply[/] to do it.")


@dataclass
class Applied:
    journal: Journal
    state_dir: Path
    results: list[StepResult]
    seconds: float

    @property
    def undo_hint(self) -> str:
        return self.journal.undo_hint

    def by_status(self, status: str) -> list[StepResult]:
        return [r for r in self.results if r.status == status]


def apply_in_journal(command: str, total: int, state_dir: Path, args: dict[str, Any], catalog: Catalog | None,
                     work: Callable[[Journal, Progress], list[StepResult]], *, json_out: bool, quiet: bool,
                     rate: bool = False) -> Applied:
    """One journal run of ``work(journal, progress)`` under a transient progress bar (on a terminal);
    the journal is finished as done, failed or interrupted (Ctrl-C/SIGTERM) whatever happens."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    show = not (json_out or quiet) and err_console.is_terminal
    columns = [TextColumn(f"[bold]{command}"), BarColumn(), MofNCompleteColumn()]
    if rate:
        columns.append(TextColumn("{task.speed}"))
    t0 = time.perf_counter()
    journal = Journal.begin(state_dir, command, args, catalog)
    bar = Progress(*columns, console=err_console.get(), transient=True, disable=not show)
    with journal:
        with bar:
            task = bar.add_task(command, total=total)
            results = work(journal, lambda _r: bar.advance(task))
    return Applied(journal, state_dir, results, time.perf_counter() - t0)


def report(applied: Applied, plan_doc: dict[str, Any], results_doc: dict[str, Any], *, json_out: bool,
           quiet: bool, done_line: str, done_count: int | None = None, notes: tuple[str, ...] = ()) -> None:
    """The outcome: JSON (the plan, the run id, the journal, the undo command and ``results_doc``), or the
    done line (``done_count`` files, default every step done), ``notes``, one line per file skipped (stdout)
    or failed (stderr) and the undo command. Exit 1 when any failed."""
    failed = applied.by_status("failed")
    if json_out:
        sys.stdout.write(json.dumps({**plan_doc, "applied": True, "run_id": applied.journal.run_id,
                                     "journal": display_path(applied.journal.path), "undo": applied.undo_hint,
                                     "seconds": round(applied.seconds, 3), "results": results_doc},
                                    ensure_ascii=False) + "\n")
    elif not quiet:
        done = len(applied.by_status("done")) if done_count is None else done_count
        console.print(f"[green]{done} file(s) {done_line}[/] in {applied.seconds:.2f}s "
                      f"({done / max(applied.seconds, 1e-9):,.0f} files/s); run [bold]{applied.journal.run_id}[/]")
        for note in notes:
            console.print(note, highlight=False)
        for r in applied.by_status("skipped"):
            console.print(f"[yellow]skipped[/] {safe_text(display_path(r.src))}: {safe_text(r.reason or '')}",
                          highlight=False)
        for r in failed:
            err_console.print(f"[red]failed[/] {safe_text(display_path(r.src))}: {safe_text(r.reason or '')}",
                              highlight=False)
        console.print(f"undo with: {applied.undo_hint}", highlight=False)
    if failed:
        raise typer.Exit(1)


def preview_table(title: str, columns: tuple[str, ...], actions: Sequence[T], row: Callable[[T], tuple[str, ...]],
                  skipped: list[tuple[Path, str]], limit: int) -> None:
    """A plan's preview: one row per action (the first ``limit``; 0 shows all), then the files left alone."""
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c, overflow="fold")
    shown = actions if limit <= 0 else actions[:limit]
    for a in shown:
        t.add_row(*row(a))
    console.print(t)
    if len(shown) < len(actions):
        console.print(f"... and {len(actions) - len(shown)} more (--limit 0 shows all, --json for scripts)")
    for p, reason in skipped[: max(limit, 0) or len(skipped)]:
        console.print(f"[dim]left alone[/] {safe_text(display_path(p))}: {safe_text(reason)}", highlight=False)


def not_done(results: list[StepResult], with_status: bool = False) -> list[dict[str, Any]]:
    return [{"path": display_path(r.src), "reason": r.reason, **({"status": r.status} if with_status else {})}
            for r in results if r.status != "done"]
