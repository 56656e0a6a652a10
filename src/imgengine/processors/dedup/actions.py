"""What to do with the copies that are not kept: plan, then apply through the shared journal.

* ``move``: each duplicate goes to ``--move-to`` (its path below the scanned folder is kept; a name
  clash gets a suffix; another file system is copy + verify + remove -- the journal does that).
* ``hardlink``: each *byte-identical* copy is replaced by a hard link to the keeper (same file system
  only); its own bytes wait in the journal's trash until undo or ``trash empty``. Near duplicates are
  different files (another size, format, crop, edit): a link would replace the picture with the
  keeper's, so they are refused with one reason per group (move or delete them instead).
* ``delete``: each duplicate is moved to the journal's trash, ``<state>/trash/<run-id>/`` (``undo`` puts
  it back); the keeper is never touched and the last copy never goes: a group whose keeper is missing or
  changed is skipped. Bytes in the trash are not freed until it is emptied (``imgengine trash empty``):
  the plan says how many go to the trash, not "freed".
* ``--merge-metadata``: before acting, GPS, capture date and keywords the (JPEG) keeper lacks are copied
  from its duplicates through the shared metadata writer (``imgengine tag``'s: keywords to XMP + IPTC,
  losslessly, journal rewrite-in-place). The keeper's original bytes go to the journal's backup, so ``undo``
  restores them exactly.

Before anything is done every file of a group is hashed again: a group with a file that changed or
vanished since the catalog saw it is skipped as stale (never act on a stale group).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import piexif
from PIL import Image

from ...analyzers.metadata import read_metadata
from ...core.photo import display_path
from ...errors import ImgEngineError
from ...metadata.fields import Gps, TagEdit, parse_capture_date
from ...metadata.writer import MetadataWriter
from ..journal import Journal, Step, StepResult, sha256_of
from .model import DuplicateGroup, Member

ACTIONS = ("move", "hardlink", "delete")


@dataclass
class PlannedStep:
    group: int
    op: str                      # move | hardlink | trash | merge-metadata
    src: Path
    dst: Path | None
    size: int                    # the file's size now
    freed: int                   # bytes this step frees (0 for a file hard-linked elsewhere)
    mtime_ns: int
    sha256: str | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "op": self.op, "src": display_path(self.src),
                "dst": display_path(self.dst) if self.dst else None, "size": self.size, "freed": self.freed,
                "note": self.note}


@dataclass
class MetadataMerge:
    group: int
    keeper: Path
    fields: dict[str, Any]        # name -> value taken from a duplicate
    sources: dict[str, str]       # name -> duplicate it came from

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "keeper": display_path(self.keeper),
                "fields": {k: _jsonable(v) for k, v in self.fields.items()}, "from": self.sources}


@dataclass
class ActionPlan:
    action: str
    steps: list[PlannedStep] = field(default_factory=list)
    merges: list[MetadataMerge] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)   # (group id, why)
    keepers: dict[int, Path] = field(default_factory=dict)

    @property
    def bytes_released(self) -> int:
        """Bytes the duplicates occupy that the plan takes out of the collection (to the trash or the
        --move-to folder); none of it is free disk space until the trash is emptied."""
        return sum(s.freed for s in self.steps)

    @property
    def bytes_to_trash(self) -> int:
        return sum(s.freed for s in self.steps if s.op in ("trash", "hardlink"))

    @property
    def bytes_freed(self) -> int:
        """Disk space free right after applying: none -- trashed bytes wait for ``trash empty``, moved
        ones are elsewhere."""
        return 0

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "steps": [s.to_dict() for s in self.steps],
                "metadata_merges": [m.to_dict() for m in self.merges],
                "skipped_groups": [{"group": g, "reason": r} for g, r in self.skipped],
                "bytes_freed": self.bytes_freed, "bytes_to_trash": self.bytes_to_trash,
                "bytes_moved": self.bytes_released - self.bytes_to_trash,
                "freed_after_trash_empty": self.bytes_to_trash}


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v


# -- planning --------------------------------------------------------------------------------------

def check_group(group: DuplicateGroup, rehash: bool = True) -> str | None:
    """Why the group is stale (a file changed or vanished since the catalog saw it), or None."""
    for m in group.members:
        e = m.entry
        try:
            st = os.stat(e.path)
        except FileNotFoundError:
            return f"{display_path(e.path)} no longer exists"
        except OSError as exc:
            return f"{display_path(e.path)}: {exc.strerror or exc}"
        if st.st_size != e.size:
            return f"{display_path(e.path)} changed since it was analysed"
        if rehash and e.sha256:
            try:
                if sha256_of(e.path) != e.sha256:
                    return f"{display_path(e.path)} changed since it was analysed"
            except OSError as exc:
                return f"{display_path(e.path)}: {exc.strerror or exc}"
    return None


def plan_actions(groups: list[DuplicateGroup], action: str, root: Path, move_to: Path | None = None,
                 merge_metadata: bool = False, rehash: bool = True) -> ActionPlan:
    if action not in ACTIONS:
        raise ValueError(action)
    plan = ActionPlan(action)
    root_abs = os.path.abspath(root)
    for g in groups:
        why = check_group(g, rehash)
        if why:
            plan.skipped.append((g.id, f"stale: {why}; run `imgengine duplicates` again"))
            continue
        keeper = g.keeper
        plan.keepers[g.id] = keeper.path
        if merge_metadata:
            merge = plan_metadata_merge(g)
            if isinstance(merge, MetadataMerge):
                plan.merges.append(merge)
            elif merge:
                plan.skipped.append((g.id, f"metadata not merged: {merge}"))
        try:
            kst = os.stat(keeper.path)
        except OSError:
            plan.skipped.append((g.id, "the keeper is missing"))
            continue
        seen_inodes = {(kst.st_dev, kst.st_ino)}
        if action == "hardlink":
            near = [m for m in g.duplicates if not m.exact_of_keeper]
            if near:
                plan.skipped.append((g.id, f"{len(near)} near duplicate(s) not hard-linked: a hard link is only for "
                                     "byte-identical files (these differ from the keeper); use --move-to or --delete "
                                     "for them"))
        for m in g.duplicates:
            if action == "hardlink" and not m.exact_of_keeper:
                continue
            e = m.entry
            st = os.stat(e.path)
            same_inode = (st.st_dev, st.st_ino) in seen_inodes
            freed = 0 if (same_inode or st.st_nlink > 1) else st.st_size
            if action == "hardlink":
                if same_inode:
                    continue  # already a link to the keeper
                if st.st_dev != kst.st_dev:
                    plan.skipped.append((g.id, (f"{display_path(e.path)}: on another file system than the keeper; "
                                         "a hard link cannot cross file systems")))
                    continue
                plan.steps.append(PlannedStep(g.id, "hardlink", e.path, keeper.path, st.st_size, freed, st.st_mtime_ns,
                                              e.sha256, _note(m)))
            elif action == "delete":
                plan.steps.append(PlannedStep(g.id, "trash", e.path, None, st.st_size, freed, st.st_mtime_ns, e.sha256,
                                              _note(m)))
            else:
                assert move_to is not None
                ap = os.path.abspath(e.path)
                rel = os.path.relpath(ap, root_abs) if ap.startswith(root_abs.rstrip(os.sep) + os.sep) \
                    else os.path.basename(ap)
                plan.steps.append(PlannedStep(g.id, "move", e.path, Path(move_to) / rel, st.st_size, freed,
                                              st.st_mtime_ns,
                                              e.sha256, _note(m)))
            seen_inodes.add((st.st_dev, st.st_ino))
    return plan


def _note(m: Member) -> str:
    if m.exact_of_keeper:
        return "identical bytes"
    bits = []
    if m.residual is not None:
        bits.append(f"residual {m.residual:.3f}")
    if m.hash_distance is not None:
        bits.append(f"hash bits {m.hash_distance}")
    if m.clip_similarity is not None:
        bits.append(f"CLIP {m.clip_similarity:.3f}")
    if m.turned:
        bits.append(m.turned)
    return "near: " + ", ".join(bits)


# -- metadata merge --------------------------------------------------------------------------------

def _read_exif(path: Path) -> dict | None:
    try:
        with Image.open(path) as im:
            raw = im.info.get("exif")
        if not raw:
            return None
        if raw.startswith(b"Exif\x00\x00"):
            raw = raw[6:]
        return piexif.load(raw)
    except Exception:  # noqa: BLE001 - a copy with unreadable EXIF simply gives nothing
        return None


def _keywords(exif: dict | None) -> tuple[str, ...]:
    if not exif:
        return ()
    raw = exif.get("0th", {}).get(piexif.ImageIFD.XPKeywords)
    if not raw:
        return ()
    try:
        text = bytes(raw).decode("utf-16-le").rstrip("\x00")
    except (UnicodeDecodeError, TypeError):
        return ()
    return tuple(k.strip() for k in text.split(";") if k.strip())


def plan_metadata_merge(group: DuplicateGroup) -> MetadataMerge | str | None:
    """What the keeper lacks and a duplicate has (GPS, capture date, keywords); a reason string when it
    cannot be done; None when there is nothing to merge."""
    keeper = group.keeper
    kexif = _read_exif(keeper.path) or {"0th": {}, "Exif": {}, "GPS": {}, "1st": {}}
    want_gps = not kexif.get("GPS", {}).get(piexif.GPSIFD.GPSLatitude)
    want_date = not kexif.get("Exif", {}).get(piexif.ExifIFD.DateTimeOriginal)
    have_kw = set(_keywords(kexif)) | set(keeper.keywords) | set(read_metadata(keeper.path).keywords)
    fields: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for m in group.duplicates:
        exif = _read_exif(m.entry.path)
        if not exif:
            continue
        gps = exif.get("GPS") or {}
        if want_gps and "gps" not in fields and gps.get(piexif.GPSIFD.GPSLatitude) and \
                gps.get(piexif.GPSIFD.GPSLongitude):
            fields["gps"] = {k: v for k, v in gps.items() if isinstance(k, int)}
            sources["gps"] = m.entry.display
        date = (exif.get("Exif") or {}).get(piexif.ExifIFD.DateTimeOriginal)
        if want_date and "date" not in fields and date:
            fields["date"] = bytes(date)
            sources["date"] = m.entry.display
        extra = [k for k in dict.fromkeys(_keywords(exif) + read_metadata(m.entry.path).keywords) if k not in have_kw]
        if extra:
            fields["keywords"] = tuple(fields.get("keywords", ())) + tuple(extra)
            have_kw.update(extra)
            sources.setdefault("keywords", m.entry.display)
    if not fields:
        return None
    if keeper.format != "jpeg":
        return f"the keeper {keeper.display} is {keeper.format}; metadata is only written into JPEG"
    if not os.access(keeper.path, os.W_OK) or not os.access(os.path.dirname(os.path.abspath(keeper.path)), os.W_OK):
        return f"the keeper {keeper.display} is read-only"
    return MetadataMerge(group.id, keeper.path, fields, sources)


def _rational(v: Any) -> float:
    num, den = v
    return num / den if den else 0.0


def merge_edit(merge: MetadataMerge) -> TagEdit:
    """The merge as a ``TagEdit``, written by the shared metadata writer (keywords to XMP + IPTC, GPS and the
    capture date to EXIF) like ``imgengine tag`` does."""
    gps = date = None
    g = merge.fields.get("gps")
    if g:
        lat = sum(_rational(x) / 60 ** i for i, x in enumerate(g[piexif.GPSIFD.GPSLatitude]))
        lon = sum(_rational(x) / 60 ** i for i, x in enumerate(g[piexif.GPSIFD.GPSLongitude]))
        if bytes(g.get(piexif.GPSIFD.GPSLatitudeRef, b"N"))[:1] == b"S":
            lat = -lat
        if bytes(g.get(piexif.GPSIFD.GPSLongitudeRef, b"E"))[:1] == b"W":
            lon = -lon
        alt = g.get(piexif.GPSIFD.GPSAltitude)
        alt_m = _rational(alt) * (-1 if g.get(piexif.GPSIFD.GPSAltitudeRef) in (1, b"\x01") else 1) if alt else None
        gps = Gps(round(lat, 8), round(lon, 8), alt_m)
    if merge.fields.get("date"):
        date = parse_capture_date(bytes(merge.fields["date"]).decode("ascii", "replace").strip("\x00 "))
    return TagEdit(add_keywords=tuple(merge.fields.get("keywords", ())), gps=gps, date=date)


# -- applying --------------------------------------------------------------------------------------

@dataclass
class ApplyReport:
    run_id: str
    results: list[StepResult]
    merged: list[str]
    problems: list[str]

    @property
    def done(self) -> int:
        return sum(r.status == "done" for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "done": self.done, "merged_metadata": self.merged,
                "problems": self.problems,
                "steps": [{"op": r.op, "src": display_path(r.src), "dst": display_path(r.dst) if r.dst else None,
                           "status": r.status, "reason": r.reason} for r in self.results]}


def apply_actions(plan: ActionPlan, journal: Journal,
                  progress: Callable[[StepResult], None] | None = None) -> ApplyReport:
    """Do the plan through ``journal`` (which the caller began and finishes)."""
    problems: list[str] = []
    merged: list[str] = []
    results: list[StepResult] = []
    stale_groups: set[int] = set()
    if plan.merges:
        with MetadataWriter() as writer:
            for merge in plan.merges:
                # the keeper is rewritten in place through the journal (original bytes kept for undo)
                try:
                    edit = merge_edit(merge)
                except (ValueError, KeyError, TypeError, ImgEngineError) as exc:
                    problems.append(f"{display_path(merge.keeper)}: metadata not merged ({exc})")
                    continue
                target = writer.target(merge.keeper, "jpeg")
                st = os.stat(merge.keeper)
                r = journal.run([Step("rewrite", merge.keeper, expect_size=st.st_size, expect_mtime_ns=st.st_mtime_ns,
                                      produce=writer.producer(target, edit),
                                      meta={"note": f"merge-metadata: {edit.summary()}"})])[0]
                results.append(r)
                if r.status != "done":
                    problems.append(f"{display_path(merge.keeper)}: metadata not merged ({r.reason})")
                    stale_groups.add(merge.group)
                    continue
                merged.append(display_path(merge.keeper))
    steps = []
    for s in plan.steps:
        if s.group in stale_groups:
            continue
        keeper = plan.keepers.get(s.group)
        if keeper is None or not os.path.isfile(keeper):
            # never remove what could be the last copy
            problems.append(f"{display_path(s.src)}: not touched, its keeper is missing")
            stale_groups.add(s.group)
            continue
        # the planned sha256 was just re-computed (check_group); size and mtime pin it to that state
        steps.append(Step(s.op, s.src, s.dst, sha256=s.sha256, expect_size=s.size, expect_mtime_ns=s.mtime_ns,
                          on_exists="suffix"))
    if steps:
        results.extend(journal.run(steps, progress=progress))
    for r in results:
        if r.status == "failed":
            problems.append(f"{display_path(r.src)}: {r.reason}")
    return ApplyReport(journal.run_id, results, merged, problems)
