"""Plans for commands that move or rename photos: gather what is known, decide targets, resolve
collisions, then (only when asked) apply through the journal.

A photo travels with its companions: RAW+JPEG pairs (``DSC001.ARW`` + ``DSC001.JPG``), live photos
(``IMG_1.HEIC`` + ``IMG_1.MOV``) and sidecars (``IMG_1.xmp``, ``IMG_1.JPG.xmp``, ``IMG_1.AAE``,
``IMG_1.JPG.json``): they get the same new name (each keeps its own extension) and the same folder.

Collisions: nothing is overwritten. A target that already holds the same bytes is recognised (the photo
is skipped and left where it is); a different file gets a ``_1``, ``_2``... suffix; names are compared
case-insensitively so that a case-insensitive file system cannot merge two files. Names longer than 255
bytes are shortened (on a character boundary, extension kept).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from pathlib import Path
from typing import Any

from PIL import Image

from ..analyzers.base import AnalysisInput
from ..analyzers.metadata import MetadataAnalyzer
from ..core.catalog import Catalog
from ..core.formats import CANDIDATE_EXTENSIONS, RAW_EXTENSIONS, sniff
from ..core.photo import Photo, display_path
from ..core.scan import ScanProblem, scan
from ..settings import Settings
from .dates import DateInfo, adjust, resolve_date
from .journal import Journal, Step, StepResult, fit_name, sha256_of, split_ext

VIDEO_EXTENSIONS = frozenset({".mov", ".mp4", ".m4v", ".3gp"})
SIDECAR_EXTENSIONS = frozenset({".xmp", ".aae", ".json", ".thm"})
STATE_FOLDER = ".imgengine"


@dataclass
class Companion:
    path: Path
    size: int
    mtime_ns: int
    role: str                     # raw | video | sidecar


@dataclass
class Item:
    """A photo (the primary file of its group) and what is known about it."""

    path: Path
    size: int
    mtime_ns: int
    format: str | None
    meta: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    sha256: str | None = None     # from the catalog, when the file is unchanged since
    date: DateInfo | None = None
    tag: str | None = None
    companions: list[Companion] = field(default_factory=list)
    meta_source: str = "catalog"  # catalog | file


@dataclass
class Action:
    src: Path
    dst: Path
    op: str                       # move | copy
    size: int
    mtime_ns: int
    role: str                     # photo | raw | video | sidecar
    group: int
    sha256: str | None = None
    date: DateInfo | None = None
    status: str = "planned"       # planned | skip
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"src": display_path(self.src), "dst": display_path(self.dst), "op": self.op, "role": self.role,
                "status": self.status, "note": self.note,
                "date": self.date.value.isoformat() if self.date and self.date.source != "none" else None,
                "date_source": self.date.source if self.date else None}


@dataclass
class Plan:
    command: str
    root: Path
    dest: Path
    actions: list[Action] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)   # files left alone, and why
    # --shift-time: written into the photos' metadata when applied (the writer of `tag --shift-time`)
    shift: timedelta | None = None

    @property
    def todo(self) -> list[Action]:
        return [a for a in self.actions if a.status == "planned"]

    @property
    def blocked(self) -> list[Action]:
        """Actions that could not be planned (a read-only folder): not the same as already in place."""
        return [a for a in self.actions if a.status == "skip" and a.note != "already in place"]

    def summary(self) -> dict[str, int]:
        todo = self.todo
        blocked = len(self.blocked)
        return {"files": len(self.actions), "to_change": len(todo),
                "photos": sum(1 for a in todo if a.role == "photo"),
                "companions": sum(1 for a in todo if a.role != "photo"),
                "unchanged_or_skipped": len(self.actions) - len(todo),
                "unchanged": len(self.actions) - len(todo) - blocked, "skipped": blocked,
                "left_alone": len(self.skipped)}

    def skip_reason(self) -> str:
        """The skipped actions' reasons in short: "read-only folder", or the most common note."""
        from collections import Counter

        notes = Counter("read-only folder" if "read-only" in (a.note or "") else (a.note or "?")
                        for a in self.blocked)
        return ", ".join(n for n, _ in notes.most_common(2))

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": 1, "command": self.command, "root": display_path(self.root),
                "dest": display_path(self.dest), "summary": self.summary(),
                "shift_time_seconds": self.shift.total_seconds() if self.shift else None,
                "actions": [a.to_dict() for a in self.actions],
                "skipped": [{"path": display_path(p), "reason": r} for p, r in self.skipped]}


