"""`imgengine scrub`: remove location and personal metadata before sharing, to copies by default or in
place with --in-place (undoable). Each result is re-read and checked."""

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
from ..metadata.scrub import parse_keep
from ..metadata.writer import MetadataWriter
from ..processors.journal import Journal
from ..processors.scrub import apply_scrub, plan_scrub
from .common import console, err_console, handle_errors, settings_from
from .tag import state_dir_for

_CONFIG = typer.Option("--config", help="YAML config file (default ~/.config/imgengine/config.yaml).",
                       dir_okay=False)


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def scrub(
        paths: Annotated[list[Path], typer.Argument(help="Photos and/or folders (recursively).")],
        gps_only: bool = typer.Option(False, "--gps-only", help="Remove only the location."),
        all_: bool = typer.Option(False, "--all", help="Remove every EXIF/IPTC/XMP value (orientation and the "
                                  "tags the standard requires stay)."),
        keep: str | None = typer.Option(None, "--keep", help="Keep these: artist, copyright, date, camera, gps "
                                        "(comma-separated)."),
        in_place: bool = typer.Option(False, "--in-place", help="Change the files themselves (with --apply; "
                                      "undoable) instead of writing copies."),
        out: Annotated[Path | None, typer.Option("--out", help="Write the copies here (default: "
                                                 "NAME_scrubbed.EXT beside each photo).")] = None,
        apply: bool = typer.Option(False, "--apply", help="Do it (default: only show the plan)."),
        json_out: bool = typer.Option(False, "--json", help="Print the plan (and results) as JSON."),
        limit: int = typer.Option(40, "--limit", help="Rows in the preview (0: all)."),
        state_dir: Annotated[Path | None, typer.Option("--state-dir", help="Where the journal goes.")] = None,
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only errors and the result line."),
        config: Annotated[Path | None, _CONFIG] = None,
    ) -> None:
        """Remove GPS, serial numbers, owner names, editing history and old thumbnails before sharing."""
        if gps_only and all_:
            raise UsageError("choose one of --gps-only and --all")
        level = "gps" if gps_only else "all" if all_ else "privacy"
        settings = settings_from(config)
        with MetadataWriter() as writer:
            plan = plan_scrub(paths, settings, level=level, keep=parse_keep(keep), in_place=in_place, out=out,
                              exiftool_available=writer.exiftool_available)
            if not apply:
                if json_out:
                    sys.stdout.write(json.dumps({**plan.to_dict(), "applied": False}, ensure_ascii=False) + "\n")
                    return
                t = Table(title=f"imgengine scrub ({level}{', in place' if in_place else ', to copies'}): "
                          f"{len(plan.actions)} file(s), {len(plan.skipped)} left alone", title_justify="left")
                t.add_column("photo", overflow="fold")
                t.add_column("written to", overflow="fold")
                for a in plan.actions if limit <= 0 else plan.actions[:limit]:
                    t.add_row(display_path(a.src), "(in place)" if in_place else display_path(a.dst))
                console.print(t)
                for p, reason in plan.skipped[: max(limit, 0) or len(plan.skipped)]:
                    console.print(f"[dim]left alone[/] {display_path(p)}: {reason}", highlight=False)
                console.print("[bold]nothing changed[/] (a preview); add [bold]--apply[/] to do it.")
                return
            if not plan.actions:
                if not quiet:
                    console.print("nothing to scrub.")
                return
            sd = state_dir_for(state_dir, [out] if out is not None else paths)
            show = not (json_out or quiet) and err_console.is_terminal
            t0 = time.perf_counter()
            journal = Journal.begin(sd, "scrub", {"paths": [os.path.abspath(p) for p in paths], "level": level,
                                                  "keep": keep, "in_place": in_place}, None)
            bar = Progress(TextColumn("[bold]scrub"), BarColumn(), MofNCompleteColumn(), console=err_console,
                           transient=True, disable=not show)
            with journal:  # finishes the run: done, interrupted (Ctrl-C/SIGTERM) or failed
                with bar:
                    task = bar.add_task("scrub", total=len(plan.actions))
                    results = apply_scrub(plan, journal, writer, progress=lambda _r: bar.advance(task),
                                          workers=settings.effective_workers())
        seconds = time.perf_counter() - t0
        done = [r for r in results if r.status == "done"]
        other = [r for r in results if r.status != "done"]
        undo_hint = f"imgengine undo {journal.run_id} --state-dir {display_path(sd)}"
        if json_out:
            sys.stdout.write(json.dumps({**plan.to_dict(), "applied": True, "run_id": journal.run_id, "undo": undo_hint,
                                         "results": {"done": len(done),
                                                     "written": [display_path(r.dst or r.src) for r in done],
                                                     "not_done": [{"path": display_path(r.src), "status": r.status,
                                                                   "reason": r.reason} for r in other]}},
                                        ensure_ascii=False) + "\n")
        elif not quiet:
            console.print(f"[green]{len(done)} file(s) scrubbed and checked[/] in {seconds:.2f}s; run "
                          f"[bold]{journal.run_id}[/]")
            for r in other:
                err_console.print(f"[yellow]{r.status}[/] {display_path(r.src)}: {r.reason}", highlight=False)
            console.print(f"undo with: {undo_hint}", highlight=False)
        if any(r.status == "failed" for r in other):
            raise typer.Exit(1)
