"""Storage layouts for ``imgengine organize --by``: by date, event, tag, camera."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import hookimpl


@dataclass(frozen=True)
class Layout:
    """A folder layout below the destination: a ``/``-separated template (see ``imgengine rename``)."""

    name: str
    description: str
    template: str


@hookimpl
def register_layouts() -> list[Any]:
    return [
        Layout("date", "one folder per year and month", "{date:%Y}/{date:%m}"),
        Layout("event", "one folder per event (time gaps and distance split events)", "{date:%Y}/{event}"),
        Layout("tag", "one folder per first keyword", '{tag|"untagged"}'),
        Layout("camera", "one folder per camera", '{camera|"unknown camera"}'),
    ]
