"""``imgengine organize``: file photos from a source into a library by date, event, tag, camera, place or person."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta, tzinfo
from pathlib import Path

from ..core.catalog import Catalog
from ..errors import UsageError
from ..settings import Settings
from .events import assign_events
from .journal import fit_name
from .plan import STATE_FOLDER, Plan, build_actions, fill_people, gather
from .rename import render_names
from .template import Context, Template

LAYOUTS = {
    "date": "{date:%Y}/{date:%m}",
    "event": "{date:%Y}/{event}",
    "tag": '{tag|"untagged"}',
    "camera": '{camera|"unknown camera"}',
    "place": '{country|"unknown country"}/{city|"unknown city"}',
    "person": '{person|"no people"}',
}


# fields that need the catalog's analyzer results (vision tags, the places plugin), not just metadata
PLACE_OR_TAG = {"tag", "city", "country"}


def layout_templates(layout: str) -> list[Template]:
    if layout.startswith(("/", "~")):
        raise UsageError(f"--layout {layout!r}: give folders relative to the destination")
    parts = [p for p in layout.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UsageError(f"--layout {layout!r}: '..' would leave the destination")
    return [Template(p) for p in parts]


def plan_organize(src: Path, dest: Path, settings: Settings, catalog: Catalog | None, *, by: str = "date",
                  layout: str | None = None, template: str | None = None, op: str = "copy",
                  gap: timedelta = timedelta(hours=4), distance_km: float = 50.0, normalize_ext: bool = False,
                  shift: timedelta = timedelta(0), tz: tzinfo | None = None,
                  layouts: Mapping[str, str] | None = None) -> Plan:
    """``layouts`` maps ``--by`` names to folder templates (the ``register_layouts`` plugin hook's; default
    the built-in ones)."""
    layouts = LAYOUTS if layouts is None else layouts
    if by not in layouts:
        raise UsageError(f"--by {by!r}: choose one of {', '.join(layouts)}")
    if op not in ("copy", "move"):
        raise UsageError("choose --copy or --move")
    src, dest = Path(os.path.abspath(src)), Path(os.path.abspath(dest))
    folders = layout_templates(layout or layouts[by])
    name_tpl = Template(template) if template else None
    if name_tpl and "/" in "".join(p.literal for p in name_tpl.parts):
        raise UsageError("--template names the file; put folders in --layout")
    fields = set().union(*(t.fields for t in folders)) | (name_tpl.fields if name_tpl else set())
    if by == "event" and "event" not in fields:
        folders.append(Template("{event}"))
        fields.add("event")
    exclude = [dest] if dest != src else []
    items, left = gather(src, settings, catalog, exclude=[*exclude, src / STATE_FOLDER],
                         want_results=bool(fields & PLACE_OR_TAG), shift=shift, tz=tz)
    if "person" in fields:
        fill_people(items, catalog)
    plan = Plan("organize", src, dest, skipped=left, shift=shift or None)
    events = dict(enumerate(assign_events(items, gap, distance_km))) if "event" in fields else {}
    if name_tpl is not None:
        names = render_names(items, name_tpl, normalize_ext, folder_of=lambda it: "", events=events)
    else:
        names = []
        for it in items:
            stem, dot, _ext = it.path.name.rpartition(".")
            if dot and normalize_ext:
                e = Template("{ext}").render(Context(it.path.name, normalize_ext=True))
                names.append(f"{stem}.{e}")
            else:
                names.append(it.path.name)
    targets = []
    dest_s = str(dest)
    for i, it in enumerate(items):
        ctx = Context(it.path.name, it.date, it.meta, it.sha256, it.tag, events.get(i), i + 1, 0, normalize_ext)
        if (it.date is None or it.date.source == "none") and "date" in fields:
            folder = dest_s + "/undated"       # not "undated/undated/..."
        else:
            folder = "/".join([dest_s, *(fit_name(t.render(ctx), "") for t in folders)])
        targets.append((folder, names[i]))
    build_actions(plan, items, targets, op, normalize_ext)
    return plan
