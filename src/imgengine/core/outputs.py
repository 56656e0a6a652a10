"""Output writers (JSON with a schema version, flat CSV), chosen by file extension."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import UsageError

OUTPUT_SCHEMA_VERSION = 1

# flat CSV columns: (column, analyzer, key); photo fields come first
CSV_PHOTO_FIELDS = ["path", "format", "size", "extension_mismatch", "sha256", "status", "error"]
CSV_RESULT_FIELDS = [
    ("make", "metadata", "make"), ("model", "metadata", "model"), ("lens", "metadata", "lens_model"),
    ("datetime_original", "metadata", "datetime_original"), ("gps_latitude", "metadata", "gps_latitude"),
    ("gps_longitude", "metadata", "gps_longitude"), ("gps_altitude", "metadata", "gps_altitude"),
    ("width", "metadata", "upright_width"), ("height", "metadata", "upright_height"),
    ("orientation", "metadata", "orientation"), ("iso", "metadata", "iso"),
    ("exposure_time", "metadata", "exposure_time"), ("f_number", "metadata", "f_number"),
    ("focal_length", "metadata", "focal_length"), ("keywords", "metadata", "keywords"),
    ("sharpness", "content", "sharpness"), ("blurry", "content", "blurry"),
    ("brightness", "content", "brightness"), ("exposure", "content", "exposure"),
    ("contrast", "content", "contrast"), ("noise", "content", "noise"),
    ("colorfulness", "content", "colorfulness"), ("quality_score", "content", "quality_score"),
    ("quality", "content", "quality"), ("phash", "hashes", "phash"), ("dhash", "hashes", "dhash"),
    ("whash", "hashes", "whash"),
]


def record_to_json(rec: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in rec.items() if k not in ("id", "display_path", "path", "analyzed_at")}
    out = {"path": rec["display_path"], **out}
    out["results"] = {name: {k: v for k, v in data.items()} for name, data in rec.get("results", {}).items()}
    return out


def write_json(records: Iterable[dict[str, Any]], target: Path, summary: dict | None = None) -> None:
    doc = {"schema_version": OUTPUT_SCHEMA_VERSION, "summary": summary or {},
           "photos": [record_to_json(r) for r in records]}
    _atomic_write(target, json.dumps(doc, indent=2, ensure_ascii=False, default=str))


def flat_row(rec: dict[str, Any]) -> dict[str, Any]:
    row = {"path": rec["display_path"]}
    for f in CSV_PHOTO_FIELDS[1:]:
        row[f] = rec.get(f)
    results = rec.get("results", {})
    for col, analyzer, key in CSV_RESULT_FIELDS:
        value = results.get(analyzer, {}).get(key)
        if isinstance(value, (list, tuple)):
            value = ";".join(map(str, value))
        row[col] = value
    dom = results.get("content", {}).get("dominant_colors") or []
    row["dominant_colors"] = ";".join(f"{c['hex']}:{c['share']}" for c in dom)
    clip = results.get("clip", {})
    scenes = clip.get("scenes") or []
    row["scene"] = scenes[0]["label"] if scenes else None
    row["scene_score"] = scenes[0]["score"] if scenes else None
    row["setting"] = clip.get("setting")
    row["objects"] = ";".join(results.get("detr", {}).get("labels") or [])
    return row


def csv_columns() -> list[str]:
    """The flat CSV columns, in order (also the columns of Parquet/SQLite exports)."""
    return CSV_PHOTO_FIELDS + [c for c, _, _ in CSV_RESULT_FIELDS] + ["dominant_colors", "scene", "scene_score",
                                                                       "setting", "objects"]


def write_csv(records: Iterable[dict[str, Any]], target: Path) -> None:
    columns = csv_columns()
    tmp = Path(str(target) + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for rec in records:
            writer.writerow(flat_row(rec))
    os.replace(tmp, target)


def write_output(records: Iterable[dict[str, Any]], target: Path, summary: dict | None = None) -> None:
    suffix = Path(target).suffix.lower()
    if suffix == ".json":
        write_json(records, target, summary)
    elif suffix == ".csv":
        write_csv(records, target)
    else:
        raise UsageError(f"output {target}: use a .json or .csv file name")


def _atomic_write(target: Path, text: str) -> None:
    tmp = Path(str(target) + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