# -- gathering ----------------------------------------------------------------------------------------


def _base_key(name: str) -> tuple[str, str]:
    """(group key, kind) of a file name: ``IMG_1.JPG.xmp`` -> ("img_1", "sidecar")."""
    stem, ext = split_ext(name)
    e = ext.lower()
    if e in SIDECAR_EXTENSIONS:
        inner, inner_ext = split_ext(stem)
        if inner_ext.lower() in CANDIDATE_EXTENSIONS or inner_ext.lower() in VIDEO_EXTENSIONS:
            stem = inner
        return stem.casefold(), "sidecar"
    if e in VIDEO_EXTENSIONS:
        return stem.casefold(), "video"
    if e in CANDIDATE_EXTENSIONS:
        return stem.casefold(), "raw" if e in RAW_EXTENSIONS else "image"
    return stem.casefold(), "other"


def _metadata_rows(catalog: Catalog, root: Path) -> dict[str, tuple[dict, dict]]:
    """path -> (photo fields, {"metadata": data}) for every catalogued photo below root, in one lean
    query (the plan of 10,000 photos must take well under 2 s); falls back to the public API."""
    prefix = catalog.stored_prefix(root)   # the catalog's keys (named roots: catalog/roots.py)
    out: dict[str, tuple[dict, dict]] = {}
    try:
        rows = catalog.session.execute(   # SQLite, or PostgreSQL translated (substr works on bytea too)
            "SELECT p.path, p.size, p.mtime_ns, p.status, p.format, p.sha256, r.data FROM photos p "
            "JOIN results r ON r.photo_id = p.id WHERE r.analyzer = 'metadata' AND r.data IS NOT NULL "
            "AND p.missing_since IS NULL AND substr(p.path, 1, ?) = ?", (len(prefix), prefix))
        for path, size, mtime_ns, status, fmt, sha, data in rows:
            rec = {"size": size, "mtime_ns": mtime_ns, "status": status, "format": fmt, "sha256": sha}
            out[os.fsdecode(catalog.local_key(path))] = (rec, {"metadata": json.loads(data)})
    except sqlite3.Error:
        for rec, data in catalog.results_of("metadata", root):
            out[str(rec["path"])] = (rec, {"metadata": data})
    return out


def gather(root: Path, settings: Settings, catalog: Catalog | None, *, exclude: Iterable[Path] = (),
           want_results: bool = False, shift: timedelta = timedelta(0), tz: tzinfo | None = None
           ) -> tuple[list[Item], list[tuple[Path, str]]]:
    """Every photo below ``root`` with its companions, metadata (catalog first, else read from the file)
    and resolved date. Returns (items, files left alone with the reason)."""
    root = Path(os.path.abspath(root))
    skip = tuple(os.path.abspath(e).rstrip("/") + "/" for e in exclude)
    problems: list[ScanProblem] = []
    left: list[tuple[Path, str]] = []
    groups: dict[tuple[str, str], list[tuple[Path, int, int, str]]] = {}
    for entry in scan(root, settings, problems):
        p = str(entry.path)
        if skip and p.startswith(skip):
            continue
        folder, _, name = p.rpartition("/")
        key, kind = _base_key(name)
        groups.setdefault((folder, key), []).append((entry.path, entry.size, entry.mtime_ns, kind))
    left.extend((p.path, p.message) for p in problems)

    known: dict[str, tuple[dict, dict]] = {}
    if catalog is not None:
        if want_results:
            for rec in catalog.iter_records(root):
                known[str(rec["path"])] = (rec, rec["results"])
        else:
            known = _metadata_rows(catalog, root)

    items: list[Item] = []
    analyzer = MetadataAnalyzer()
    for (_folder, _key), files in sorted(groups.items()):
        images = [f for f in files if f[3] == "image"]
        raws = [f for f in files if f[3] == "raw"]
        others = [f for f in files if f[3] in ("video", "sidecar")]
        for f in files:
            if f[3] == "other":
                left.append((f[0], "not a photo or a companion file; left in place"))
        primaries = images or raws[:1]
        if not primaries:
            for f in others:
                left.append((f[0], f"{f[3]} without a photo of the same name; left in place"))
            continue
        first = True
        for prim in primaries + (raws[1:] if not images else []):
            item = _make_item(prim, known, settings, analyzer, left)
            if item is None:
                continue
            if first:
                rest = (raws if images else []) + others
                item.companions = [Companion(p, s, m, "sidecar" if k == "sidecar" else k) for p, s, m, k in rest]
                first = False
            item.date = adjust(resolve_date(item.meta, item.path, item.mtime_ns), shift, tz)
            item.tag = top_tag(item.results, item.meta)
            items.append(item)
    return items, left


