"""Example imgengine plugin: colour temperature and horizon tilt (per file, OpenCV), edge density (batch, torch),
and a processor that files photos by colour cast (through the journal: preview, apply, undo)."""

from __future__ import annotations

from imgengine.plugins import hookimpl

__version__ = "0.1.0"


@hookimpl
def register_analyzers():
    from .batch import batch_analyzers
    from .perfile import ColourTemperature, HorizonTilt

    return [ColourTemperature, HorizonTilt, *batch_analyzers()]


@hookimpl
def register_processors():
    from .processor import SortByCast

    return [SortByCast()]


@hookimpl
def config_defaults():
    return {"sort-by-cast": {"casts": ["warm", "cool"]}}
