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


def write_csv(records: Iterable[dict[str, Any]], target: Path) -> None:
    columns = CSV_PHOTO_FIELDS + [c for c, _, _ in CSV_RESULT_FIELDS] + ["dominant_colors", "scene", "scene_score",
                                                                          "setting", "objects"]
    with atomic_output(target) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for rec in records:
            writer.writerow(flat_row(rec))


def write_output(records: Iterable[dict[str, Any]], target: Path, summary: dict | None = None) -> None:
    suffix = Path(target).suffix.lower()
    if suffix == ".json":
        write_json(records, target, summary)
    elif suffix == ".csv":
        write_csv(records, target)
    else:
        raise UsageError(f"output {target}: use a .json or .csv file name")


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
                 again: str = "export it again with `imgengine export <folder> -o <file>`"):
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
