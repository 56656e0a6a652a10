"""``imgengine export catalog``: the catalog as CSV, JSON, Parquet or a standalone SQLite file.

The same fields as ``analyze -o`` (the flat CSV columns; JSON carries every analyzer's full result),
streamed one photo at a time so that memory stays flat at 500,000 photos. Every format is written to a
temporary file beside the target and moved into place at the end: an interrupted export leaves no
half-written file behind.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ...core.atomic import replacing
from ...core.outputs import CSV_PHOTO_FIELDS, OUTPUT_SCHEMA_VERSION, CsvColumn, csv_columns, flat_row, record_to_json
from ...errors import UsageError
from .. import hookimpl

FORMATS = ("csv", "json", "parquet", "sqlite")
PARQUET_BATCH = 5000


def format_for(target: Path, fmt: str | None) -> str:
    if fmt:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise UsageError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
        return fmt
    suffix = target.suffix.lower().lstrip(".")
    suffix = {"db": "sqlite", "sqlite3": "sqlite", "pq": "parquet"}.get(suffix, suffix)
    if suffix not in FORMATS:
        raise UsageError(f"{target}: say --format {'|'.join(FORMATS)} or use a .csv/.json/.parquet/.sqlite name")
    return suffix


def default_columns(settings: Any = None) -> list[CsvColumn]:
    """The flat columns ``analyze -o x.csv`` writes: every registered analyzer's ``csv_fields``."""
    from ..manager import get_manager

    return csv_columns(get_manager(settings).analyzer_classes())


def export_records(records: Iterable[dict[str, Any]], target: Path, fmt: str,
                   progress: Callable[[int], None] | None = None, columns: list[CsvColumn] | None = None) -> int:
    """Write ``records`` to ``target`` in ``fmt``; returns the number of photos written. ``columns``: the flat
    columns for CSV/Parquet/SQLite (default: those of the registered analyzers, as ``analyze -o``)."""
    target = Path(target)
    cols = columns if columns is not None else default_columns()
    writer = {"csv": _write_csv, "json": _write_json, "parquet": _write_parquet, "sqlite": _write_sqlite}[fmt]
    counted = _Counter(records, progress)
    with replacing(target, target.with_name(target.name + ".partial")) as tmp:
        writer(counted, tmp, cols)
    return counted.n


class _Counter:
    def __init__(self, records: Iterable[dict[str, Any]], progress: Callable[[int], None] | None):
        self.records = records
        self.progress = progress
        self.n = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for rec in self.records:
            self.n += 1
            if self.progress is not None and self.n % 500 == 0:
                self.progress(self.n)
            yield rec
        if self.progress is not None:
            self.progress(self.n)


def _names(columns: list[CsvColumn]) -> list[str]:
    return CSV_PHOTO_FIELDS + [c for c, _, _ in columns]


def _write_csv(records: Iterable[dict[str, Any]], tmp: Path, columns: list[CsvColumn]) -> None:
    import csv

    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=_names(columns), extrasaction="ignore")
        writer.writeheader()
        for rec in records:
            writer.writerow(flat_row(rec, columns))


def _write_json(records: Iterable[dict[str, Any]], tmp: Path, columns: list[CsvColumn]) -> None:
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(f'{{"schema_version": {OUTPUT_SCHEMA_VERSION}, "photos": [')
        first = True
        for rec in records:
            fh.write("\n" if first else ",\n")
            fh.write(json.dumps(record_to_json(rec), ensure_ascii=False, default=str))
            first = False
        fh.write("\n]}\n")


def _write_parquet(records: Iterable[dict[str, Any]], tmp: Path, flat: list[CsvColumn]) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UsageError("Parquet export needs pyarrow: pip install 'imgengine[export]'")
    columns = _names(flat) + ["results_json"]
    schema = pa.schema([(c, _arrow_type(pa, c)) for c in columns])
    writer = pq.ParquetWriter(str(tmp), schema, compression="zstd")
    try:
        batch: list[dict[str, Any]] = []
        for rec in records:
            row = flat_row(rec, flat)
            row["results_json"] = json.dumps(record_to_json(rec)["results"], ensure_ascii=False, default=str)
            batch.append(row)
            if len(batch) >= PARQUET_BATCH:
                writer.write_table(_table(pa, schema, columns, batch))
                batch = []
        if batch:
            writer.write_table(_table(pa, schema, columns, batch))
    finally:
        writer.close()


