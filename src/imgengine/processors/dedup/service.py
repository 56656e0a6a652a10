"""From a folder to duplicate groups: bring the catalog up to date (only files it does not know, or that
changed, are analysed), load every catalogued photo's signals, find the groups."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ...core.catalog import Catalog, file_is_gone, path_key
from ...engine.run import Progress, run_analysis
from ...logs import RunLogger
from ...progress import steps_of
from ...settings import Settings
from ..plan import STATE_FOLDER
from .finder import DedupParams, find_duplicates
from .model import FindResult, PhotoEntry

# what the duplicate finder needs from the catalog; content (quality) and clip are used when present
NEEDED_ANALYZERS = ("metadata", "hashes")


def load_entries(catalog: Catalog, root: Path | None = None) -> list[PhotoEntry]:
    """Every catalogued photo under ``root`` with its signals; files the journal keeps in its trash
    (inside a ``.imgengine`` folder) are not photos of the collection."""
    out = []
    for rec in catalog.iter_records(root):
        if STATE_FOLDER in Path(rec["path"]).parts:
            continue
        if rec["status"] == "ok" or (rec.get("results") or {}).get("hashes"):
            out.append(PhotoEntry.from_record(rec))
    return out


def check_members(catalog: Catalog, entries: list[PhotoEntry], settings: Settings,
                  logger: RunLogger | None = None, progress: Any = None) -> tuple[list[PhotoEntry], dict[str, int]]:
    """Before any group is shown: every member must still exist with the size and mtime it was analysed
    with. A file that is gone is marked missing in the catalog and left out (so no group offers to
    remove the last copy of a photo); a changed file is analysed again; an unreachable one is left out.
    ``progress`` (a step reporter) hears the "checking files" step."""
    steps = steps_of(progress)
    keep: list[PhotoEntry] = []
    changed: list[PhotoEntry] = []
    counts = {"checked": len(entries), "gone": 0, "unreachable": 0, "reanalysed": 0}
    gone_keys: set[bytes] = set()
    steps.step_start("checking files", len(entries), "files")
    for k, e in enumerate(entries):
        if k % 1024 == 1023:
            steps.step_advance("checking files", 1024)
        try:
            st = os.stat(e.path)
        except OSError:
            if file_is_gone(path_key(e.path)):
                gone_keys.add(path_key(e.path))
                counts["gone"] += 1
            else:
                counts["unreachable"] += 1
            continue
        if (st.st_size, st.st_mtime_ns) != (e.size, e.mtime_ns):
            changed.append(e)
        else:
            keep.append(e)
    steps.step_advance("checking files", len(entries) % 1024)
    steps.step_done("checking files")
    if gone_keys:
        catalog.mark_gone(gone_keys)
    if changed:
        again = settings.replace(analyzers=tuple(dict.fromkeys((*settings.analyzers, *NEEDED_ANALYZERS))),
                                 catalog=catalog.path, vision=False, workers=1)
        steps.step_start("analysing changed files", len(changed), "files")
        for e in changed:
            run_analysis(e.path, again, catalog=catalog, logger=logger)
            steps.step_advance("analysing changed files")
            rec = catalog.get(e.path)
            if rec is not None and rec["status"] == "ok" and (rec.get("results") or {}).get("hashes"):
                keep.append(PhotoEntry.from_record(rec))
            counts["reanalysed"] += 1
        steps.step_done("analysing changed files")
    return keep, counts


def scan_duplicates(root: Path, settings: Settings, params: DedupParams | None = None, *,
                    analyze: bool = True, whole_catalog: bool = False, progress: Progress | None = None,
                    logger: RunLogger | None = None) -> tuple[FindResult, dict[str, Any] | None, Path]:
    """Analyse what is new under ``root`` (unless ``analyze`` is False), then find groups.

    With ``whole_catalog`` (a shared ``--catalog``), photos under ``root`` are compared against every
    photo in the catalog, and groups that touch ``root`` are reported.
    Returns (result, analysis summary or None, catalog path).
    """
    params = params or DedupParams()
    root = Path(root)
    cat_path = settings.catalog_path(root)
    summary = None
    if analyze:
        wanted = tuple(settings.analyzers) or NEEDED_ANALYZERS
        if settings.analyzers:
            wanted = tuple(dict.fromkeys((*settings.analyzers, *NEEDED_ANALYZERS)))
        run = run_analysis(root, settings.replace(analyzers=wanted), progress=progress, logger=logger)
        summary = run.summary
        cat_path = run.catalog_path
    with Catalog(cat_path) as cat:
        entries = load_entries(cat, None if whole_catalog else (root if root.is_dir() else None))
        entries, checks = check_members(cat, entries, settings, logger, progress)
        if whole_catalog:
            base = os.path.abspath(root)
            prefix = base.rstrip(os.sep) + os.sep
            scope = {e.id for e in entries if str(e.path).startswith(prefix) or str(e.path) == base}
        else:
            scope = None
    summary = {**(summary or {}), "members": checks}
    return find_duplicates(entries, params, scope, progress=progress), summary, cat_path
