"""`imgengine analyze`, `imgengine show`, `imgengine stats`."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ..catalog import CatalogStore, catalog_exists, open_catalog
from ..core.catalog import Catalog
from ..core.photo import display_path, escape_control
from ..errors import UsageError
from ..metadata.values import (
    aperture_text,
    camera_name,
    exposure_text,
    file_size_text,
    flash_text,
    focal_length_text,
)
from ..workspace import existing_catalog_path
from .common import ConfigOption, console, err_console, handle_errors, safe_text, settings_from

STATS_TOP = 20  # rows of the cameras and lenses tables (--all: every one; --json is always complete)
_COLUMN = {"formats": "format", "cameras": "camera", "lenses": "lens", "years": "year"}  # stats tables' first column

if TYPE_CHECKING:
    from ..engine.perfile import FileOutcome
    from ..engine.run import RunResult
    from ..logs import RunLogger


SHOW_FAILURES = 10  # failed files listed after the summary, one line each


def escape(text: str) -> str:
    """rich markup escaped (rich imported on first use)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


class RichProgress:
    """Progress bars with a rate and an ETA: the per-file analysis (with the error count so far) and every
    other long step reported through ``imgengine.progress.StepProgress`` (models, vision, comparing,
    search index, applying a plan)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.errors = 0
        self.t0 = time.perf_counter()
        self.done = 0
        self.task = None
        self._steps: dict[str, list[Any]] = {}   # step -> [task, start time, unit, done]
        self.bar = None
        if not enabled:  # -q, --json, not a terminal: no bar, and no rich update per file
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), TextColumn("{task.fields[errs]}"),
            console=err_console.get(), transient=True,
        )

    def __enter__(self):
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def start(self, total: int, skipped: int) -> None:
        self.t0 = time.perf_counter()
        if self.bar is not None:
            self.task = self.bar.add_task("analysing", total=total, rate="", errs="")

    def advance(self, outcome: FileOutcome) -> None:
        self.done += 1
        if outcome.status == "error":
            self.errors += 1
        if self.bar is None:
            return
        rate = self.done / max(time.perf_counter() - self.t0, 1e-6)
        self.bar.update(self.task, advance=1, rate=f"{rate:,.1f} files/s",
                        errs=f"[red]{self.errors} errors[/]" if self.errors else "")

    # -- imgengine.progress.StepProgress ---------------------------------------------------------------
    def step_start(self, step: str, total: int, unit: str = "files") -> None:
        if self.bar is None:  # no bar: the step's count is still kept
            self._steps[step] = [None, time.perf_counter(), unit, 0]
            return
        if self.task is not None and step in ("vision", "loading models", "checking files", "reading thumbnails",
                                              "searching", "comparing"):
            self.bar.update(self.task, visible=False)  # the per-file bar is done: do not leave it frozen
        task = self.bar.add_task(step, total=total, rate="", errs="")
        self._steps[step] = [task, time.perf_counter(), unit, 0]

    def step_advance(self, step: str, n: int = 1) -> None:
        if step not in self._steps:
            return
        entry = self._steps[step]
        entry[3] += n
        if self.bar is None:
            return
        rate = entry[3] / max(time.perf_counter() - entry[1], 1e-6)
        self.bar.update(entry[0], advance=n, rate=f"{rate:,.1f} {entry[2]}/s")

    def step_done(self, step: str) -> None:
        if step in self._steps:
            task = self._steps.pop(step)[0]
            if self.bar is not None:
                self.bar.update(task, visible=False)


def short_vision_warning(vision: dict) -> str | None:
    """The vision stage's warning in one short line (the full text, with every folder looked in, is in
    the run's log)."""
    text = vision.get("warning")
    if not text:
        return None
    parts = [p.strip().removeprefix("vision: ").split(" (looked in")[0]
             for p in text.removeprefix("vision: ").split(";")]
    # the first problem, and any other analyzer's own problem (a bad scene model...), without the hints
    # on how to get weights that follow the first one: those are in the log
    parts = [p for i, p in enumerate(parts) if p and not p.endswith("stage skipped")
             and (i == 0 or not p.lower().startswith(("get them", "use --no-vision", "or ", "see ")))]
    first = "; ".join(dict.fromkeys(parts)) or text
    skipped = vision.get("status") == "skipped" or text.endswith("vision stage skipped")
    hint = "`imgengine models download`, or --no-vision" if "not found" in first else "see the log"
    return f"vision {'skipped' if skipped else 'partly skipped'}: {first} ({hint})"


