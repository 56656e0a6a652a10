"""`imgengine convert`: new files in another format (HEIC -> JPEG the everyday case), metadata, ICC
profile and file times kept. Preview first; --apply writes; undoable (outputs go to the trash)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..core.photo import display_path
from ..errors import UsageError
from ..processors.convert import ConvertOptions, ConvertPlan, apply_convert, plan_convert
from .common import console, handle_errors, settings_from
from .journalled import (
    CONFIG,
    JSON_OUT,
    LIMIT,
    QUIET,
    apply_in_journal,
    not_done,
    preview_table,
    report,
    show_plan,
    state_dir_for,
)


def preview(plan: ConvertPlan, limit: int) -> None:
    preview_table(f"imgengine convert: {len(plan.actions)} file(s) to {plan.options.to.upper()}"
                  + (" (originals to the trash)" if plan.replace else "") + f", {len(plan.skipped)} left alone",
                  ("from", "to"), plan.actions, lambda a: (display_path(a.src), display_path(a.dst)), plan.skipped,
                  limit)


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
        json_out: bool = JSON_OUT,
        limit: int = LIMIT,
        state_dir: Annotated[Path | None, typer.Option("--state-dir", help="Where the journal goes.")] = None,
        quiet: bool = QUIET,
        config: Annotated[Path | None, CONFIG] = None,
    ) -> None:
        """Convert photos to JPEG, PNG, WebP, HEIC or AVIF as new files (metadata kept). Undoable."""
        if out is not None and out.exists() and not out.is_dir():
            raise UsageError(f"--out {display_path(out)}: exists and is not a folder")
        settings = settings_from(config, workers=workers)
        plan = plan_convert(paths, settings, ConvertOptions(to, quality, max_size, speed), out=out, suffix=suffix,
                            replace=replace)
        if not apply:
            show_plan(plan.to_dict(), json_out, lambda: preview(plan, limit))
            return
        if not plan.actions:
            if json_out:
                sys.stdout.write(json.dumps({**plan.to_dict(), "applied": True, "run_id": None}) + "\n")
            elif not quiet:
                console.print("nothing to convert.")
            return
        applied = apply_in_journal(
            "convert", len(plan.actions), state_dir_for(state_dir, [out] if out is not None else paths),
            {"paths": [os.path.abspath(p) for p in paths], "to": plan.options.to, "replace": replace}, None,
            lambda j, progress: apply_convert(plan, j, settings.effective_workers(), progress=progress),
            json_out=json_out, quiet=quiet, rate=True)
        written = [r for r in applied.by_status("done") if r.op == "write-new"]
        report(applied, plan.to_dict(), {"done": len(written), "written": [display_path(r.dst) for r in written],
                                         "not_done": not_done(applied.results)},
               json_out=json_out, quiet=quiet, done_line="converted")
