"""`imgengine train inventory|download|augment|scene|export`: from a collection's gaps to a custom scene model.

Parse and print only; the work is in :mod:`imgengine.training`. torch/timm are imported inside the commands
that need them, so `imgengine --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from ..errors import UsageError
from .common import ConfigOption, console, err_console, handle_errors, settings_from


def _bar(label: str, enabled: bool) -> Progress:
    return Progress(SpinnerColumn(), TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=err_console, transient=True, disable=not enabled)


def _emit_json(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc, ensure_ascii=False, default=str) + "\n")


def register(app: typer.Typer) -> None:
    train_app = typer.Typer(help="Training: inventory and gaps, public data, augmentation, a custom scene "
                                 "model, export.", no_args_is_help=True)
    app.add_typer(train_app, name="train")

    @train_app.command("inventory")
    @handle_errors
    def inventory(
        source: Path = typer.Option(..., "--source", "-s", help="The photo folder to take stock of."),
        output: Path | None = typer.Option(None, "-o", "--output", help="Write the inventory JSON here "
                                           "(e.g. datasets/inventory.json)."),
        html: Path | None = typer.Option(None, "--html", help="Write an HTML report with charts here."),
        targets: Path | None = typer.Option(None, "--targets", help="YAML with your recommended distribution "
                                            "(see training/docs/DATASET_GUIDE.md)."),
        vision: bool | None = typer.Option(None, "--vision/--no-vision", help="Run the vision stage for scenes "
                                           "when its models are available (default on)."),
        workers: int | None = typer.Option(None, "--workers", "-w", help="Worker processes for the analysis."),
        catalog: Path | None = typer.Option(None, "--catalog", help="Catalog path."),
        json_out: bool = typer.Option(False, "--json", help="Print the inventory as JSON."),
        config: Path | None = ConfigOption,
    ) -> None:
        """The collection's diversity against a recommended distribution, with the gaps and what fills them.
        Analyses what the catalog lacks first (incrementally)."""
        from ..core.catalog import Catalog
        from ..engine.run import run_analysis
        from ..logs import RunLogger
        from ..training.inventory import inventory_from_catalog
        from ..training.report import write_html_report
        from ..training.targets import load_targets
        from .analyze import RichProgress

        if not source.is_dir():
            raise UsageError(f"{source}: no such folder")
        goal, tolerance = load_targets(targets)
        settings = settings_from(config, catalog=catalog, vision=vision, workers=workers, quiet=True)
        root = source.resolve()
        show = not json_out and err_console.is_terminal
        logger = RunLogger(settings.log_dir, command="train inventory")
        try:
            with RichProgress(show) as progress:
                result = run_analysis(root, settings, progress=progress, logger=logger)
        finally:
            logger.close()
        with Catalog(result.catalog_path, roots=settings.roots) as cat:
            inv = inventory_from_catalog(cat, root, goal, tolerance)
        doc = inv.to_dict()
        if output is not None:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if html is not None:
            with console.status("drawing the charts", spinner="dots") if show else _nothing():
                write_html_report(inv, html)
        if json_out:
            _emit_json(doc)
            return
        _print_inventory(inv)
        for what, path in (("inventory", output), ("report", html)):
            if path is not None:
                console.print(f"{what} written to {path}")
        if result.failed:
            console.print(f"[yellow]{result.failed} file(s) could not be analysed[/] and are not counted")

    @train_app.command("download")
    @handle_errors
    def download(
        gaps: Path | None = typer.Option(None, "--gaps", help="Inventory JSON: its scene gaps are the classes."),
        sources: str = typer.Option("places365,coco", "--sources", help="Comma-separated: places365, coco."),
        classes: str = typer.Option("", "--classes", help="Comma-separated class names to fetch as well "
                                    "(e.g. beach,forest,dog)."),
        per_class: int = typer.Option(100, "--per-class", help="Images per class and source."),
        from_dir: Path | None = typer.Option(None, "--from", help="Ingest a copy you already have (standard "
                                             "layout) instead of downloading."),
        output: Path = typer.Option(Path("datasets/public"), "--output", "-o", help="ImageFolder to fill."),
        cache: Path = typer.Option(Path("datasets/.cache"), "--cache", help="Where downloads are kept."),
        seed: int = typer.Option(0, "--seed", help="Which images are picked when there are more."),
        json_out: bool = typer.Option(False, "--json", help="Print a JSON report."),
    ) -> None:
        """Take only the classes and counts that fill the gaps from Places365 (scenes) and COCO (objects)."""
        from ..training import public_data as pd

        chosen = [s.strip().lower() for s in sources.split(",") if s.strip()]
        bad = [s for s in chosen if s not in pd.SOURCES]
        if bad or not chosen:
            raise UsageError(f"--sources {sources}: use places365 and/or coco")
        if per_class < 1:
            raise UsageError("--per-class must be at least 1")
        if from_dir is not None and not from_dir.is_dir():
            raise UsageError(f"--from {from_dir}: no such folder")
        wanted = pd.wanted_classes(gaps, classes.split(","))
        show = not json_out and err_console.is_terminal
        reports = []
        missing: list[str] = []
        for source in chosen:
            try:
                if source == "places365":
                    root = from_dir if from_dir is not None else pd.download_places365(cache)
                    candidates = pd.places365_candidates(root, wanted, per_class, seed)
                else:
                    ann = None if from_dir is not None else pd.download_coco_annotations(cache)
                    candidates = pd.coco_candidates(from_dir if from_dir is not None else cache / "coco", wanted,
                                                    per_class, seed, annotations=ann)
            except pd.DatasetUnavailableError as exc:
                # one folder given for several sources may hold only some of them: go on with the others
                if from_dir is None or len(chosen) == 1:
                    raise
                missing.append(str(exc))
                continue
            with _bar(f"{source}", show) as bar:
                task = bar.add_task(source, total=len(candidates))
                report = pd.ingest(candidates, output, source,
                                   progress=lambda _s, done, _t, t=task: bar.update(t, completed=done))
            reports.append(report)
        if not reports:
            raise pd.DatasetUnavailableError("; ".join(missing))
        if json_out:
            _emit_json({"output": str(output), "classes": wanted, "sources": [r.to_dict() for r in reports],
                        "unavailable": missing})
            return
        for line in missing:
            err_console.print(f"[yellow]warning:[/] {line}", highlight=False, soft_wrap=True)
        table = Table(title=f"public data -> {output}", title_justify="left")
        table.add_column("class")
        for r in reports:
            table.add_column(r.source, justify="right")
        for c in wanted:
            table.add_row(c, *[f"{r.per_class.get(c, 0):,}" for r in reports])
        console.print(table)
        for r in reports:
            empty = [c for c in wanted if not r.per_class.get(c)]
            if empty:
                console.print(f"[yellow]{r.source}[/]: nothing matched {', '.join(empty)}")
            if r.failed:
                console.print(f"[red]{r.source}: {len(r.failed)} failed[/], e.g. {r.failed[0]}")
            if r.skipped_existing:
                console.print(f"{r.source}: {r.skipped_existing} already there")

    @train_app.command("augment")
    @handle_errors
    def augment(
        source: Path = typer.Option(..., "--source", "-s", help="ImageFolder (or any photo folder) to augment."),
        output: Path = typer.Option(..., "--output", "-o", help="Where the new images go (same sub-folders)."),
        target_gaps: Path | None = typer.Option(None, "--target-gaps", help="Inventory JSON: weight the effects "
                                                "toward its gaps."),
        per_image: int = typer.Option(2, "--per-image", help="Augmented copies per source image."),
        seed: int = typer.Option(0, "--seed", help="Makes the run reproducible."),
        json_out: bool = typer.Option(False, "--json", help="Print a JSON report."),
    ) -> None:
        """Label-preserving augmentation (low light, blur, noise, JPEG, rotation/crop, colour, HEIC round trip)."""
        from ..training.augment import augment_folder, load_gaps

        gaps = load_gaps(target_gaps)
        show = not json_out and err_console.is_terminal
        with _bar("augmenting", show) as bar:
            task = bar.add_task("augment", total=None)
            report = augment_folder(source, output, per_image=per_image, gaps=gaps, seed=seed,
                                    progress=lambda done, total: bar.update(task, completed=done, total=total))
        if json_out:
            _emit_json(report.to_dict())
            return
        console.print(f"[green]{report.made:,}[/] images made from {report.sources:,} in {output}; "
                      f"manifest {report.manifest}")
        console.print("effects: " + ", ".join(f"{k} {v}" for k, v in report.ops.most_common()))
        if gaps:
            console.print("weights (from the gaps): " + ", ".join(f"{k} {v:g}" for k, v in report.weights.items()))
        if report.failed:
            console.print(f"[red]{len(report.failed)} skipped[/], e.g. {report.failed[0]}")
            raise typer.Exit(1)

    @train_app.command("scene")
    @handle_errors
    def scene(
        dataset: Path = typer.Option(..., "--dataset", "-d", help="ImageFolder: DIR/<class>/<image>."),
        epochs: int = typer.Option(10, "--epochs", min=1, help="Passes over the training split."),
        batch_size: int = typer.Option(32, "--batch-size", min=1, help="Images per training step."),
        model: str = typer.Option("resnet18", "--model", help="timm architecture (resnet18, efficientnet_b0, "
                                  "mobilenetv3_small_100, ...)."),
        image_size: int = typer.Option(224, "--image-size", help="Square input side in pixels."),
        device: str = typer.Option("auto", "--device", help="auto|cuda|cpu."),
        linear_probe: bool = typer.Option(False, "--linear-probe", help="Train a linear classifier on the "
                                          "catalog's CLIP embeddings instead (fast; needs `analyze` with CLIP)."),
        output_dir: Path | None = typer.Option(None, "--output-dir", help="Checkpoints and metrics "
                                               "(default: the models dir)."),
        resume: bool = typer.Option(False, "--resume", help="Continue from scene_last.pt in the output dir."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Start again over an earlier model."),
        patience: int = typer.Option(5, "--patience", help="Stop after this many epochs without improvement."),
        lr: float | None = typer.Option(None, "--lr", help="Learning rate (default by mode)."),
        val_fraction: float = typer.Option(0.2, "--val-fraction", help="Held-out share per class."),
        workers: int | None = typer.Option(None, "--workers", help="Data loader processes."),
        seed: int = typer.Option(0, "--seed", help="Random seed (split, augmentation, initialisation)."),
        weights: Path | None = typer.Option(None, "--weights", help="Pretrained backbone weights file."),
        pretrained: bool = typer.Option(True, "--pretrained/--no-pretrained", help="Use local pretrained "
                                        "weights when found."),
        catalog: Path | None = typer.Option(None, "--catalog", help="Catalog with the CLIP embeddings "
                                            "(linear probe)."),
        json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
        config: Path | None = ConfigOption,
    ) -> None:
        """Train a scene classifier; best checkpoint by validation accuracy, metrics per epoch in JSON lines."""
        from ..training.train import TrainConfig, check_model_available, train_scene_model

        check_model_available()
        if not 0 < val_fraction < 1:
            raise UsageError("--val-fraction must be between 0 and 1")
        settings = settings_from(config)
        cfg = TrainConfig(dataset=dataset, output_dir=output_dir or Path(settings.models_dir), epochs=epochs,
                          batch_size=batch_size, model=model, image_size=image_size, lr=lr,
                          val_fraction=val_fraction, seed=seed, patience=patience, device=device, workers=workers,
                          resume=resume, overwrite=overwrite, pretrained=pretrained, weights=weights,
                          models_dir=Path(settings.models_dir), linear_probe=linear_probe, catalog=catalog)
        display = LiveTraining(enabled=not json_out and err_console.is_terminal, quiet=json_out)
        with display:
            result = train_scene_model(cfg, display)
        if json_out:
            _emit_json({**result.summary, "best_checkpoint": str(result.best_checkpoint),
                        "metrics_log": str(result.metrics_log)})
            return
        s = result.summary
        console.print(f"[bold]best epoch {result.best_epoch}[/]: validation accuracy "
                      f"[green]{result.best_val_accuracy:.1%}[/] ({s['val']} held-out images, {len(s['classes'])} "
                      f"classes); {result.epochs_run} epochs in {s['seconds']:.1f}s, "
                      f"{s['train_images_per_second']:,.1f} training images/s on {s['device']}"
                      + (f" ({s['amp']} autocast)" if s.get("amp") else "")
                      + (" — stopped early" if result.stopped_early else ""))
        if s.get("gpu"):
            console.print(f"GPU {s['gpu']['name']}: peak {s['gpu']['max_memory_allocated_mb']:,.0f} MB allocated")
        console.print(f"checkpoint {result.best_checkpoint}; metrics {result.metrics_log}; export with "
                      f"`imgengine train export --checkpoint {result.best_checkpoint}`")

    @train_app.command("export")
    @handle_errors
    def export(
        checkpoint: Path = typer.Option(Path("models/scene_best.pt"), "--checkpoint", "-c",
                                         help="The checkpoint `train scene` wrote."),
        fmt: str = typer.Option("onnx", "--format", "-f", help="onnx|torchscript."),
        output: Path | None = typer.Option(None, "--output", "-o", help="Default models/custom_scene.onnx "
                                           "(.pt for TorchScript)."),
        samples: Path | None = typer.Option(None, "--samples", help="Folder of real photos for the parity check "
                                            "(default: the checkpoint's validation images)."),
        tolerance: float = typer.Option(1e-3, "--tolerance", help="Largest allowed |exported - PyTorch| logit."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
        json_out: bool = typer.Option(False, "--json", help="Print a JSON report."),
    ) -> None:
        """Export to ONNX or TorchScript (dynamic batch) with a model card, after a parity check."""
        from ..training.export import export_model
        from ..training.train import check_model_available

        check_model_available()
        fmt = fmt.lower()
        target = output or Path("models") / ("custom_scene.onnx" if fmt == "onnx" else "custom_scene.pt")
        show = not json_out and err_console.is_terminal
        with err_console.status(f"exporting to {fmt} and checking parity", spinner="dots") if show else _nothing():
            report = export_model(checkpoint, fmt, target, samples=samples, tolerance=tolerance, overwrite=overwrite)
        if json_out:
            _emit_json(report.to_dict())
            return
        console.print(f"[green]exported[/] {report.output} ({report.format}, {report.seconds:.1f}s); model card "
                      f"{report.card}")
        console.print(f"parity vs PyTorch on {report.parity_inputs}: max |diff| {report.max_abs_diff:.2e}, top-1 "
                      f"agreement {report.top1_agreement:.0%}, batch sizes {report.batch_sizes}")
        if report.format == "onnx":
            console.print(f"use it: `imgengine analyze DIR --scene-model {report.output}`")


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class LiveTraining:
    """The rich live display of a training run: the batch bar of the current epoch over a table of epochs."""

    def __init__(self, enabled: bool, quiet: bool = False):
        self.enabled = enabled
        self.quiet = quiet
        self.rows: list[dict[str, Any]] = []
        self.bar = Progress(SpinnerColumn(), TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(),
                            MofNCompleteColumn(), TextColumn("loss {task.fields[loss]:.4f}"), TimeRemainingColumn(),
                            console=err_console)
        self.task = self.bar.add_task("train", total=1, epoch=0, loss=0.0)
        self.live = Live(self._render(), console=err_console, refresh_per_second=4, transient=False) \
            if enabled else None
        self.info: dict[str, Any] = {}

    def __enter__(self):
        if self.live:
            self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live:
            self.live.__exit__(*exc)
        return False

    def _render(self):
        from rich.console import Group

        table = Table(title_justify="left", title=self._title())
        for col in ("epoch", "train loss", "train acc", "val loss", "val acc", "macro F1", "img/s", ""):
            table.add_column(col, justify="right")
        for m in self.rows[-12:]:
            table.add_row(str(m["epoch"]), f"{m['train_loss']:.4f}", f"{m['train_accuracy']:.1%}",
                          f"{m['val_loss']:.4f}", f"{m['val_accuracy']:.1%}", f"{m['val_macro_f1']:.3f}",
                          f"{m['images_per_second']:,.1f}", "[green]best[/]" if m.get("best") else "")
        return Group(table, self.bar)

    def _title(self) -> str:
        i = self.info
        if not i:
            return "training"
        return (f"{i['architecture']} on {i['device']}{' (' + i['amp'] + ')' if i.get('amp') else ''}: "
                f"{i['train']} train / {i['val']} val images, {len(i['classes'])} classes"
                + (", pretrained" if i.get("pretrained") else ", from scratch"))

    def on_start(self, info: dict[str, Any]) -> None:
        self.info = info
        self._refresh()

    def on_warning(self, message: str) -> None:
        if not self.quiet:
            err_console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)

    def on_batch(self, epoch: int, done: int, total: int, loss: float) -> None:
        self.bar.update(self.task, completed=done, total=total, epoch=epoch, loss=loss)
        self._refresh()

    def on_epoch(self, metrics: dict[str, Any]) -> None:
        self.rows.append(metrics)
        if self.live is None and not self.quiet:
            console.print(f"epoch {metrics['epoch']}: train loss {metrics['train_loss']:.4f}, val loss "
                          f"{metrics['val_loss']:.4f}, val accuracy {metrics['val_accuracy']:.1%}, macro F1 "
                          f"{metrics['val_macro_f1']:.3f}{' (best)' if metrics.get('best') else ''}")
        self._refresh()

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(self._render())


def _print_inventory(inv) -> None:
    console.print(f"[bold]{inv.total:,} photos[/] in {inv.source}")
    for dim, buckets in inv.counts.items():
        if not buckets:
            continue
        target = inv.targets.get(dim, {})
        t = Table(title=dim, title_justify="left")
        t.add_column("bucket")
        t.add_column("photos", justify="right")
        t.add_column("share", justify="right")
        t.add_column("target", justify="right")
        t.add_column("")
        for b, n in list(buckets.items())[:15]:
            pct = inv.percent(dim, b)
            goal = target.get(b)
            mark = "[red]gap[/]" if any(g.dimension == dim and g.bucket == b for g in inv.gaps) else ""
            t.add_row(str(b), f"{n:,}", f"{pct:.1f}%", f"{goal:g}%" if goal is not None else "-", mark)
        console.print(t)
    if inv.gaps:
        t = Table(title="gaps (what to add)", title_justify="left")
        for col in ("dimension", "bucket", "short by", "photos to add", "fill with"):
            t.add_column(col, overflow="fold")
        for g in inv.gaps:
            t.add_row(g.dimension, g.bucket, f"{g.target_percent - g.actual_percent:.1f} pts",
                      f"{g.photos_needed:,}", g.fill_with)
        console.print(t)
    else:
        console.print("[green]no gaps[/]: every bucket is within tolerance of its target")


SCRIPT_FLAGS = {"--gpu": ["--device", "cuda"], "--cpu": ["--device", "cpu"]}


def script_argv(command: str, argv: list[str]) -> list[str]:
    """The `imgengine train <command>` arguments for a documented script's command line (``--gpu`` becomes
    ``--device cuda``; every other option has the same name)."""
    out = ["train", command]
    for arg in argv:
        out += SCRIPT_FLAGS.get(arg, [arg])
    return out


def script_main(command: str) -> None:
    """Entry point of the ``training/scripts/*.py`` wrappers."""
    from .app import app

    app(script_argv(command, sys.argv[1:]), prog_name=Path(sys.argv[0]).name)
