"""Output writers (JSON with a schema version, flat CSV), chosen by file extension."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import OutputError, UsageError
from .photo import display_path

OUTPUT_SCHEMA_VERSION = 1

# flat CSV columns: the photo's own fields first, then (column, analyzer, key) from each registered
# analyzer's ``csv_fields`` (built by the engine from the plugin registry and passed in as ``columns``)
CSV_PHOTO_FIELDS = ["path", "format", "size", "extension_mismatch", "sha256", "status", "error"]
CsvColumn = tuple[str, str, str]


def record_to_json(rec: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in rec.items() if k not in ("id", "display_path", "path", "analyzed_at")}
    out = {"path": rec["display_path"], **out}
    out["results"] = {name: {k: v for k, v in data.items()} for name, data in rec.get("results", {}).items()}
    return out


def write_json(records: Iterable[dict[str, Any]], target: Path, summary: dict | None = None) -> None:
    doc = {"schema_version": OUTPUT_SCHEMA_VERSION, "summary": summary or {},
           "photos": [record_to_json(r) for r in records]}
    _atomic_write(target, json.dumps(doc, indent=2, ensure_ascii=False, default=str))


def _lookup(data: Any, dotted: str) -> Any:
    """``scenes.0.label`` -> data["scenes"][0]["label"]; None when any step is missing."""
    for part in dotted.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, (list, tuple)) and part.lstrip("-").isdigit():
            i = int(part)
            data = data[i] if -len(data) <= i < len(data) else None
        else:
            return None
        if data is None:
            return None
    return data


def _flat(value: Any) -> Any:
    """Lists become ``a;b;c``; a dict inside a list becomes its values joined by ``:``."""
    if isinstance(value, (list, tuple)):
        return ";".join(":".join(map(str, v.values())) if isinstance(v, dict) else str(v) for v in value)
    return value


def flat_row(rec: dict[str, Any], columns: list[CsvColumn] | None = None) -> dict[str, Any]:
    if columns is None:
        from ..plugins.manager import get_manager  # the built-in analyzers' columns

        columns = csv_columns(get_manager(external=False).analyzer_classes())
    row = {"path": rec["display_path"]}
    for f in CSV_PHOTO_FIELDS[1:]:
        row[f] = rec.get(f)
    results = rec.get("results", {})
    for col, analyzer, key in columns:
        row[col] = _flat(_lookup(results.get(analyzer) or {}, key))
    return row


def csv_columns(analyzers: dict[str, Any]) -> list[CsvColumn]:
    """(column, analyzer, key) for every ``csv_fields`` entry of ``analyzers`` ({name: class or
    (class, plugin)}), in registration order; a column name already taken is prefixed by the analyzer."""
    out: list[CsvColumn] = []
    taken = set(CSV_PHOTO_FIELDS)
    for name, entry in analyzers.items():
        cls = entry[0] if isinstance(entry, tuple) else entry
        for col, key in (getattr(cls, "csv_fields", None) or {}).items():
            col = col if col not in taken else f"{name}.{col}"
            taken.add(col)
            out.append((col, name, key))
    return out


def write_csv(records: Iterable[dict[str, Any]], target: Path, columns: list[CsvColumn] | None = None) -> None:
    if columns is None:
        from ..plugins.manager import get_manager

        columns = csv_columns(get_manager(external=False).analyzer_classes())
    with atomic_output(target) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_PHOTO_FIELDS + [c for c, _, _ in columns])
        writer.writeheader()
        for rec in records:
            writer.writerow(flat_row(rec, columns))


def write_output(records: Iterable[dict[str, Any]], target: Path, summary: dict | None = None,
                 writers: dict[str, Any] | None = None, columns: list[CsvColumn] | None = None) -> None:
    """Write ``records`` with the writer registered for ``target``'s extension (``register_writers``)."""
    suffix = Path(target).suffix.lower()
    if writers is None:
        writers = {".json": None, ".csv": None}
    if suffix not in writers:
        raise UsageError(f"output {target}: use a file name ending in {', '.join(sorted(writers))}")
    writer = writers[suffix]
    if writer is not None:
        try:
            writer.write(records, Path(target), {"summary": summary or {}, "csv_columns": columns})
        except OSError as exc:
            raise OutputError(f"cannot write {display_path(target)} ({exc.strerror or exc}); the catalog is "
                              "complete: export it again with `imgengine export catalog <folder> -o <file>`") from exc
    elif suffix == ".json":
        write_json(records, target, summary)
    else:
        write_csv(records, target, columns)


def check_output_path(target: Path, suffixes: tuple[str, ...], what: str = "output") -> None:
    """Before a run starts: can ``target`` be written? A missing folder, a folder in its place, a read-only
    folder or file end the command at once (exit 2) instead of after an hour of work."""
    target = Path(target)
    shown = display_path(target)
    if suffixes and target.suffix.lower() not in suffixes:
        raise UsageError(f"{what} {shown}: use a {' or '.join(suffixes)} file name")
    if target.is_dir():
        raise UsageError(f"{what} {shown}: is a folder; give a file name")
    folder = target.parent
    if not folder.is_dir():
        raise UsageError(f"{what} {shown}: the folder {display_path(folder)} does not exist")
    if target.exists() and not os.access(target, os.W_OK):
        raise UsageError(f"{what} {shown}: the file is read-only")
    import tempfile

    try:  # the only honest test of a folder (root, read-only mounts, ACLs): create and remove a file
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".imgengine-probe-"):
            pass
    except OSError as exc:
        raise UsageError(f"{what} {shown}: cannot write in {display_path(folder)} ({exc.strerror or exc})")


class atomic_output:
    """``with atomic_output(target) as tmp:`` write ``tmp``; on success it replaces ``target``, on any
    failure the temp file is removed and an OutputError says the catalog is complete."""

    def __init__(self, target: Path, suffix: str = ".tmp",
                 again: str = "export it again with `imgengine export catalog <folder> -o <file>`"):
        self.target = Path(target)
        self.tmp = Path(str(target) + suffix)
        self.again = again

    def __enter__(self) -> Path:
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            try:
                os.replace(self.tmp, self.target)
                return False
            except OSError as err:
                exc = err
        try:
            self.tmp.unlink()
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {display_path(self.target)} ({exc.strerror or exc}); the catalog "
                              f"is complete: {self.again}") from exc
        return False


def _atomic_write(target: Path, text: str) -> None:
    with atomic_output(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
