"""`imgengine rename` and `imgengine organize`: plan, preview, and only with --apply change files."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..core.catalog import Catalog
from ..core.photo import display_path
from ..errors import UsageError
from ..workspace import state_dir_for
from .common import console, err_console, handle_errors, move_events, safe_text, settings_from, warn_event_failures
from .journalled import Applied, report

if TYPE_CHECKING:  # the planners import Pillow and the analyzers: only when a command runs
    from ..processors.journal import StepResult
    from ..processors.plan import Plan
    from ..settings import Settings

PREVIEW_ROWS = 40
_CONFIG = typer.Option("--config", help="YAML config file (default ~/.config/imgengine/config.yaml).",
                       dir_okay=False)


def _rel(path: Path, base: Path) -> str:
    """A path for people (control characters escaped, rich markup taken literally)."""
    try:
        return safe_text(display_path(os.path.relpath(path, base)))
    except ValueError:
        return safe_text(display_path(path))


def preview(plan: Plan, limit: int) -> None:
    from rich.table import Table

    s = plan.summary()
    todo = plan.todo
    skipped = f", {s['skipped']} skipped ({plan.skip_reason()})" if s["skipped"] else ""
    t = Table(title=f"imgengine {plan.command}: {s['to_change']} file(s) to change "
              f"({s['photos']} photos, {s['companions']} companions), {s['unchanged']} unchanged{skipped}, "
              f"{s['left_alone']} left alone", title_justify="left")
    t.add_column("from", overflow="fold")
    t.add_column("to", overflow="fold")
    t.add_column("date (source)")
    t.add_column("note", overflow="fold")
    shown = todo if limit <= 0 else todo[:limit]
    for a in shown:
        date = "-"
        if a.date is not None and a.date.source != "none":
            date = f"{a.date.value:%Y-%m-%d %H:%M:%S} [dim]{a.date.source}[/]"
        op = "" if a.op == "move" or plan.command == "rename" else "[cyan]copy[/] "
        t.add_row(_rel(a.src, plan.root), op + _rel(a.dst, plan.dest),
                  date if a.role == "photo" else f"[dim]{a.role}[/]",
                  safe_text(a.note or ""))
    console.print(t)
    if len(shown) < len(todo):
        console.print(f"... and {len(todo) - len(shown)} more (--limit 0 shows all, --json for scripts)")
    skips = [a for a in plan.actions if a.status == "skip" and a.note and a.note != "already in place"]
    for a in skips[: max(limit, 0) or len(skips)]:
        console.print(f"[yellow]skip[/] {_rel(a.src, plan.root)}: {safe_text(a.note)}", highlight=False)
    for p, reason in plan.skipped[: max(limit, 0) or len(plan.skipped)]:
        console.print(f"[dim]left alone[/] {_rel(p, plan.root)}: {safe_text(reason)}", highlight=False)


def run_plan(plan: Plan, *, apply: bool, json_out: bool, limit: int, state_dir: Path, catalog: Catalog | None,
             args: dict, quiet: bool, library_catalog: Path | None = None, settings: Settings | None = None) -> None:
    from ..processors.journal import Journal
    from ..processors.plan import apply_plan
    from .analyze import RichProgress

    if not apply:
        if json_out:
            doc = plan.to_dict()
            doc["applied"] = False
            sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
        else:
            preview(plan, limit)
            if plan.shift:
                console.print(f"with --apply the photos' capture times are also shifted by "
                              f"{safe_text(str(plan.shift))} in their metadata (undoable)")
            console.print("[bold]nothing changed[/] (a preview); add [bold]--apply[/] to do it.")
        if not plan.todo and plan.blocked:  # nothing could be done: say so in the exit code too
            raise typer.Exit(1)
        return
    if not plan.todo:
        if json_out:
            doc = plan.to_dict()
            doc.update(applied=True, run_id=None, results={"done": 0, "skipped": [], "failed": []})
            sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
        elif plan.blocked:
            err_console.print(f"nothing could be done: {len(plan.blocked)} skipped ({safe_text(plan.skip_reason())})",
                              highlight=False)
        else:
            console.print("nothing to do: every photo is already in place.")
        if plan.blocked:
            raise typer.Exit(1)
        return
    if not json_out and not quiet:
        preview(plan, min(limit, 10) if limit > 0 else 10)
        if plan.shift:
            console.print(f"capture times will be shifted by {safe_text(str(plan.shift))} in the photos' metadata")
    show = not (json_out or quiet) and err_console.is_terminal
    t0 = time.perf_counter()
    events = move_events(settings)
    journal = Journal.begin(state_dir, plan.command, args, catalog, on_moved=events)
    with journal:  # finishes the run: done, interrupted (Ctrl-C/SIGTERM) or failed
        with RichProgress(show) as bar:  # rate and ETA, as every long step
            bar.step_start(plan.command, len(plan.todo))

            def advance(_res: StepResult) -> None:
                bar.step_advance(plan.command)

            lib_cat = Catalog(library_catalog, roots=settings.roots) \
                if library_catalog is not None and catalog is not None else None
            try:
                def shifting(total: int) -> Callable[[StepResult], None]:
                    bar.step_done(plan.command)
                    bar.step_start("shift times", total)
                    return lambda _res: bar.step_advance("shift times")

                workers = settings.effective_workers() if settings is not None else 1
                results = apply_plan(plan, journal, progress=advance, library_catalog=lib_cat,
                                     workers=workers, shift_progress=shifting)
            finally:
                if lib_cat is not None:
                    lib_cat.close()
    seconds = time.perf_counter() - t0
    warn_event_failures(events, journal.event_problems)
    retimed = [r for r in results if r.op in ("rewrite", "write-new")]    # --shift-time: metadata written
    filed = [r for r in results if r.op not in ("rewrite", "write-new")]
    shifted = sum(r.status == "done" for r in retimed)
    notes = (f"capture times shifted by {safe_text(str(plan.shift))} in the metadata of {shifted} photo(s) "
             "(as `imgengine tag --shift-time`)",) if plan.shift else ()
    report(Applied(journal, state_dir, results, seconds), plan.to_dict(), {
        "done": sum(r.status == "done" for r in filed), "times_shifted": shifted,
        "changed": [{"src": display_path(r.src), "dst": display_path(r.dst), "op": r.op}
                    for r in filed if r.status == "done"],
        "skipped": [{"src": display_path(r.src), "reason": r.reason} for r in results if r.status == "skipped"],
        "failed": [{"src": display_path(r.src), "reason": r.reason} for r in results if r.status == "failed"]},
        json_out=json_out, quiet=quiet, done_line="renamed" if plan.command == "rename" else "filed",
        done_count=sum(r.status == "done" for r in filed), notes=notes)


def _state_dir(flag: Path | None, folder: Path) -> Path:
    """--state-dir, else IMGENGINE_STATE_DIR, else <folder>/.imgengine (see USAGE.md, "Where the journal lives")."""
    return state_dir_for(folder, flag)


def _open_catalog(path: Path, roots: dict | None = None) -> Catalog | None:
    return Catalog(path, roots=roots) if Path(path).is_file() else None


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def rename(
        directory: Annotated[Path, typer.Argument(help="Folder of photos to rename (recursively, each in its "
                                                  "folder).")],
        template: str = typer.Option("{date:%Y-%m-%d_%H%M%S}{seq}", "--template", "-t",
                                     help="Name template, e.g. \"{date:%Y-%m-%d_%H%M%S}_{camera}{seq}\"; "
                                     "the extension is added unless {ext} is used."),
        apply: bool = typer.Option(False, "--apply", help="Do it (default: only show the plan)."),
        normalize_ext: bool = typer.Option(False, "--normalize-ext", help="Also .jpeg -> .jpg, .tiff -> .tif."),
        shift_time: str | None = typer.Option(None, "--shift-time", help="Shift camera times, e.g. +1h, -30m."),
        timezone: str | None = typer.Option(None, "--timezone", help="Show times with a known offset in this "
                                            "zone (Europe/Berlin, +02:00); bare camera times stay local."),
        json_out: bool = typer.Option(False, "--json", help="Print the plan (and results) as JSON."),
        limit: int = typer.Option(PREVIEW_ROWS, "--limit", help="Rows in the preview (0: all)."),
        catalog: Annotated[Path | None, typer.Option("--catalog", help="Catalog (default "
                                                     "<dir>/.imgengine/catalog.db).")] = None,
        state_dir: Annotated[Path | None, typer.Option("--state-dir", help="Where the journal goes "
                                                       "(default <dir>/.imgengine).")] = None,
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No preview table or progress; errors only."),
        config: Annotated[Path | None, _CONFIG] = None,
    ) -> None:
        """Rename photos from a template. Shows the plan; changes nothing without --apply; undoable."""
        from ..processors.dates import parse_shift, parse_timezone
        from ..processors.rename import plan_rename

        if not directory.is_dir():
            raise UsageError(f"{display_path(directory)}: no such folder")
        settings = settings_from(config, catalog=catalog)
        cat = _open_catalog(settings.catalog_path(directory), settings.roots)
        try:
            plan = plan_rename(directory, template, settings, cat, normalize_ext=normalize_ext,
                               shift=parse_shift(shift_time), tz=parse_timezone(timezone))
            run_plan(plan, apply=apply, json_out=json_out, limit=limit,
                     state_dir=_state_dir(state_dir, directory), catalog=cat,
                     args={"dir": str(directory.resolve()), "template": template, "normalize_ext": normalize_ext,
                           "shift_time": shift_time, "timezone": timezone}, quiet=quiet, settings=settings)
        finally:
            if cat is not None:
                cat.close()

    @app.command()
    @handle_errors
    def organize(
        source: Annotated[Path, typer.Argument(help="Folder of photos to file.")],
        dest: Annotated[Path, typer.Argument(help="Library folder to file them into.")],
        by: str = typer.Option("date", "--by", help="date | event | tag | camera | place | person, or a layout a "
                               "plugin registers (`imgengine plugins list`)"),
        layout: str | None = typer.Option(None, "--layout", help="Folders below DEST, e.g. \"{date:%Y}/{date:%m}\" "
                                          "(default depends on --by)."),
        template: str | None = typer.Option(None, "--template", "-t", help="Also rename (as `imgengine rename`)."),
        copy: bool = typer.Option(False, "--copy", help="Copy (the default): the source stays as it is."),
        move: bool = typer.Option(False, "--move", help="Move instead of copy."),
        apply: bool = typer.Option(False, "--apply", help="Do it (default: only show the plan)."),
        gap: str = typer.Option("4h", "--gap", help="--by event: a gap longer than this starts a new event."),
        distance_km: float = typer.Option(50.0, "--distance-km", help="--by event: a jump farther than this "
                                          "(GPS) starts a new event."),
        normalize_ext: bool = typer.Option(False, "--normalize-ext", help="Lower-case extensions, .jpeg -> .jpg."),
        shift_time: str | None = typer.Option(None, "--shift-time", help="Shift camera times, e.g. +1h, -30m."),
        timezone: str | None = typer.Option(None, "--timezone", help="Show times with a known offset in this zone."),
        json_out: bool = typer.Option(False, "--json", help="Print the plan (and results) as JSON."),
        limit: int = typer.Option(PREVIEW_ROWS, "--limit", help="Rows in the preview (0: all)."),
        catalog: Annotated[Path | None, typer.Option("--catalog", help="Catalog (default "
                                                     "<source>/.imgengine/catalog.db).")] = None,
        state_dir: Annotated[Path | None, typer.Option("--state-dir", help="Where the journal goes "
                                                       "(default <dest>/.imgengine).")] = None,
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No preview table or progress; errors only."),
        config: Annotated[Path | None, _CONFIG] = None,
    ) -> None:
        """File photos into DEST by date, event, tag or camera (companion files follow). Undoable."""
        from ..processors.dates import parse_shift, parse_timezone
        from ..processors.organize import plan_organize

        if copy and move:
            raise UsageError("choose one of --copy and --move")
        if not source.is_dir():
            raise UsageError(f"{display_path(source)}: no such folder")
        if dest.exists() and not dest.is_dir():
            raise UsageError(f"{display_path(dest)}: exists and is not a folder")
        src_abs, dest_abs = source.resolve(), dest.resolve()
        settings = settings_from(config, catalog=catalog)
        cat = _open_catalog(settings.catalog_path(source), settings.roots)
        # the library's own catalog receives the analysis of what is filed there (no re-analysis)
        lib_cat_path = settings.catalog_path(dest)
        if cat is None or Path(os.path.abspath(lib_cat_path)) == Path(os.path.abspath(cat.path)):
            lib_cat_path = None
        try:
            from ..plugins.manager import get_manager  # storage layouts come through the plugin hook

            layouts = {name: lay.template for name, lay in get_manager(settings).layouts().items()}
            plan = plan_organize(source, dest, settings, cat, by=by, layout=layout, template=template,
                                 op="move" if move else "copy", gap=parse_shift(gap), distance_km=distance_km,
                                 normalize_ext=normalize_ext, shift=parse_shift(shift_time),
                                 tz=parse_timezone(timezone), layouts=layouts)
            run_plan(plan, apply=apply, json_out=json_out, limit=limit,
                     state_dir=_state_dir(state_dir, dest), catalog=cat, library_catalog=lib_cat_path,
                     args={"source": str(src_abs), "dest": str(dest_abs), "by": by, "layout": layout,
                           "template": template, "op": "move" if move else "copy", "shift_time": shift_time,
                           "timezone": timezone}, quiet=quiet, settings=settings)
        finally:
            if cat is not None:
                cat.close()
