"""``imgengine tag``: plan metadata edits (one ``TagEdit`` per photo), then apply them through the journal
(rewrite-in-place for embedded metadata and existing sidecars, write-new for new sidecars).

``edits_from_analysis`` turns the catalog's results into keywords: CLIP scenes, DETR objects, the quality
bucket, and ``faces``/``places`` results when those plugins ran, each under its own hierarchy
(``Scenes|beach``, ``Objects|dog``, ``Quality|good``, ``People|Anna``, ``Places|France|Île-de-France|Paris``:
the ``places`` result's country, region and city).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..core.catalog import Catalog
from ..core.formats import sniff
from ..core.photo import display_path
from ..core.scan import ScanProblem, scan
from ..errors import UsageError
from ..metadata.fields import TagEdit, clean_keyword
from ..metadata.writer import MetadataWriter, Target
from ..settings import Settings
from .journal import Journal, Step, StepResult

WRITABLE = frozenset({"jpeg", "png", "webp", "tiff", "heic", "avif", "raw"})
ANALYSIS_KINDS = ("scenes", "objects", "quality", "people", "places")


@dataclass
class TagAction:
    photo: Path
    target: Target
    edit: TagEdit
    size: int
    mtime_ns: int

    def to_dict(self) -> dict[str, Any]:
        return {"photo": display_path(self.photo), "format": self.target.fmt, "how": self.target.how,
                "writes": display_path(self.target.path), "changes": self.edit.summary(), "note": self.target.note}


@dataclass
class TagPlan:
    command: str
    actions: list[TagAction] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        hows = [a.target.how for a in self.actions]
        return {"files": len(self.actions), "embedded": sum(h in ("exiv2", "exiftool") for h in hows),
                "sidecars": sum(h.startswith("sidecar") for h in hows), "left_alone": len(self.skipped)}

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.command, "summary": self.summary(), "actions": [a.to_dict() for a in self.actions],
                "left_alone": [{"path": display_path(p), "reason": r} for p, r in self.skipped]}


@dataclass
class FileAction:
    """One file a planner reads (``src``) and writes (``dst``: a new file, or ``src`` itself in place), with
    its format and its size and mtime when planned (``convert``, ``scrub``)."""

    src: Path
    dst: Path
    fmt: str
    size: int
    mtime_ns: int


def gather_files(paths: Iterable[Path], settings: Settings, problems: list[ScanProblem] | None = None
                 ) -> list[tuple[Path, int, int]]:
    """Every file named or below a named folder (the state folder skipped): (path, size, mtime_ns)."""
    out, seen = [], set()
    problems = problems if problems is not None else []
    for root in paths:
        root = Path(root)
        if not os.path.lexists(root):
            raise UsageError(f"{display_path(root)}: no such file or folder")
        for entry in scan(root, settings, problems):
            key = os.path.abspath(entry.path)
            if key in seen or entry.path.name.lower().endswith(".xmp"):
                continue
            seen.add(key)
            out.append((Path(key), entry.size, entry.mtime_ns))
    return out


def sniffed(files: Iterable[tuple[Path, int, int]], skipped: list[tuple[Path, str]]
            ) -> Iterator[tuple[Path, int, int, str | None]]:
    """(path, size, mtime_ns, format by magic bytes); a file that cannot be read is left alone, with why."""
    for path, size, mtime_ns in files:
        try:
            fmt = sniff(path)
        except OSError as exc:
            skipped.append((path, f"cannot read: {exc.strerror or exc}"))
            continue
        yield path, size, mtime_ns, fmt


def plan_tag(paths: Iterable[Path], settings: Settings, writer: MetadataWriter,
             edit_for: Callable[[Path], TagEdit | None], command: str = "tag") -> TagPlan:
    plan = TagPlan(command)
    problems: list[ScanProblem] = []
    sidecars: dict[str, Path] = {}
    for path, size, mtime_ns, fmt in sniffed(gather_files(paths, settings, problems), plan.skipped):
        if fmt not in WRITABLE:
            plan.skipped.append((path, "not a photo format tag writes (JPEG, PNG, WebP, TIFF, HEIC, AVIF, RAW)"
                                 if fmt else "not an image"))
            continue
        edit = edit_for(path)
        if edit is None or edit.is_empty():
            plan.skipped.append((path, "nothing to write for this photo"))
            continue
        target = writer.target(path, fmt)
        if target.how.startswith("sidecar"):
            other = sidecars.get(str(target.path).casefold())
            if other is not None:
                plan.skipped.append((path, f"its sidecar {display_path(target.path)} belongs to "
                                     f"{display_path(other)} too; use --sidecar-naming full"))
                continue
            sidecars[str(target.path).casefold()] = path
        plan.actions.append(TagAction(path, target, edit, size, mtime_ns))
    for p in problems:
        plan.skipped.append((p.path, p.reason))
    return plan


def steps_for(plan: TagPlan, writer: MetadataWriter) -> list[Step]:
    steps = []
    for a in plan.actions:
        produce = writer.producer(a.target, a.edit)
        note = a.edit.summary()
        if a.target.how == "sidecar-new":
            steps.append(Step("write-new", a.photo, a.target.path, on_exists="error", produce=produce,
                              meta={"note": note}))
        elif a.target.how == "sidecar":
            steps.append(Step("rewrite", a.target.path, produce=produce, meta={"note": note}))
        else:
            steps.append(Step("rewrite", a.photo, expect_size=a.size, expect_mtime_ns=a.mtime_ns, produce=produce,
                              meta={"note": note}))
    return steps


def apply_tag(plan: TagPlan, journal: Journal, writer: MetadataWriter,
              progress: Callable[[StepResult], None] | None = None, workers: int = 1) -> list[StepResult]:
    """``workers``: threads making the new contents (libexiv2, hashing and file I/O run outside the GIL)."""
    return journal.run(steps_for(plan, writer), progress=progress, workers=workers)


def shift_capture_times(journal: Journal, photos: Iterable[Path], shift: timedelta, workers: int = 1,
                        progress: Callable[[int], Callable[[StepResult], None]] | None = None) -> list[StepResult]:
    """``organize``/``rename --shift-time``: the photos a run just filed get their capture and creation
    times shifted in their metadata by the same writer and journal steps as ``tag --shift-time``
    (embedded, or the XMP sidecar of a RAW), in that run's journal, so that one ``undo`` reverts all."""
    edit = TagEdit(shift=shift)
    with MetadataWriter() as writer:
        plan = plan_tag(list(photos), Settings(), writer, lambda _p: edit)
        advance = progress(len(plan.actions)) if progress is not None and plan.actions else None
        return apply_tag(plan, journal, writer, progress=advance, workers=workers)


