"""Each pattern's confidence, learned from what happened to its fixes.

A pattern starts from its Beta(a, b) prior. Every fix it made is evidence: a fix that was kept and whose
fingerprint has not come back in a later run is a success; a fix rolled back (validation failed, or by
hand) or whose fingerprint recurred after it is a failure. The confidence is the posterior mean
``(a + successes) / (a + b + successes + failures)``; a suggestion's confidence is that times how well
the error matched the pattern.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .fixlog import FixRecord
from .grouping import group_key, keyer
from .patterns import PATTERNS
from .records import parse_time

SUCCESS, FAILURE, PENDING = "success", "failure", "pending"


@dataclass
class PatternStats:
    name: str
    prior: tuple[float, float]
    successes: int = 0
    failures: int = 0
    history: list[tuple[str, str]] = field(default_factory=list)   # (time, success|failure), oldest first

    @property
    def alpha(self) -> float:
        return self.prior[0] + self.successes

    @property
    def beta(self) -> float:
        return self.prior[1] + self.failures

    @property
    def confidence(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def prior_confidence(self) -> float:
        return self.prior[0] / (self.prior[0] + self.prior[1])

    @property
    def success_rate(self) -> float | None:
        n = self.successes + self.failures
        return self.successes / n if n else None

    def to_dict(self) -> dict[str, Any]:
        return {"pattern": self.name, "prior": list(self.prior), "successes": self.successes,
                "failures": self.failures, "success_rate": self.success_rate,
                "confidence": round(self.confidence, 4), "prior_confidence": round(self.prior_confidence, 4)}


Seen = tuple[int, dt.datetime | None]     # (offset in errors.jsonl, time) of one logged error


def recurred(rec: FixRecord, seen: list[Seen]) -> bool:
    """Was the fix's fingerprint logged after the fix ended? By position in errors.jsonl when the end
    record has it (exact), else by time."""
    if rec.end is None:
        return False
    offset = rec.end.get("errors_offset")
    if offset is not None:
        return any(o >= offset for o, _ in seen)
    ended = parse_time(rec.end.get("time"))
    return any(t is not None and ended is not None and t > ended for _, t in seen)


def verdict(rec: FixRecord, errors: dict[str, list[Seen]]) -> str:
    """success / failure / pending (still being applied, or declined) for one fix."""
    outcome = rec.outcome
    if outcome in ("rolled_back", "rolled_back_by_hand"):
        return FAILURE
    if outcome != "kept":
        return PENDING
    return FAILURE if recurred(rec, errors.get(rec["fingerprint"], [])) else SUCCESS


def error_times(records: Iterable[dict[str, Any]], fingerprints: Iterable[str] = ()) -> dict[str, list[Seen]]:
    """Where and when each fingerprint was logged (only those asked for, when given)."""
    wanted = set(fingerprints)
    out: dict[str, list[Seen]] = {}
    key_of = keyer()
    for rec in records:
        fp = group_key(rec, key_of)
        if wanted and fp not in wanted:
            continue
        out.setdefault(fp, []).append((int(rec.get("_offset", -1)), parse_time(rec.get("time"))))
    return out


def learn(fixes: list[FixRecord], errors: dict[str, list[Seen]]) -> dict[str, PatternStats]:
    stats = {p.name: PatternStats(p.name, p.prior) for p in PATTERNS}
    stats.setdefault("config-batch-size", PatternStats("config-batch-size", (4.0, 1.0)))
    for rec in sorted(fixes, key=lambda r: r["time"]):
        s = stats.get(rec["pattern"])
        if s is None:
            continue
        v = verdict(rec, errors)
        if v == SUCCESS:
            s.successes += 1
        elif v == FAILURE:
            s.failures += 1
        if v != PENDING:
            s.history.append((rec.end["time"] if rec.end else rec["time"], v))
    return stats
