"""The batch analyzers: CLIP (scenes, indoor/outdoor, image embedding) and DETR (objects with boxes)."""

from __future__ import annotations

from .. import hookimpl


@hookimpl
def register_analyzers() -> list[type]:
    from ...analyzers.vision.analyzers import ClipAnalyzer, DetrAnalyzer

    return [ClipAnalyzer, DetrAnalyzer]
