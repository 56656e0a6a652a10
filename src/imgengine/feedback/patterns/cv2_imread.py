"""``cv2.imread`` returning None for a path it cannot open → ``cv2.imdecode(np.fromfile(path, np.uint8), flags)``.

OpenCV's imread takes a narrow-character path: on Windows a non-ASCII name (an accent, an emoji) fails and
it returns None without an error, so the bug shows up later as ``'NoneType' object has no attribute
'shape'`` or a cv2 assertion on an empty image. ``np.fromfile`` opens the file through Python, which
handles every name, and imdecode decodes the same bytes with the same flags. The match is strong only when
a failing photo's path is non-ASCII; an imread of a missing file is not this bug.
"""

from __future__ import annotations

import libcst as cst

from ..grouping import ErrorGroup
from ..source import Replace, SourceContext, add_imports
from .base import Fix, FixPattern, call_name


def _is_none_symptom(group: ErrorGroup) -> bool:
    msg = group.message
    if group.exception_type in ("AttributeError", "TypeError") and "NoneType" in msg:
        return True
    return group.exception_type == "error" and ("empty" in msg or "_src" in msg or "!ssize" in msg)


class Cv2ImreadPattern(FixPattern):
    name = "cv2-imread-imdecode"
    exception_types = ("AttributeError", "TypeError", "error")
    description = "cv2.imread → cv2.imdecode(np.fromfile(path, np.uint8), flags) (non-ASCII paths)"
    prior = (4.0, 1.0)

    def matches(self, group: ErrorGroup, source: SourceContext | None) -> Fix | None:
        if source is None or not group.source_line or not _is_none_symptom(group):
            return None
        cv2 = source.imported_as("cv2")
        if cv2 is None:
            return None
        line = group.source_line
        on_line = [c for c in source.nodes_on_line(line, cst.Call) if call_name(source, c) == f"{cv2}.imread"]
        targets = list(on_line)
        if not targets:
            used = {n.value for n in source.nodes_on_line(line, cst.Name)}
            scope = next((source.enclosing(n, cst.FunctionDef) for n in source.nodes_on_line(line, cst.Name)),
                         None)
            if scope is None:
                return None
            for assign in source.walk(scope, cst.Assign):
                if isinstance(assign.value, cst.Call) and call_name(source, assign.value) == f"{cv2}.imread" \
                        and source.line_of(assign) < line \
                        and any(isinstance(t.target, cst.Name) and t.target.value in used for t in assign.targets):
                    targets = [assign.value]
        if not targets:
            return None
        non_ascii = any(not f.isascii() for f in group.files)
        return self._fix(group, source.line_of(targets[0]),
                         "read the file with np.fromfile and decode it with cv2.imdecode (non-ASCII paths)",
                         certainty=0.95 if non_ascii else 0.5, targets=targets[:1],
                         data={"cv2": cv2, "np": source.imported_as("numpy")})

    def apply(self, source: SourceContext, fix: Fix) -> cst.Module:
        call: cst.Call = fix.targets[0]
        cv2, np = fix.data["cv2"], fix.data["np"] or "np"
        path = source.code(call.args[0].value)
        flags = source.code(call.args[1].value) if len(call.args) > 1 else f"{cv2}.IMREAD_COLOR"
        new = cst.parse_expression(f"{cv2}.imdecode({np}.fromfile({path}, {np}.uint8), {flags})")
        module = source.module.visit(Replace({call: new}))
        return module if fix.data["np"] else add_imports(module, ("numpy", "np"))
