"""Smart albums: saved filter queries over the catalog, materialised as folders of links.

An album is a name and a query in the filter language (``scene = beach and year = 2023``, see
``search/filterlang.py``). Refreshing an album re-evaluates the query over the catalog (photos that are gone
are left out) and brings its folder in line: a link for every member, named after the photo (``-2``, ``-3``
… when two members share a name), and the links of photos that left the album removed.

Safety: the album folder holds links only. A relative symlink points at the photo; a hard link is a second
name for the same bytes. imgengine removes only links it made itself (recorded in the catalog) and checks
before removing one that it still is that link: a symlink still pointing at the photo, a hard link to the same
inode with another name left (``st_nlink > 1``). A file the user put in the folder, or a hard link that has
become the last copy of a photo deleted elsewhere, is never removed. The folder carries a marker file
(``.imgengine-album``) so that ``analyze`` does not catalogue the links as more photos.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.catalog import Catalog, key_to_path, path_key
from ..core.photo import display_path
from ..core.scan import ALBUM_MARKER
from ..errors import UsageError
from ..search.filterlang import compile_filter

LINK_KINDS = ("symlink", "hardlink", "none")


@dataclass
class Album:
    id: int
    name: str
    query: str
    link: str
    folder: Path | None
    created_at: float | None = None
    refreshed_at: float | None = None
    count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "query": self.query, "link": self.link,
                "folder": display_path(self.folder) if self.folder else None, "photos": self.count,
                "refreshed_at": self.refreshed_at}


@dataclass
class RefreshResult:
    album: str
    members: int = 0
    added: int = 0
    removed: int = 0
    links_made: int = 0
    links_removed: int = 0
    problems: list[str] = field(default_factory=list)


def folder_name(name: str) -> str:
    """An album name as a folder name every file system accepts (exFAT/SMB/Windows reserved characters
    replaced, no trailing dots or spaces)."""
    text = re.sub(r'[<>:"/\\|?*\x00-\x1f]', "_", name).strip().rstrip(". ")
    return text[:120] or "album"


class Albums:
    """The albums of one catalog."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.db = catalog.session   # SQLite, or PostgreSQL translated

    # -- reading ----------------------------------------------------------------------------------------
    def list(self) -> list[Album]:
        rows = self.db.execute(
            "SELECT a.*, (SELECT count(*) FROM album_photos ap WHERE ap.album_id = a.id) AS n FROM albums a "
            "ORDER BY a.name COLLATE NOCASE").fetchall()
        return [self._album(r) for r in rows]

    def get(self, name: str) -> Album:
        row = self.db.execute(
            "SELECT a.*, (SELECT count(*) FROM album_photos ap WHERE ap.album_id = a.id) AS n FROM albums a "
            "WHERE a.name = ? COLLATE NOCASE", (name,)).fetchone()
        if row is None:
            known = ", ".join(a.name for a in self.list()) or "none yet"
            raise UsageError(f"no album named {name!r} (albums: {known})")
        return self._album(row)

    def member_paths(self, album: Album) -> list[Path]:
        rows = self.db.execute("SELECT photo_path FROM album_photos WHERE album_id = ? ORDER BY photo_path",
                               (album.id,))
        return [key_to_path(bytes(r["photo_path"])) for r in rows]

    @staticmethod
    def _album(row) -> Album:
        folder = key_to_path(bytes(row["folder"])) if row["folder"] is not None else None
        return Album(row["id"], row["name"], row["query"], row["link"], folder, row["created_at"],
                     row["refreshed_at"], row["n"])

    # -- changing ---------------------------------------------------------------------------------------
    def add(self, name: str, query: str, link: str = "symlink", folder: Path | None = None) -> Album:
        name = name.strip()
        if not name:
            raise UsageError("an album needs a name")
        if link not in LINK_KINDS:
            raise UsageError(f"--link {link!r}: use {', '.join(LINK_KINDS)}")
        compile_filter(query)  # a bad query is refused before anything is stored
        if self.db.execute("SELECT 1 FROM albums WHERE name = ? COLLATE NOCASE", (name,)).fetchone():
            raise UsageError(f"an album named {name!r} exists already (`imgengine albums remove` it first)")
        if link == "none":
            folder = None
        elif folder is None:
            raise UsageError("say where the album's folder goes (--folder), or --link none")
        else:
            folder = Path(os.path.abspath(folder))
            if folder.exists() and not folder.is_dir():
                raise UsageError(f"{display_path(folder)} exists and is not a folder")
            if folder.is_dir() and any(folder.iterdir()) and not (folder / ALBUM_MARKER).exists():
                raise UsageError(f"{display_path(folder)} is not empty; albums get a folder of their own")
        with self.db:
            self.db.execute("INSERT INTO albums (name, query, link, folder, created_at) VALUES (?, ?, ?, ?, ?)",
                            (name, query, link, path_key(folder) if folder else None, time.time()))
        return self.get(name)

    def remove(self, name: str, keep_folder: bool = False) -> RefreshResult:
        """Forget an album; its links are removed (never anything else) unless ``keep_folder``."""
        album = self.get(name)
        result = RefreshResult(album.name)
        if not keep_folder and album.folder is not None:
            for row in self.db.execute("SELECT link_path, photo_path FROM album_photos WHERE album_id = ?",
                                       (album.id,)).fetchall():
                if row["link_path"] is not None:
                    if _remove_link(key_to_path(bytes(row["link_path"])), key_to_path(bytes(row["photo_path"])),
                                    result):
                        result.links_removed += 1
            marker = album.folder / ALBUM_MARKER
            try:
                marker.unlink()
                album.folder.rmdir()  # only when empty: anything the user added stays
            except OSError:
                pass
        with self.db:
            self.db.execute("DELETE FROM albums WHERE id = ?", (album.id,))
        return result

    def refresh(self, name: str | None = None, progress: Callable[[int], None] | None = None
                ) -> list[RefreshResult]:
        """Re-evaluate albums (all, or one) in one pass over the catalog and update their folders."""
        albums = [self.get(name)] if name else self.list()
        if not albums:
            return []
        tests = [(a, compile_filter(a.query)) for a in albums]
        members: dict[int, dict[int, Path]] = {a.id: {} for a in albums}
        for n, rec in enumerate(_live_records(self.catalog), 1):
            for album, keep in tests:
                if keep(rec):
                    members[album.id][rec["id"]] = Path(rec["path"])
            if progress is not None and n % 1000 == 0:
                progress(n)
        return [self._apply(album, members[album.id]) for album in albums]

    def _apply(self, album: Album, wanted: dict[int, Path]) -> RefreshResult:
        result = RefreshResult(album.name, members=len(wanted))
        rows = self.db.execute("SELECT photo_id, photo_path, link_path FROM album_photos WHERE album_id = ?",
                               (album.id,)).fetchall()
        have = {r["photo_id"]: (key_to_path(bytes(r["link_path"])) if r["link_path"] is not None else None)
                for r in rows}
        photo_of = {r["photo_id"]: key_to_path(bytes(r["photo_path"])) for r in rows}
        gone = [pid for pid in have if pid not in wanted]
        new = [pid for pid in wanted if pid not in have]
        # links of members whose link went missing (deleted by hand) are made again
        relink = [pid for pid, link in have.items() if pid in wanted and album.folder is not None and
                  (link is None or not os.path.lexists(link))]
        folder = album.folder
        if folder is not None:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                (folder / ALBUM_MARKER).touch()
            except OSError as exc:
                result.problems.append(f"{display_path(folder)}: cannot create the album folder: "
                                       f"{exc.strerror or exc}")
                folder = None
        with self.db:
            for pid in gone:
                link = have[pid]
                if link is not None and album.folder is not None:
                    if _remove_link(link, photo_of[pid], result):
                        result.links_removed += 1
                self.db.execute("DELETE FROM album_photos WHERE album_id = ? AND photo_id = ?", (album.id, pid))
                result.removed += 1
            taken = {p.name for p in folder.iterdir()} if folder is not None else set()
            for pid in new + relink:
                link_path = None
                if folder is not None:
                    link_path = _make_link(wanted[pid], folder, album.link, taken, result)
                    if link_path is not None:
                        result.links_made += 1
                self.db.execute("INSERT OR REPLACE INTO album_photos (album_id, photo_id, photo_path, link_path) "
                                "VALUES (?, ?, ?, ?)", (album.id, pid, path_key(wanted[pid]),
                                                        path_key(link_path) if link_path else None))
            result.added = len(new)
            self.db.execute("UPDATE albums SET refreshed_at = ? WHERE id = ?", (time.time(), album.id))
        return result


