"""`imgengine process`: run a plugin's processor (``register_processors``) over catalogued photos. Shows the
plan; changes nothing without --apply; every change goes through the journal and `imgengine undo` reverts it."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..core.catalog import Catalog
from ..core.photo import display_path
from ..errors import UsageError
from .common import (
    ConfigOption,
    console,
    err_console,
    handle_errors,
    move_events,
    print_json,
    safe_text,
    settings_from,
    warn_event_failures,
)

if TYPE_CHECKING:
    from ..processors.process import ProcessorPlan

PREVIEW_ROWS = 40


def _list(manager, json_out: bool) -> None:
    procs = manager.processors()
    rows = [{"name": name, "plugin": plugin, "description": getattr(p, "description", "") or "",
             "runs": "imgengine process " + name if callable(getattr(p, "plan", None))
             else getattr(p, "runs_as", None) or "(no plan: not run by `imgengine process`)"}
            for name, (p, plugin) in procs.items()]
    if json_out:
        print_json(rows)
        return
    from rich.table import Table

    t = Table(title=f"{len(rows)} processor(s)", title_justify="left")
    for col in ("name", "plugin", "description", "runs"):
        t.add_column(col, overflow="fold")
    for r in rows:
        t.add_row(*(safe_text(r[k]) for k in ("name", "plugin", "description", "runs")))
    console.print(t)


def _rel(path: Path | None, base: Path) -> str:
    """A path for people: relative to the first folder named when it lies under it."""
    if path is None:
        return "-"
    rel = os.path.relpath(path, base)
    return safe_text(display_path(path if rel.startswith("..") else rel))


def _preview(plan: ProcessorPlan, limit: int) -> None:
    from rich.table import Table

    base = plan.roots[0] if plan.roots[0].is_dir() else plan.roots[0].parent
    s = plan.summary()
    ops = ", ".join(f"{n} {op}" for op, n in s["ops"].items()) or "nothing"
    t = Table(title=f"imgengine {plan.command}: {s['steps']} change(s) ({ops}) planned over {s['photos']} "
              f"catalogued photo(s)" + (f", {s['refused']} refused" if s["refused"] else ""), title_justify="left")
    for col in ("op", "from", "to", "note"):
        t.add_column(col, overflow="fold")
    shown = plan.steps if limit <= 0 else plan.steps[:limit]
    for step in shown:
        t.add_row(step.op, _rel(step.src, base), _rel(step.dst, base), safe_text(step.meta.get("note") or ""))
    console.print(t)
    if len(shown) < len(plan.steps):
        console.print(f"... and {len(plan.steps) - len(shown)} more (--limit 0 shows all, --json for scripts)")
    for src, reason in plan.refused[: max(limit, 0) or len(plan.refused)]:
        err_console.print(f"[yellow]refused[/] {_rel(src, base)}: {safe_text(reason)}", highlight=False)


@contextmanager
def _planning(show: bool, name: str) -> Iterator[None]:
    if not show:
        yield
        return
    with err_console.status(f"{safe_text(name)}: reading the catalog and planning ..."):
        yield


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def process(
        name: Annotated[str | None, typer.Argument(help="Processor to run (none: list the processors).")] = None,
        paths: Annotated[list[Path] | None, typer.Argument(help="Analysed folders or photos to process.")] = None,
        apply: bool = typer.Option(False, "--apply", help="Do it (default: only show the plan)."),
        json_out: bool = typer.Option(False, "--json", help="Print the plan (and results) as JSON."),
        limit: int = typer.Option(PREVIEW_ROWS, "--limit", help="Rows in the preview (0: all)."),
        catalog: Annotated[Path | None, typer.Option("--catalog", help="Catalog (default "
                                                     "<first folder>/.imgengine/catalog.db).")] = None,
        state_dir: Annotated[Path | None, typer.Option("--state-dir", help="Where the journal goes "
                                                       "(default <first folder>/.imgengine).")] = None,
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No preview table or progress; errors only."),
        config: Path | None = ConfigOption,
    ) -> None:
        """Run a plugin's processor over analysed photos: preview first, --apply to change files (undoable)."""
        from ..plugins.manager import get_manager
        from ..processors.journal import Journal, StepResult, by_status
        from ..processors.process import plan_processor, processor_config
        from .analyze import RichProgress
        from .organize import _state_dir

        settings = settings_from(config, catalog=catalog)
        manager = get_manager(settings)
        if name is None:
            _list(manager, json_out)
            return
        procs = manager.processors()
        if name not in procs:
            raise UsageError(f"no processor named {name!r}; available: {', '.join(procs) or 'none'} "
                             "(`imgengine process` lists them)")
        if not paths:
            raise UsageError(f"name the analysed folders or photos to run {name!r} on")
        for p in paths:
            if not p.exists():
                raise UsageError(f"{display_path(p)}: no such file or folder")
        folder = paths[0] if paths[0].is_dir() else paths[0].parent
        cat_path = settings.catalog_path(folder)
        if not Path(cat_path).is_file():
            raise UsageError(f"no catalog at {display_path(cat_path)}: run `imgengine analyze "
                             f"{display_path(folder)}` first (or give --catalog)")
        processor, plugin = procs[name]
        settings = processor_config(settings, name, manager.config_defaults())
        show = not (json_out or quiet) and err_console.is_terminal
        with Catalog(Path(cat_path), roots=settings.roots) as cat:
            with _planning(show, name):   # the catalog read and the plugin's plan: a spinner, not silence
                plan = plan_processor(processor, plugin, paths, settings, cat)
            if not apply or not plan.steps:
                if json_out:
                    print_json({**plan.to_dict(), "applied": False})
                elif not quiet:
                    _preview(plan, limit)
                    console.print("[bold]nothing changed[/]" + (" (a preview); add [bold]--apply[/] to do it."
                                                                 if plan.steps else ": nothing to do."))
                if plan.refused and not plan.steps:     # nothing could be done: say so in the exit code too
                    raise typer.Exit(1)
                return
            if not json_out and not quiet:
                _preview(plan, min(limit, 10) if limit > 0 else 10)
            sdir = _state_dir(state_dir, folder)
            events = move_events(settings)
            t0 = time.perf_counter()
            journal = Journal.begin(sdir, plan.command, {"processor": name, "plugin": plugin,
                                                         "paths": [str(p) for p in plan.roots]},
                                    cat, on_moved=events)
            with journal, RichProgress(show) as bar:
                bar.step_start(plan.command, len(plan.steps))

                def advance(_res: StepResult) -> None:
                    bar.step_advance(plan.command)

                results = journal.run(plan.steps, progress=advance)
        seconds = time.perf_counter() - t0
        warn_event_failures(events, journal.event_problems)
        done, skipped, failed = by_status(results)
        undo_hint = journal.undo_hint
        if json_out:
            doc = {**plan.to_dict(), "applied": True, "run_id": journal.run_id, "undo": undo_hint,
                   "seconds": round(seconds, 3),
                   "results": {"done": len(done),
                               "changed": [{"op": r.op, "src": display_path(r.src),
                                            "dst": display_path(r.dst) if r.dst else None} for r in done],
                               "skipped": [{"src": display_path(r.src), "reason": r.reason} for r in skipped],
                               "failed": [{"src": display_path(r.src), "reason": r.reason} for r in failed]}}
            print_json(doc)
        elif not quiet:
            console.print(f"[green]{len(done)} change(s) done[/] in {seconds:.2f}s; run [bold]{journal.run_id}[/]")
            for r in skipped:
                console.print(f"[yellow]skipped[/] {_rel(r.src, folder)}: {safe_text(r.reason)}", highlight=False)
            console.print(f"undo with: {undo_hint}", highlight=False)
        for r in failed:
            err_console.print(f"[red]failed[/] {_rel(r.src, folder)}: {safe_text(r.reason)}", highlight=False)
        if failed:
            raise typer.Exit(1)
