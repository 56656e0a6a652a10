"""`imgengine convert`: new files in another format (HEIC -> JPEG the everyday case), metadata, ICC
profile and file times kept. Preview first; --apply writes; undoable (outputs go to the trash)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from ..core.photo import display_path
from ..errors import UsageError
from ..processors.convert import ConvertOptions, ConvertPlan, apply_convert, plan_convert
from ..processors.journal import Journal
from .common import console, err_console, handle_errors, settings_from
from .tag import state_dir_for

_CONFIG = typer.Option("--config", help="YAML config file (default ~/.config/imgengine/config.yaml).",
                       dir_okay=False)


def preview(plan: ConvertPlan, limit: int) -> None:
    t = Table(title=f"imgengine convert: {len(plan.actions)} file(s) to {plan.options.to.upper()}"
              + (" (originals to the trash)" if plan.replace else "") + f", {len(plan.skipped)} left alone",
              title_justify="left")
    t.add_column("from", overflow="fold")
    t.add_column("to", overflow="fold")
    shown = plan.actions if limit <= 0 else plan.actions[:limit]
    for a in shown:
        t.add_row(display_path(a.src), display_path(a.dst))
    console.print(t)
    if len(shown) < len(plan.actions):
        console.print(f"... and {len(plan.actions) - len(shown)} more (--limit 0 shows all)")
    for p, reason in plan.skipped[: max(limit, 0) or len(plan.skipped)]:
        console.print(f"[dim]left alone[/] {display_path(p)}: {reason}", highlight=False)


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def convert(
        paths: Annotated[list[Path], typer.Argument(help="Photos and/or folders (recursively).")],
        to: str = typer.Option(..., "--to", help="jpeg | png | webp | heic | avif"),
        quality: int | None = typer.Option(None, "--quality", help="1-100 (defaults: JPEG 90, WebP 85, HEIC 80, "
                                           "AVIF 70)."),
        max_size: int | None = typer.Option(None, "--max-size", help="Shrink so that the long side is at most "
                                            "this many pixels."),
        speed: str = typer.Option("balanced", "--speed", help="HEIC/AVIF encoder effort: fast | balanced | best "
                                  "(fast: x265 ultrafast, ~6x quicker, larger files)."),
        out: Annotated[Path | None, typer.Option("--out", help="Write here (the folder structure below each "
                                                 "given folder is kept); default: beside each original.")] = None,
        suffix: str = typer.Option("", "--suffix", help="Add to the new names, e.g. _web."),
        replace: bool = typer.Option(False, "--replace", help="Move each converted original to the journal's "
                                     "trash (undo brings it back)."),
        apply: bool = typer.Option(False, "--apply", help="Convert (default: only show the plan)."),
        workers: int = typer.Option(0, "--workers", help="Encoding processes (0: all cores)."),
        json_out: bool = typer.Option(False, "--json", help="Print the plan (and results) as JSON."),
        limit: int = typer.Option(40, "--limit", help="Rows in the preview (0: all)."),
        state_dir: Annotated[Path | None, typer.Option("--state-dir", help="Where the journal goes.")] = None,
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only errors and the result line."),
        config: Annotated[Path | None, _CONFIG] = None,
    ) -> None:
        """Convert photos to JPEG, PNG, WebP, HEIC or AVIF as new files (metadata kept). Undoable."""
        if out is not None and out.exists() and not out.is_dir():
            raise UsageError(f"--out {display_path(out)}: exists and is not a folder")
        settings = settings_from(config, workers=workers)
        plan = plan_convert(paths, settings, ConvertOptions(to, quality, max_size, speed), out=out, suffix=suffix,
                            replace=replace)
        if not apply:
            if json_out:
                sys.stdout.write(json.dumps({**plan.to_dict(), "applied": False}, ensure_ascii=False) + "\n")
            else:
                preview(plan, limit)
                console.print("[bold]nothing changed[/] (a preview); add [bold]--apply[/] to do it.")
            return
        if not plan.actions:
            if json_out:
                sys.stdout.write(json.dumps({**plan.to_dict(), "applied": True, "run_id": None}) + "\n")
            elif not quiet:
                console.print("nothing to convert.")
            return
        sd = state_dir_for(state_dir, [out] if out is not None else paths)
        show = not (json_out or quiet) and err_console.is_terminal
        t0 = time.perf_counter()
        journal = Journal.begin(sd, "convert", {"paths": [os.path.abspath(p) for p in paths], "to": plan.options.to,
                                                "replace": replace}, None)
        bar = Progress(TextColumn("[bold]convert"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.speed}"),
                       console=err_console, transient=True, disable=not show)
        with journal:  # finishes the run: done, interrupted (Ctrl-C/SIGTERM) or failed
            with bar:
                task = bar.add_task("convert", total=len(plan.actions))
                results = apply_convert(plan, journal, settings.effective_workers(),
                                        progress=lambda _r: bar.advance(task))
        seconds = time.perf_counter() - t0
        done = [r for r in results if r.status == "done"]
        failed = [r for r in results if r.status != "done"]
        undo_hint = f"imgengine undo {journal.run_id} --state-dir {display_path(sd)}"
        if json_out:
            sys.stdout.write(json.dumps({**plan.to_dict(), "applied": True, "run_id": journal.run_id,
                                         "undo": undo_hint, "seconds": round(seconds, 3),
                                         "results": {"done": len(done),
                                                     "written": [display_path(r.dst) for r in done],
                                                     "not_done": [{"path": display_path(r.src), "reason": r.reason}
                                                                  for r in failed]}},
                                        ensure_ascii=False) + "\n")
        elif not quiet:
            console.print(f"[green]{len(done)} file(s) converted[/] in {seconds:.2f}s "
                          f"({len(done) / max(seconds, 1e-9):,.1f} files/s); run [bold]{journal.run_id}[/]")
            for r in failed:
                err_console.print(f"[red]{r.status}[/] {display_path(r.src)}: {r.reason}", highlight=False)
            console.print(f"undo with: {undo_hint}", highlight=False)
        if any(r.status == "failed" for r in failed):
            raise typer.Exit(1)
