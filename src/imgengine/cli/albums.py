"""``imgengine albums``: smart albums — saved queries materialised as folders of links."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from .common import ConfigOption, console, err_console, handle_errors, open_existing_catalog, settings_from

albums_app = typer.Typer(help="Smart albums: saved queries (the --filter language), kept up to date as folders "
                              "of links.", no_args_is_help=True)

DirArg = typer.Option(Path("."), "--library", "-l", help="The photo folder whose catalog holds the albums.")
CatalogOpt = typer.Option(None, "--catalog", help="Catalog path or postgresql:// URL (default: the library's "
                          "catalog).")


def _catalog(library: Path, catalog: str | None, config: Path | None):
    return open_existing_catalog(settings_from(config, catalog=catalog), library)


@contextmanager
def _albums(library: Path, catalog: str | None, config: Path | None) -> Iterator:
    """The library's albums (``processors.albums.Albums``) over its catalog, closed on exit."""
    from ..processors.albums import Albums

    with _catalog(library, catalog, config) as cat:
        yield Albums(cat)


def _report(results, quiet_if_unchanged: bool = False) -> None:
    """Print each album's refresh; exit 1 after printing when any album had problems."""
    problems = False
    for r in results:
        if not (quiet_if_unchanged and not r.added and not r.removed and not r.problems):
            console.print(f"{r.album}: {r.members:,} photos (+{r.added:,} −{r.removed:,}; links made "
                          f"{r.links_made:,}, removed {r.links_removed:,})", highlight=False, soft_wrap=True)
        for p in r.problems[:5]:
            err_console.print(f"[yellow]warning[/] {p}", highlight=False, soft_wrap=True)
        if len(r.problems) > 5:
            err_console.print(f"… and {len(r.problems) - 5} more", highlight=False)
        problems = problems or bool(r.problems)
    if problems:
        raise typer.Exit(1)


@albums_app.command("add")
@handle_errors
def add(
    name: str = typer.Argument(..., help="Album name, e.g. \"Beach 2023\"."),
    query: str = typer.Argument(..., help="Filter, e.g. \"scene = beach and year = 2023\" (see `export --help`)."),
    link: str = typer.Option("symlink", "--link", help="symlink (relative links), hardlink (same file system), "
                             "or none (an album in the catalog only)."),
    folder: Path | None = typer.Option(None, "--folder", help="The album's folder (default <library>/Albums/<name>)."),
    library: Path = DirArg,
    catalog: str | None = CatalogOpt,
    config: Path | None = ConfigOption,
) -> None:
    """Save a smart album and fill its folder."""
    from ..processors.albums import folder_name

    with _albums(library, catalog, config) as albums:
        if folder is None and link != "none":
            folder = library / "Albums" / folder_name(name)
        album = albums.add(name, query, link=link, folder=folder)
        results = albums.refresh(album.name)
    _report(results)


@albums_app.command("list")
@handle_errors
def list_(
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    library: Path = DirArg,
    catalog: str | None = CatalogOpt,
    config: Path | None = ConfigOption,
) -> None:
    """List the albums with their queries and sizes."""
    from rich.table import Table

    with _albums(library, catalog, config) as albums:
        items = [a.to_dict() for a in albums.list()]
    if json_out:
        sys.stdout.write(json.dumps(items, ensure_ascii=False, indent=2) + "\n")
        return
    if not items:
        console.print("no albums yet: `imgengine albums add NAME QUERY`")
        return
    table = Table()
    for col in ("album", "photos", "query", "folder"):
        table.add_column(col, justify="right" if col == "photos" else "left")
    for a in items:
        table.add_row(a["name"], f"{a['photos']:,}", a["query"], a["folder"] or f"({a['link']})")
    console.print(table)


@albums_app.command("show")
@handle_errors
def show(
    name: str = typer.Argument(..., help="Album name."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    library: Path = DirArg,
    catalog: str | None = CatalogOpt,
    config: Path | None = ConfigOption,
) -> None:
    """The photos in an album."""
    from ..core.photo import display_path

    with _albums(library, catalog, config) as albums:
        album = albums.get(name)
        paths = albums.member_paths(album)
    if json_out:
        sys.stdout.write(json.dumps({**album.to_dict(), "paths": [display_path(p) for p in paths]},
                                    ensure_ascii=False, indent=2) + "\n")
        return
    console.print(f"[bold]{album.name}[/]: {len(paths):,} photos — {album.query}", highlight=False)
    for p in paths:
        console.print(display_path(p), highlight=False, markup=False, soft_wrap=True)


@albums_app.command("refresh")
@handle_errors
def refresh(
    name: str | None = typer.Argument(None, help="Album name (default: every album)."),
    library: Path = DirArg,
    catalog: str | None = CatalogOpt,
    config: Path | None = ConfigOption,
) -> None:
    """Re-evaluate albums now (analyze does this after every run)."""
    with _albums(library, catalog, config) as albums:
        results = albums.refresh(name)
    if not results:
        console.print("no albums yet: `imgengine albums add NAME QUERY`")
    _report(results)


@albums_app.command("remove")
@handle_errors
def remove(
    name: str = typer.Argument(..., help="Album name."),
    keep_folder: bool = typer.Option(False, "--keep-folder", help="Leave the album's links in place."),
    library: Path = DirArg,
    catalog: str | None = CatalogOpt,
    config: Path | None = ConfigOption,
) -> None:
    """Forget an album and remove its links (never a photo, never a file imgengine did not make)."""
    with _albums(library, catalog, config) as albums:
        result = albums.remove(name, keep_folder=keep_folder)
    console.print(f"album {result.album!r} removed ({result.links_removed:,} links removed)", highlight=False)
    _report([result], quiet_if_unchanged=True)


def register(app: typer.Typer) -> None:
    app.add_typer(albums_app, name="albums")
