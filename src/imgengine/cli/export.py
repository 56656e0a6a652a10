"""``imgengine export gallery|catalog|sidecars|keywords``: the catalog as a static site, as CSV/JSON/Parquet/
SQLite, as XMP sidecars beside the photos, or as a Lightroom keyword list."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import ConfigOption, console, err_console, handle_errors, settings_from

FILTER_HELP = ("Only photos matching a filter, e.g. \"year = 2023 and person = Anna\", \"scene = beach or "
               "object = boat\", \"quality >= good and has_gps\" (fields: year, month, date, camera, make, model, "
               "lens, format, path, scene, setting, object, tag, keyword, person, place, city, country, quality, "
               "quality_score, blurry, has_gps, rating, iso, width, height, size, duplicate; operators = != < <= "
               "> >= ~ (contains); and, or, not, parentheses).")

export_app = typer.Typer(help="Export the catalog: a static HTML gallery, CSV/JSON/Parquet/SQLite, XMP sidecars, "
                         "or a Lightroom keyword list.",
                         no_args_is_help=True)


def _open_catalog(source: Path, catalog: Path | None, config: Path | None):
    """The catalog of a photo folder, or a catalog file given directly."""
    from ..core.catalog import Catalog
    from ..core.photo import display_path
    from ..errors import UsageError

    settings = settings_from(config, catalog=catalog)
    if catalog is None and source.is_file() and source.suffix.lower() in (".db", ".sqlite", ".sqlite3"):
        return Catalog(source, readonly=True, roots=settings.roots)
    if not source.exists():
        raise UsageError(f"{display_path(source)}: no such folder")
    cat_path = settings.catalog_path(source)
    if not Path(cat_path).is_file():
        raise UsageError(f"no catalog at {cat_path}; run `imgengine analyze {display_path(source)}` first")
    return Catalog(cat_path, readonly=True, roots=settings.roots)


@export_app.command("gallery")
@handle_errors
def gallery(
    source: Path = typer.Argument(..., help="Photo folder (its catalog is used) or a catalog .db file."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the site (created; reused for incremental builds)."),
    filter_: str | None = typer.Option(None, "--filter", help=FILTER_HELP),
    album: str | None = typer.Option(None, "--album", help="Only the photos of this smart album."),
    title: str | None = typer.Option(None, "--title", help="Page title (default: Photos, or the album's name)."),
    thumb_format: str = typer.Option("webp", "--thumb-format", help="Thumbnail format: webp or avif."),
    preview_size: int = typer.Option(1600, "--preview-size", min=256, max=8192,
                                     help="Long side of the lightbox previews, in pixels."),
    tile_url: str | None = typer.Option(None, "--tile-url", help="Map tile server URL template ({z}/{x}/{y}); "
                                        "without one the map shows points on a world outline."),
    workers: int = typer.Option(0, "--workers", min=0, help="Thumbnail processes (0 = all cores)."),
    catalog: Path | None = typer.Option(None, "--catalog", help="Catalog path (default: the folder's catalog)."),
    config: Path | None = ConfigOption,
) -> None:
    """Build a static HTML gallery that opens from the file system: grid, filters, lightbox, timeline, map."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..core.photo import display_path
    from ..plugins.builtin.gallery import GalleryOptions, build_gallery

    cat = _open_catalog(source, catalog, config)
    root = source if source.is_dir() else None
    settings = settings_from(config, catalog=catalog)
    if album:
        from ..processors.albums import Albums

        query = Albums(cat).get(album).query
        filter_ = f"({query}) and ({filter_})" if filter_ else query
        title = title or album
    from ..plugins.builtin.thumbnails import cache_dir_from

    opts = GalleryOptions(title=title or "Photos", filter=filter_, thumb_format=thumb_format.lower(),
                          preview_size=preview_size, tile_url=tile_url, workers=workers,
                          max_pixels=settings.max_pixels,
                          cache_dir=cache_dir_from((settings.plugins or {}).get("thumbnails")))
    with cat, Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=err_console,
                       transient=True, disable=not err_console.is_terminal) as bar:
        task = bar.add_task("thumbnails", total=None, rate="")

        def progress(step: str, done: int, total: int) -> None:
            elapsed = bar.tasks[0].elapsed or 0
            bar.update(task, completed=done, total=total,
                       rate=f"{done / elapsed:.1f}/s" if elapsed > 0.5 and done else "")

        from ..plugins.builtin.faces_index import with_people

        report = build_gallery(with_people(cat, cat.stream_records(root), sync=False), out,
                               opts, root=root, progress=progress)
    console.print(f"gallery: {report.photos:,} photos in {display_path(out)}/index.html "
                  f"({report.thumbnails_made:,} thumbnails made, {report.thumbnails_reused:,} reused"
                  + (f", {report.thumbnails_cached:,} from analyze's cache" if report.thumbnails_cached else "")
                  + (f", {report.excluded_by_filter:,} left out by the filter" if report.excluded_by_filter else "")
                  + f", {report.seconds:.1f} s)", highlight=False, soft_wrap=True)
    for name, msg in report.thumbnail_failures[:5]:
        err_console.print(f"[yellow]no thumbnail[/] {name}: {msg}", highlight=False, soft_wrap=True)
    if len(report.thumbnail_failures) > 5:
        err_console.print(f"… and {len(report.thumbnail_failures) - 5} more photos without thumbnails",
                          highlight=False, soft_wrap=True)


