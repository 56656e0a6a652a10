"""The progress protocol every long step reports through: analysing, loading models, the vision batches,
the duplicate comparison, building the search index, applying a rename/organize plan.

A step says how much there is (``step_start``), how much is done (``step_advance``) and that it ended
(``step_done``); the terminal front end turns that into a bar with a rate and an ETA, tests count. The
library code never prints.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class StepProgress(Protocol):
    def step_start(self, step: str, total: int, unit: str = "files") -> None: ...
    def step_advance(self, step: str, n: int = 1) -> None: ...
    def step_done(self, step: str) -> None: ...


class NullSteps:
    """Progress nobody watches."""

    def step_start(self, step: str, total: int, unit: str = "files") -> None:
        pass

    def step_advance(self, step: str, n: int = 1) -> None:
        pass

    def step_done(self, step: str) -> None:
        pass


class CountingSteps:
    """Records what each step reported: ``totals[step]``, ``done[step]``, ``ended`` (for tests, and for a
    summary that must say what really happened)."""

    def __init__(self) -> None:
        self.totals: dict[str, int] = {}
        self.done: dict[str, int] = {}
        self.ended: list[str] = []

    def step_start(self, step: str, total: int, unit: str = "files") -> None:
        self.totals[step] = total
        self.done.setdefault(step, 0)

    def step_advance(self, step: str, n: int = 1) -> None:
        self.done[step] = self.done.get(step, 0) + n

    def step_done(self, step: str) -> None:
        self.ended.append(step)


def steps_of(progress: Any) -> StepProgress:
    """``progress`` when it reports steps, else a null one (callers may pass the per-file progress of the
    analysis pipeline, which may or may not also report steps)."""
    return progress if isinstance(progress, StepProgress) else NullSteps()


__all__ = ["CountingSteps", "NullSteps", "StepProgress", "steps_of"]
