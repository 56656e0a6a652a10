"""The batch analyzers: CLIP (scenes, indoor/outdoor, image embedding), DETR (objects with boxes) and the custom
scene model from `imgengine train export` (off until a model is named)."""

from __future__ import annotations

from .. import hookimpl


@hookimpl
def register_analyzers() -> list[type]:
    from ...analyzers.vision.analyzers import ClipAnalyzer, DetrAnalyzer
    from ...analyzers.vision.custom_scene import SceneCustomAnalyzer

    return [ClipAnalyzer, DetrAnalyzer, SceneCustomAnalyzer]
