"""``imgengine rename``: rename photos in place from a template (companions follow)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from ..core.catalog import Catalog
from ..errors import UsageError
from ..settings import Settings
from .journal import sha256_of
from .plan import Item, Plan, build_actions, fill_people, gather
from .template import Context, Template


def sort_key(item: Item) -> tuple:
    d = item.date.value.replace(tzinfo=None) if item.date and item.date.source != "none" else datetime.max
    return (d, str(item.path))


def render_names(items: list[Item], template: Template, normalize_ext: bool,
                 folder_of: callable = lambda it: it.path.parent, events: dict[int, str] | None = None
                 ) -> list[str]:
    """New file names (in ``items`` order). ``{seq}`` numbers files whose names would otherwise clash."""
    if "sha" in template.fields:
        for it in items:
            if it.sha256 is None:   # not in the catalog: hash it now (only when the template asks)
                try:
                    it.sha256 = sha256_of(it.path)
                except OSError:
                    pass
    order = sorted(range(len(items)), key=lambda i: sort_key(items[i]))
    ctxs: dict[int, Context] = {}
    for counter, i in enumerate(order, start=1):
        it = items[i]
        ctxs[i] = Context(it.path.name, it.date, it.meta, it.sha256, it.tag,
                          (events or {}).get(i), counter, 0, normalize_ext)
    append_ext = "ext" not in template.fields
    if "seq" in template.fields:
        clash: dict[tuple[str, str], list[int]] = defaultdict(list)
        for i in order:
            clash[(str(folder_of(items[i])), template.render(ctxs[i], without_seq=True).casefold())].append(i)
        for members in clash.values():
            if len(members) > 1:
                for n, i in enumerate(members, start=1):
                    ctxs[i].seq = n
    out = []
    for i in range(len(items)):
        # never a hidden or empty name: "{seq}" alone renders "" for a unique photo
        name = template.render(ctxs[i]).strip().lstrip(".").strip() or "unnamed"
        if append_ext:
            ext = Context(items[i].path.name, normalize_ext=normalize_ext)
            e = Template("{ext}").render(ext)
            if e and e != "unknown":
                name = f"{name}.{e}"
        out.append(name)
    return out


def plan_rename(root: Path, template_text: str, settings: Settings, catalog: Catalog | None, *,
                normalize_ext: bool = False, shift: timedelta = timedelta(0), tz: tzinfo | None = None) -> Plan:
    template = Template(template_text)
    if "/" in "".join(p.literal for p in template.parts):
        raise UsageError("rename changes names only; to move photos into folders use `imgengine organize`")
    root = Path(root)
    items, left = gather(root, settings, catalog, want_results=bool(template.fields & {"tag", "city", "country"}),
                         shift=shift, tz=tz)
    if "person" in template.fields:
        fill_people(items, catalog)
    plan = Plan("rename", root, root, skipped=left, shift=shift or None)
    names = render_names(items, template, normalize_ext)
    build_actions(plan, items, [(it.path.parent, n) for it, n in zip(items, names, strict=True)], "move",
                  normalize_ext, read_only="skip")
    return plan
