"""`imgengine models list|download|import|path`: where the vision weights are, and how to get them."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import typer

from ..errors import ModelUnavailableError, UsageError
from .common import ConfigOption, console, handle_errors, settings_from

KINDS = ("clip", "detr")


def _kinds(which: str) -> tuple[str, ...]:
    if which == "all":
        return KINDS
    if which not in KINDS:
        raise UsageError(f"model {which!r}: use clip, detr or all")
    return (which,)


def register(app: typer.Typer) -> None:
    models_app = typer.Typer(help="Vision model weights: list, download, import, export-text, path.",
                             no_args_is_help=True)
    app.add_typer(models_app, name="models")

    @models_app.command("list")
    @handle_errors
    def list_models(json_out: bool = typer.Option(False, "--json", help="Print JSON."),
                    config: Path | None = ConfigOption) -> None:
        """Show each configured model, where it was found, and whether its folder is complete."""
        from ..analyzers.vision.models import check_model_folder, folder_size, locate_model

        settings = settings_from(config)
        rows = []
        for kind in KINDS:
            loc = locate_model(kind, settings)
            status = "missing"
            if loc.path is not None:
                try:
                    check_model_folder(kind, loc.path)
                    status = "ok"
                except ModelUnavailableError as exc:
                    status = f"broken: {exc}"
            rows.append({"kind": kind, "name": loc.name, "source": loc.source,
                         "path": str(loc.path) if loc.path else None, "status": status,
                         "bytes": folder_size(loc.path) if loc.path else 0})
        if json_out:
            sys.stdout.write(json.dumps({"models_dir": str(settings.models_dir), "models": rows}) + "\n")
            return
        from rich.table import Table

        table = Table(title=f"models (models dir: {settings.models_dir})", title_justify="left")
        for col in ("kind", "name", "status", "where", "size"):
            table.add_column(col, overflow="fold")
        for r in rows:
            color = "green" if r["status"] == "ok" else "red"
            table.add_row(r["kind"], r["name"], f"[{color}]{r['status']}[/]",
                          f"{r['source']}: {r['path']}" if r["path"] else "-",
                          f"{r['bytes'] / 1e6:,.0f} MB" if r["bytes"] else "-")
        console.print(table)
        if any(r["status"] == "missing" for r in rows):
            console.print("get missing models with `imgengine models download` (needs internet) or "
                          "`imgengine models import <dir>`")

    @models_app.command("download")
    @handle_errors
    def download(which: str = typer.Argument("all", help="clip, detr or all."),
                 config: Path | None = ConfigOption) -> None:
        """Download the configured models from the Hugging Face Hub into the models dir."""
        from ..analyzers.vision.models import check_model_folder, local_model_dir, model_name

        settings = settings_from(config)
        try:
            from huggingface_hub import snapshot_download
        except ImportError:
            raise ModelUnavailableError("downloading needs huggingface_hub: pip install 'imgengine[vision]'")
        for kind in _kinds(which):
            name = model_name(kind, settings)
            target = local_model_dir(name, settings)
            console.print(f"downloading {name} -> {target}")
            partial = target.with_name(target.name + ".partial")  # resumable; renamed only when complete
            try:
                snapshot_download(name, local_dir=partial,
                                  allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model"])
            except Exception as exc:  # noqa: BLE001 - network, auth, unknown repo: one line for the user
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ModelUnavailableError(f"cannot download {name}: {first}; without internet, download it "
                                            "elsewhere and use `imgengine models import <dir>`")
            check_model_folder(kind, partial)
            _install(partial, target)
            console.print(f"[green]ok[/] {name}")
            if kind == "clip":
                _export_text(settings)

    @models_app.command("import")
    @handle_errors
    def import_model(folder: Path = typer.Argument(..., help="A model folder downloaded elsewhere "
                                                   "(config.json, weights, preprocessor config)."),
                     name: str | None = typer.Option(None, "--name", help="Store it under this name "
                                                        "(default: the configured clip_model/detr_model)."),
                     replace: bool = typer.Option(False, "--replace", help="Replace an existing copy."),
                     config: Path | None = ConfigOption) -> None:
        """Copy a model folder into the models dir, after checking it is complete."""
        from ..analyzers.vision.models import check_model_folder, local_model_dir, model_name

        settings = settings_from(config)
        if not folder.is_dir():
            raise UsageError(f"{folder}: no such folder")
        try:
            model_type = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type")
        except (OSError, ValueError):
            model_type = None
        kind = {"clip": "clip", "detr": "detr"}.get(model_type or "")
        if kind is None:
            raise UsageError(f"{folder}: not a CLIP or DETR model folder (config.json model_type is "
                             f"{model_type or 'missing'})")
        check_model_folder(kind, folder)
        target = local_model_dir(name or model_name(kind, settings), settings)
        if target.exists() and not replace:
            raise UsageError(f"{target} already exists; pass --replace to replace it")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".importing")
        if tmp.exists():
            shutil.rmtree(tmp)
        shutil.copytree(folder, tmp)
        _install(tmp, target)
        console.print(f"[green]imported[/] {kind} model -> {target}")
        if name and name != model_name(kind, settings):
            console.print(f"set {kind}_model: {name} in your config to use it")

    @models_app.command("export-text")
    @handle_errors
    def export_text(config: Path | None = ConfigOption) -> None:
        """Export the CLIP model's text tower to ONNX, so `imgengine search` embeds queries without torch."""
        if not _export_text(settings_from(config)):
            raise typer.Exit(1)

    @models_app.command("path")
    @handle_errors
    def path(config: Path | None = ConfigOption) -> None:
        """Print the models dir (and each model's folder when found)."""
        from ..analyzers.vision.models import locate_model

        settings = settings_from(config)
        typer.echo(str(Path(settings.models_dir).expanduser().resolve()))
        for kind in KINDS:
            loc = locate_model(kind, settings)
            typer.echo(f"{kind}\t{loc.path if loc.path else '(missing) ' + loc.name}")


def _install(ready: Path, target: Path) -> None:
    """Move a complete model folder into place; an older copy is replaced only once the new one is there."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        old = target.with_name(target.name + ".old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(target, old)
        os.replace(ready, target)
        shutil.rmtree(old)
    else:
        os.replace(ready, target)


def _export_text(settings) -> bool:
    """Export the text tower, report parity; a failure is one line (search then keeps using torch)."""
    from ..search.text_encoder import export_text_tower

    try:
        rec = export_text_tower(settings)
    except ModelUnavailableError as exc:
        console.print(f"[yellow]text encoder not exported:[/] {exc}", highlight=False)
        return False
    console.print(f"[green]exported[/] CLIP text tower -> {rec['folder']} (parity with torch: cosine "
                  f"{rec['parity']['min_cosine']:.6f} on {rec['parity']['texts']} texts)", highlight=False)
    return True
