"""`imgengine search`: rank catalogued photos by CLIP similarity to a text or to a photo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import typer

from ..errors import UsageError
from .common import ConfigOption, console, err_console, handle_errors, open_existing_catalog, safe_text, settings_from


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def search(
        text: str | None = typer.Argument(None, help='What to look for, e.g. "a dog on the beach at sunset".'),
        like: Path | None = typer.Option(None, "--like", help="Find photos similar to this photo."),
        limit: int = typer.Option(20, "--limit", "-n", help="How many results."),
        json_out: bool = typer.Option(False, "--json", help="Print JSON."),
        open_results: bool = typer.Option(False, "--open", help="Open the best match with the system viewer."),
        camera: str | None = typer.Option(None, "--camera", help="Only photos whose make/model contains this."),
        year: int | None = typer.Option(None, "--year", help="Only photos taken in this year."),
        has_object: list[str] | None = typer.Option(None, "--has-object",
                                                       help="Only photos where DETR found this (repeatable)."),
        min_quality: str | None = typer.Option(None, "--min-quality",
                                                  help="poor|average|good|excellent or a 0-100 score."),
        person: str | None = typer.Option(None, "--person", help="Only photos of this person (a named face "
                                          "cluster, or recognised from the faces plugin's known_faces_dir)."),
        ocr_text: str | None = typer.Option(None, "--text", help="Only photos whose OCR text has these words "
                                            "(SQLite FTS5 syntax allowed)."),
        place: str | None = typer.Option(None, "--place", help="Only photos taken in this city, region or "
                                         "country (places plugin)."),
        directory: Path | None = typer.Option(None, "--dir", help="Folder whose catalog to search "
                                                 "(default: the nearest .imgengine/ from here)."),
        catalog: str | None = typer.Option(None, "--catalog", help="Catalog path or postgresql:// URL."),
        index: str = typer.Option("auto", "--index", help="auto|numpy|hnswlib|usearch|faiss-ivf (auto: exact "
                                  "below 200,000 photos, the ANN index above)."),
        config: Path | None = ConfigOption,
    ) -> None:
        """Search the catalog by meaning: text to photo, or photo to similar photos, with metadata filters."""
        from ..search.index import BACKENDS
        from ..search.query import Filters
        from ..search.query import search as run_search

        if index != "auto" and index not in BACKENDS:
            raise UsageError(f"--index {index}: use auto or one of {', '.join(BACKENDS)}")
        settings = settings_from(config, catalog=catalog)
        filters = Filters(camera=camera, year=year, has_object=tuple(has_object or ()), min_quality=min_quality,
                          person=person, text=ocr_text, place=place)
        from .analyze import RichProgress

        with open_existing_catalog(settings, directory) as cat, \
                RichProgress(not json_out and err_console.is_terminal) as progress:
            hits, info = run_search(cat, settings, text=text, like=like, filters=filters, limit=limit,
                                    backend=index, progress=progress)
        if json_out:
            doc = {"query": text, "like": str(like) if like else None, "info": info,
                   "results": [h.to_dict() for h in hits]}
            sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
        else:
            from rich.table import Table

            over = "matching the filters" if info["index"] == "filters" else \
                f"over {info['embeddings']:,} photos ({info['index']})"
            table = Table(title=f"{len(hits)} result(s) {over}", title_justify="left")
            table.add_column("#", justify="right")
            table.add_column("score", justify="right")
            table.add_column("photo", overflow="fold")
            for i, h in enumerate(hits, 1):
                table.add_row(str(i), f"{h.score:.3f}", safe_text(h.display_path))
            console.print(table)
        if open_results and hits:
            opener = "open" if sys.platform == "darwin" else "xdg-open"
            try:
                subprocess.Popen([opener, str(hits[0].path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            except OSError:
                console.print(f"[yellow]cannot open {hits[0].display_path}: no {opener} here[/]")
