"""Planning a run: which files need which analyzers (incremental).

An unchanged file (same path, size and mtime_ns, same stored analyzer versions) is not touched; a file
whose analyzer is outdated (new version or new config) re-runs only that analyzer (plus the per-file
analyzers it requires, whose results it reads in the same task); a file that moved is recognised by its
sha256 and keeps its results.
"""

from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..analyzers.base import Analyzer
from ..core.catalog import Catalog, KnownFile, path_key
from ..core.filehash import sha256_of
from ..core.scan import ScanEntry, scan
from ..metadata.sidecar import current_sidecar_stamp
from ..settings import Settings
from .perfile import Task


@dataclass
class Plan:
    tasks: list[Task]
    unchanged: int
    moved: list[tuple[bytes, Path]]      # (old key, new path) recognised by sha256
    scan_problems: list
    seen: int
    seen_keys: set[bytes] = field(default_factory=set)
    known_broken: int = 0                # unchanged files that failed before (not retried; --retry-failed)


def _with_requirements(stale: tuple[str, ...], analyzers: dict[str, Analyzer]) -> tuple[str, ...]:
    """``stale`` plus what its members require (per-file requirements run again in the same task), in the
    run's dependency order."""
    need = set(stale)
    for name in reversed(list(analyzers)):
        if name in need:
            need.update(r for r in analyzers[name].requires if r in analyzers)
    return tuple(n for n in analyzers if n in need)


def _sidecar_stat(entries: list[ScanEntry], scanned_folder: bool) -> Callable[[Path], tuple[int, int] | None]:
    """(size, mtime_ns) of a possible sidecar: from the folder scan just made (sidecars are files in the
    photo's folder, so no system call per photo), or from ``os.stat`` when a single file is analysed."""
    if scanned_folder:
        xmp = {e.path: (e.size, e.mtime_ns) for e in entries if e.path.name[-4:].lower() == ".xmp"}
        return xmp.get

    def stat(path: Path) -> tuple[int, int] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return (st.st_size, st.st_mtime_ns) if stat_mod.S_ISREG(st.st_mode) else None
    return stat


def plan_run(root: Path, settings: Settings, catalog: Catalog, analyzers: dict[str, Analyzer]) -> Plan:
    """The per-file tasks of a run over ``root``; ``analyzers`` are the per-file analyzers, in order."""
    problems: list = []
    entries: list[ScanEntry] = list(scan(root, settings, problems))
    known = catalog.known_files(root if Path(root).is_dir() else None)
    wanted = {name: a.stored_version for name, a in analyzers.items()}
    side_readers = {name for name, a in analyzers.items() if a.reads_sidecars}
    scanned_folder = Path(root).is_dir()
    sidecar_stat = _sidecar_stat(entries, scanned_folder) if side_readers else None
    # folders where the scan saw an XMP file: a photo elsewhere has no sidecar, and its task says so (the
    # worker then makes no system call to look for one; a sidecar that appears later changes the photo's
    # sidecar stamp, so the next run reads it)
    xmp_folders = {os.path.dirname(e.path) for e in entries if e.path.name[-4:].lower() == ".xmp"} \
        if scanned_folder and side_readers else None

    def new_task(e: ScanEntry, names: tuple[str, ...], replace: bool) -> Task:
        maybe = xmp_folders is None or (bool(xmp_folders) and os.path.dirname(e.path) in xmp_folders)
        return Task(e.path, e.size, e.mtime_ns, names, replace, maybe)

    tasks: list[Task] = []
    unchanged = 0
    known_broken = 0
    new_entries: list[ScanEntry] = []
    seen_keys = set()
    for e in entries:
        key = path_key(e.path)
        seen_keys.add(key)
        k: KnownFile | None = known.get(key)
        if k is None:
            new_entries.append(e)
            continue
        if settings.force or k.size != e.size or k.mtime_ns != e.mtime_ns or \
                (settings.retry_failed and k.status == "error"):
            tasks.append(new_task(e, tuple(wanted), True))
            continue
        if k.status == "ignored":
            unchanged += 1
            continue
        stale = tuple(n for n, v in wanted.items() if k.versions.get(n) != v)
        if sidecar_stat is not None and current_sidecar_stamp(e.path, sidecar_stat) != k.sidecar_stamp:
            stale = tuple(n for n in analyzers if n in stale or n in side_readers)   # only the sidecar changed
        if stale:
            tasks.append(new_task(e, _with_requirements(stale, analyzers), False))
        else:
            unchanged += 1
            known_broken += k.status == "error"
    moved: list[tuple[bytes, Path]] = []
    if new_entries:
        # a catalogued file that is gone from its old path and whose size and sha256 match a new path moved
        orphans_by_size: dict[int, list[bytes]] = {}
        for key, k in known.items():
            if key not in seen_keys and k.status == "ok":
                orphans_by_size.setdefault(k.size, []).append(key)
        still_new = []
        if orphans_by_size and not settings.force:
            for e in new_entries:
                candidates = [key for key in orphans_by_size.get(e.size, []) if not os.path.lexists(key)]
                match = None
                if candidates:
                    try:
                        sha = sha256_of(e.path)
                    except OSError:
                        sha = None
                    for row in catalog.find_by_sha256(sha) if sha else []:
                        rk = path_key(row["path"])
                        if rk in candidates:
                            match = rk
                            break
                if match is not None:
                    moved.append((match, e.path))
                    orphans_by_size[e.size].remove(match)
                    k = known[match]
                    stale = tuple(n for n, v in wanted.items() if k.versions.get(n) != v)
                    if stale:
                        tasks.append(new_task(e, _with_requirements(stale, analyzers), False))
                else:
                    still_new.append(e)
        else:
            still_new = new_entries
        tasks.extend(new_task(e, tuple(wanted), True) for e in still_new)
    return Plan(tasks, unchanged, moved, problems, len(entries), seen_keys, known_broken)
