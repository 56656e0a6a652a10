"""FileNotFoundError on an optional input (a sidecar, a caption file) → an existence check.

The read becomes ``(<read> if os.path.exists(<path>) else <absent>)``, where *absent* is what a missing
optional file reads as (``""`` for text, ``b""`` for bytes, ``[]`` for lines, None otherwise); a
``with open(...)`` block is wrapped in ``if os.path.exists(...)`` with the names it assigns set to their
absent value otherwise. The photo itself is never wrapped: when the missing path is one of the photos that
failed, has an image extension, or the code opens ``...photo.path`` directly, it is a vanished photo,
not an optional input.
"""

from __future__ import annotations

import os
import re

import libcst as cst

from ...core.formats import CANDIDATE_EXTENSIONS
from ..grouping import ErrorGroup
from ..source import Replace, SourceContext, add_imports
from .base import Fix, FixPattern, arg, call_name, literal_string

_MISSING = re.compile(r"No such file or directory: '(?P<path>.*)'")
_TEXT = {"read", "read_text", "strip", "rstrip", "lstrip", "lower", "upper", "casefold", "decode"}
_LINES = {"readlines", "splitlines", "split"}
_BYTES = {"read_bytes"}


def _opened_path(source: SourceContext, call: cst.Call) -> cst.BaseExpression | None:
    """The path expression a reading call opens, or None when the call is not a read of a file."""
    name = call_name(source, call)
    method = name.rsplit(".", 1)[-1]
    if name in ("open", "io.open"):
        mode_arg = arg(call, 1, "mode")
        mode = "r" if mode_arg is None else literal_string(mode_arg.value)
        if mode is None or any(c in mode for c in "wax+"):
            return None
        first = arg(call, 0, "file")
        return first.value if first is not None else None
    if method in ("read_text", "read_bytes") and isinstance(call.func, cst.Attribute):
        return call.func.value
    return None


def _is_photo_expr(code: str) -> bool:
    return bool(re.search(r"(^|\.)photo\.path$|(^|\.)photo_path$", code.strip()))


def _absent_value(chain: cst.BaseExpression, binary: bool) -> str:
    """What the read expression yields for a missing file: by its outermost method."""
    if isinstance(chain, cst.Call) and isinstance(chain.func, cst.Attribute):
        method = chain.func.attr.value
        if method in _BYTES or (binary and method == "read"):
            return 'b""'
        if method in _TEXT:
            return '""'
        if method in _LINES:
            return "[]"
    return "None"


class OptionalInputPattern(FixPattern):
    name = "optional-input-exists"
    exception_types = ("FileNotFoundError",)
    description = "FileNotFoundError reading a sidecar/caption → an existence check returning the absent value"
    prior = (3.0, 1.0)

    def matches(self, group: ErrorGroup, source: SourceContext | None) -> Fix | None:
        if group.exception_type not in self.exception_types or source is None or not group.source_line:
            return None
        missing = [m["path"] for msg in group.raw_messages if (m := _MISSING.search(msg))]
        photos = {os.path.abspath(f) for f in group.files}
        for path in missing:
            if os.path.abspath(path) in photos or os.path.splitext(path)[1].lower() in CANDIDATE_EXTENSIONS:
                return None                       # the photo itself (or another photo): not optional
        for call in source.nodes_on_line(group.source_line, cst.Call):
            path_expr = _opened_path(source, call)
            if path_expr is None:
                continue
            code = source.code(path_expr)
            if _is_photo_expr(code):
                return None
            with_item = source.parents.get(call)
            if isinstance(with_item, cst.WithItem):
                stmt = source.enclosing(with_item, cst.With)
                return self._fix(group, source.line_of(call), f"read {code} only if it exists (a `with` block)",
                                 certainty=0.85, targets=[stmt], data={"path": code, "with": True,
                                                                       "binary": self._binary(call)})
            chain = self._chain(source, call)
            return self._fix(group, source.line_of(call), f"read {code} only if it exists, else "
                             f"{_absent_value(chain, self._binary(call))}", certainty=0.9, targets=[chain],
                             data={"path": code, "with": False, "binary": self._binary(call)})
        return None

    @staticmethod
    def _binary(call: cst.Call) -> bool:
        mode_arg = arg(call, 1, "mode")
        mode = literal_string(mode_arg.value) if mode_arg is not None else None
        return bool(mode and "b" in mode) or (isinstance(call.func, cst.Attribute)
                                              and call.func.attr.value == "read_bytes")

    @staticmethod
    def _chain(source: SourceContext, call: cst.Call) -> cst.BaseExpression:
        """``open(p).read().strip()``: the whole method chain that starts at the open."""
        node: cst.BaseExpression = call
        while True:
            parent = source.parents.get(node)
            if isinstance(parent, cst.Attribute) and parent.value is node:
                grand = source.parents.get(parent)
                if isinstance(grand, cst.Call) and grand.func is parent:
                    node = grand
                    continue
            return node

    def apply(self, source: SourceContext, fix: Fix) -> cst.Module:
        path = fix.data["path"]
        test = cst.parse_expression(f"os.path.exists({path})")
        target = fix.targets[0]
        if fix.data["with"]:
            stmt: cst.With = target
            absent = []
            for assign in source.walk(stmt.body, cst.Assign):
                for t in assign.targets:
                    if isinstance(t.target, cst.Name):
                        value = _absent_value(assign.value, fix.data["binary"])
                        absent.append(cst.parse_statement(f"{t.target.value} = {value}\n"))
            new = cst.If(test=test, body=cst.IndentedBlock(body=[stmt.with_changes(leading_lines=[])]),
                         orelse=cst.Else(body=cst.IndentedBlock(body=absent)) if absent else None,
                         leading_lines=stmt.leading_lines)
        else:
            absent_code = _absent_value(target, fix.data["binary"])
            new = cst.IfExp(test=test, body=target.with_changes(lpar=[], rpar=[]),
                            orelse=cst.parse_expression(absent_code),
                            lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        module = source.module.visit(Replace({target: new}))
        return add_imports(module, ("os", None))