# ---------------------------------------------------------------------------------------- from analysis
def _label(entry: Any) -> tuple[str | None, float]:
    if isinstance(entry, str):
        return entry, 1.0
    if isinstance(entry, dict):
        label = entry.get("label") or entry.get("name")
        score = entry.get("score", entry.get("confidence", 1.0))
        try:
            return (str(label) if label else None), float(score if score is not None else 1.0)
        except (TypeError, ValueError):
            return (str(label) if label else None), 1.0
    return None, 0.0


def keywords_from_results(results: dict[str, Any], only: Iterable[str] = ANALYSIS_KINDS,
                          min_confidence: float = 0.0) -> list[str]:
    """Hierarchical keywords from one photo's catalog results (any analyzer that produced them)."""
    only = set(only)
    out: list[str] = []

    def add(path: str) -> None:
        try:
            k = clean_keyword(path)
        except UsageError:
            return
        if k not in out:
            out.append(k)

    def labels(analyzer: str, key: str, root: str) -> Iterator[str]:
        for entry in (results.get(analyzer) or {}).get(key) or ():
            label, score = _label(entry)
            if label and score >= min_confidence:
                yield f"{root}|{label}"

    def quality() -> Iterator[str]:
        value = (results.get("content") or {}).get("quality")
        if isinstance(value, str):
            yield f"Quality|{value}"

    def place() -> Iterator[str]:
        places = results.get("places") or {}
        parts = [str(places[k]).strip() for k in ("country", "region", "city") if places.get(k)]
        if parts:
            yield "Places|" + "|".join(p.replace("|", "/") for p in parts)

    sources = {
        "scenes": lambda: labels("clip", "scenes", "Scenes"),
        "objects": lambda: labels("detr", "objects", "Objects"),
        "quality": quality,
        "people": lambda: labels("faces", "people", "People"),
        "places": place,
    }
    for kind in ANALYSIS_KINDS:                  # in this order: scenes, objects, quality, people, places
        if kind in only:
            for keyword in sources[kind]():
                add(keyword)
    return out


def edits_from_analysis(catalog: Catalog, paths: Iterable[Path], base: TagEdit, only: Iterable[str],
                        min_confidence: float) -> Callable[[Path], TagEdit | None]:
    only = tuple(only)
    bad = [k for k in only if k not in ANALYSIS_KINDS]
    if bad:
        raise UsageError(f"--only {','.join(bad)}: choose from {','.join(ANALYSIS_KINDS)}")
    if not 0.0 <= min_confidence <= 1.0:
        raise UsageError("--min-confidence is between 0 and 1")
    by_path: dict[str, list[str]] = {}
    for root in paths:
        root = Path(os.path.abspath(root))
        recs = catalog.iter_records(root) if root.is_dir() else catalog.iter_records(paths=[root])
        for rec in recs:
            by_path[str(rec["path"])] = keywords_from_results(rec.get("results") or {}, only, min_confidence)

    def edit_for(path: Path) -> TagEdit | None:
        kws = by_path.get(str(path))
        if not kws and base.is_empty():
            return None
        return replace(base, add_keywords=tuple(base.add_keywords) + tuple(kws or ()))

    return edit_for
