"""AttributeError / TypeError on None → a None guard at that access.

``exif.get("DateTimeOriginal").split(" ")`` fails when the tag is absent; it becomes
``(exif.get("DateTimeOriginal").split(" ") if exif.get("DateTimeOriginal") is not None else None)``: the
whole access chain yields None when its base is None. Only the access named by the message on the failing
line is touched; an attribute error on any other type (``'str' object has no attribute``), an assignment
target (``obj.x = 1``) and ``self``/``cls`` are not this bug.
"""

from __future__ import annotations

import re

import libcst as cst

from ..grouping import ErrorGroup
from ..source import Replace, SourceContext
from .base import Fix, FixPattern

_ATTR = re.compile(r"'NoneType' object has no attribute '(?P<attr>\w+)'")
_SUBSCRIPT = "'NoneType' object is not subscriptable"


def _in_target(source: SourceContext, node: cst.CSTNode) -> bool:
    child = node
    for a in source.ancestors(node):
        if isinstance(a, cst.AssignTarget) or (isinstance(a, (cst.AugAssign, cst.AnnAssign)) and a.target is child):
            return True
        if isinstance(a, cst.Del):
            return True
        if isinstance(a, cst.BaseSmallStatement) or isinstance(a, cst.BaseCompoundStatement):
            return False
        child = a
    return False


def access_chain(source: SourceContext, node: cst.BaseExpression) -> cst.BaseExpression:
    """The maximal ``x.a(...).b[...]`` chain that ``node`` is the start of."""
    while True:
        parent = source.parents.get(node)
        if isinstance(parent, cst.Attribute) and parent.value is node:
            node = parent
        elif isinstance(parent, cst.Call) and parent.func is node:
            node = parent
        elif isinstance(parent, cst.Subscript) and parent.value is node:
            node = parent
        else:
            return node


class NoneGuardPattern(FixPattern):
    name = "none-guard"
    exception_types = ("AttributeError", "TypeError")
    description = "x.attr / x[k] on None → (… if x is not None else None) at that access"
    prior = (3.0, 1.0)

    def matches(self, group: ErrorGroup, source: SourceContext | None) -> Fix | None:
        if group.exception_type not in self.exception_types or source is None or not group.source_line:
            return None
        line = group.source_line
        m = _ATTR.search(group.message)
        if group.exception_type == "AttributeError" and m:
            found = [a for a in source.nodes_on_line(line, cst.Attribute)
                     if a.attr.value == m["attr"] and source.line_of(a.attr) == line]
        elif group.exception_type == "TypeError" and _SUBSCRIPT in group.message:
            found = [s for s in source.nodes_on_line(line, cst.Subscript) if source.line_of(s) <= line]
        else:
            return None
        found = [n for n in found if not _in_target(source, n)
                 and not (isinstance(n.value, cst.Name) and n.value.value in ("self", "cls"))]
        if not found:
            return None
        # innermost access first; several candidates = less sure which one was None
        node = found[0]
        base = node.value
        chain = access_chain(source, node)
        return self._fix(group, line, f"guard {source.code(base)} against None before "
                         f"{'.' + m['attr'] if m else '[…]'}", certainty=0.9 if len(found) == 1 else 0.7,
                         targets=[chain], data={"base": source.code(base)})

    def apply(self, source: SourceContext, fix: Fix) -> cst.Module:
        chain = fix.targets[0]
        test = cst.parse_expression(f"{fix.data['base']} is not None")
        new = cst.IfExp(test=test, body=chain.with_changes(lpar=[], rpar=[]), orelse=cst.Name("None"),
                        lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        return source.module.visit(Replace({chain: new}))
