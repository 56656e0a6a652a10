"""`imgengine scrub`: remove location and personal metadata before sharing, to copies by default or in
place with --in-place (undoable). Each result is re-read and checked."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ..core.photo import display_path
from ..errors import UsageError
from ..metadata.scrub import parse_keep
from ..metadata.writer import MetadataWriter
from ..processors.scrub import ScrubPlan, apply_scrub, plan_scrub
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


def preview(plan: ScrubPlan, level: str, in_place: bool, limit: int) -> None:
    preview_table(f"imgengine scrub ({level}{', in place' if in_place else ', to copies'}): "
                  f"{len(plan.actions)} file(s), {len(plan.skipped)} left alone", ("photo", "written to"),
                  plan.actions, lambda a: (display_path(a.src), "(in place)" if in_place else display_path(a.dst)),
                  plan.skipped, limit)


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
        json_out: bool = JSON_OUT,
        limit: int = LIMIT,
        state_dir: Annotated[Path | None, typer.Option("--state-dir", help="Where the journal goes.")] = None,
        quiet: bool = QUIET,
        config: Annotated[Path | None, CONFIG] = None,
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
                show_plan(plan.to_dict(), json_out, lambda: preview(plan, level, in_place, limit))
                return
            if not plan.actions:
                if not quiet:
                    console.print("nothing to scrub.")
                return
            applied = apply_in_journal(
                "scrub", len(plan.actions), state_dir_for(state_dir, [out] if out is not None else paths),
                {"paths": [os.path.abspath(p) for p in paths], "level": level, "keep": keep, "in_place": in_place},
                None, lambda j, progress: apply_scrub(plan, j, writer, progress=progress,
                                                      workers=settings.effective_workers()),
                json_out=json_out, quiet=quiet)
        report(applied, plan.to_dict(), {"done": len(applied.by_status("done")),
                                         "written": [display_path(r.dst or r.src) for r in applied.by_status("done")],
                                         "not_done": not_done(applied.results, with_status=True)},
               json_out=json_out, quiet=quiet, done_line="scrubbed and checked")
