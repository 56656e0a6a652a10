"""Deprecated alias: the analysis pipeline moved to :mod:`imgengine.engine` (``engine.run.run_analysis``,
``engine.perfile.Task/FileOutcome/analyze_task``, ``engine.plan.plan_run``). Kept so that code written
before the move keeps importing; names resolve lazily, so ``core`` still imports nothing from above at
import time. New code imports from ``imgengine.engine``."""

from __future__ import annotations

from typing import Any

_MOVED = {
    "run_analysis": "run", "RunResult": "run", "Progress": "run", "NullProgress": "run",
    "quality_distribution": "run", "Task": "perfile", "FileOutcome": "perfile", "analyze_task": "perfile",
    "Plan": "plan", "plan_run": "plan",
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(f"imgengine.engine.{_MOVED[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
