"""Smart albums as a built-in plugin: after every ``analyze`` run, the catalog's albums are re-evaluated and
their folders brought in line (see :mod:`imgengine.processors.albums`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import hookimpl


class AlbumsProcessor:
    """Smart albums: saved queries kept as folders of links. A derived view, like a gallery: refreshing
    creates and removes only links imgengine made (never a photo), so it does not go through the journal."""

    name = "albums"
    description = "smart albums: saved queries materialised as folders of symlinks or hard links"
    runs_as = "refreshed after every `imgengine analyze`, and by `imgengine albums refresh`"

    def refresh(self, catalog: Any, name: str | None = None) -> list[Any]:
        from ...processors.albums import Albums

        return Albums(catalog).refresh(name)


@hookimpl
def register_processors() -> list[Any]:
    return [AlbumsProcessor()]


@hookimpl
def run_finished(run: Any, summary: dict[str, Any]) -> None:
    if summary.get("catalog_error") or summary.get("interrupted") or not summary.get("catalog"):
        return
    from ...catalog import is_catalog_url, open_catalog
    from ...processors.albums import Albums

    spec = summary["catalog"]
    if is_catalog_url(spec):   # its password is hidden there: the run's settings name the same database
        spec = run.settings.catalog_path(run.root if run.root.is_dir() else run.root.parent)
    elif not Path(spec).is_file():
        return
    with open_catalog(spec, roots=run.settings.roots) as catalog:
        albums = Albums(catalog)
        if not albums.list():
            return
        results = albums.refresh()
    summary["albums"] = {r.album: {"photos": r.members, "added": r.added, "removed": r.removed,
                                   "problems": r.problems[:5]} for r in results}
