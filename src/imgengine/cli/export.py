"""`imgengine export`: write what the catalog knows about a folder to .json or .csv, without analysing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..core.catalog import Catalog
from ..core.outputs import check_output_path, write_output
from ..core.photo import display_path
from ..errors import UsageError
from ..workspace import existing_catalog_path
from .common import ConfigOption, console, handle_errors, safe_text, settings_from


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def export(
        directory: Annotated[Path, typer.Argument(help="Folder (or one photo) whose catalogued results to "
                                                  "write.")],
        output: Annotated[Path, typer.Option("-o", "--output", help="The .json or .csv file to write.")],
        catalog: Annotated[Path | None, typer.Option("--catalog", help="Catalog path (default: the folder's "
                                                     "or the nearest parent's).")] = None,
        config: Path | None = ConfigOption,
    ) -> None:
        """Export the catalog's results for DIRECTORY (as `analyze -o` writes them) without analysing."""
        if not directory.exists():
            raise UsageError(f"{display_path(directory)}: no such file or folder")
        check_output_path(output, (".json", ".csv"))
        settings = settings_from(config, catalog=catalog)
        cat_path = Path(settings.catalog) if settings.catalog else existing_catalog_path(
            directory if directory.is_dir() else directory.parent)
        if cat_path is None or not cat_path.is_file():
            raise UsageError(f"no catalog for {display_path(directory)}; run `imgengine analyze "
                             f"{display_path(directory)}` first")
        with Catalog(cat_path) as cat:
            if directory.is_file():
                records = list(cat.iter_records(paths=[directory]))
            else:
                records = list(cat.iter_records(directory.resolve()))
        records = [r for r in records if r["status"] != "ignored"]
        write_output(records, output)
        console.print(f"{len(records):,} photo(s) written to {safe_text(display_path(output))}", highlight=False)