def fill_people(items: list[Item], catalog: Catalog | None) -> None:
    """``{person}``: the people the faces plugin found in each photo (named clusters, else recognised)."""
    if catalog is None:
        return
    from ..plugins.builtin.faces_index import people_of_photo, sync_faces

    sync_faces(catalog)
    for it in items:
        photo_id = catalog.photo_id(it.path)
        names = people_of_photo(catalog, photo_id) if photo_id is not None else []
        if names:
            it.meta["person"] = ", ".join(names)


def _make_item(f: tuple[Path, int, int, str], known: dict[str, tuple[dict, dict]], settings: Settings,
               analyzer: MetadataAnalyzer, left: list[tuple[Path, str]]) -> Item | None:
    path, size, mtime_ns, _kind = f
    hit = known.get(str(path))
    if hit is not None:
        rec, results = hit
        if rec["size"] == size and rec["mtime_ns"] == mtime_ns and rec["status"] != "ignored":
            meta = dict(results.get("metadata") or {})
            places = results.get("places") or {}
            for key in ("city", "country"):  # the places plugin's reverse geocoding fills {city}/{country}
                if not meta.get(key) and places.get(key):
                    meta[key] = places[key]
            return Item(path, size, mtime_ns, rec.get("format"), meta, results, rec.get("sha256"))
    fmt = sniff(path)
    if fmt is None:
        left.append((path, "not an image (by its bytes) although named like one; left in place"))
        return None
    meta: dict[str, Any] = {}
    try:
        photo = Photo(path, size, mtime_ns, fmt)
        meta = analyzer.analyze(AnalysisInput(photo, settings)).to_dict()
    except Exception:  # noqa: BLE001 - any unreadable header: the date chain falls back to the name and mtime
        meta = {}
    if not meta.get("datetime_original") or not meta.get("create_date") or \
            len(meta.get("datetime_original") or "") <= 19 or meta.get("gps_latitude") is None:
        extra = _extra_dates(path)
        for key, value in extra.items():
            mine = meta.get(key)
            # fill gaps; prefer the same time with its UTC offset (EXIF OffsetTime*) when the analyzer lacks it
            if not mine or (isinstance(mine, str) and value.startswith(mine) and len(value) > len(mine)):
                meta[key] = value
    return Item(path, size, mtime_ns, fmt, meta, {"metadata": meta}, None, meta_source="file")