def _live_records(catalog: Catalog) -> Iterable[dict[str, Any]]:
    from ..plugins.builtin.faces_index import with_people

    for rec in with_people(catalog, catalog.stream_records()):
        if rec.get("status") == "ok" and rec.get("format") and not rec.get("missing"):
            yield rec


def _make_link(photo: Path, folder: Path, kind: str, taken: set[str], result: RefreshResult) -> Path | None:
    stem, suffix = os.path.splitext(photo.name)
    name, n = photo.name, 1
    while name in taken or name == ALBUM_MARKER:
        n += 1
        name = f"{stem}-{n}{suffix}"
    target = folder / name
    try:
        if kind == "hardlink":
            os.link(photo, target)
        else:
            os.symlink(os.path.relpath(photo, folder), target)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if kind == "hardlink" and getattr(exc, "errno", None) == 18:  # EXDEV
            reason = "on another file system (hard links cannot cross file systems; use --link symlink)"
        result.problems.append(f"{display_path(photo)}: no link made: {reason}")
        return None
    taken.add(name)
    return target


def _remove_link(link: Path, photo: Path | None, result: RefreshResult) -> bool:
    """Remove ``link`` only if it still is the link imgengine made to ``photo``."""
    try:
        st = os.lstat(link)
    except FileNotFoundError:
        return False
    except OSError as exc:
        result.problems.append(f"{display_path(link)}: {exc.strerror or exc}")
        return False
    import stat

    ours = False
    if stat.S_ISLNK(st.st_mode):
        try:
            ours = photo is not None and os.path.realpath(link) == os.path.realpath(photo)
        except OSError:
            ours = False
        if not ours and not os.path.exists(link):
            ours = True  # a dangling link to a photo that is gone: nothing is lost by removing it
    elif stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and photo is not None:
        try:
            pst = os.stat(photo)
            ours = (pst.st_dev, pst.st_ino) == (st.st_dev, st.st_ino)
        except OSError:
            ours = False
    if not ours:
        result.problems.append(f"{display_path(link)}: kept (no longer a link imgengine made; the only copy "
                               "of a photo is never removed)")
        return False
    try:
        os.unlink(link)
    except OSError as exc:
        result.problems.append(f"{display_path(link)}: cannot remove: {exc.strerror or exc}")
        return False
    return True
