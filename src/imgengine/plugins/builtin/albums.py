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
    from ...core.catalog import Catalog
    from ...processors.albums import Albums

    path = Path(summary["catalog"])
    if not path.is_file():
        return
    with Catalog(path) as catalog:
        albums = Albums(catalog)
        if not albums.list():
            return
        results = albums.refresh()
    summary["albums"] = {r.album: {"photos": r.members, "added": r.added, "removed": r.removed,
                                   "problems": r.problems[:5]} for r in results}
