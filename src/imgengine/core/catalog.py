"""The SQLite catalog: one row per file, one row per (file, analyzer) result, numbered migrations.

Paths are stored as the file system's bytes (``os.fsencode``) so that non-UTF-8 names round-trip
exactly; ``display_path`` holds a printable form. The database runs in WAL mode and is written in
batched transactions, so an interrupted run leaves it consistent and the next run resumes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..catalog.base import StoreBase
from ..catalog.roots import IDENTITY, RootMap
from ..catalog.rows import (  # noqa: F401 - file_is_gone: re-exported
    KNOWN_FILES_SQL,
    RECORDS_SQL,
    SQLITE_STAMP,
    file_is_gone,
    group_records,
    missing_changes,
    parse_versions,
    purge_choice,
    result_value,
)
from ..catalog.sqlite import SqliteStoreQueries
from ..errors import CatalogError
from .photo import display_path

if TYPE_CHECKING:  # the engine's outcome type (duck-typed here: core imports nothing from above)
    from ..engine.perfile import FileOutcome

SCHEMA_VERSION = 4

# a photo whose file is gone stays (marked missing) this long before a run purges it; an unplugged drive
# is never marked (its folder cannot be seen), so this only forgets files deleted on purpose
MISSING_GRACE_SECONDS = 30 * 24 * 3600

MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {}


def migration(version: int):
    def register(fn: Callable[[sqlite3.Connection], None]):
        MIGRATIONS[version] = fn
        return fn
    return register


@migration(1)
def _initial_schema(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE photos (
            id INTEGER PRIMARY KEY,
            path BLOB NOT NULL UNIQUE,
            display_path TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            format TEXT,
            extension_mismatch INTEGER NOT NULL DEFAULT 0,
            sha256 TEXT,
            status TEXT NOT NULL DEFAULT 'ok',
            error TEXT,
            analyzed_at REAL,
            updated_at REAL
        );
        CREATE INDEX photos_sha256 ON photos(sha256);
        CREATE INDEX photos_size ON photos(size);
        CREATE TABLE results (
            photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
            analyzer TEXT NOT NULL,
            version TEXT NOT NULL,
            data TEXT,
            error TEXT,
            updated_at REAL,
            PRIMARY KEY (photo_id, analyzer)
        );
        CREATE INDEX results_analyzer ON results(analyzer);
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            command TEXT,
            root TEXT,
            started_at REAL,
            finished_at REAL,
            summary TEXT
        );
        """
    )


@migration(2)
def _missing_photos(db: sqlite3.Connection) -> None:
    """Photos whose file is gone are kept, marked, and left out of every report until purged."""
    ensure_missing_column(db)


