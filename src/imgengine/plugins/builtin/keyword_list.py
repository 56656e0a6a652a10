"""``imgengine export keywords --lightroom FILE``: the catalog's keywords as a Lightroom keyword list.

Lightroom Classic imports (Metadata > Import Keywords) a UTF-8 text file with one keyword per line, each child
indented by one tab more than its parent. A name in brackets (``[People]``) is a category: Lightroom keeps it
in the tree but leaves it out of exported photos, which matches the sidecars ``export sidecars`` writes (the
full path goes to ``lr:hierarchicalSubject``, only the leaf to ``dc:subject``).

The keywords: the photos' own keywords, and the analysis as the same hierarchy ``tag --from-analysis`` and
``export sidecars`` write (``Scenes|beach``, ``Objects|dog``, ``Quality|good``, ``People|Anna``,
``Places|France|Île-de-France|Paris``). A flat keyword that is also the leaf of a hierarchy is listed once,
under its parent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...processors.sidecars import edit_from_record


def catalog_keywords(records: Iterable[dict[str, Any]]) -> set[str]:
    """Every keyword (``|`` for hierarchy) of the catalog's photos, as their sidecars would carry them."""
    out: set[str] = set()
    for rec in records:
        out.update(edit_from_record(rec).add_keywords)
    return out


def _clean(part: str) -> str:
    return " ".join(part.replace("[", "(").replace("]", ")").replace("{", "(").replace("}", ")").split())


def lightroom_keyword_list(keywords: Iterable[str]) -> str:
    """The tab-indented text Lightroom imports; parents of a hierarchy are written as [categories]."""
    tree: dict[str, dict] = {}
    flat: set[str] = set()
    leaves: set[str] = set()
    for kw in keywords:
        parts = [_clean(p) for p in str(kw).split("|")]
        parts = [p for p in parts if p]
        if not parts:
            continue
        if len(parts) == 1:
            flat.add(parts[0])
            continue
        node = tree
        for p in parts:
            node = node.setdefault(p, {})
        leaves.add(parts[-1].casefold())
    for kw in flat:
        if kw.casefold() not in leaves and kw not in tree:
            tree.setdefault(kw, {})
    lines: list[str] = []

    def walk(node: dict[str, dict], depth: int) -> None:
        for name in sorted(node, key=lambda n: (n.casefold(), n)):
            children = node[name]
            category = children and not (depth == 0 and name in flat)
            lines.append("\t" * depth + (f"[{name}]" if category else name))
            walk(children, depth + 1)

    walk(tree, 0)
    return "".join(line + "\n" for line in lines)