_NUMERIC = {"size": "int", "iso": "int", "width": "int", "height": "int", "orientation": "int",
            "gps_latitude": "float", "gps_longitude": "float", "gps_altitude": "float", "exposure_time": "float",
            "f_number": "float", "focal_length": "float", "sharpness": "float", "brightness": "float",
            "contrast": "float", "noise": "float", "colorfulness": "float", "quality_score": "float",
            "scene_score": "float"}
_BOOL = {"extension_mismatch", "blurry"}


def _arrow_type(pa, column: str):
    kind = _NUMERIC.get(column)
    if kind == "int":
        return pa.int64()
    if kind == "float":
        return pa.float64()
    if column in _BOOL:
        return pa.bool_()
    return pa.string()


def _table(pa, schema, columns: list[str], rows: list[dict[str, Any]]):
    arrays = []
    for c in columns:
        typ = schema.field(c).type
        values = [r.get(c) for r in rows]
        if typ == pa.string():
            values = [None if v is None else str(v) for v in values]
        elif typ == pa.bool_():
            values = [None if v is None else bool(v) for v in values]
        elif typ == pa.int64():
            values = [None if v is None else int(v) for v in values]
        else:
            values = [None if v is None else float(v) for v in values]
        arrays.append(pa.array(values, type=typ))
    return pa.Table.from_arrays(arrays, schema=schema)


def _write_sqlite(records: Iterable[dict[str, Any]], tmp: Path, flat: list[CsvColumn]) -> None:
    columns = _names(flat)
    db = sqlite3.connect(tmp)
    try:
        cols = ", ".join(f'"{c}"' for c in columns)
        db.execute(f"CREATE TABLE photos (id INTEGER PRIMARY KEY, {cols})")
        db.execute("CREATE TABLE results (photo_id INTEGER NOT NULL REFERENCES photos(id), analyzer TEXT NOT NULL, "
                   "version TEXT, data TEXT, PRIMARY KEY (photo_id, analyzer))")
        db.execute("CREATE TABLE export_info (key TEXT PRIMARY KEY, value TEXT)")
        db.execute("INSERT INTO export_info VALUES ('schema_version', ?)", (str(OUTPUT_SCHEMA_VERSION),))
        marks = ", ".join("?" * (len(columns) + 1))
        for n, rec in enumerate(records, 1):
            row = flat_row(rec, flat)
            db.execute(f"INSERT INTO photos VALUES ({marks})", [n] + [_sql_value(row.get(c)) for c in columns])
            for name, data in rec.get("results", {}).items():
                data = dict(data)
                version = data.pop("_version", None)
                db.execute("INSERT INTO results VALUES (?, ?, ?, ?)",
                           (n, name, version, json.dumps(data, ensure_ascii=False, default=str)))
            if n % 5000 == 0:
                db.commit()
        db.commit()
    finally:
        db.close()


def _sql_value(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)
    if v is None or isinstance(v, (int, float, str)):
        return v
    return str(v)


# -- as output writers: `imgengine analyze DIR -o photos.parquet` / `-o photos.sqlite` -----------------------

class ParquetWriter:
    name = "parquet"
    extensions = (".parquet",)
    description = "the flat columns typed, plus every result as JSON (needs pyarrow)"

    def write(self, records: Iterable[dict[str, Any]], target: Path, context: dict[str, Any]) -> None:
        export_records(records, target, "parquet", columns=context.get("csv_columns"))


class SqliteWriter:
    name = "sqlite"
    extensions = (".sqlite", ".sqlite3")
    description = "a standalone SQLite file: flat columns and every result"

    def write(self, records: Iterable[dict[str, Any]], target: Path, context: dict[str, Any]) -> None:
        export_records(records, target, "sqlite", columns=context.get("csv_columns"))


@hookimpl
def register_writers() -> list[Any]:
    return [ParquetWriter(), SqliteWriter()]
