"""Output writers for ``analyze -o``: JSON (with a schema version) and flat CSV (columns from each
analyzer's ``csv_fields``)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import hookimpl


class JsonWriter:
    name = "json"
    extensions = (".json",)
    description = "every photo with every analyzer's results, and the run summary"

    def write(self, records: Iterable[dict[str, Any]], target: Path, context: dict[str, Any]) -> None:
        from ...core.outputs import write_json

        write_json(records, target, context.get("summary"))


class CsvWriter:
    name = "csv"
    extensions = (".csv",)
    description = "one row per photo; columns from the analyzers' csv_fields"

    def write(self, records: Iterable[dict[str, Any]], target: Path, context: dict[str, Any]) -> None:
        from ...core.outputs import write_csv

        write_csv(records, target, context.get("csv_columns"))


@hookimpl
def register_writers() -> list[Any]:
    return [JsonWriter(), CsvWriter()]
