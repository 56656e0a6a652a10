"""One ``imgengine feedback`` run, callable without the terminal: settle, group, suggest, apply, learn, report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import report as report_mod
from .fixlog import FixLog, FixRecord, write_atomic
from .grouping import group_errors
from .learning import PatternStats, error_times, learn
from .loop import FIXABLE, Options, Suggestion, apply_fix, known_bug_lines, suggest
from .records import read_error_records
from .runtime import PATTERN as CONFIG_PATTERN
from .runtime import ConfigChange, propose, validate_config


@dataclass
class Request:
    log_dir: Path
    state_dir: Path
    options: Options
    since: dt.datetime | None = None
    apply: bool = False
    dry_run: bool = False
    config_path: Path | None = None
    write_diffs: bool = False          # non-interactive --apply without --auto-approve: diffs only


@dataclass
class Outcome:
    suggestions: list[Suggestion]
    stats: dict[str, PatternStats]
    config_change: ConfigChange | None
    applied: list[FixRecord] = field(default_factory=list)
    declined: list[Suggestion] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)
    diff_files: list[Path] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
    report_paths: dict[str, Path] = field(default_factory=dict)


def _state(req: Request, fixlog: FixLog) -> tuple[list[Suggestion], dict[str, PatternStats], list[str]]:
    recent = list(read_error_records(req.log_dir, req.since))
    groups = group_errors(recent)
    fixes = fixlog.records()
    every = error_times(read_error_records(req.log_dir), {r["fingerprint"] for r in fixes})
    stats = learn(fixes, every)
    suggestions = [suggest(g, req.options, fixes, stats) for g in groups]
    runs: list[str] = []
    for rec in recent:
        if rec.get("run_id") not in runs:
            runs.append(rec.get("run_id"))
    return suggestions, stats, runs


def run(req: Request, approve: Callable[[Suggestion], bool] = lambda s: False,
        approve_config: Callable[[ConfigChange], bool] = lambda c: False,
        on_applied: Callable[[FixRecord], None] = lambda r: None,
        on_start: Callable[[str], None] = lambda what: None) -> Outcome:
    """``on_start(what)`` is called before each step that can take seconds (validating a fix)."""
    fixlog = FixLog(req.log_dir, req.state_dir)
    on_start("reading and grouping errors.jsonl")
    settled = [] if req.dry_run else fixlog.settle()
    suggestions, stats, runs = _state(req, fixlog)
    config = req.config_path
    change = propose(req.log_dir, config, req.since) if config is not None else None
    out = Outcome(suggestions, stats, change, settled=settled)
    if req.apply and not req.dry_run:
        req.options.known_lines = known_bug_lines([s.group for s in suggestions])
        for first in suggestions:
            if first.status != FIXABLE:
                continue
            # the file may have changed through an earlier fix of this run: suggest again against it now
            s = suggest(first.group, req.options, fixlog.records(), stats)
            if s.status != FIXABLE:
                continue
            if req.write_diffs:
                out.diff_files.append(_write_diff(req.log_dir, s))
                continue
            if not approve(s):
                out.declined.append(s)
                continue
            on_start(f"applying and validating: {s.fix.summary}")
            rec = apply_fix(s, req.options, fixlog)
            out.applied.append(rec)
            on_applied(rec)
        if change is not None and not req.write_diffs and approve_config(change):
            rec = apply_config(change, fixlog)
            out.applied.append(rec)
            on_applied(rec)
        out.suggestions, out.stats, runs = _state(req, fixlog)
    elif req.dry_run or req.write_diffs:
        out.diff_files = [_write_diff(req.log_dir, s) for s in suggestions if s.diff] if req.write_diffs else []
    on_start("writing the report")
    out.report = report_mod.build(out.suggestions, out.stats, fixlog.records(), change, out.applied,
                                  req.log_dir, runs)
    out.report_paths = report_mod.write(out.report, req.log_dir)
    return out


def _write_diff(log_dir: Path, s: Suggestion) -> Path:
    folder = log_dir / "feedback_diffs"
    folder.mkdir(parents=True, exist_ok=True)
    assert s.fix is not None
    path = folder / f"{s.group.fingerprint}-{s.fix.pattern}.diff"
    path.write_text(s.diff or "", encoding="utf-8")
    return path


def apply_config(change: ConfigChange, fixlog: FixLog) -> FixRecord:
    from .fixlog import unified_diff

    file = change.config
    created = not file.exists()
    old = b"" if created else file.read_bytes()
    new = change.new_text.encode("utf-8")
    fix_id = fixlog.new_id(CONFIG_PATTERN)
    fingerprint = f"oom:{change.device}"
    fixlog.begin(fix_id, file, old, new, {
        "pattern": CONFIG_PATTERN, "fingerprint": fingerprint, "line": 0, "kind": "config",
        "summary": f"batch_size {change.batch_size} ({change.retries} OOM retries on {change.device})",
        "diff": unified_diff(change.old_text, change.new_text, file.name), "certainty": 1.0, "confidence": 1.0,
        "created": created, "runs": change.runs})
    file.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_atomic(file, new)
        ok, detail = validate_config(file, change.batch_size)
    except BaseException:
        fixlog.restore(fixlog.get(fix_id))
        fixlog.end(fix_id, "interrupted", reason="interrupted during validation; backup restored")
        raise
    check = [{"name": "settings", "status": "passed" if ok else "failed", "detail": detail}]
    if ok:
        fixlog.end(fix_id, "kept", check)
    else:
        fixlog.restore(fixlog.get(fix_id))
        fixlog.end(fix_id, "rolled_back", check, detail)
    return fixlog.get(fix_id)
