"""ZeroDivisionError → the division guarded: ``(a / b if b else 0.0)``.

The neutral value is the one the operation's type implies: ``0.0`` for a true division or a float floor
division/modulo, ``0`` for an integer one. Only divisions on the failing line whose divisor is not a
literal are touched: ``x / 2``, ``folder / "name"`` (a path join) and ``"%d" % n`` (formatting) never are.
"""

from __future__ import annotations

import libcst as cst

from ..grouping import ErrorGroup
from ..source import Replace, SourceContext
from .base import Fix, FixPattern

_OPS = (cst.Divide, cst.FloorDivide, cst.Modulo)


def _string(node: cst.BaseExpression) -> bool:
    return isinstance(node, (cst.SimpleString, cst.FormattedString, cst.ConcatenatedString))


def _literal(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.UnaryOperation):
        node = node.expression
    return isinstance(node, (cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.FormattedString,
                             cst.ConcatenatedString))


class ZeroDivisionPattern(FixPattern):
    name = "guarded-division"
    exception_types = ("ZeroDivisionError",)
    description = "a / b → (a / b if b else <neutral>) on the failing line"
    prior = (4.0, 1.0)

    def matches(self, group: ErrorGroup, source: SourceContext | None) -> Fix | None:
        if group.exception_type not in self.exception_types or source is None or not group.source_line:
            return None
        msg = group.message
        if "modulo" in msg and "division" not in msg:
            wanted: tuple[type, ...] = (cst.Modulo,)
        elif "floor division" in msg or "integer division" in msg:
            wanted = (cst.FloorDivide, cst.Modulo)
        else:
            wanted = (cst.Divide,)
        ops = [b for b in source.nodes_on_line(group.source_line, cst.BinaryOperation)
               if isinstance(b.operator, wanted) and not _literal(b.right) and not _string(b.left)
               and source.line_of(b.right) <= group.source_line]
        if not ops:
            return None
        neutral = "0.0" if ("float" in msg or isinstance(ops[0].operator, cst.Divide)) else "0"
        divisors = ", ".join(source.code(b.right) for b in ops)
        return self._fix(group, source.line_of(ops[0]), f"guard the division by {divisors} (→ {neutral} when zero)",
                         certainty=0.9 if len(ops) == 1 else 0.75, targets=ops, data={"neutral": neutral})

    def apply(self, source: SourceContext, fix: Fix) -> cst.Module:
        replacements = {}
        for op in fix.targets:
            divisor = op.right
            test = divisor.with_changes(lpar=[], rpar=[]) if isinstance(divisor, cst.Name) else divisor
            replacements[op] = cst.IfExp(
                test=test, body=op.with_changes(lpar=[], rpar=[]), orelse=cst.parse_expression(fix.data["neutral"]),
                lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        return source.module.visit(Replace(replacements))