@export_app.command("catalog")
@handle_errors
def export_catalog(
    source: Path = typer.Argument(..., help="Photo folder (its catalog is used) or a catalog .db file."),
    output: Path = typer.Option(..., "--output", "-o", help="File to write (.csv, .json, .parquet, .sqlite)."),
    fmt: str | None = typer.Option(None, "--format", "-f", help="csv, json, parquet or sqlite (default: from -o)."),
    filter_: str | None = typer.Option(None, "--filter", help=FILTER_HELP),
    catalog: Path | None = typer.Option(None, "--catalog", help="Catalog path (default: the folder's catalog)."),
    config: Path | None = ConfigOption,
) -> None:
    """Export the catalog with the same fields as `analyze -o`, streamed (flat memory at any size)."""
    from ..core.photo import display_path
    from ..errors import UsageError
    from ..plugins.builtin.exports import export_records, format_for
    from ..search.filterlang import compile_filter

    if output.is_dir():
        raise UsageError(f"{display_path(output)} is a folder; give a file name")
    kind = format_for(output, fmt)
    keep = compile_filter(filter_)
    parent = output.resolve().parent
    if not parent.is_dir():
        raise UsageError(f"{display_path(parent)}: no such folder")
    cat = _open_catalog(source, catalog, config)
    root = source if source.is_dir() else None
    with cat:
        from ..plugins.builtin.faces_index import with_people

        records = (r for r in with_people(cat, cat.stream_records(root), sync=False)
                   if not r.get("missing") and keep(r))
        try:
            n = export_records(records, output, kind)
        except OSError as exc:
            raise UsageError(f"cannot write {display_path(output)}: {exc.strerror or exc}")
    console.print(f"exported {n:,} photos to {display_path(output)} ({kind})", highlight=False, soft_wrap=True)


