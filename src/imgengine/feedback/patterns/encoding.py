"""UnicodeDecodeError / UnicodeEncodeError at a text open → an explicit ``encoding="utf-8"``.

Reading gets ``errors="replace"`` too (a caption file in Latin-1 is user data: a replaced character beats
a lost result). Binary modes, modes that are not literals and calls that already name an encoding are
left alone, and so is every call other than ``open``/``io.open``/``.read_text``/``.write_text``/``.open``
of a ``Path`` (``Image.open`` is not a text open).
"""

from __future__ import annotations

import libcst as cst

from ..grouping import ErrorGroup
from ..source import Replace, SourceContext
from .base import Fix, FixPattern, arg, call_name, literal_string

_OPENS = {"open", "io.open"}
_PATH_METHODS = {"read_text": True, "write_text": False}   # method -> reads
_READ_METHODS = {"read", "readline", "readlines", "write", "writelines"}
_NOT_TEXT_OPEN = {"Image", "PIL", "gzip", "bz2", "lzma", "zipfile", "tarfile", "webbrowser", "os", "cv2",
                  "tifffile", "rawpy", "imageio", "h5py", "np", "numpy", "wave", "shelve", "dbm"}


def _text_call(source: SourceContext, call: cst.Call) -> bool | None:
    """For an open-like call without an encoding: True if it reads, False if it writes, None if it is
    not a text open we may touch."""
    name = call_name(source, call)
    if any(a.keyword is not None and a.keyword.value == "encoding" for a in call.args):
        return None
    method = name.rsplit(".", 1)[-1]
    if method in _PATH_METHODS and isinstance(call.func, cst.Attribute):
        if method == "write_text" and len([a for a in call.args if a.keyword is None]) > 1:
            return None  # encoding given positionally
        return _PATH_METHODS[method]
    if name in _OPENS or (method == "open" and isinstance(call.func, cst.Attribute)
                          and name.split(".")[0] not in _NOT_TEXT_OPEN and not name.startswith(".")):
        position = 1 if name in _OPENS else 0      # Path.open(mode) vs open(file, mode)
        mode_arg = arg(call, position, "mode")
        if mode_arg is None:
            mode = "r"
        else:
            mode = literal_string(mode_arg.value)
            if mode is None:
                return None                          # a mode we cannot read: leave it
        if "b" in mode:
            return None
        positional = [a for a in call.args if a.keyword is None]
        if len(positional) > position + 3:           # buffering, encoding given positionally
            return None
        return not any(c in mode for c in "wax+")
    return None


class EncodingPattern(FixPattern):
    name = "explicit-encoding"
    exception_types = ("UnicodeDecodeError", "UnicodeEncodeError")
    description = ("open()/read_text()/write_text() without an encoding → encoding='utf-8' "
                   "(errors='replace' when reading)")
    prior = (4.0, 1.0)

    def matches(self, group: ErrorGroup, source: SourceContext | None) -> Fix | None:
        if group.exception_type not in self.exception_types or source is None or not group.source_line:
            return None
        line = group.source_line
        calls = [c for c in source.nodes_on_line(line, cst.Call) if _text_call(source, c) is not None]
        if not calls:
            calls = self._opener_of_stream(source, line)
        if not calls:
            return None
        call = calls[0]
        reads = bool(_text_call(source, call))
        decoding = group.exception_type == "UnicodeDecodeError"
        if decoding != reads:
            return None  # a decode error at a write (or the reverse) is not this bug
        summary = f"give {source.code(call.func)}() an explicit encoding='utf-8'" + \
            (", errors='replace'" if reads else "")
        return self._fix(group, source.line_of(call), summary, certainty=0.95, targets=[call],
                         data={"reads": reads})

    def _opener_of_stream(self, source: SourceContext, line: int) -> list[cst.Call]:
        """``fh.read()`` failed: find the ``with open(...) as fh`` / ``fh = open(...)`` that made ``fh``."""
        names = set()
        for c in source.nodes_on_line(line, cst.Call):
            if isinstance(c.func, cst.Attribute) and c.func.attr.value in _READ_METHODS \
                    and isinstance(c.func.value, cst.Name):
                names.add(c.func.value.value)
        for f in source.nodes_on_line(line, cst.For):
            if isinstance(f.iter, cst.Name):
                names.add(f.iter.value)
        if not names:
            return []
        scope = None
        for node in source.nodes_on_line(line, cst.CSTNode):
            scope = source.enclosing(node, cst.FunctionDef)
            if scope is not None:
                break
        root = scope or source.module
        found = []
        for item in source.walk(root, cst.WithItem):
            if item.asname is not None and isinstance(item.asname.name, cst.Name) \
                    and item.asname.name.value in names and isinstance(item.item, cst.Call):
                found.append(item.item)
        for assign in source.walk(root, cst.Assign):
            if any(isinstance(t.target, cst.Name) and t.target.value in names for t in assign.targets) \
                    and isinstance(assign.value, cst.Call):
                found.append(assign.value)
        found = [c for c in found if _text_call(source, c) is not None and source.line_of(c) <= line]
        found.sort(key=source.line_of, reverse=True)   # the nearest opener above the failing line
        return found[:1]

    def apply(self, source: SourceContext, fix: Fix) -> cst.Module:
        call: cst.Call = fix.targets[0]
        new_args = [cst.Arg(keyword=cst.Name("encoding"), value=cst.SimpleString('"utf-8"'),
                            equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")))]
        if fix.data.get("reads"):
            new_args.append(cst.Arg(keyword=cst.Name("errors"), value=cst.SimpleString('"replace"'),
                                    equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace(""))))
        args = list(call.args)
        if args and args[-1].comma is not cst.MaybeSentinel.DEFAULT:
            # a trailing comma (multi-line call): keep the layout, add ours after it
            last = args[-1]
            new_args = [a.with_changes(comma=last.comma) for a in new_args]
        new = call.with_changes(args=[*args, *new_args])
        return source.module.visit(Replace({call: new}))
