"""The store-interface queries of the SQLite catalog (mixed into ``core.catalog.Catalog``).

Kept apart from ``core/catalog.py`` (schema, migrations, the original reads and writes) so that the
SQLite-specific SQL other modules used to run on ``catalog.db`` lives in one place beside the store.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .dialect import SqliteDialect


class SqliteStoreQueries:
    db: sqlite3.Connection
    dialect = SqliteDialect

    @property
    def session(self) -> sqlite3.Connection:
        """What modules with their own SQL over the catalog's tables (faces, OCR, albums) run it on."""
        return self.db

    def photos_under(self, root: Path, ok_only: bool = True) -> Iterator[dict[str, Any]]:
        """Photo rows under ``root`` (or the single file ``root``), in path order; with ``ok_only`` only
        those that analysed without error and have a format."""
        root = Path(root)
        if root.is_file():
            where, params = "WHERE path = ?", (self.stored_key(root),)
        else:
            prefix = self.stored_prefix(root)
            where, params = "WHERE substr(path, 1, ?) = ?", (len(prefix), prefix)
        if ok_only:
            where += " AND status = 'ok' AND format IS NOT NULL AND missing_since IS NULL"
        for row in self.db.execute(
                "SELECT id, path, size, mtime_ns, format, extension_mismatch, sha256, status, error FROM photos "
                f"{where} ORDER BY path", params):
            d = dict(row)
            d["path"] = self.local_key(d["path"])
            yield d

    def result_value_counts(self, analyzer: str, key: str, root: Path | None = None) -> dict[Any, int]:
        """{value of ``key`` in the analyzer's result: number of photos} over successful results."""
        where, params = "", [f"$.{key}", analyzer]
        if root is not None and Path(root).is_dir():
            prefix = self.stored_prefix(root)
            where = "AND substr(p.path, 1, ?) = ?"
            params += [len(prefix), prefix]
        rows = self.db.execute(
            "SELECT json_extract(r.data, ?) AS v, count(*) AS n FROM results r JOIN photos p ON p.id = r.photo_id "
            f"WHERE r.analyzer = ? AND r.data IS NOT NULL AND p.missing_since IS NULL {where} GROUP BY v",
            params).fetchall()
        return {row[0]: row[1] for row in rows}

    def photo_id(self, path: os.PathLike | str) -> int | None:
        row = self.db.execute("SELECT id FROM photos WHERE path = ?", (self.stored_key(path),)).fetchone()
        return row[0] if row else None

    def photo_path(self, photo_id: int) -> tuple[bytes, str] | None:
        row = self.db.execute("SELECT path, display_path FROM photos WHERE id = ?", (photo_id,)).fetchone()
        return (self.local_key(row[0]), row[1]) if row else None

    # -- CLIP embeddings (the in-process search index reads them from the ``clip`` results) -------------
    has_vector = False   # no search in the database: ``search.store.EmbeddingStore`` keeps the index

    def clip_models(self) -> dict[str, int]:
        """{CLIP model: number of stored embeddings it produced}."""
        rows = self.db.execute("SELECT json_extract(data, '$.model') AS m, count(*) AS n FROM results "
                               "WHERE analyzer = 'clip' AND data IS NOT NULL GROUP BY m")
        return {row[0]: row[1] for row in rows if row[0]}

    def embedding_stamps(self, model: str) -> list[tuple[int, float]]:
        """(photo id, result updated_at) of every stored embedding of ``model``: what a sync compares."""
        return [(r[0], r[1] or 0.0) for r in self.db.execute(
            "SELECT photo_id, updated_at FROM results WHERE analyzer = 'clip' AND data IS NOT NULL "
            "AND json_extract(data, '$.model') = ?", (model,))]

    def embeddings_of(self, photo_ids: list[int]) -> Iterator[tuple[int, str]]:
        """(photo id, encoded embedding) of these photos' ``clip`` results."""
        for start in range(0, len(photo_ids), 5000):
            chunk = photo_ids[start:start + 5000]
            for r in self.db.execute(
                    "SELECT photo_id, json_extract(data, '$.embedding') FROM results WHERE analyzer = 'clip' "
                    f"AND photo_id IN ({','.join('?' * len(chunk))})", chunk):
                if r[1]:
                    yield r[0], r[1]

    def missing_ids(self) -> set[int]:
        """Ids of the photos whose file is gone."""
        return {r[0] for r in self.db.execute("SELECT id FROM photos WHERE missing_since IS NOT NULL")}

    # -- whole-catalog copy --------------------------------------------------------------------------
    def _virtual_tables(self) -> set[str]:
        return {r[0] for r in self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'")}

    def tables(self) -> list[str]:
        """User tables in creation order: FTS5 tables yes, their shadow tables (``<name>_data`` ...) no."""
        virtual = self._virtual_tables()
        return [r[0] for r in self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid")
            if not any(r[0].startswith(v + "_") for v in virtual)]

    def export_rows(self, table: str) -> Iterator[dict[str, Any]]:
        if table not in self.tables():
            raise ValueError(table)
        cols = "rowid, *" if table in self._virtual_tables() else "*"   # an FTS table's key is its rowid
        cur = self.db.execute(f'SELECT {cols} FROM "{table}" ORDER BY rowid')
        for row in cur:
            d = dict(row)
            for k, v in d.items():
                if isinstance(v, memoryview):
                    d[k] = bytes(v)
            yield d

    def import_rows(self, table: str, rows: Iterable[dict[str, Any]]) -> int:
        if table not in self.tables():
            raise ValueError(table)
        n = 0
        with self.db:
            for row in rows:
                cols = list(row)
                self.db.execute(f'INSERT INTO "{table}" ({",".join(cols)}) VALUES ({",".join("?" * len(cols))})',
                                [row[c] for c in cols])
                n += 1
        return n


