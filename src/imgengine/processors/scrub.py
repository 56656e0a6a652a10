"""``imgengine scrub``: remove location and personal metadata before sharing. To copies by default
(``<name>_scrubbed.<ext>`` beside the original, or under ``--out``; journal ``write-new``), in place with
``--in-place`` (journal ``rewrite``, undoable). Every result is re-read and checked before it is kept."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.photo import display_path
from ..core.scan import ScanProblem
from ..errors import MetadataError, UsageError
from ..metadata import exiv2_backend
from ..metadata.scrub import LEVELS, exiftool_args, scrub_bytes
from ..metadata.writer import EMBED_EXIFTOOL, EMBED_EXIV2, MetadataWriter
from ..settings import Settings
from .journal import Journal, Step, StepResult
from .tag import FileAction, gather_files, sniffed

SUFFIX = "_scrubbed"


ScrubAction = FileAction


@dataclass
class ScrubPlan:
    command: str
    level: str
    keep: frozenset[str]
    in_place: bool
    actions: list[ScrubAction] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.command, "level": self.level, "keep": sorted(self.keep), "in_place": self.in_place,
                "summary": {"files": len(self.actions), "left_alone": len(self.skipped)},
                "actions": [{"src": display_path(a.src), "dst": display_path(a.dst)} for a in self.actions],
                "left_alone": [{"path": display_path(p), "reason": r} for p, r in self.skipped]}


def plan_scrub(paths: Iterable[Path], settings: Settings, *, level: str = "privacy",
               keep: frozenset[str] = frozenset(), in_place: bool = False, out: Path | None = None,
               exiftool_available: bool = True) -> ScrubPlan:
    if level not in LEVELS:
        raise UsageError(f"scrub level {level!r}: choose one of {', '.join(LEVELS)}")
    if in_place and out is not None:
        raise UsageError("choose one of --in-place and --out")
    paths = [Path(os.path.abspath(p)) for p in paths]
    out_abs = Path(os.path.abspath(out)) if out is not None else None
    plan = ScrubPlan("scrub", level, keep, in_place)
    problems: list[ScanProblem] = []
    def ours(path: Path) -> bool:                       # our own copies from an earlier run
        return (out_abs is not None and out_abs in path.parents) or \
            (path.stem.endswith(SUFFIX) and out_abs is None and not in_place)

    files = (f for f in gather_files(paths, settings, problems) if not ours(f[0]))
    for path, size, mtime_ns, fmt in sniffed(files, plan.skipped):
        if fmt in EMBED_EXIFTOOL and not exiftool_available:
            plan.skipped.append((path, "HEIC/AVIF need ExifTool to be scrubbed (apt-get install "
                                 "libimage-exiftool-perl), or convert them to JPEG first"))
            continue
        if fmt not in EMBED_EXIV2 | EMBED_EXIFTOOL:
            plan.skipped.append((path, "not scrubbed: only JPEG, PNG, WebP, TIFF, HEIC and AVIF (convert RAW "
                                 "files first)" if fmt else "not an image"))
            continue
        if in_place:
            dst = path
        else:
            folder = path.parent
            if out_abs is not None:
                base = next((p for p in paths if p == path or p in path.parents), path.parent)
                folder = out_abs / (path.parent.relative_to(base) if base != path and base.is_dir() else Path())
            dst = folder / (path.name if out_abs is not None else path.stem + SUFFIX + path.suffix)
        plan.actions.append(ScrubAction(path, dst, fmt, size, mtime_ns))
    plan.skipped.extend((p.path, p.reason) for p in problems)
    return plan


def _producer(a: ScrubAction, plan: ScrubPlan, writer: MetadataWriter) -> Callable[[bytes | None, Path], bytes | None]:
    def produce(data: bytes | None, tmp: Path) -> bytes | None:
        if data is None:
            data = a.src.read_bytes()
        via_exiftool = a.fmt in EMBED_EXIFTOOL or (
            plan.level == "gps" and writer.exiftool_available and exiv2_backend.has_maker_note(data))
        if not via_exiftool:
            return scrub_bytes(data, a.fmt, plan.level, plan.keep)
        writer.exiftool.write_args_to(a.src, tmp, exiftool_args(plan.level, plan.keep))
        doc = writer.exiftool.read_json(tmp)
        left = [k for k in doc if k.startswith("GPS:") or (k.startswith("XMP-exif:GPS") and "gps" not in plan.keep)]
        if "gps" in plan.keep:
            left = []
        if plan.level != "gps":
            left += [k for k in doc if "SerialNumber" in k or k.endswith("OwnerName") or k.startswith("XMP-xmpMM:")]
        if left:
            raise MetadataError(f"still there after scrubbing: {', '.join(left[:5])}; not changed")
        return None
    return produce


def apply_scrub(plan: ScrubPlan, journal: Journal, writer: MetadataWriter,
                progress: Callable[[StepResult], None] | None = None, workers: int = 1) -> list[StepResult]:
    steps = []
    for a in plan.actions:
        produce = _producer(a, plan, writer)
        note = f"scrub {plan.level}" + (f" keeping {','.join(sorted(plan.keep))}" if plan.keep else "")
        if plan.in_place:
            steps.append(Step("rewrite", a.src, expect_size=a.size, expect_mtime_ns=a.mtime_ns, produce=produce,
                              meta={"note": note}))
        else:
            steps.append(Step("write-new", a.src, a.dst, expect_size=a.size, expect_mtime_ns=a.mtime_ns,
                              produce=produce, meta={"note": note}))
    return journal.run(steps, progress=progress, workers=workers)
