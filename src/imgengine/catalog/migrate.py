"""Copy a whole catalog between stores (SQLite <-> PostgreSQL), verified by row counts and checksums.

The destination must be empty (a fresh file or database): its schema is made by the same numbered
migrations as the source's, every table both share is copied with the columns both have, ids kept, and
then each table is read back from both sides and compared: row count, and a SHA-256 over the rows'
canonical form (order-independent, paths as their exact bytes).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import CatalogError
from .store import CatalogStore

CHUNK = 2000


@dataclass
class TableCopy:
    table: str
    rows: int
    checksum: str


@dataclass
class MigrateReport:
    tables: list[TableCopy] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)


def _canonical(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"bytes": bytes(value).hex()}
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return value          # json keeps 1.0 distinct from 1: both stores return the column's own type
    return value


def table_checksum(rows: Iterable[dict[str, Any]], columns: list[str]) -> tuple[int, str]:
    """(row count, SHA-256 of the sorted per-row digests) of ``rows`` restricted to ``columns``."""
    digests = []
    for row in rows:
        doc = json.dumps([_canonical(row.get(c)) for c in columns], ensure_ascii=False, sort_keys=True)
        digests.append(hashlib.sha256(doc.encode()).digest())
    digests.sort()
    h = hashlib.sha256()
    for d in digests:
        h.update(d)
    return len(digests), h.hexdigest()


def _chunks(rows: Iterator[dict[str, Any]], columns: list[str]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append({c: row.get(c) for c in columns})
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _columns(store: CatalogStore, table: str) -> list[str]:
    first = next(iter(store.export_rows(table)), None)
    return list(first) if first is not None else []


def copy_catalog(src: CatalogStore, dst: CatalogStore,
                 progress: Callable[[str, int], None] | None = None) -> MigrateReport:
    """Copy every table of ``src`` into the empty ``dst``; raise CatalogError unless counts and checksums
    of every table agree afterwards."""
    if src.schema_version != dst.schema_version:
        raise CatalogError(f"schema versions differ ({src.schema_version} vs {dst.schema_version}); "
                           "open both with the same imgengine first")
    dst_tables = dst.tables()
    busy = [t for t in dst_tables if next(iter(dst.export_rows(t)), None) is not None]
    if busy:
        raise CatalogError(f"the destination catalog is not empty ({', '.join(busy)} hold rows); "
                           "migrate into a new, empty catalog")
    report = MigrateReport()
    for table in src.tables():
        if table not in dst_tables:
            raise CatalogError(f"the destination catalog has no table {table!r}")
        src_cols = _columns(src, table)
        if not src_cols:
            report.tables.append(TableCopy(table, 0, table_checksum([], [])[1]))
            continue
        for chunk in _chunks(src.export_rows(table), src_cols):
            dst.import_rows(table, chunk)
            if progress:
                progress(table, len(chunk))
        n_src, sum_src = table_checksum(src.export_rows(table), src_cols)
        n_dst, sum_dst = table_checksum(dst.export_rows(table), src_cols)
        if (n_src, sum_src) != (n_dst, sum_dst):
            raise CatalogError(f"table {table}: copy does not match the source ({n_src} rows, {sum_src[:12]} vs "
                               f"{n_dst} rows, {sum_dst[:12]}); the destination is incomplete, do not use it")
        report.tables.append(TableCopy(table, n_src, sum_src))
    return report