FAILURES_SHOWN = 5


def print_problems(result: RunResult, logger: RunLogger) -> None:
    """What went wrong, on the terminal: the first failures one line each, files still broken from an
    earlier run, folders that could not be read, and where the rest is written."""
    s = result.summary
    if not (result.failures or result.failed or s.get("known_broken") or s.get("scan_problems")
            or logger.write_failed):
        return  # nothing to say (and no rich import for saying it)
    logs = f"{safe_text(display_path(logger.log_dir))}/{result.run_id}.log" if logger.summary_path else None
    for outcome in result.failures[:FAILURES_SHOWN]:
        name, error = escape_control(display_path(outcome.path)), outcome.error or "failed"
        line = error if name in error else f"{name}: {error}"
        err_console.print(f"[red]failed:[/] {safe_text(line)}", highlight=False, soft_wrap=True)
    if result.failed:
        more = f"; {result.failed - FAILURES_SHOWN:,} more" if result.failed > FAILURES_SHOWN else ""
        err_console.print(f"[red]{result.failed:,} file(s) failed[/]{more}"
                          + (f"; every error is in {logs} and errors.jsonl" if logs else ""), highlight=False,
                          soft_wrap=True)
    if s.get("known_broken"):
        err_console.print(f"[yellow]{s['known_broken']:,} known broken, unchanged[/] — `--retry-failed` to try "
                          "again", highlight=False, soft_wrap=True)
    if s.get("scan_problems"):
        folders = s.get("unreadable_folders") or 0
        other = s["scan_problems"] - folders
        parts = ([f"{folders:,} folder(s) could not be read"] if folders else []) + \
                ([f"{other:,} file(s) could not be read"] if other else [])
        err_console.print(f"[yellow]{', '.join(parts)}[/]" + (f" (listed in {logs})" if logs else ""),
                          highlight=False, soft_wrap=True)
    if logger.write_failed:
        err_console.print(f"[yellow]warning:[/] the log in {safe_text(display_path(logger.log_dir))} could not be "
                          f"written completely ({safe_text(logger.write_failed)})", highlight=False)


