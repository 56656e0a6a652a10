"""`imgengine catalog prune`: forget photos whose files are gone."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..core.catalog import Catalog
from ..core.photo import display_path
from ..errors import UsageError
from ..workspace import existing_catalog_path
from .common import ConfigOption, console, handle_errors, safe_text, settings_from

catalog_app = typer.Typer(help="Look after the catalog (forget photos that are gone).", no_args_is_help=True)


@catalog_app.command()
@handle_errors
def prune(
    directory: Annotated[Path, typer.Argument(help="Folder whose catalog to prune (default: the current "
                                              "folder's).")] = Path("."),
    catalog: Annotated[Path | None, typer.Option("--catalog", help="Catalog path.")] = None,
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would be forgotten."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """Forget photos marked missing (their files were deleted); files that are back are kept."""
    settings = settings_from(config, catalog=catalog)
    cat_path = Path(settings.catalog) if settings.catalog else existing_catalog_path(directory)
    if cat_path is None or not Path(cat_path).is_file():
        raise UsageError(f"no catalog for {display_path(directory)}; run `imgengine analyze` there first")
    root = directory.resolve() if directory.is_dir() and catalog is None else None
    with Catalog(cat_path) as cat:
        missing = cat.missing(root)
        purged = 0 if dry_run else cat.purge_missing(None, root)
    if json_out:
        sys.stdout.write(json.dumps({"catalog": str(cat_path), "missing": [m["display_path"] for m in missing],
                                     "purged": purged, "dry_run": dry_run}, ensure_ascii=False) + "\n")
        return
    for m in missing[:20]:
        console.print(f"gone: {safe_text(m['display_path'])}", highlight=False)
    if len(missing) > 20:
        console.print(f"… and {len(missing) - 20} more (--json lists all)")
    if dry_run:
        console.print(f"{len(missing)} photo(s) marked missing; nothing forgotten (a dry run)")
    else:
        console.print(f"{purged} photo(s) forgotten from {display_path(cat_path)}")


def register(app: typer.Typer) -> None:
    app.add_typer(catalog_app, name="catalog")
