"""Deprecated: the vision stage is now the engine's batch stage (:mod:`imgengine.engine.batch`), where
CLIP and DETR run as batch analyzers next to any plugin's. :func:`run_vision_stage` remains for code
written before the move; new code lets :func:`imgengine.engine.run.run_analysis` run the batch stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def run_vision_stage(root: Path, settings: Any, catalog: Any, logger: Any, progress: Any = None) -> dict[str, Any]:
    """CLIP and DETR (only) over ``root``'s catalogued photos; returns the summary's ``vision`` section."""
    from ...engine.batch import run_batch_stage  # lazily: the engine sits above the analyzers
    from ...engine.run import select_analyzers

    chosen = select_analyzers(settings.replace(analyzers=("clip", "detr"), enable_plugins=(), disable_plugins=()))
    batch = {n: a for n, a in chosen.items() if n in ("clip", "detr")}
    return run_batch_stage(Path(root), settings, catalog, logger, batch, {}, progress)