def print_summary(result: RunResult) -> None:
    from rich.table import Table

    s = result.summary
    table = Table(title=f"imgengine analyze — run {result.run_id}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("files seen", f"{s['files_seen']:,}")
    table.add_row("analysed", f"{s['analyzed']:,}  ({s['files_per_second']:,.1f} files/s, {s['workers']} workers)")
    table.add_row("ok", f"[green]{s['ok']:,}[/]")
    table.add_row("failed", f"[red]{s['failed']:,}[/]" if s["failed"] else "0")
    table.add_row("skipped (unchanged)", f"{s['skipped_unchanged']:,}")
    if s.get("known_broken"):
        table.add_row("known broken (unchanged)", f"[yellow]{s['known_broken']:,}[/] (--retry-failed)")
    if s.get("moved"):
        table.add_row("moved (recognised by sha256)", f"{s['moved']:,}")
    if s.get("ignored"):
        table.add_row("not images (ignored)", f"{s['ignored']:,}")
    if s.get("gone"):
        table.add_row("gone", f"{s['gone']:,} photo(s) gone since the last run (left out of reports; "
                      "`imgengine catalog prune` forgets them)")
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in s["stage_seconds"].items())
    table.add_row("time per stage (wall-s, summed over files)", stages or "-")
    cpu = ", ".join(f"{k} {v:.1f}s" for k, v in (s.get("stage_cpu_seconds") or {}).items())
    if cpu:
        table.add_row("CPU time per stage (cpu-s)", cpu)
    q = s.get("quality_distribution") or {}
    if any(q.values()):
        table.add_row("quality", "  ".join(f"{k} {v}" for k, v in q.items()))
    v = s.get("vision") or {}
    if v.get("status") == "done" or v.get("status") == "interrupted":
        table.add_row("vision", f"{v['photos']:,} photos on {v['device']}, {v['images_per_second']:,.1f} images/s, "
                      f"batch {v['batch_size']}, {v['oom_retries']} OOM retries, {v['failed']} failed")
        gpu = v.get("gpu") or {}
        if gpu.get("samples"):
            mem = gpu.get("peak_memory_used_bytes")
            table.add_row("GPU", f"{gpu['name']}: utilisation mean {gpu['mean_utilisation_percent']} % / peak "
                          f"{gpu['peak_utilisation_percent']} %, peak memory "
                          f"{f'{mem / 2**30:.1f} GiB' if mem is not None else '-'}, peak temperature "
                          f"{gpu['peak_temperature_c'] if gpu['peak_temperature_c'] is not None else '-'} °C")
        elif gpu.get("message"):
            table.add_row("GPU", f"no GPU metrics: {gpu['message']}")
        threads = v.get("cpu_threads")
        if threads:
            table.add_row("CPU threads", f"{threads['threads']} torch thread(s) beside {threads['loader_workers']} "
                          f"loader worker(s) on {threads['cores']} cores, OpenMP wait policy "
                          f"{threads['wait_policy']}")
    elif v.get("status"):
        table.add_row("vision", v["status"] + (" (see the warning above)" if v.get("warning") else ""))
    table.add_row("total time", f"{s['seconds']:.2f}s")
    table.add_row("catalog", s["catalog"])
    console.print(table)


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def analyze(
        directory: Path = typer.Argument(..., help="Folder (or single file) to analyse."),
        output: Path | None = typer.Option(None, "-o", "--output", help="Write results to .json or .csv."),
        json_out: bool = typer.Option(False, "--json", help="Print machine-readable JSON to stdout."),
        workers: int | None = typer.Option(None, "--workers", "-w", min=0,
                                           help="Worker processes (default 0: all cores)."),
        force: bool = typer.Option(False, "--force", help="Re-analyse every file, changed or not."),
        retry_failed: bool = typer.Option(False, "--retry-failed", help="Re-analyse files that failed before, "
                                          "even when unchanged."),
        catalog: str | None = typer.Option(None, "--catalog", help="Catalog path "
                                              "(default <dir>/.imgengine/catalog.db) or a postgresql:// URL."),
        analyzers: str | None = typer.Option(None, "--analyzers", help="Comma-separated analyzers to run, "
                                                "e.g. metadata,clip (default: every registered one; "
                                                "`imgengine plugins list` shows them)."),
        plugin: list[str] = typer.Option([], "--plugin", help="Add an analyzer or a plugin's analyzers "
                                         "(repeatable)."),
        no_plugin: list[str] = typer.Option([], "--no-plugin", help="Leave out an analyzer or a plugin's "
                                            "analyzers (repeatable)."),
        log_dir: Path | None = typer.Option(None, "--log-dir", help="Folder for run logs (default "
                                            "~/.local/state/imgengine/logs)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary table."),
        vision: bool | None = typer.Option(None, "--vision/--no-vision", help="Run CLIP scenes + embeddings "
                                           "and DETR objects when the models are available (default on)."),
        device: str | None = typer.Option(None, "--device", help="auto|cuda|cpu for the vision stage."),
        batch_size: str | None = typer.Option(None, "--batch-size", help="auto|N images per vision batch."),
        scene_model: Path | None = typer.Option(None, "--scene-model", help="A custom scene model from "
                                                "`imgengine train export` (.onnx or TorchScript .pt) to run as "
                                                "the scene_custom analyzer."),
        engine: str | None = typer.Option(None, "--engine", help="local (process pool, default) or ray "
                                          "(Ray tasks; needs imgengine[scale])."),
        ray_address: str | None = typer.Option(None, "--ray-address", help="Ray cluster to join (auto, "
                                               "ray://host:10001); default: start Ray on this machine."),
        gpus_per_actor: float | None = typer.Option(None, "--gpus-per-actor", help="With --engine ray: GPUs "
                                                    "per actor of the batch (vision) stage; default 1 when "
                                                    "the cluster has GPUs, else 0."),
        config: Path | None = ConfigOption,
    ) -> None:
        """Analyse every photo in DIRECTORY into the catalog: metadata, content quality, hashes, vision."""
        if not directory.exists():
            raise UsageError(f"{display_path(directory)}: no such file or folder")
        from ..core.outputs import check_output_path, csv_columns, record_to_json, write_output
        from ..engine.run import run_analysis
        from ..logs import RunLogger
        from ..plugins.manager import get_manager

        if engine not in (None, "local", "ray"):
            raise UsageError(f"--engine {engine!r}: use local or ray")
        settings = settings_from(config, executor="ray" if engine == "ray" else None, ray_address=ray_address,
                                 gpus_per_actor=gpus_per_actor,
                                 workers=workers, force=force or None, retry_failed=retry_failed or None,
                                 catalog=catalog,
                                 analyzers=analyzers, log_dir=log_dir, quiet=quiet or None,
                                 vision=vision, device=device, batch_size=batch_size,
                                 enable_plugins=tuple(plugin) or None, disable_plugins=tuple(no_plugin) or None,
                                 plugins={"scene_custom": {"model": str(scene_model), "enabled": True}}
                                 if scene_model else None)
        if scene_model is not None and not scene_model.is_file():
            raise UsageError(f"--scene-model {scene_model}: no such file")
        manager = get_manager(settings)
        writers = manager.writers()
        if output is not None:
            check_output_path(output, tuple(sorted(writers)))
        if not settings.quiet:
            for line in settings_warnings(settings, manager):
                err_console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)
        show = not (json_out or settings.quiet) and err_console.is_terminal
        logger = RunLogger(settings.log_dir, command="analyze")
        if not logger.enabled:
            err_console.print(f"[yellow]warning:[/] cannot write logs to {safe_text(settings.log_dir)}; "
                              "continuing without", highlight=False)
        try:
            with RichProgress(show) as progress:
                result = run_analysis(directory, settings, progress=progress, logger=logger, manager=manager)
        finally:
            logger.close()
        for line in result.summary.get("warnings") or []:
            if not settings.quiet:
                err_console.print(f"[yellow]warning:[/] {safe_text(line)}", highlight=False, soft_wrap=True)
        vision_warning = short_vision_warning(result.summary.get("vision") or {})
        if vision_warning and not settings.quiet:
            err_console.print(f"[yellow]warning:[/] {safe_text(vision_warning)}", highlight=False,
                              soft_wrap=True)
        if output is not None or json_out:
            with open_catalog(result.catalog_path, roots=settings.roots) as cat:
                records = [r for r in _records_for(cat, directory) if r["status"] != "ignored"]
            if output is not None:
                write_output(records, output, result.summary, writers=writers,
                             columns=csv_columns(manager.analyzer_classes()))
            if json_out:
                doc = {"schema_version": 1, "run_id": result.run_id, "summary": result.summary,
                       "photos": [record_to_json(r) for r in records]}
                sys.stdout.write(json.dumps(doc, ensure_ascii=False, default=str) + "\n")
        if not json_out and not settings.quiet:
            print_summary(result)
            if output is not None:
                console.print(f"results written to {safe_text(output)}")
        if not json_out:
            print_problems(result, logger)
        if result.failed or result.summary.get("known_broken") or result.summary.get("scan_problems"):
            raise typer.Exit(1)

    @app.command()
    @handle_errors
    def show(
        file: Path = typer.Argument(..., help="A photo."),
        catalog: Path | None = typer.Option(None, "--catalog", help="Catalog path."),
        json_out: bool = typer.Option(False, "--json", help="Print JSON."),
        config: Path | None = ConfigOption,
    ) -> None:
        """Print everything known about one photo (analysing it first if it is not in the catalog)."""
        if not file.is_file():
            raise UsageError(f"{display_path(file)}: no such file")
        from ..core.outputs import record_to_json
        from ..engine.run import run_analysis

        settings = settings_from(config, catalog=catalog).replace(quiet=True)
        # a read-only command: use the catalog that `analyze` made (the file's folder or a parent), and
        # analyse a file it does not know in memory, creating nothing beside the photo
        cat_path = Path(catalog) if catalog is not None else existing_catalog_path(file.parent)
        rec = None
        if cat_path is not None and Path(cat_path).is_file():
            with Catalog(cat_path, roots=settings.roots) as cat:
                rec = cat.get(file)
                st = file.stat()
                if rec is not None and (rec["size"], rec["mtime_ns"]) != (st.st_size, st.st_mtime_ns):
                    run_analysis(file, settings.replace(catalog=cat_path), catalog=cat)
                    rec = cat.get(file)
        if rec is None:
            with Catalog(Path(":memory:")) as cat:
                run_analysis(file, settings.replace(catalog=None), catalog=cat)
                rec = cat.get(file)
        doc = record_to_json(rec)
        if json_out:
            sys.stdout.write(json.dumps(doc, ensure_ascii=False, default=str, indent=2) + "\n")
            return
        console.print(show_table(doc))

    @app.command()
    @handle_errors
    def stats(
        directory: Path | None = typer.Argument(None, help="Folder whose catalog to summarise (default .)."),
        catalog: str | None = typer.Option(None, "--catalog", help="Catalog path or postgresql:// URL."),
        json_out: bool = typer.Option(False, "--json", help="Print JSON (always complete)."),
        show_all: bool = typer.Option(False, "--all", help=f"List every camera and lens (default: the top "
                                      f"{STATS_TOP})."),
        config: Path | None = ConfigOption,
    ) -> None:
        """Summarise the catalog: cameras, lenses, years, formats, quality, GPS share."""
        root = directory or Path(".")
        settings = settings_from(config, catalog=catalog)
        cat_path = settings.catalog_path(root)
        if not catalog_exists(cat_path):
            raise UsageError(f"no catalog at {cat_path}; run `imgengine analyze {display_path(root)}` first")
        with open_catalog(cat_path, roots=settings.roots) as cat:
            data = catalog_stats(cat, root if directory else None)
        if json_out:
            sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
            return
        console.print(f"[bold]{data['photos']:,} photos[/] ({data['failed']:,} with errors), "
                      f"{data['total_bytes'] / 1e9:.2f} GB, {data['gps_share']:.0%} with GPS",
                      highlight=False)  # no repr highlighting: its regexes are compiled afresh in each process
        for title in ("formats", "cameras", "lenses", "years", "quality"):
            items = data[title]
            if not items:
                continue
            from rich.table import Table

            t = Table(title=title, title_justify="left")
            t.add_column(_COLUMN.get(title, "bucket"))
            t.add_column("photos", justify="right")
            rows = list(items.items())
            limit = len(rows) if show_all or title in ("years", "quality") else STATS_TOP
            for k, v in rows[:limit]:
                t.add_row(safe_text(k), f"{v:,}")
            console.print(t)
            if len(rows) > limit:
                console.print(f"… {len(rows) - limit} more {title} (use --all or --json)")