def _extra_dates(path: Path) -> dict[str, Any]:
    """CreateDate, offsets and XMP dates read straight from the header (for files not in the catalog)."""
    out: dict[str, Any] = {}
    try:
        with Image.open(path) as img:
            exif = img.getexif()
            ifd = exif.get_ifd(0x8769) if exif else {}
            gps = exif.get_ifd(0x8825) if exif else {}
            xmp = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp")
    except Exception:  # noqa: BLE001 - any unreadable header: no extra dates
        return out
    from .dates import parse_iso

    def text(v: Any) -> str | None:
        if isinstance(v, bytes):
            v = v.decode("ascii", "replace")
        return v.strip("\x00 ") if isinstance(v, str) and v.strip("\x00 ") else None

    for tag, off_tag, key in ((0x9003, 0x9011, "datetime_original"), (0x9004, 0x9012, "create_date")):
        v = text(ifd.get(tag))
        dt = parse_iso(v) if v else None
        if dt is not None:
            off = text(ifd.get(off_tag))
            iso = dt.isoformat()
            if off and len(off) == 6 and off[0] in "+-":
                iso += off
            out[key] = iso
    try:
        lat, lon = _gps_degrees(gps.get(2), gps.get(1)), _gps_degrees(gps.get(4), gps.get(3))
        if lat is not None and lon is not None and (lat, lon) != (0.0, 0.0):
            out["gps_latitude"], out["gps_longitude"] = lat, lon
    except (TypeError, ValueError, ZeroDivisionError):
        pass
    if xmp:
        import re

        s = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else str(xmp)
        for name in ("exif:DateTimeOriginal", "photoshop:DateCreated", "xmp:CreateDate"):
            m = re.search(re.escape(name) + r"""(?:="([^"]+)"|>([^<]+)<)""", s)
            if m:
                out["xmp_date"] = (m.group(1) or m.group(2)).strip()
                out["xmp_date_source"] = "XMP:" + name.split(":")[1]
                break
    return out


def _gps_degrees(dms: Any, ref: Any) -> float | None:
    if not dms or len(dms) != 3:
        return None
    value = float(dms[0]) + float(dms[1]) / 60 + float(dms[2]) / 3600
    ref = ref.decode() if isinstance(ref, bytes) else (ref or "")
    return -value if ref.strip("\x00 ").upper() in ("S", "W") else value


def top_tag(results: dict[str, Any], meta: dict[str, Any]) -> str | None:
    """The top scene label from whichever ML analyzer ran, else the first keyword."""
    best: tuple[float, str] | None = None
    for name, data in results.items():
        if name == "metadata" or not isinstance(data, dict):
            continue
        for key in ("top_scene", "scene", "top_label"):
            if isinstance(data.get(key), str) and data[key]:
                return data[key]
        for key in ("scenes", "tags", "labels"):
            for entry in data.get(key) or ():
                if isinstance(entry, str):
                    return entry
                if isinstance(entry, dict):
                    label = entry.get("label") or entry.get("name")
                    score = float(entry.get("score", entry.get("confidence", 0)) or 0)
                    if label and (best is None or score > best[0]):
                        best = (score, label)
    if best:
        return best[1]
    kw = meta.get("keywords") or ()
    return kw[0] if kw else None


# -- targets and collisions ---------------------------------------------------------------------------


def companion_name(primary_old: str, primary_new: str, comp_old: str, normalize_ext: bool) -> str:
    """``IMG_1.JPG.xmp`` follows ``IMG_1.JPG`` -> ``new.jpg.xmp``; ``IMG_1.MOV`` -> ``new.MOV``."""
    new_stem, _ = split_ext(primary_new)
    if comp_old.casefold().startswith(primary_old.casefold() + "."):
        return fit_name(primary_new, comp_old[len(primary_old):])
    _, ext = split_ext(comp_old)
    if normalize_ext:
        ext = ext.lower()
    return fit_name(new_stem, ext)


def _same_bytes(a: Path, a_size: int, a_sha: str | None, b: Path) -> bool:
    try:
        if os.path.getsize(b) != a_size:
            return False
        return (a_sha or sha256_of(a)) == sha256_of(b)
    except OSError:
        return False


