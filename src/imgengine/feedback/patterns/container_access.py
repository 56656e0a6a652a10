"""KeyError / IndexError from a dict or list access → ``.get()`` with a default, or a length guard.

``meta["GPSInfo"]`` with ``KeyError: 'GPSInfo'`` becomes ``meta.get("GPSInfo")`` (``.get(k, {})`` when it
is subscripted again); ``boxes[0]`` with ``IndexError: list index out of range`` becomes
``(boxes[0] if len(boxes) > 0 else None)``. Only a subscript whose literal key is the one in the message is
touched; assignment targets, ``+=`` and ``del`` (where a KeyError means something else), ``os.environ``
(a missing setting must stay loud) and variable keys are not.
"""

from __future__ import annotations

import ast

import libcst as cst

from ..grouping import ErrorGroup
from ..source import Replace, SourceContext
from .base import Fix, FixPattern
from .none_guard import _in_target


def _literal_index(sub: cst.Subscript) -> object:
    if len(sub.slice) != 1 or not isinstance(sub.slice[0].slice, cst.Index):
        return None
    value = sub.slice[0].slice.value
    try:
        return ast.literal_eval(cst.Module([]).code_for_node(value))
    except (ValueError, SyntaxError):
        return None


class ContainerAccessPattern(FixPattern):
    name = "safe-container-access"
    exception_types = ("KeyError", "IndexError")
    description = "d['k'] → d.get('k'); seq[i] → (seq[i] if len(seq) > i else None)"
    prior = (3.0, 1.0)

    def matches(self, group: ErrorGroup, source: SourceContext | None) -> Fix | None:
        if group.exception_type not in self.exception_types or source is None or not group.source_line:
            return None
        line = group.source_line
        subs = [s for s in source.nodes_on_line(line, cst.Subscript)
                if source.line_of(s) <= line and not _in_target(source, s)
                and not source.code(s.value).endswith("environ")]
        if group.exception_type == "KeyError":
            try:
                key = ast.literal_eval(group.message.strip())
            except (ValueError, SyntaxError):
                return None
            found = [s for s in subs if _literal_index(s) == key and type(_literal_index(s)) is type(key)]
            if not found:
                return None
            sub = found[0]
            again = isinstance(source.parents.get(sub), cst.Subscript) and source.parents[sub].value is sub
            return self._fix(group, line, f"{source.code(sub)} → .get() with a default", certainty=0.85,
                             targets=[sub], data={"mode": "get", "default": "{}" if again else None})
        if "index out of range" not in group.message:
            return None
        found = [s for s in subs if isinstance(_literal_index(s), int) and not isinstance(_literal_index(s), bool)]
        if not found:
            return None
        return self._fix(group, line, f"guard {source.code(found[0])} by the sequence's length",
                         certainty=0.85 if len(found) == 1 else 0.65, targets=found[:1],
                         data={"mode": "len", "index": _literal_index(found[0])})

    def apply(self, source: SourceContext, fix: Fix) -> cst.Module:
        sub: cst.Subscript = fix.targets[0]
        base = source.code(sub.value)
        if fix.data["mode"] == "get":
            key = source.code(sub.slice[0].slice.value)
            default = fix.data["default"]
            new = cst.parse_expression(f"{base}.get({key}{', ' + default if default else ''})")
            new = new.with_changes(lpar=sub.lpar, rpar=sub.rpar)
        else:
            i = fix.data["index"]
            test = f"len({base}) > {i}" if i >= 0 else f"len({base}) >= {-i}"
            new = cst.IfExp(test=cst.parse_expression(test), body=sub.with_changes(lpar=[], rpar=[]),
                            orelse=cst.Name("None"), lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        return source.module.visit(Replace({sub: new}))
