"""What a fix pattern is: ``matches(group, source) -> Fix | None`` and ``apply(source, fix) -> Module``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import libcst as cst

from ..grouping import ErrorGroup
from ..source import SourceContext


@dataclass
class Fix:
    pattern: str
    fingerprint: str
    file: Path
    line: int
    summary: str                     # one line: what the change does
    certainty: float = 1.0           # how well the error matched the pattern (0..1]
    kind: str = "source"             # source (a libcst rewrite) | requirements | config
    targets: list[Any] = field(default_factory=list)   # nodes of the SourceContext the rewrite touches
    data: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)     # printed with the diff (e.g. an install command)
    confidence: float = 0.0          # certainty x the pattern's learned success rate (set by learning)

    def to_dict(self) -> dict[str, Any]:
        return {"pattern": self.pattern, "fingerprint": self.fingerprint, "file": str(self.file),
                "line": self.line, "summary": self.summary, "kind": self.kind,
                "certainty": round(self.certainty, 3), "confidence": round(self.confidence, 3),
                "notes": self.notes}


class FixPattern:
    """A known bug shape. ``prior`` is the Beta(successes, failures) prior its confidence starts from."""

    name: ClassVar[str] = ""
    exception_types: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""
    prior: ClassVar[tuple[float, float]] = (4.0, 1.0)
    kind: ClassVar[str] = "source"

    def matches(self, group: ErrorGroup, source: SourceContext | None) -> Fix | None:  # pragma: no cover
        raise NotImplementedError

    def apply(self, source: SourceContext, fix: Fix) -> cst.Module:  # pragma: no cover
        raise NotImplementedError

    def rewrite(self, source: SourceContext, fix: Fix) -> str:
        """The new source text (only for source patterns)."""
        return self.apply(source, fix).code

    def _fix(self, group: ErrorGroup, line: int, summary: str, **kw: Any) -> Fix:
        return Fix(self.name, group.fingerprint, Path(group.source_file or ""), line, summary, **kw)


def call_name(source: SourceContext, call: cst.Call) -> str:
    """Dotted name of what a call calls: ``open``, ``cv2.imread``, ``p.read_text``, ``a.b().c`` → ``c``."""
    func = call.func
    if isinstance(func, cst.Name):
        return func.value
    if isinstance(func, cst.Attribute):
        parts = [func.attr.value]
        v = func.value
        while isinstance(v, cst.Attribute):
            parts.append(v.attr.value)
            v = v.value
        if isinstance(v, cst.Name):
            parts.append(v.value)
            return ".".join(reversed(parts))
        return "." + ".".join(reversed(parts))
    return ""


def literal_string(node: cst.BaseExpression | None) -> str | None:
    if isinstance(node, cst.SimpleString):
        return node.evaluated_value if isinstance(node.evaluated_value, str) else None
    return None


def arg(call: cst.Call, position: int, keyword: str) -> cst.Arg | None:
    """The argument given by keyword, or at ``position`` among the positional ones."""
    positional = [a for a in call.args if a.keyword is None and not a.star]
    for a in call.args:
        if a.keyword is not None and a.keyword.value == keyword:
            return a
    return positional[position] if position < len(positional) else None