class _Disk:
    """Existence checks for planned targets, with the answers per folder cached: a new library's
    folders do not exist yet, so most targets need no system call at all."""

    def __init__(self) -> None:
        self.folders: dict[str, bool] = {}
        self.writable: dict[str, bool] = {}

    def lexists(self, path: str) -> bool:
        folder = path.rpartition("/")[0]
        there = self.folders.get(folder)
        if there is None:
            there = self.folders[folder] = os.path.isdir(folder)
        return there and os.path.lexists(path)

    def can_write(self, folder: str) -> bool:
        ok = self.writable.get(folder)
        if ok is None:
            ok = self.writable[folder] = os.access(folder, os.W_OK)
        return ok


def build_actions(plan: Plan, items: list[Item], targets: list[tuple[Path | str, str]], op: str,
                  normalize_ext: bool = False, read_only: str = "copy") -> None:
    """Turn (folder, new primary name) per item into actions, resolving collisions group by group."""
    disk = _Disk()
    leaving: dict[str, int] = {}   # casefolded source paths that will move away (name becomes free)
    for idx, (item, (folder, name)) in enumerate(zip(items, targets, strict=True)):
        if op == "move":
            if os.path.join(folder, name) != str(item.path):
                leaving[str(item.path).casefold()] = idx
            for c in item.companions:
                leaving[str(c.path).casefold()] = idx
    taken: dict[str, tuple[int, Item]] = {}
    paths: dict[str, Path] = {}
    for idx, (item, (folder, name)) in enumerate(zip(items, targets, strict=True)):
        folder_s = str(folder)
        src_s = str(item.path)
        members = [(item.path, item.size, item.mtime_ns, "photo")] + \
                  [(c.path, c.size, c.mtime_ns, c.role) for c in item.companions]
        stem, ext = split_ext(name)
        primary_name = fit_name(stem, ext)
        primary_s = folder_s + "/" + primary_name
        note = item.date.note if item.date is not None and item.date.note else None
        this_op = op
        status = "planned"
        if op == "move" and not disk.can_write(src_s.rpartition("/")[0]):
            if read_only == "copy":
                this_op = "copy"
                note = "source folder is read-only: copied, not moved"
            else:
                status, note = "skip", "folder is read-only: not renamed"
        if status == "skip":
            pass
        elif primary_s == src_s or (this_op == "move" and primary_name == item.path.name
                                    and disk.lexists(primary_s) and _same_file(item.path, Path(primary_s))):
            status, note = "skip", "already in place"
        else:
            pk = primary_s.casefold()
            if pk in taken:
                _other_idx, other = taken[pk]
                if other.size == item.size and _same_bytes(item.path, item.size, item.sha256, other.path):
                    status, note = "skip", f"same content as {display_path(other.path)}, planned to the same name"
            elif disk.lexists(primary_s) and pk not in leaving and not _same_file(item.path, Path(primary_s)) \
                    and _same_bytes(item.path, item.size, item.sha256, Path(primary_s)):
                status, note = "skip", f"identical file already at {display_path(primary_s)}"
        p_stem, p_ext = split_ext(primary_name)
        dsts: list[str] = []
        for k in range(100000):
            suffix = "" if k == 0 else f"_{k}"
            new_primary = fit_name(p_stem, suffix + p_ext)
            cand = [folder_s + "/" + (new_primary if role == "photo" else
                                      companion_name(item.path.name, new_primary, m_path.name, normalize_ext))
                    for m_path, _s, _m, role in members]
            if status == "skip" or all(_free(c, str(m[0]), taken, leaving, disk)
                                       for c, m in zip(cand, members, strict=True)):
                dsts = cand
                if k:
                    note = (note + "; " if note else "") + f"name taken: suffix {suffix}"
                break
        for (m_path, m_size, m_mtime, role), dst_s in zip(members, dsts, strict=True):
            dst = paths.get(folder_s)
            if dst is None:
                dst = paths[folder_s] = Path(folder_s)
            dst = dst / dst_s.rpartition("/")[2]
            plan.actions.append(Action(m_path, dst, this_op, m_size, m_mtime, role, idx,
                                       item.sha256 if role == "photo" else None, item.date,
                                       "skip" if status == "skip" or dst_s == str(m_path) else "planned",
                                       note if role == "photo" or status == "skip" else None))
            if status != "skip":
                taken[dst_s.casefold()] = (idx, item)
    order_for_chains(plan)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _free(cand: str, src: str, taken: dict[str, Any], leaving: dict[str, int], disk: _Disk) -> bool:
    key = cand.casefold()
    if key in taken:
        return False
    if cand == src:
        return True
    if disk.lexists(cand):
        if key in leaving:
            return True              # its current file is being moved away first
        # a case-only rename on a case-insensitive disk: the "existing" file is the source itself
        return cand.rpartition("/")[2] != src.rpartition("/")[2] and _same_file(Path(cand), Path(src))
    return True


