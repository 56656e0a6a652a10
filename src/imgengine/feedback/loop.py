"""SUGGEST → APPLY → VALIDATE → keep or roll back: the loop over error groups.

Every suggestion is made against the file as it is *now*: the error's line is mapped from the text the
error came from (the file then, or the backup of the first fix this loop kept since) to the current text,
so two fixes on one file are matched, applied and validated one at a time.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from libcst import ParserSyntaxError

from .fixlog import FeedbackError, FixLog, FixRecord, sha256_bytes, unified_diff, write_atomic
from .grouping import ErrorGroup, photo_path
from .learning import PatternStats
from .patterns import Fix, match, pattern_named
from .patterns.missing_module import MissingModulePattern
from .safety import map_line, refusal, text_at_error
from .source import SourceContext
from .validation import (
    Check,
    check_command,
    check_import,
    check_requirements,
    check_rerun,
    check_ruff,
    ruff_diagnostics,
)

FIXABLE, MANUAL, FIXED, BLOCKED, CHANGED, RUNTIME = "fixable", "manual", "fixed", "blocked", "changed", "runtime"


@dataclass
class Suggestion:
    group: ErrorGroup
    status: str
    reason: str | None = None
    fix: Fix | None = None
    context: str = ""                 # numbered source lines around the failing line
    old_text: str | None = None
    new_text: str | None = None
    diff: str | None = None
    fixed_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**self.group.to_dict(), "status": self.status, "reason": self.reason,
                "fix": self.fix.to_dict() if self.fix else None, "context": self.context, "diff": self.diff,
                "fixed_by": self.fixed_by}


@dataclass
class Options:
    roots: list[Path]
    min_confidence: float
    check_command: str | None = None
    max_rerun_photos: int = 20
    known_lines: dict[str, set[tuple[str, str]]] = dataclasses.field(default_factory=dict)  # file -> bugs


def known_bug_lines(groups: list[ErrorGroup]) -> dict[str, set[tuple[str, str]]]:
    """(exception type, line text) of every logged bug, per file: what a re-run may still stop at."""
    out: dict[str, set[tuple[str, str]]] = {}
    for g in groups:
        if not g.source_file or not g.source_line:
            continue
        try:
            lines = Path(g.source_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        if 0 < g.source_line <= len(lines):
            out.setdefault(str(Path(g.source_file).resolve()), set()).add((g.exception_type,
                                                                          lines[g.source_line - 1].strip()))
    return out


def source_context_lines(text: str, line: int, around: int = 3) -> str:
    lines = text.splitlines()
    lo, hi = max(1, line - around), min(len(lines), line + around)
    return "\n".join(f"{'>' if n == line else ' '} {n:4} | {lines[n - 1]}" for n in range(lo, hi + 1))


def _is_oom(group: ErrorGroup) -> bool:
    return group.exception_type in ("OutOfMemoryError", "OutOfMemory") or "out of memory" in group.message.lower()


def fixed_by(group: ErrorGroup, fixes: list[FixRecord]) -> str | None:
    """The kept fix for this fingerprint if the error has not been logged since it."""
    from .learning import recurred

    for rec in fixes:
        if rec["fingerprint"] == group.fingerprint and rec.outcome == "kept" \
                and not recurred(rec, [(group.last_offset, group.last_seen_time())]):
            return rec.id
    return None


def suggest(group: ErrorGroup, opts: Options, fixes: list[FixRecord], stats: dict[str, PatternStats]) -> Suggestion:
    done = fixed_by(group, fixes)
    if done:
        return Suggestion(group, FIXED, f"fixed by {done}; not seen since", fixed_by=done)
    if _is_oom(group):
        return Suggestion(group, RUNTIME, "out of memory: a runtime condition; see the batch-size config change")
    if not group.source_file or not group.source_line:
        return Suggestion(group, MANUAL, "no line of plugin code in the traceback (it failed inside imgengine "
                                         "or a library): needs manual review")
    file = Path(group.source_file)
    blocked = refusal(file, opts.roots)
    if blocked == "it no longer exists":
        return Suggestion(group, CHANGED, f"{file} no longer exists")
    then, why = text_at_error(group, file, fixes)
    if then is None:
        return Suggestion(group, CHANGED, f"{file}: {why}; not touched")
    now = file.read_text(encoding="utf-8")
    line = map_line(then, now, group.source_line)
    if line is None:
        return Suggestion(group, CHANGED, f"{file}: line {group.source_line} changed since the error; not touched")
    context = source_context_lines(now, line)
    try:
        ctx = SourceContext(now, file)
    except ParserSyntaxError as exc:
        return Suggestion(group, MANUAL, f"{file} does not parse: {str(exc).splitlines()[0]}", context=context)
    here = dataclasses.replace(group, source_line=line)
    fix = match(here, ctx)
    if fix is None:
        earlier = [r for r in fixes if r["fingerprint"] == group.fingerprint and r.outcome == "kept"]
        if earlier:
            notes = " ".join(earlier[-1].begin.get("notes") or [])
            return Suggestion(group, MANUAL, f"came back after fix {earlier[-1].id} ({earlier[-1]['summary']})"
                                             f"{'; ' + notes if notes else ''}; needs manual review", context=context)
        return Suggestion(group, MANUAL, f"no known fix pattern for {group.exception_type}: "
                                         f"{group.message[:160]}; needs manual review", context=context)
    pattern = pattern_named(fix.pattern)
    fix.confidence = fix.certainty * stats[fix.pattern].confidence
    if fix.kind == "requirements":
        try:
            old = fix.file.read_text(encoding="utf-8")
        except FileNotFoundError:
            old = ""
        assert isinstance(pattern, MissingModulePattern)
        new = pattern.rewrite_text(old, fix)
        shown = fix.file
    else:
        old, new, shown = now, pattern.rewrite(ctx, fix), file
    diff = unified_diff(old, new, os.path.basename(shown))
    new_sha = sha256_bytes(new.encode("utf-8"))
    failed = [r for r in fixes if r["fingerprint"] == group.fingerprint and r["new_sha256"] == new_sha
              and r.outcome in ("rolled_back", "rolled_back_by_hand")]
    if failed:
        why = (failed[-1].end or {}).get("reason") or failed[-1].outcome.replace("_", " ")
        return Suggestion(group, MANUAL, f"this very fix was rolled back before ({failed[-1].id}: {why}); "
                                         "needs manual review", fix, context, old, new, diff)
    if blocked:
        return Suggestion(group, BLOCKED, f"{file}: {blocked}", fix, context, old, new, diff)
    if old == new:
        return Suggestion(group, MANUAL, f"{fix.pattern} matched but changes nothing", fix, context)
    return Suggestion(group, FIXABLE, None, fix, context, old, new, diff)


def validate(s: Suggestion, opts: Options, ruff_before: list[tuple[str, str]] | None) -> list[Check]:
    fix = s.fix
    assert fix is not None
    if fix.kind == "requirements":
        return [check_requirements(fix.file)]
    checks = [check_import(fix.file)]
    if checks[-1].failed:
        return checks
    checks.append(check_ruff(fix.file, ruff_before))
    if checks[-1].failed:
        return checks
    checks.append(check_command(fix.file, opts.check_command))
    if checks[-1].failed:
        return checks
    photos = [photo_path(f) for f in s.group.files[: opts.max_rerun_photos]]
    own = (s.group.exception_type, s.old_text.splitlines()[fix.line - 1].strip()) if s.old_text else None
    known = {k for k in opts.known_lines.get(str(fix.file.resolve()), set()) if k != own}
    checks.append(check_rerun(fix.file, s.group.stage if s.group.stage not in ("", "?") else
                              (s.group.plugin or ""), photos, known=known))
    return checks


def apply_fix(s: Suggestion, opts: Options, fixlog: FixLog,
              validator: Callable[[Suggestion, Options, Any], list[Check]] = validate) -> FixRecord:
    """Backup → record → replace → validate → keep, or restore the backup's bytes."""
    fix = s.fix
    assert fix is not None and s.new_text is not None and s.old_text is not None
    file = fix.file
    created = not file.exists()
    old = b"" if created else file.read_bytes()
    if not created and old.decode("utf-8") != s.old_text:
        raise FeedbackError(f"{file} changed while the fix was prepared; not touched")
    new = s.new_text.encode("utf-8")
    ruff_before = ruff_diagnostics(file) if fix.kind == "source" else None
    fix_id = fixlog.new_id(fix.pattern)
    fixlog.begin(fix_id, file, old, new, {
        "pattern": fix.pattern, "fingerprint": fix.fingerprint, "line": fix.line, "summary": fix.summary,
        "kind": fix.kind, "diff": s.diff, "certainty": round(fix.certainty, 4),
        "confidence": round(fix.confidence, 4), "created": created, "notes": fix.notes,
        "group_count": s.group.count,
        "photos": s.group.files[: opts.max_rerun_photos], "source_file": s.group.source_file})
    try:
        write_atomic(file, new)
        checks = validator(s, opts, ruff_before)
    except BaseException:
        fixlog.restore(fixlog.get(fix_id))
        fixlog.end(fix_id, "interrupted", reason="interrupted during validation; backup restored")
        raise
    results = [c.to_dict() for c in checks]
    failed = [c for c in checks if c.failed]
    if failed:
        fixlog.restore(fixlog.get(fix_id))
        fixlog.end(fix_id, "rolled_back", results, f"{failed[0].name} failed: {failed[0].detail[:300]}")
    else:
        fixlog.end(fix_id, "kept", results)
    return fixlog.get(fix_id)