@export_app.command("sidecars")
@handle_errors
def export_sidecars(
    source: Path = typer.Argument(..., help="Photo folder (its catalog is used) or a catalog .db file."),
    style: str = typer.Option("lightroom", "--style", help="lightroom: IMG_1.xmp (Lightroom, darktable, Capture "
                              "One); digikam: IMG_1.jpg.xmp."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing sidecars (the old ones are kept "
                                   "for `imgengine undo`)."),
    filter_: str | None = typer.Option(None, "--filter", help=FILTER_HELP),
    only: str = typer.Option("scenes,objects,quality,people,places", "--only",
                             help="Which analysis keywords: scenes, objects, quality, people, places."),
    min_confidence: float = typer.Option(0.0, "--min-confidence", help="Lowest score of a scene/object keyword."),
    apply: bool = typer.Option(False, "--apply", help="Write (default: only show the plan)."),
    json_out: bool = typer.Option(False, "--json", help="Print the plan (and results) as JSON."),
    limit: int = typer.Option(40, "--limit", help="Rows in the preview (0: all)."),
    catalog: Path | None = typer.Option(None, "--catalog", help="Catalog path (default: the folder's catalog)."),
    state_dir: Path | None = typer.Option(None, "--state-dir", help="Where the journal goes "
                                          "(default <folder>/.imgengine)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only errors and the result line."),
    config: Path | None = ConfigOption,
) -> None:
    """XMP sidecars beside the photos: keywords, rating, label, title, GPS, date, face regions. Preview first."""
    import os

    from ..errors import UsageError
    from ..metadata.writer import MetadataWriter
    from ..plugins.builtin.faces_index import names_by_face, with_people
    from ..processors.sidecars import STYLES, apply_sidecars, edit_from_record, plan_sidecars
    from ..processors.tag import ANALYSIS_KINDS
    from ..search.filterlang import compile_filter
    from .tag import run_tag_plan, state_dir_for

    style = style.lower()
    if style not in STYLES:
        raise UsageError(f"--style {style!r}: use lightroom (IMG_1.xmp) or digikam (IMG_1.jpg.xmp)")
    kinds = [k.strip() for k in only.split(",") if k.strip()]
    bad = [k for k in kinds if k not in ANALYSIS_KINDS]
    if bad:
        raise UsageError(f"--only {','.join(bad)}: choose from {','.join(ANALYSIS_KINDS)}")
    if not 0.0 <= min_confidence <= 1.0:
        raise UsageError("--min-confidence is between 0 and 1")
    keep = compile_filter(filter_)
    cat = _open_catalog(source, catalog, config)
    root = source if source.is_dir() else None
    with cat, err_console.status("planning the sidecars from the catalog", spinner="dots"):
        names = names_by_face(cat)
        records = (r for r in with_people(cat, cat.stream_records(root), sync=False) if keep(r))
        plan = plan_sidecars(records, style, overwrite,
                             lambda rec: edit_from_record(rec, names, kinds, min_confidence))
    with MetadataWriter(sidecar_naming=STYLES[style], use_exiftool=False, sidecar_only=True) as writer:
        run_tag_plan(plan, writer, apply=apply, json_out=json_out, limit=limit,
                     state_dir=state_dir_for(state_dir, [source]), catalog=None,
                     args={"source": os.path.abspath(source), "style": style, "overwrite": overwrite,
                           "filter": filter_}, quiet=quiet, apply_fn=apply_sidecars)


@export_app.command("keywords")
@handle_errors
def export_keywords(
    source: Path = typer.Argument(..., help="Photo folder (its catalog is used) or a catalog .db file."),
    lightroom: Path = typer.Option(..., "--lightroom", help="Keyword list file to write (Lightroom Classic: "
                                   "Metadata > Import Keywords)."),
    filter_: str | None = typer.Option(None, "--filter", help=FILTER_HELP),
    catalog: Path | None = typer.Option(None, "--catalog", help="Catalog path (default: the folder's catalog)."),
    config: Path | None = ConfigOption,
) -> None:
    """A Lightroom keyword list (tab-indented hierarchy) of the catalog's keywords, scenes, objects, people and
    places."""
    from ..core.atomic import write_atomic
    from ..core.photo import display_path
    from ..errors import UsageError
    from ..plugins.builtin.faces_index import with_people
    from ..plugins.builtin.keyword_list import catalog_keywords, lightroom_keyword_list
    from ..search.filterlang import compile_filter

    if lightroom.is_dir():
        raise UsageError(f"{display_path(lightroom)} is a folder; give a file name")
    if not lightroom.resolve().parent.is_dir():
        raise UsageError(f"{display_path(lightroom.resolve().parent)}: no such folder")
    keep = compile_filter(filter_)
    cat = _open_catalog(source, catalog, config)
    root = source if source.is_dir() else None
    with cat, err_console.status("collecting the catalog's keywords", spinner="dots"):
        keywords = catalog_keywords(r for r in with_people(cat, cat.stream_records(root), sync=False) if keep(r))
    text = lightroom_keyword_list(keywords)
    try:
        write_atomic(lightroom, text.encode("utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot write {display_path(lightroom)}: {exc.strerror or exc}")
    console.print(f"{text.count(chr(10)):,} keywords written to {display_path(lightroom)} (Lightroom: Metadata > "
                  "Import Keywords)", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")
