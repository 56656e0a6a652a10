"""What both catalog stores share: the SQL text of the queries that differ only in parameter style and
aggregate name, and the mapping of database rows to the records the product reads.

A row is anything indexable by column name with ``keys()`` (``sqlite3.Row``, psycopg's ``dict_row``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

# one line per (photo, stored analyzer versions); ``{agg}`` is the dialect's string aggregate
# (SQLite ``group_concat``, PostgreSQL ``string_agg``), ``{sep}`` the separator expression (chr 31)
# ``sidecar``: the stamp of the XMP sidecar the metadata result was read with (``{stamp}``: the dialect's
# JSON field access to ``sidecar_stamp`` in ``r.data``), so that a sidecar-only edit is seen as a change
SIDECAR_READER = "metadata"
KNOWN_FILES_SQL = ("SELECT p.id, p.path, p.size, p.mtime_ns, p.status, "
                   "{agg}(r.analyzer || '=' || r.version, {sep}) AS versions, "
                   f"max(CASE WHEN r.analyzer = '{SIDECAR_READER}' THEN {{stamp}} END) AS sidecar "
                   "FROM photos p LEFT JOIN results r ON r.photo_id = p.id {where} GROUP BY p.id")
SQLITE_STAMP = "json_extract(r.data, '$.sidecar_stamp')"
POSTGRES_STAMP = "(r.data::jsonb) ->> 'sidecar_stamp'"

# every photo with every result, one row per (photo, result), in path order: read by ``group_records``
RECORDS_SQL = ("SELECT p.*, r.analyzer AS r_analyzer, r.version AS r_version, r.data AS r_data, "
               "r.error AS r_error FROM photos p LEFT JOIN results r ON r.photo_id = p.id {where} ORDER BY p.path")


def parse_versions(text: str | None) -> dict[str, str]:
    """{analyzer: version} from the ``versions`` column of ``KNOWN_FILES_SQL``."""
    return dict(v.split("=", 1) for v in text.split("\x1f")) if text else {}


def photo_record(row: Mapping[str, Any], local: Callable[[bytes], bytes] = bytes) -> dict[str, Any]:
    """The photo fields of a record (``path`` as a ``Path`` rebuilt from the stored bytes, made a path on this
    machine by ``local``: see ``catalog.roots``)."""
    return {
        "id": row["id"], "path": Path(os.fsdecode(local(bytes(row["path"])))),
        "display_path": row["display_path"],
        "size": row["size"], "mtime_ns": row["mtime_ns"], "format": row["format"],
        "extension_mismatch": bool(row["extension_mismatch"]), "sha256": row["sha256"],
        "status": row["status"], "error": row["error"], "analyzed_at": row["analyzed_at"],
        # an old catalog opened read-only (not migrated) has no missing_since column
        "missing_since": row["missing_since"] if "missing_since" in row.keys() else None,
    }


def result_value(data: str | None, version: str, error: str | None) -> dict[str, Any]:
    """One analyzer's entry in ``record["results"]``: its data plus ``_version``, or the error."""
    if data is None:
        return {"_version": version, "_error": error}
    value = json.loads(data)
    value["_version"] = version
    return value


def group_records(rows: Iterable[Mapping[str, Any]], local: Callable[[bytes], bytes] = bytes
                  ) -> Iterator[dict[str, Any]]:
    """Full records (photo fields + ``results``) from the rows of ``RECORDS_SQL``, one photo at a time."""
    rec: dict[str, Any] | None = None
    for row in rows:
        if rec is None or rec["id"] != row["id"]:
            if rec is not None:
                yield rec
            rec = photo_record(row, local)
            rec["results"] = {}
        if row["r_analyzer"] is not None:
            rec["results"][row["r_analyzer"]] = result_value(row["r_data"], row["r_version"], row["r_error"])
    if rec is not None:
        yield rec


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


def missing_changes(rows: Iterable[tuple[int, bytes, float | None]], seen: set[bytes]) -> tuple[list[int], list[int]]:
    """(ids newly missing, ids back again) of the photos under a scanned folder, from (id, this machine's path
    key, missing_since): unseen photos whose file is gone are missing, seen ones are present."""
    gone, back = [], []
    for photo_id, key, since in rows:
        if key in seen:
            if since is not None:
                back.append(photo_id)
        elif since is None and file_is_gone(key):
            gone.append(photo_id)
    return gone, back


def purge_choice(missing: Iterable[dict[str, Any]], older_than: float | None, now: float
                 ) -> tuple[list[int], list[int]]:
    """(ids to forget, ids back in place) of the missing photos marked longer than ``older_than`` seconds ago
    (all of them when None): one whose file is there again is unmarked instead of forgotten."""
    cutoff = now - older_than if older_than is not None else float("inf")
    forget, back = [], []
    for rec in missing:
        if rec["missing_since"] > cutoff:
            continue
        (back if os.path.lexists(rec["path"]) else forget).append(rec["id"])
    return forget, back
