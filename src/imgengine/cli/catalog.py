"""`imgengine catalog prune`: forget photos whose files are gone; `catalog migrate`: copy a catalog between
SQLite and PostgreSQL, verified."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..core.photo import display_path
from ..errors import UsageError
from .common import ConfigOption, console, err_console, handle_errors, open_existing_catalog, safe_text, settings_from

catalog_app = typer.Typer(help="Look after the catalog (forget photos that are gone; copy it between SQLite and "
                          "PostgreSQL).", no_args_is_help=True)


@catalog_app.command()
@handle_errors
def prune(
    directory: Annotated[Path, typer.Argument(help="Folder whose catalog to prune (default: the current "
                                              "folder's).")] = Path("."),
    catalog: Annotated[str | None, typer.Option("--catalog", help="Catalog path or postgresql:// URL.")] = None,
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would be forgotten."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """Forget photos marked missing (their files were deleted); files that are back are kept."""
    settings = settings_from(config, catalog=catalog)
    root = directory.resolve() if directory.is_dir() and catalog is None else None
    with open_existing_catalog(settings, start=directory) as cat:
        missing = cat.missing(root)
        purged = 0 if dry_run else cat.purge_missing(None, root)
        cat_path = getattr(cat, "label", cat.path)   # a PostgreSQL URL without its password
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


@catalog_app.command("migrate")
@handle_errors
def migrate(
    directory: Path = typer.Argument(Path("."), help="Folder whose SQLite catalog to use (default .)."),
    to: str | None = typer.Option(None, "--to", help="Copy the SQLite catalog into this PostgreSQL "
                                  "database (postgresql://…), which must be empty."),
    from_: str | None = typer.Option(None, "--from", help="Copy this PostgreSQL catalog (postgresql://…) "
                                     "into the SQLite catalog, which must be new or empty."),
    catalog: Path | None = typer.Option(None, "--catalog", help="The SQLite catalog file (default "
                                        "<dir>/.imgengine/catalog.db)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """Copy a whole catalog, ids kept; every table is checked by row count and checksum afterwards."""
    from ..catalog import is_catalog_url, open_catalog
    from ..catalog.migrate import copy_catalog

    if (to is None) == (from_ is None):
        raise UsageError("give exactly one of --to postgresql://… or --from postgresql://…")
    url = to or from_
    if not is_catalog_url(url):
        raise UsageError(f"{url!r}: expected a postgresql:// URL")
    settings = settings_from(config, catalog=catalog)
    sqlite_path = Path(settings.catalog_path(directory))
    if to and not sqlite_path.is_file():
        raise UsageError(f"no catalog at {sqlite_path}; run `imgengine analyze` first or give --catalog")
    copied: dict[str, int] = {}

    def progress(table: str, n: int) -> None:
        copied[table] = copied.get(table, 0) + n
        if not json_out and err_console.is_terminal:
            err_console.print(f"  {table}: {copied[table]:,} rows", end="\r")

    with open_catalog(sqlite_path if to else url) as src, open_catalog(url if to else sqlite_path) as dst:
        report = copy_catalog(src, dst, progress)
        dst_label = getattr(dst, "label", dst.path)
        src_label = getattr(src, "label", src.path)
    if json_out:
        doc = {"from": str(src_label), "to": str(dst_label), "rows": report.rows,
               "tables": {t.table: {"rows": t.rows, "sha256": t.checksum} for t in report.tables}}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    console.print(f"copied {report.rows:,} rows from {src_label} to {dst_label}; counts and checksums match:")
    for t in report.tables:
        console.print(f"  {t.table}: {t.rows:,} rows, sha256 {t.checksum[:16]}")


def register(app: typer.Typer) -> None:
    app.add_typer(catalog_app, name="catalog")
