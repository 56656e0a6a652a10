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
# the analyzer whose results say which XMP sidecar they were read with (``sidecar_stamp``)
SIDECAR_READER = "metadata"


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


def file_is_gone(key: bytes) -> bool:
    """True only when the file's folder can be listed and the name is not in it: a folder that cannot be
    reached (unplugged drive, dangling link, no permission) says nothing about its files."""
    try:
        os.lstat(key)
        return False
    except FileNotFoundError:  # ENOENT; a folder we may not search gives EACCES instead
        return os.path.isdir(os.path.dirname(key))
    except OSError:
        return False


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


class Catalog(SqliteStoreQueries):  # store-interface queries: catalog/sqlite.py
    def __init__(self, path: Path, readonly: bool = False):
        self.path = Path(path)
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

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

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
            prefix = path_key(root).rstrip(b"/") + b"/"
            where = "WHERE substr(p.path, 1, ?) = ?"
            params = (len(prefix), prefix)
        rows = self.db.execute(
            f"SELECT p.id, p.path, p.size, p.mtime_ns, p.status, "
            f"group_concat(r.analyzer || '=' || r.version, char(31)) AS versions, "
            f"max(CASE WHEN r.analyzer = '{SIDECAR_READER}' THEN json_extract(r.data, '$.sidecar_stamp') END) "
            f"AS sidecar FROM photos p LEFT JOIN results r ON r.photo_id = p.id {where} GROUP BY p.id", params)
        out = {}
        for row in rows:
            versions = dict(v.split("=", 1) for v in row["versions"].split("\x1f")) if row["versions"] else {}
            out[bytes(row["path"])] = KnownFile(row["id"], row["size"], row["mtime_ns"], row["status"], versions,
                                                row["sidecar"] or "")
        return out

    def find_by_sha256(self, sha256: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM photos WHERE sha256 = ?", (sha256,)).fetchall()
        return [self._photo_row(r) for r in rows]

    def get(self, path: os.PathLike | str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM photos WHERE path = ?", (path_key(path),)).fetchone()
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
            prefix = path_key(root).rstrip(b"/") + b"/"
            where, params = "WHERE substr(p.path, 1, ?) = ?", (len(prefix), prefix)
        if not include_missing:
            where += " AND p.missing_since IS NULL"
        photos = self.db.execute(f"SELECT * FROM photos p {where} ORDER BY p.path", params).fetchall()
        results: dict[int, dict[str, Any]] = {}
        for r in self.db.execute(
                f"SELECT r.* FROM results r JOIN photos p ON p.id = r.photo_id {where}", params):
            results.setdefault(r["photo_id"], {})[r["analyzer"]] = self._result_value(r)
        for row in photos:
            rec = self._photo_row(row)
            rec["results"] = results.get(row["id"], {})
            yield rec

    def stream_records(self, root: Path | None = None, include_missing: bool = False) -> Iterator[dict[str, Any]]:
        """Full records in path order, one photo at a time (constant memory: one joined query read as it
        goes, not every result loaded first as ``iter_records`` does); photos whose file is gone are left
        out unless ``include_missing``."""
        where, params = "WHERE 1", ()
        if root is not None:
            prefix = path_key(root).rstrip(b"/") + b"/"
            where, params = "WHERE substr(p.path, 1, ?) = ?", (len(prefix), prefix)
        if not include_missing and self._tracks_missing():
            where += " AND p.missing_since IS NULL"
        cur = self.db.execute(
            "SELECT p.*, r.analyzer AS r_analyzer, r.version AS r_version, r.data AS r_data, r.error AS r_error "
            f"FROM photos p LEFT JOIN results r ON r.photo_id = p.id {where} ORDER BY p.path", params)
        rec: dict[str, Any] | None = None
        for row in cur:
            if rec is None or rec["id"] != row["id"]:
                if rec is not None:
                    yield rec
                rec = self._photo_row(row)
                rec["results"] = {}
            if row["r_analyzer"] is not None:
                if row["r_data"] is None:
                    value = {"_version": row["r_version"], "_error": row["r_error"]}
                else:
                    value = json.loads(row["r_data"])
                    value["_version"] = row["r_version"]
                rec["results"][row["r_analyzer"]] = value
        if rec is not None:
            yield rec

    def results_of(self, analyzer: str, root: Path | None = None) -> Iterator[tuple[dict[str, Any], dict]]:
        """(photo fields, analyzer data) for every photo with a successful result of ``analyzer``."""
        where, params = "", (analyzer,)
        if root is not None:
            prefix = path_key(root).rstrip(b"/") + b"/"
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

    def _photo_row(self, row: sqlite3.Row) -> dict[str, Any]:
        key = bytes(row["path"])
        return {
            "id": row["id"], "path": key_to_path(key), "display_path": row["display_path"],
            "size": row["size"], "mtime_ns": row["mtime_ns"], "format": row["format"],
            "extension_mismatch": bool(row["extension_mismatch"]), "sha256": row["sha256"],
            "status": row["status"], "error": row["error"], "analyzed_at": row["analyzed_at"],
            "missing_since": row["missing_since"] if "missing_since" in row.keys() else None,
        }

    @staticmethod
    def _result_value(r: sqlite3.Row) -> dict[str, Any]:
        if r["data"] is None:
            return {"_version": r["version"], "_error": r["error"]}
        data = json.loads(r["data"])
        data["_version"] = r["version"]
        return data

    def _record(self, row: sqlite3.Row) -> dict[str, Any]:
        rec = self._photo_row(row)
        rec["results"] = {r["analyzer"]: self._result_value(r) for r in
                          self.db.execute("SELECT * FROM results WHERE photo_id = ?", (row["id"],))}
        return rec

    # -- writes ----------------------------------------------------------------------------------
    def write_outcomes(self, outcomes: Iterable[FileOutcome]) -> None:
        """Store a batch of analysis outcomes in one transaction."""
        now = time.time()
        try:
            with self.db:
                for o in outcomes:
                    key = path_key(o.path)
                    row = self.db.execute("SELECT id FROM photos WHERE path = ?", (key,)).fetchone()
                    fields = (o.size, o.mtime_ns, o.format, int(o.extension_mismatch), o.sha256, o.status,
                              o.error, now, now)
                    if row is None:
                        cur = self.db.execute(
                            "INSERT INTO photos (path, display_path, size, mtime_ns, format, extension_mismatch, "
                            "sha256, status, error, analyzed_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                            (key, display_path(o.path), *fields))
                        photo_id = cur.lastrowid
                    else:
                        photo_id = row["id"]
                        if o.replace_results:
                            self.db.execute("DELETE FROM results WHERE photo_id = ?", (photo_id,))
                        self.db.execute(
                            "UPDATE photos SET size=?, mtime_ns=?, format=?, extension_mismatch=?, "
                            "sha256=coalesce(?, sha256), status=?, error=?, analyzed_at=?, updated_at=?, "
                            "missing_since=NULL WHERE id=?",
                            (*fields, photo_id))
                    for name, (version, data, error) in o.results.items():
                        self.db.execute(
                            "INSERT OR REPLACE INTO results (photo_id, analyzer, version, data, error, updated_at) "
                            "VALUES (?,?,?,?,?,?)",
                            (photo_id, name, version, None if data is None else json.dumps(data, ensure_ascii=False),
                             error, now))
        except sqlite3.DatabaseError as exc:
            raise _catalog_error(exc, self.path)

    def move_path(self, old: os.PathLike | str, new: os.PathLike | str, mtime_ns: int | None = None) -> bool:
        """Record that a file moved (rename/organise/duplicate actions, or a move found by sha256)."""
        try:
            with self.db:
                cur = self.db.execute(
                    "UPDATE photos SET path=?, display_path=?, mtime_ns=coalesce(?, mtime_ns), updated_at=?, "
                    "missing_since=NULL WHERE path=?",
                    (path_key(new), display_path(os.path.abspath(new)), mtime_ns, time.time(), path_key(old)))
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
        prefix = path_key(root).rstrip(b"/") + b"/"
        gone, back = [], []
        for pid, key, since in self.db.execute(
                "SELECT id, path, missing_since FROM photos WHERE substr(path, 1, ?) = ?", (len(prefix), prefix)):
            key = bytes(key)
            if key in seen:
                if since is not None:
                    back.append(pid)
            elif since is None and file_is_gone(key):
                gone.append(pid)
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
                return self.db.executemany("UPDATE photos SET missing_since = ? WHERE path = ? AND "
                                           "missing_since IS NULL", [(now, k) for k in keys]).rowcount
        except sqlite3.DatabaseError as exc:
            raise _catalog_error(exc, self.path)

    def missing(self, root: Path | None = None) -> list[dict[str, Any]]:
        """Photos marked missing (under ``root`` when given), oldest first."""
        where, params = "", ()
        if root is not None:
            prefix = path_key(root).rstrip(b"/") + b"/"
            where, params = "AND substr(path, 1, ?) = ?", (len(prefix), prefix)
        rows = self.db.execute(f"SELECT * FROM photos WHERE missing_since IS NOT NULL {where} "
                               "ORDER BY missing_since, path", params)
        return [self._photo_row(r) for r in rows]

    def purge_missing(self, older_than: float | None = None, root: Path | None = None,
                      now: float | None = None) -> int:
        """Forget photos marked missing for longer than ``older_than`` seconds (all of them when None);
        one whose file is back in place is unmarked instead."""
        now = time.time() if now is None else now
        cutoff = now - older_than if older_than is not None else float("inf")
        forget, back = [], []
        for rec in self.missing(root):
            if rec["missing_since"] > cutoff:
                continue
            (back if os.path.lexists(rec["path"]) else forget).append((rec["id"],))
        try:
            with self.db:
                self.db.executemany("DELETE FROM photos WHERE id = ?", forget)
                self.db.executemany("UPDATE photos SET missing_since = NULL WHERE id = ?", back)
        except sqlite3.DatabaseError as exc:
            raise _catalog_error(exc, self.path)
        return len(forget)

    def remove(self, path: os.PathLike | str) -> bool:
        with self.db:
            return self.db.execute("DELETE FROM photos WHERE path = ?", (path_key(path),)).rowcount > 0

    def record_run(self, run_id: str, command: str, root: str, started_at: float, finished_at: float,
                   summary: dict[str, Any]) -> None:
        try:
            with self.db:
                self.db.execute("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?)",
                                (run_id, command, root, started_at, finished_at, json.dumps(summary)))
        except sqlite3.DatabaseError as exc:
            raise _catalog_error(exc, self.path)
