"""Running a registered processor (``register_processors``): catalog records -> the processor's plan ->
checked journal steps -> preview -> apply through the journal (so dry run, apply and undo are the same as for
``organize``).

A processor is an object with ``name``, ``description`` and ``plan(records, settings)`` returning
:class:`imgengine.processors.journal.Step` objects (``move``, ``copy``, ``hardlink``, ``trash``,
``rewrite``, ``write-new``). ``records`` are the catalog's records of the photos the user named (present
photos only: path, size, mtime_ns, format, sha256, ``results`` by analyzer); ``settings.plugins[name]``
holds the processor's config section with its declared defaults filled in.

What a plan may do is checked here, not trusted: a step must be a journal ``Step`` with a known operation
and the fields it needs, and its source must lie under the folders (or be one of the files) the user
named; anything else is refused with the reason and shown in the preview. Each source that is a
catalogued photo is pinned to what was analysed (size, mtime, sha256), so a file changed since is skipped,
never touched.
"""

from __future__ import annotations

import inspect
import os
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.catalog import Catalog
from ..core.photo import display_path
from ..errors import ImgEngineError, UsageError
from .journal import Step

OPS = ("move", "copy", "hardlink", "trash", "rewrite", "write-new")
NEEDS_DST = ("move", "copy", "hardlink", "write-new")
NEEDS_PRODUCE = ("rewrite", "write-new")


class ProcessorError(ImgEngineError):
    """A processor's ``plan`` raised or returned something that is not a list of journal steps."""


@dataclass
class ProcessorPlan:
    processor: str
    plugin: str | None
    roots: list[Path]
    records: int
    steps: list[Step] = field(default_factory=list)
    refused: list[tuple[Path | None, str]] = field(default_factory=list)

    @property
    def command(self) -> str:
        return f"process {self.processor}"

    def summary(self) -> dict[str, Any]:
        ops: dict[str, int] = {}
        for s in self.steps:
            ops[s.op] = ops.get(s.op, 0) + 1
        return {"photos": self.records, "steps": len(self.steps), "ops": ops, "refused": len(self.refused)}

    def to_dict(self) -> dict[str, Any]:
        return {"processor": self.processor, "plugin": self.plugin,
                "paths": [display_path(p) for p in self.roots], "summary": self.summary(),
                "steps": [{"op": s.op, "src": display_path(s.src), "dst": display_path(s.dst) if s.dst else None,
                           "note": s.meta.get("note")} for s in self.steps],
                "refused": [{"src": display_path(p) if p is not None else None, "reason": r}
                            for p, r in self.refused]}


def processor_config(settings: Any, name: str, declared: dict[str, dict[str, Any]]) -> Any:
    """``settings`` whose ``plugins[name]`` section has the processor's declared defaults filled in."""
    section = {**declared.get(name, {}), **(settings.plugins.get(name) or {})}
    return settings.replace(plugins={**settings.plugins, name: section})


def catalog_records(catalog: Catalog, paths: Sequence[Path]) -> list[dict[str, Any]]:
    """The present photos under each folder of ``paths`` (or each file), in path order, each once."""
    seen: set[int] = set()
    out = []
    for p in paths:
        recs = catalog.iter_records(paths=[p]) if p.is_file() else catalog.iter_records(p)
        for rec in recs:
            if rec["id"] not in seen and rec["status"] != "ignored":
                seen.add(rec["id"])
                out.append(rec)
    return out


def _under(path: Path, roots: Sequence[Path]) -> bool:
    p = os.path.abspath(path)
    for root in roots:
        r = os.path.abspath(root)
        if p == r or p.startswith(r.rstrip(os.sep) + os.sep):
            return True
    return False


def check_steps(raw: Any, roots: Sequence[Path], records: Iterable[dict[str, Any]], name: str
                ) -> tuple[list[Step], list[tuple[Path | None, str]]]:
    """The steps of a plan that may run, and the refused ones with why (see the module docstring)."""
    if raw is None:
        return [], []
    try:
        items = list(raw)
    except TypeError:
        raise ProcessorError(f"processor {name!r}: plan() returned {type(raw).__name__}, not a list of "
                             "journal steps") from None
    by_path = {os.path.abspath(r["path"]): r for r in records}
    steps: list[Step] = []
    refused: list[tuple[Path | None, str]] = []
    for item in items:
        if not isinstance(item, Step):
            raise ProcessorError(f"processor {name!r}: plan() returned {item!r}, not an "
                                 "imgengine.processors.journal.Step; nothing was changed")
        if item.op not in OPS:
            refused.append((item.src, f"unknown operation {item.op!r} (use {', '.join(OPS)})"))
        elif item.op in NEEDS_DST and item.dst is None:
            refused.append((item.src, f"a {item.op} step needs a destination"))
        elif item.op in NEEDS_PRODUCE and not callable(item.produce):
            refused.append((item.src, f"a {item.op} step needs a produce function"))
        elif not _under(item.src, roots):
            refused.append((item.src, "outside the folders and files named on the command line; left alone"))
        else:
            rec = by_path.get(os.path.abspath(item.src))
            if rec is not None and item.expect_size is None and item.expect_mtime_ns is None:
                # pinned to what was analysed: a file changed since is skipped, not touched
                item.expect_size, item.expect_mtime_ns = rec["size"], rec["mtime_ns"]
                if item.sha256 is None and item.op != "rewrite":
                    item.sha256 = rec["sha256"]
            steps.append(item)
    return steps, refused


def _own_line(processor: Any, exc: BaseException) -> str | None:
    """``file:line`` of the deepest frame of the traceback in the processor's own source file (the line a
    plugin author wants, not one inside a library it called)."""
    try:
        own = inspect.getsourcefile(type(processor))
    except TypeError:
        return None
    own = os.path.realpath(own) if own else None
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.realpath(f.filename) == own]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else None


def plan_processor(processor: Any, plugin: str | None, paths: Sequence[Path], settings: Any,
                   catalog: Catalog) -> ProcessorPlan:
    """Ask ``processor`` for its plan over the catalogued photos of ``paths`` and check it."""
    plan_fn = getattr(processor, "plan", None)
    name = processor.name
    if not callable(plan_fn):
        raise UsageError(f"processor {name!r} (plugin {plugin}) makes no plan that `imgengine process` can run"
                         + (f"; {processor.runs_as}" if getattr(processor, "runs_as", None) else ""))
    roots = [Path(os.path.abspath(p)) for p in paths]
    records = catalog_records(catalog, roots)
    try:
        raw = plan_fn(records, settings)
    except ImgEngineError:
        raise
    except Exception as exc:  # noqa: BLE001 - a processor's bug is one line, nothing changed
        text = str(exc).splitlines()[0] if str(exc) else ""
        where = _own_line(processor, exc)
        raise ProcessorError(f"processor {name!r} (plugin {plugin}) failed to plan: {type(exc).__name__}: "
                             f"{text}{f' (at {where})' if where else ''}; nothing was changed") from exc
    steps, refused = check_steps(raw, roots, records, name)
    return ProcessorPlan(name, plugin, roots, len(records), steps, refused)
