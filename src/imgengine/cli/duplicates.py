"""`imgengine duplicates`: exact and near-duplicate groups, keeper choice, and undoable actions."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..core.catalog import Catalog
from ..core.outputs import check_output_path
from ..core.photo import display_path
from ..errors import UsageError
from ..logs import RunLogger
from ..processors.dedup.params import DedupParams
from .analyze import RichProgress
from .common import (
    ConfigOption,
    console,
    err_console,
    handle_errors,
    move_events,
    safe_text,
    settings_from,
    warn_event_failures,
)

if TYPE_CHECKING:  # the finder imports numpy and the analyzers: only when the command runs
    from ..processors.dedup import FindResult
    from ..processors.dedup.actions import ActionPlan

CONFIRM_WORD = "delete"


def print_groups(result: FindResult, limit: int) -> None:
    from rich.table import Table

    from ..processors.dedup.report import _size

    s = result.summary()
    console.print(f"[bold]{s['groups']}[/] duplicate groups ({s['exact_groups']} exact, {s['near_groups']} near): "
                  f"{s['duplicates']} files, [bold]{_size(s['bytes_freed'])}[/] could be freed "
                  f"({s['photos']} photos compared{', CLIP used' if s['clip_used'] else ''})")
    shown = result.groups if limit <= 0 else result.groups[:limit]
    for g in shown:
        t = Table(title=f"group {g.id} · {g.kind} · {_size(g.bytes_freed)} to free · keep: {'; '.join(g.reasons)}",
                  title_justify="left", show_header=False, box=None, padding=(0, 1))
        t.add_column(width=6)
        t.add_column(overflow="fold")
        t.add_column()
        for m in g.members:
            e = m.entry
            tag = "[green]keep[/]" if m.keeper else ("same" if m.exact_of_keeper else "near")
            detail = f"{e.width}x{e.height} {e.format} {_size(e.size)}"
            if m.residual is not None:
                detail += f" [dim]r={m.residual:.3f}[/]"
            if m.turned:
                detail += f" [dim]{m.turned}[/]"
            t.add_row(tag, safe_text(display_path(e.path)), detail)
        console.print(t)
    if len(shown) < len(result.groups):
        console.print(f"... and {len(result.groups) - len(shown)} more groups (--limit 0 shows all; --json, -o)")
    if not result.search_exact:
        console.print(f"[dim]{s['photos']:,} photos: the hash search spent its budget where it finds most and was "
                      "not exhaustive (see USAGE, 'How groups are decided')[/]")


def print_plan(plan: ActionPlan, applied: bool) -> None:
    from ..processors.dedup.report import _size

    verb = {"move": "move", "hardlink": "hard-link", "delete": "move to the trash"}[plan.action]
    if plan.action == "move":
        where = f"{_size(plan.bytes_released)} moved out of the folder"
    else:
        where = (f"{_size(plan.bytes_to_trash)} go to the trash (freed only by `imgengine trash empty`; "
                 "until then `imgengine undo` brings them back)")
    console.print(f"{'applying' if applied else '[bold]dry run[/]'}: {verb} {len(plan.steps)} duplicate(s), "
                  + where + (f", merge metadata into {len(plan.merges)} keeper(s)" if plan.merges else ""))
    for gid, why in plan.skipped:
        err_console.print(f"[yellow]group {gid} skipped:[/] {safe_text(why)}", highlight=False)


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def duplicates(
        directory: Annotated[Path, typer.Argument(help="Folder of photos to check.")],
        exact_only: bool = typer.Option(False, "--exact-only", help="Only identical files (sha256)."),
        threshold: int = typer.Option(DedupParams.threshold, "--threshold", min=0, max=96,
                                      help="Max summed pHash+dHash+wHash distance (bits of 192) for a "
                                      "candidate pair; candidates are then verified on thumbnails."),
        max_residual: float = typer.Option(DedupParams.max_residual, "--max-residual", min=0.0,
                                           help="Max aligned-thumbnail residual for a near duplicate "
                                           "(lower = stricter)."),
        no_clip: bool = typer.Option(False, "--no-clip", help="Ignore CLIP embeddings in the catalog."),
        json_out: bool = typer.Option(False, "--json", help="Print the groups (and plan) as JSON."),
        output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the groups to a .json file.")
                          ] = None,
        html_out: Annotated[Path | None, typer.Option("--html", help="Write an HTML report with thumbnails.")
                            ] = None,
        move_to: Annotated[Path | None, typer.Option("--move-to", help="Move the duplicates into this folder.")
                           ] = None,
        hardlink: bool = typer.Option(False, "--hardlink", help="Replace each byte-identical copy by a hard "
                                      "link to its keeper (near duplicates are refused: move or delete them)."),
        delete: bool = typer.Option(False, "--delete", help="Move duplicates to the trash of the journal "
                                    "(needs --apply and --confirm delete)."),
        confirm: str | None = typer.Option(None, "--confirm", help="Type the word 'delete' to allow --delete."),
        merge_metadata: bool = typer.Option(False, "--merge-metadata", help="Copy GPS, date and keywords the "
                                            "keeper lacks from its duplicates (JPEG keepers) before acting."),
        apply: bool = typer.Option(False, "--apply", help="Do it (default: only show the plan)."),
        no_analyze: bool = typer.Option(False, "--no-analyze", help="Use the catalog as it is; do not analyse "
                                        "new or changed files first."),
        limit: int = typer.Option(20, "--limit", help="Groups shown (0: all)."),
        catalog: Annotated[Path | None, typer.Option("--catalog", help="Catalog (default <dir>/.imgengine/"
                                                     "catalog.db); a shared one compares against all of it.")
                           ] = None,
        state_dir: Annotated[Path | None, typer.Option("--state-dir", help="Where the journal goes "
                                                       "(default <dir>/.imgengine).")] = None,
        workers: int | None = typer.Option(None, "--workers", "-w", min=0, help="Worker processes for analysis."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No table or progress; errors only."),
        config: Path | None = ConfigOption,
    ) -> None:
        """Find identical and near-identical photos; choose a keeper; move, hard-link or delete the rest."""
        from ..processors.dedup import scan_duplicates
        from ..processors.dedup.actions import apply_actions, plan_actions
        from ..processors.dedup.report import result_document, write_html, write_json
        from ..processors.journal import Journal
        from ..processors.plan import STATE_FOLDER

        if not directory.is_dir():
            raise UsageError(f"{display_path(directory)}: no such folder")
        actions = [a for a, on in (("move", move_to is not None), ("hardlink", hardlink), ("delete", delete)) if on]
        if len(actions) > 1:
            raise UsageError("choose one of --move-to, --hardlink and --delete")
        action = actions[0] if actions else None
        if output is not None:
            check_output_path(output, (".json",))
        if html_out is not None:
            check_output_path(html_out, (), "--html")
        if merge_metadata and action is None:
            raise UsageError("--merge-metadata goes with an action (--move-to, --hardlink or --delete)")
        if delete and apply and confirm != CONFIRM_WORD:
            raise UsageError("--delete with --apply also needs --confirm delete (the word in full); nothing "
                             "was changed")
        if move_to is not None and move_to.exists() and not move_to.is_dir():
            raise UsageError(f"{display_path(move_to)}: exists and is not a folder")
        settings = settings_from(config, catalog=catalog, workers=workers, quiet=quiet or None)
        params = DedupParams(threshold=threshold, max_residual=max_residual, exact_only=exact_only,
                             use_clip=not no_clip)
        show = not (json_out or settings.quiet) and err_console.is_terminal
        logger = RunLogger(settings.log_dir, command="duplicates")
        try:
            with RichProgress(show) as progress:
                result, summary, cat_path = scan_duplicates(directory, settings, params, analyze=not no_analyze,
                                                            whole_catalog=catalog is not None,
                                                            progress=progress, logger=logger)
        finally:
            logger.close()
        plan = None
        report = None
        if action is not None:
            plan = plan_actions(result.groups, action, directory, move_to=move_to, merge_metadata=merge_metadata)
            if apply:
                sdir = state_dir or directory / STATE_FOLDER
                events = move_events(settings)
                with Catalog(cat_path, roots=settings.roots) as cat:
                    journal = Journal.begin(sdir, "duplicates", {
                        "dir": str(directory.resolve()), "action": action,
                        "move_to": str(move_to.resolve()) if move_to else None,
                        "merge_metadata": merge_metadata}, catalog=cat, on_moved=events)
                    with journal:
                        report = apply_actions(plan, journal)
                warn_event_failures(events, journal.event_problems)
        doc = result_document(result, directory, cat_path, plan.to_dict() if plan else None)
        if report is not None:
            doc["applied"] = report.to_dict()
        if output is not None:
            write_json(doc, output)
        if html_out is not None:
            write_html(result, directory, html_out)
        if json_out:
            sys.stdout.write(json.dumps(doc, ensure_ascii=False, default=str) + "\n")
        elif not settings.quiet:
            print_groups(result, limit)
            if plan is not None:
                print_plan(plan, apply)
                if not apply:
                    extra = " --confirm delete" if action == "delete" else ""
                    console.print(f"nothing changed; add --apply{extra} to do it (undo with `imgengine undo`)")
            if report is not None:
                console.print(f"run [bold]{report.run_id}[/]: {report.done} step(s) done"
                              + (f", metadata merged into {len(report.merged)} keeper(s)" if report.merged else "")
                              + f"; undo with `imgengine undo {report.run_id}`")
                if action in ("delete", "hardlink"):
                    trash = os.path.join(state_dir or directory / STATE_FOLDER, "trash", report.run_id)
                    console.print(f"the duplicates' bytes wait in {display_path(trash)}: nothing is freed until "
                                  "`imgengine trash empty` (after which this run cannot be undone)")
            for p in (report.problems if report else []):
                err_console.print(f"[yellow]problem:[/] {safe_text(p)}", highlight=False)
            if output is not None:
                console.print(f"groups written to {output}")
            if html_out is not None:
                console.print(f"report written to {html_out}")
        checks = (summary or {}).get("members") or {}
        if not json_out and not settings.quiet and (checks.get("gone") or checks.get("unreachable")
                                                    or checks.get("reanalysed")):
            err_console.print(f"checked {checks['checked']:,} catalogued photo(s): {checks['gone']} gone since they "
                              f"were analysed (left out), {checks['reanalysed']} changed (analysed again), "
                              f"{checks['unreachable']} unreachable (left out)", highlight=False)
        if summary and summary.get("failed"):
            err_console.print(f"[yellow]{summary['failed']} file(s) could not be analysed[/]; see {settings.log_dir}")
        if (report and report.problems) or (summary and summary.get("failed")):
            raise typer.Exit(1)
