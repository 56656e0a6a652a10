"""Example imgengine plugin: colour temperature and horizon tilt (per file, OpenCV), edge density (batch, torch)."""

from __future__ import annotations

from imgengine.plugins import hookimpl

__version__ = "0.1.0"


@hookimpl
def register_analyzers():
    from .batch import batch_analyzers
    from .perfile import ColourTemperature, HorizonTilt

    return [ColourTemperature, HorizonTilt, *batch_analyzers()]
