"""A processor: photos into folders by the colour cast this plugin's ``colour_temperature`` analyzer found.

It only plans: ``imgengine process sort-by-cast DIR`` shows the moves, ``--apply`` makes them through
imgengine's journal (never overwriting; the catalog follows), and ``imgengine undo`` puts them back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imgengine.processors.journal import Step


class SortByCast:
    name = "sort-by-cast"
    description = "photos with a warm or cool colour cast into warm/ and cool/ beside them"

    def plan(self, records: list[dict[str, Any]], settings: Any) -> list[Step]:
        casts = set(settings.plugins[self.name]["casts"])
        steps = []
        for rec in records:
            cast = (rec["results"].get("colour_temperature") or {}).get("cast")
            src = Path(rec["path"])
            if cast in casts and src.parent.name != cast:
                steps.append(Step("move", src, src.parent / cast / src.name, meta={"note": f"{cast} cast"}))
        return steps
