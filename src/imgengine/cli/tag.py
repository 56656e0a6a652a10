"""`imgengine tag`: write keywords, title, description, rating, label, GPS, dates, artist and copyright
(embedded where the format allows, else an XMP sidecar). Preview first; --apply writes; undoable."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..core.catalog import Catalog
from ..core.photo import display_path
from ..errors import UsageError
from ..metadata.fields import TagEdit, clean_keyword, parse_capture_date, parse_gps
from ..metadata.sidecar import NAMINGS
from ..metadata.writer import MetadataWriter
from ..processors.dates import parse_shift, parse_timezone
from ..processors.journal import StepResult
from ..processors.tag import ANALYSIS_KINDS, TagAction, TagPlan, apply_tag, edits_from_analysis, plan_tag
from .common import console, handle_errors, settings_from
from .journalled import (
    CONFIG,
    JSON_OUT,
    LIMIT,
    QUIET,
    apply_in_journal,
    preview_table,
    report,
    show_plan,
    state_dir_for,
)

HOW = {"exiv2": "embedded", "exiftool": "embedded (ExifTool)", "sidecar": "sidecar", "sidecar-new": "new sidecar",
       "sidecar-replace": "replaced sidecar"}


def build_edit(add_keyword: list[str], remove_keyword: list[str], title: str | None, description: str | None,
               rating: int | None, label: str | None, gps: str | None, date: str | None, shift_time: str | None,
               timezone: str | None, artist: str | None, copyright_: str | None) -> TagEdit:
    shift = parse_shift(shift_time) if shift_time else None
    edit = TagEdit(
        add_keywords=tuple(clean_keyword(k) for k in add_keyword),
        remove_keywords=tuple(clean_keyword(k) for k in remove_keyword),
        title=title, description=description, rating=rating, label=label,
        gps=parse_gps(gps) if gps else None, date=parse_capture_date(date) if date else None,
        shift=shift if shift else None, timezone=parse_timezone(timezone) if timezone else None,
        artist=artist, copyright=copyright_)
    edit.validate()
    return edit


def preview(plan: TagPlan, limit: int) -> None:
    s = plan.summary()

    def row(a: TagAction) -> tuple[str, str, str]:
        where = HOW.get(a.target.how, a.target.how)
        if a.target.how.startswith("sidecar"):
            where += f" {a.target.path.name}"
        return (display_path(a.photo), where + (f"\n[dim]{a.target.note}[/]" if a.target.note else ""),
                a.edit.summary())

    preview_table(f"imgengine {plan.command}: {s['files']} file(s) to change ({s['embedded']} embedded, "
                  f"{s['sidecars']} sidecars), {s['left_alone']} left alone", ("photo", "written to", "changes"),
                  plan.actions, row, plan.skipped, limit)


def run_tag_plan(plan: TagPlan, writer: MetadataWriter, *, apply: bool, json_out: bool, limit: int,
                 state_dir: Path, catalog: Catalog | None, args: dict, quiet: bool,
                 apply_fn=apply_tag, workers: int = 1) -> list[StepResult]:
    """Preview, or apply through the journal and report."""
    if not apply:
        show_plan(plan.to_dict(), json_out, lambda: preview(plan, limit))
        return []
    if not plan.actions:
        if json_out:
            sys.stdout.write(json.dumps({**plan.to_dict(), "applied": True, "run_id": None}, ensure_ascii=False)
                             + "\n")
        elif not quiet:
            console.print("nothing to do.")
            for p, reason in plan.skipped[: max(limit, 0) or len(plan.skipped)]:
                console.print(f"[dim]left alone[/] {display_path(p)}: {reason}", highlight=False)
        return []
    applied = apply_in_journal(plan.command, len(plan.actions), state_dir, args, catalog,
                               lambda j, progress: apply_fn(plan, j, writer, progress=progress, workers=workers),
                               json_out=json_out, quiet=quiet)
    results = applied.results
    report(applied, plan.to_dict(), {
        "done": len(applied.by_status("done")),
        "changed": [display_path(r.dst or r.src) for r in applied.by_status("done")],
        "skipped": [{"path": display_path(r.src), "reason": r.reason} for r in applied.by_status("skipped")],
        "failed": [{"path": display_path(r.src), "reason": r.reason} for r in applied.by_status("failed")]},
        json_out=json_out, quiet=quiet, done_line="written")
    return results


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def tag(
        paths: Annotated[list[Path], typer.Argument(help="Photos and/or folders (recursively).")],
        add_keyword: Annotated[list[str], typer.Option("--add-keyword", "-k", help="Add a keyword (repeat; "
                                                       "'Places|France|Paris' is hierarchical).")] = [],  # noqa: B006
        remove_keyword: Annotated[list[str], typer.Option("--remove-keyword", help="Remove a keyword "
                                                          "(repeat).")] = [],  # noqa: B006
        title: str | None = typer.Option(None, "--title", help="Title (\"\" clears it)."),
        description: str | None = typer.Option(None, "--description", help="Description/caption (\"\" clears)."),
        rating: int | None = typer.Option(None, "--rating", help="Rating 0-5 (-1: rejected)."),
        label: str | None = typer.Option(None, "--label", help="Colour label: Red, Yellow, Green, Blue, Purple."),
        gps: str | None = typer.Option(None, "--gps", help="LAT,LON[,ALT] in decimal degrees (and metres)."),
        date: str | None = typer.Option(None, "--date", help="Capture time \"YYYY-MM-DD HH:MM:SS[+hh:mm]\"."),
        shift_time: str | None = typer.Option(None, "--shift-time", help="Shift every capture/creation time, "
                                              "e.g. +1h, -30m, +1d2h."),
        timezone: str | None = typer.Option(None, "--timezone", help="Record the UTC offset of the times "
                                            "(+02:00 or Europe/Berlin; clock times unchanged)."),
        artist: str | None = typer.Option(None, "--artist", help="Creator (EXIF Artist, dc:creator, By-line)."),
        copyright_: str | None = typer.Option(None, "--copyright", help="Copyright notice."),
        from_analysis: bool = typer.Option(False, "--from-analysis", help="Add keywords from the catalog: "
                                           "scenes, objects, quality, people, places."),
        only: str = typer.Option(",".join(ANALYSIS_KINDS), "--only", help="--from-analysis: which kinds."),
        min_confidence: float = typer.Option(0.0, "--min-confidence", help="--from-analysis: lowest score kept."),
        sidecar_naming: str = typer.Option("stem", "--sidecar-naming", help="New sidecars: stem (photo.xmp, "
                                           "Lightroom/darktable) or full (photo.HEIC.xmp, digiKam)."),
        sidecar_only: bool = typer.Option(False, "--sidecar", help="Write XMP sidecars, never the photos."),
        repair: bool = typer.Option(False, "--repair", help="A JPEG whose EXIF cannot be read gets a new, clean "
                                    "EXIF block instead of being refused (undo restores the original)."),
        apply: bool = typer.Option(False, "--apply", help="Write (default: only show the plan)."),
        json_out: bool = JSON_OUT,
        limit: int = LIMIT,
        catalog: Annotated[Path | None, typer.Option("--catalog", help="Catalog for --from-analysis.")] = None,
        state_dir: Annotated[Path | None, typer.Option("--state-dir", help="Where the journal goes "
                                                       "(default <folder>/.imgengine).")] = None,
        quiet: bool = QUIET,
        config: Annotated[Path | None, CONFIG] = None,
    ) -> None:
        """Write metadata into photos (losslessly; sidecars for RAW). Preview first; --apply; undoable."""
        if sidecar_naming not in NAMINGS:
            raise UsageError(f"--sidecar-naming {sidecar_naming!r}: use stem or full")
        edit = build_edit(add_keyword, remove_keyword, title, description, rating, label, gps, date, shift_time,
                          timezone, artist, copyright_)
        settings = settings_from(config, catalog=catalog)
        cat = None
        if from_analysis:
            first = Path(os.path.abspath(paths[0]))
            cat_path = settings.catalog_path(first if first.is_dir() else first.parent)
            if not Path(cat_path).is_file():
                raise UsageError(f"--from-analysis: no catalog at {display_path(cat_path)}; run `imgengine analyze` "
                                 "first (or give --catalog)")
            cat = Catalog(cat_path, roots=settings.roots)
            edit_for = edits_from_analysis(cat, paths, edit, [k.strip() for k in only.split(",") if k.strip()],
                                           min_confidence)
        else:
            if edit.is_empty():
                raise UsageError("nothing to write: give --add-keyword, --title, --rating, ... or --from-analysis")

            def edit_for(_path: Path) -> TagEdit:
                return edit
        try:
            with MetadataWriter(sidecar_naming=sidecar_naming, sidecar_only=sidecar_only, repair=repair) as writer:
                plan = plan_tag(paths, settings, writer, edit_for)
                run_tag_plan(plan, writer, apply=apply, json_out=json_out, limit=limit,
                             state_dir=state_dir_for(state_dir, paths), catalog=cat,
                             args={"paths": [os.path.abspath(p) for p in paths], "changes": edit.summary(),
                                   "from_analysis": from_analysis}, quiet=quiet,
                             workers=settings.effective_workers())
        finally:
            if cat is not None:
                cat.close()
