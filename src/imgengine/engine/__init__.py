"""The analysis engine: one run = plan (incremental) -> per-file stage -> batch stage -> catalog -> summary.

* :mod:`.plan` decides which files need which analyzers;
* :mod:`.perfile` is the per-file stage (one task per file, one decode shared by every per-file analyzer);
* :mod:`.executors` runs those tasks (serial, local process pool; Ray comes behind the same interface);
* :mod:`.batch` is the batch stage (GPU/ONNX analyzers fed by one prefetching loader, :mod:`.loader`;
  device, batch sizes and the halve-on-out-of-memory retry in :mod:`.batching`);
* :mod:`.run` ties them together (:func:`run_analysis`).

Importing this package is cheap; the stages import what they need when they run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .run import RunResult, run_analysis

__all__ = ["RunResult", "run_analysis"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import run

        return getattr(run, name)
    raise AttributeError(name)