def order_for_chains(plan: Plan) -> None:
    """A -> B while B -> C: do B -> C first. Cycles (A -> B, B -> A) go through a free name.
    Iterative, so that a chain of any length (renumbering thousands of files) is fine."""
    todo = plan.todo
    by_src = {str(a.src).casefold(): a for a in todo}

    def blocker(a: Action) -> Action | None:
        b = by_src.get(str(a.dst).casefold())
        return b if b is not None and b is not a else None

    if not any(blocker(a) for a in todo):
        return
    from .journal import next_free_name

    ordered: list[Action] = []
    state: dict[int, int] = {}          # id -> 1 on the current chain, 2 placed
    for first in todo:
        if id(first) in state:
            continue
        chain = [first]
        state[id(first)] = 1
        while chain:
            top = chain[-1]
            b = blocker(top)
            if b is not None and id(b) not in state:
                state[id(b)] = 1
                chain.append(b)
                continue
            if b is not None and state[id(b)] == 1:     # a cycle: this one takes a free name instead
                top.dst = next_free_name(top.dst, lambda p: str(p).casefold() in by_src)
                top.note = (top.note + "; " if top.note else "") + "renamed in a cycle: took a free name"
            chain.pop()
            state[id(top)] = 2
            ordered.append(top)
    rest = [a for a in plan.actions if a.status != "planned"]
    plan.actions = ordered + rest


# -- applying -----------------------------------------------------------------------------------------


def apply_plan(plan: Plan, journal: Journal, progress: Callable[[StepResult], None] | None = None,
               library_catalog: Catalog | None = None, workers: int = 1,
               shift_progress: Callable[[int], Callable[[StepResult], None]] | None = None) -> list[StepResult]:
    """Apply through the journal. ``library_catalog``: the catalog of DEST, which receives the analysis
    of the photos placed there (from the journal's catalog), so that the library needs no re-analysis.
    With ``plan.shift`` the photos (and RAW sidecars) then get their capture times shifted through the
    metadata writer, as ``tag --shift-time`` does, in the same run: one ``undo`` reverts both. Those
    steps come back as ``rewrite``/``write-new`` results (``shift_progress(total)`` gives their progress
    callback)."""
    steps = [Step(a.op, a.src, a.dst, sha256=a.sha256, expect_size=a.size, expect_mtime_ns=a.mtime_ns,
                  on_exists="suffix") for a in plan.todo]
    results = journal.run(steps, progress=progress)
    moved_from = {r.src.parent for r in results if r.status == "done" and r.op == "move"
                  and r.dst is not None and r.dst.parent != r.src.parent}
    if moved_from:
        journal.prune_empty_folders(moved_from, plan.root)
    if library_catalog is not None:
        journal.export_to_catalog(library_catalog, [(r.src, r.dst) for r in results
                                                    if r.status == "done" and r.dst is not None])
    if plan.shift:
        from .tag import shift_capture_times

        role = {a.src: a.role for a in plan.actions}
        photos = [r.dst for r in results if r.status == "done" and r.dst is not None
                  and role.get(r.src) in ("photo", "raw")]
        photos += [a.src for a in plan.actions if a.status == "skip" and a.note == "already in place"
                   and a.role in ("photo", "raw")]
        results += shift_capture_times(journal, photos, plan.shift, workers=workers, progress=shift_progress)
    return results