def ensure_missing_column(db: sqlite3.Connection) -> None:
    """Add ``photos.missing_since`` when it is not there. Idempotent: a catalog that went through the
    no-op placeholder of migration 2 (main before issue 17 merged) is at schema 3 without the column,
    so every writable open checks (one PRAGMA)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(photos)")}
    if "missing_since" not in columns:
        db.execute("ALTER TABLE photos ADD COLUMN missing_since REAL")
    db.execute("CREATE INDEX IF NOT EXISTS photos_missing ON photos(missing_since) WHERE missing_since IS NOT NULL")


@migration(3)
def _faces_people_ocr(db: sqlite3.Connection) -> None:
    """Faces, people and face clusters (the faces plugin), the OCR full-text index, and which plugin
    results have been copied into these tables (so a sync only touches what changed)."""
    db.executescript(
        """
        CREATE TABLE people (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            created_at REAL
        );
        CREATE TABLE face_clusters (
            id INTEGER PRIMARY KEY,
            person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
            created_at REAL,
            updated_at REAL
        );
        CREATE TABLE faces (
            id INTEGER PRIMARY KEY,
            photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
            face_index INTEGER NOT NULL,
            box TEXT NOT NULL,
            score REAL,
            embedding BLOB NOT NULL,
            model TEXT,
            known_person TEXT,
            confidence REAL,
            cluster_id INTEGER REFERENCES face_clusters(id) ON DELETE SET NULL,
            UNIQUE (photo_id, face_index)
        );
        CREATE INDEX faces_cluster ON faces(cluster_id);
        CREATE INDEX faces_known_person ON faces(known_person) WHERE known_person IS NOT NULL;
        CREATE TABLE plugin_sync (
            photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
            analyzer TEXT NOT NULL,
            result_updated_at REAL,
            PRIMARY KEY (photo_id, analyzer)
        );
        CREATE VIRTUAL TABLE ocr_text USING fts5(text, tokenize = 'unicode61 remove_diacritics 2');
        CREATE TRIGGER photos_delete_ocr AFTER DELETE ON photos BEGIN
            DELETE FROM ocr_text WHERE rowid = old.id;
        END;
        """
    )


@migration(4)
def _albums(db: sqlite3.Connection) -> None:
    """Smart albums: a saved filter query, materialised as a folder of links; members with the link made."""
    db.executescript(
        """
        CREATE TABLE albums (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            query TEXT NOT NULL,
            link TEXT NOT NULL DEFAULT 'symlink',      -- symlink | hardlink | none
            folder BLOB,                                -- file-system bytes; NULL when not materialised
            created_at REAL,
            refreshed_at REAL
        );
        CREATE TABLE album_photos (
            album_id INTEGER NOT NULL REFERENCES albums(id) ON DELETE CASCADE,
            photo_id INTEGER NOT NULL,                  -- no foreign key: a photo that leaves the catalog
            photo_path BLOB NOT NULL,                   -- leaves its link behind until the next refresh
            link_path BLOB,                             -- the link imgengine made, NULL when none
            PRIMARY KEY (album_id, photo_id)
        );
        """
    )


def path_key(path: os.PathLike | str) -> bytes:
    """The catalog key of a path: its absolute form as file-system bytes."""
    return os.fsencode(os.path.abspath(path))


def key_to_path(key: bytes) -> Path:
    return Path(os.fsdecode(key))


@dataclass(frozen=True)
class KnownFile:
    id: int
    size: int
    mtime_ns: int
    status: str
    versions: dict[str, str]
    sidecar_stamp: str = ""       # the stamp of the XMP sidecar the metadata result was read with ("" none)


def _catalog_error(exc: sqlite3.Error, path: Path) -> CatalogError:
    text = str(exc)
    if "disk is full" in text or "database or disk is full" in text:
        return CatalogError(f"catalog {path}: the disk is full; free some space and run again")
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return CatalogError(f"catalog {path}: cannot write ({text}); choose another place with --catalog")
    return CatalogError(f"catalog {path}: {text}")


class Catalog(SqliteStoreQueries, StoreBase):  # store-interface queries: catalog/sqlite.py
    def __init__(self, path: Path, readonly: bool = False, roots: dict | None = None):
        self.path = Path(path)
        self.roots = RootMap(roots) if roots else IDENTITY   # named library roots (catalog/roots.py)
        try:
            if readonly:
                uri = f"file:{self.path}?mode=ro"
                self.db = sqlite3.connect(uri, uri=True, timeout=30)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(self.path, timeout=30)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA foreign_keys = ON")
            if not readonly:
                self.db.execute("PRAGMA journal_mode = WAL")
                self.db.execute("PRAGMA synchronous = NORMAL")
                self._migrate()
        except OSError as exc:
            raise CatalogError(f"catalog {self.path}: cannot create its folder: {exc.strerror or exc}; "
                               "choose another place with --catalog")
        except sqlite3.DatabaseError as exc:
            raise _catalog_error(exc, self.path)

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        try:
            self.db.close()
        except sqlite3.Error:
            pass

    def _migrate(self) -> None:
        current = self.db.execute("PRAGMA user_version").fetchone()[0]
        if current > SCHEMA_VERSION:
            raise CatalogError(f"catalog {self.path} has schema {current}, newer than this imgengine "
                               f"({SCHEMA_VERSION}); upgrade imgengine")
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self.db:
                MIGRATIONS[version](self.db)
                self.db.execute(f"PRAGMA user_version = {version}")
        if current >= 2:
            with self.db:
                ensure_missing_column(self.db)

    def _tracks_missing(self) -> bool:
        """False only for an old catalog opened read-only (not migrated): it has no ``missing_since``."""
        if not hasattr(self, "_missing_column"):
            self._missing_column = any(r[1] == "missing_since" for r in self.db.execute("PRAGMA table_info(photos)"))
        return self._missing_column

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    # -- reads -----------------------------------------------------------------------------------
    def known_files(self, root: Path | None = None) -> dict[bytes, KnownFile]:
        """Stat identity and stored analyzer versions of every file (under ``root`` when given)."""
        params: tuple = ()
        where = ""
        if root is not None:
            prefix = self.stored_prefix(root)
            where = "WHERE substr(p.path, 1, ?) = ?"
            params = (len(prefix), prefix)
        rows = self.db.execute(KNOWN_FILES_SQL.format(agg="group_concat", sep="char(31)", where=where,
                                                      stamp=SQLITE_STAMP), params)
        return {self.local_key(row["path"]): KnownFile(row["id"], row["size"], row["mtime_ns"], row["status"],
                                              parse_versions(row["versions"]), row["sidecar"] or "")
                for row in rows}

    def find_by_sha256(self, sha256: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM photos WHERE sha256 = ?", (sha256,)).fetchall()
        return [self._photo_row(r) for r in rows]

    def get(self, path: os.PathLike | str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM photos WHERE path = ?", (self.stored_key(path),)).fetchone()
        return self._record(row) if row else None

    def get_by_id(self, photo_id: int) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM photos WHERE id = ?", (photo_id,)).fetchone()
        return self._record(row) if row else None

    def iter_records(self, root: Path | None = None, paths: Iterable[os.PathLike] | None = None,
                     include_missing: bool = False) -> Iterator[dict[str, Any]]:
        """Full records (photo fields + ``results``) in path order; photos whose file is gone are left
        out unless ``include_missing``."""
        if paths is not None:
            for p in paths:
                rec = self.get(p)
                if rec and (include_missing or rec["missing_since"] is None):
                    yield rec
            return
        where, params = "WHERE 1", ()
        if root is not None:
            prefix = self.stored_prefix(root)
            where, params = "WHERE substr(p.path, 1, ?) = ?", (len(prefix), prefix)
        if not include_missing:
            where += " AND p.missing_since IS NULL"
        photos = self.db.execute(f"SELECT * FROM photos p {where} ORDER BY p.path", params).fetchall()
        yield from self._with_results(
            photos, self.db.execute(f"SELECT r.* FROM results r JOIN photos p ON p.id = r.photo_id {where}", params))

    def stream_records(self, root: Path | None = None, include_missing: bool = False) -> Iterator[dict[str, Any]]:
        """Full records in path order, one photo at a time (constant memory: one joined query read as it
        goes, not every result loaded first as ``iter_records`` does); photos whose file is gone are left
        out unless ``include_missing``."""
        where, params = "WHERE 1", ()
        if root is not None:
            prefix = self.stored_prefix(root)
            where, params = "WHERE substr(p.path, 1, ?) = ?", (len(prefix), prefix)
        if not include_missing and self._tracks_missing():
            where += " AND p.missing_since IS NULL"
        yield from group_records(self.db.execute(RECORDS_SQL.format(where=where), params), self.local_key)

    def results_of(self, analyzer: str, root: Path | None = None) -> Iterator[tuple[dict[str, Any], dict]]:
        """(photo fields, analyzer data) for every photo with a successful result of ``analyzer``."""
        where, params = "", (analyzer,)
        if root is not None:
            prefix = self.stored_prefix(root)
            where, params = "AND substr(p.path, 1, ?) = ?", (analyzer, len(prefix), prefix)
        for row in self.db.execute(
                f"SELECT p.*, r.data AS rdata FROM photos p JOIN results r ON r.photo_id = p.id "
                f"WHERE r.analyzer = ? AND r.data IS NOT NULL AND p.missing_since IS NULL {where} "
                f"ORDER BY p.path", params):
            yield self._photo_row(row), json.loads(row["rdata"])

    def results_for(self, photo_ids: Iterable[int], analyzers: Iterable[str]) -> dict[int, dict[str, dict]]:
        """{photo id: {analyzer: data}} of the successful results of ``analyzers`` for ``photo_ids``."""
        ids, names = list(photo_ids), list(analyzers)
        if not ids or not names:
            return {}
        out: dict[int, dict[str, dict]] = {}
        for row in self.db.execute(
                f"SELECT photo_id, analyzer, data FROM results WHERE data IS NOT NULL AND photo_id IN "
                f"({','.join('?' * len(ids))}) AND analyzer IN ({','.join('?' * len(names))})", (*ids, *names)):
            out.setdefault(row["photo_id"], {})[row["analyzer"]] = json.loads(row["data"])
        return out

    def count(self, include_missing: bool = False) -> int:
        where = "" if include_missing else " WHERE missing_since IS NULL"
        return self.db.execute(f"SELECT count(*) FROM photos{where}").fetchone()[0]

    @staticmethod
    def _result_value(r: sqlite3.Row) -> dict[str, Any]:
        return result_value(r["data"], r["version"], r["error"])

    def _record(self, row: sqlite3.Row) -> dict[str, Any]:
        rec = self._photo_row(row)
        rec["results"] = {r["analyzer"]: self._result_value(r) for r in
                          self.db.execute("SELECT * FROM results WHERE photo_id = ?", (row["id"],))}
        return rec

    # -- writes ----------------------------------------------------------------------------------
    def write_outcomes(self, outcomes: Iterable[FileOutcome]) -> None:
        """Store a batch of analysis outcomes in one transaction: one query for the ids of the photos already
        catalogued, one statement per photo row, the results in one ``executemany``."""
        now = time.time()
        outcomes = list(outcomes)
        keys = [self.stored_key(o.path) for o in outcomes]
        insert_results = ("INSERT OR REPLACE INTO results (photo_id, analyzer, version, data, error, updated_at) "
                          "VALUES (?,?,?,?,?,?)")
        try:
            with self.db:
                ids: dict[bytes, int] = {}
                for i in range(0, len(keys), 500):
                    part = keys[i:i + 500]
                    ids.update(self.db.execute(
                        f"SELECT path, id FROM photos WHERE path IN ({','.join('?' * len(part))})", part))
                results: list[tuple] = []
                for key, o in zip(keys, outcomes, strict=True):
                    fields = (o.size, o.mtime_ns, o.format, int(o.extension_mismatch), o.sha256, o.status,
                              o.error, now, now)
                    photo_id = ids.get(key)
                    if photo_id is None:
                        photo_id = ids[key] = self.db.execute(
                            "INSERT INTO photos (path, display_path, size, mtime_ns, format, extension_mismatch, "
                            "sha256, status, error, analyzed_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                            (key, display_path(o.path), *fields)).lastrowid
                    else:
                        if o.replace_results:
                            if results:  # the same photo twice in a batch: its earlier results go in first
                                self.db.executemany(insert_results, results)
                                results.clear()
                            self.db.execute("DELETE FROM results WHERE photo_id = ?", (photo_id,))
                        self.db.execute(
                            "UPDATE photos SET size=?, mtime_ns=?, format=?, extension_mismatch=?, "
                            "sha256=coalesce(?, sha256), status=?, error=?, analyzed_at=?, updated_at=?, "
                            "missing_since=NULL WHERE id=?",
                            (*fields, photo_id))
                    results.extend((photo_id, name, version, text, error, now)
                                   for name, version, text, error in o.result_rows())
                self.db.executemany(insert_results, results)
        except sqlite3.DatabaseError as exc:
            raise _catalog_error(exc, self.path)

    def move_path(self, old: os.PathLike | str, new: os.PathLike | str, mtime_ns: int | None = None) -> bool:
        """Record that a file moved (rename/organise/duplicate actions, or a move found by sha256)."""
        try:
            with self.db:
                cur = self.db.execute(
                    "UPDATE photos SET path=?, display_path=?, mtime_ns=coalesce(?, mtime_ns), updated_at=?, "
                    "missing_since=NULL WHERE path=?",
                    (self.stored_key(new), display_path(os.path.abspath(new)), mtime_ns, time.time(),
                     self.stored_key(old)))
                return cur.rowcount > 0
        except sqlite3.IntegrityError:
            raise CatalogError(f"catalog already has an entry for {display_path(new)}")
        except sqlite3.DatabaseError as exc:
            raise _catalog_error(exc, self.path)

    def mark_missing(self, root: Path, seen: set[bytes], now: float | None = None) -> tuple[int, int]:
        """After a scan of the folder ``root``: photos under it that the scan did not see and whose file
        is gone (its folder can be listed and the name is not there) are marked missing; photos seen again
        are unmarked. A folder the scan could not see at all (unplugged drive, no permission) keeps its
        photos. Returns (newly missing, back again)."""
        now = time.time() if now is None else now
        prefix = self.stored_prefix(root)
        gone, back = missing_changes(((pid, self.local_key(key), since) for pid, key, since in self.db.execute(
            "SELECT id, path, missing_since FROM photos WHERE substr(path, 1, ?) = ?", (len(prefix), prefix))), seen)
        try:
            with self.db:
                self.db.executemany("UPDATE photos SET missing_since = ? WHERE id = ?", [(now, i) for i in gone])
                self.db.executemany("UPDATE photos SET missing_since = NULL WHERE id = ?", [(i,) for i in back])
        except sqlite3.DatabaseError as exc:
            raise _catalog_error(exc, self.path)
        return len(gone), len(back)

    def mark_gone(self, keys: set[bytes], now: float | None = None) -> int:
        """Mark these photos (catalog keys of files found gone) missing."""
        now = time.time() if now is None else now
        try:
            with self.db:
                return self.db.executemany(
                    "UPDATE photos SET missing_since = ? WHERE path = ? AND missing_since IS NULL",
                    [(now, self.roots.to_stored(k)) for k in keys]).rowcount
        except sqlite3.DatabaseError as exc:
            raise _catalog_error(exc, self.path)

    def missing(self, root: Path | None = None) -> list[dict[str, Any]]:
        """Photos marked missing (under ``root`` when given), oldest first."""
        where, params = "", ()
        if root is not None:
            prefix = self.stored_prefix(root)
            where, params = "AND substr(path, 1, ?) = ?", (len(prefix), prefix)
        rows = self.db.execute(f"SELECT * FROM photos WHERE missing_since IS NOT NULL {where} "
                               "ORDER BY missing_since, path", params)
        return [self._photo_row(r) for r in rows]

    def purge_missing(self, older_than: float | None = None, root: Path | None = None,
                      now: float | None = None) -> int:
        """Forget photos marked missing for longer than ``older_than`` seconds (all of them when None);
        one whose file is back in place is unmarked instead."""
        forget, back = purge_choice(self.missing(root), older_than, time.time() if now is None else now)
        try:
            with self.db:
                self.db.executemany("DELETE FROM photos WHERE id = ?", [(i,) for i in forget])
                self.db.executemany("UPDATE photos SET missing_since = NULL WHERE id = ?", [(i,) for i in back])
        except sqlite3.DatabaseError as exc:
            raise _catalog_error(exc, self.path)
        return len(forget)

    def remove(self, path: os.PathLike | str) -> bool:
        with self.db:
            return self.db.execute("DELETE FROM photos WHERE path = ?", (self.stored_key(path),)).rowcount > 0

    def record_run(self, run_id: str, command: str, root: str, started_at: float, finished_at: float,
                   summary: dict[str, Any]) -> None:
        try:
            with self.db:
                self.db.execute("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?)",
                                (run_id, command, root, started_at, finished_at, json.dumps(summary)))
        except sqlite3.DatabaseError as exc:
            raise _catalog_error(exc, self.path)