# result keys that are data for programs, not for people (JSON keeps them)
_HIDDEN_KEYS = {"embedding", "thumb", "camera", "flash", "flash_fired", "warnings"}


def _human_metadata(meta: dict) -> dict:
    """The metadata rows of `show`, in human units."""
    out = {"camera": camera_name(meta.get("make"), meta.get("model")),
           "exposure": exposure_text(meta.get("exposure_time")),
           "aperture": aperture_text(meta.get("f_number")),
           "focal length": focal_length_text(meta.get("focal_length"), meta.get("focal_length_35mm")),
           "flash": flash_text(meta.get("flash"))}
    raw = {"exposure_time", "f_number", "focal_length", "focal_length_35mm", "make", "model", *_HIDDEN_KEYS}
    return {**{k: v for k, v in out.items() if v}, **{k: v for k, v in meta.items() if k not in raw}}


def show_table(doc: dict) -> Any:
    from rich.table import Table

    table = Table(title=safe_text(doc["path"]), show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key in ("format", "size", "extension_mismatch", "sha256", "status", "error"):
        if doc.get(key) not in (None, False):
            value = file_size_text(doc[key]) if key == "size" else doc[key]
            table.add_row(key, safe_text(value))
    for name, data in doc["results"].items():
        table.add_section()
        human = name == "metadata"
        if human:
            data = _human_metadata(data)
        for key, value in data.items():
            if key.startswith("_") or (key in _HIDDEN_KEYS and not human) or value in (None, (), [], ""):
                continue
            if isinstance(value, (list, tuple)):
                value = ", ".join(v["hex"] + f" {v['share']:.0%}" if isinstance(v, dict) and "hex" in v
                                  else json.dumps(v) if isinstance(v, dict) else str(v) for v in value)
            elif isinstance(value, float):
                value = f"{value:.6g}"
            table.add_row(f"{name}.{key}", safe_text(value))
    for warning in (doc["results"].get("metadata") or {}).get("warnings") or ():
        table.add_row("warning", safe_text(warning))
    return table


def settings_warnings(settings, manager) -> list[str]:
    """One line per problem a user should hear about before the run: unknown config keys, config
    sections no plugin declares, plugins that failed to load."""
    lines = list(settings.warnings)
    declared = manager.config_defaults()
    known_plugins = set(manager.infos) | {p.name for p in manager.problems}
    unknown = [s for s in settings.plugins if s not in declared and s not in known_plugins]
    if unknown:
        lines.append(f"config: no installed plugin declares the section(s) {', '.join(unknown)} (ignored)")
    for p in manager.problems:
        lines.append(f"plugin {p.name} ({p.source}): {p.error}")
    return lines


def _records_for(cat: CatalogStore, target: Path):
    if target.is_file():
        return list(cat.iter_records(paths=[target]))
    return list(cat.iter_records(target))


def catalog_stats(cat: CatalogStore, root: Path | None) -> dict:
    formats: Counter = Counter()
    cameras: Counter = Counter()
    lenses: Counter = Counter()
    years: Counter = Counter()
    quality: Counter = Counter()
    photos = failed = gps = total = 0
    for rec in cat.iter_records(root):
        if rec["status"] == "ignored":
            continue
        photos += 1
        total += rec["size"]
        failed += rec["status"] == "error"
        formats[rec["format"] or "(unreadable)"] += 1
        meta = rec["results"].get("metadata", {})
        cam = camera_name(meta.get("make"), meta.get("model"))
        cameras[cam or "(unknown)"] += 1
        if meta.get("lens_model"):
            lenses[meta["lens_model"]] += 1
        date = meta.get("datetime_original") or meta.get("create_date")
        years[date[:4] if date else "(no date)"] += 1
        gps += meta.get("gps_latitude") is not None
        q = rec["results"].get("content", {}).get("quality")
        if q:
            quality[q] += 1
    order = ["excellent", "good", "average", "poor"]
    return {
        "photos": photos, "failed": failed, "total_bytes": total,
        "gps_share": gps / photos if photos else 0.0,
        "formats": dict(formats.most_common()), "cameras": dict(cameras.most_common()),
        "lenses": dict(lenses.most_common()), "years": dict(sorted(years.items())),
        "quality": {q: quality[q] for q in order if quality[q]},
    }
