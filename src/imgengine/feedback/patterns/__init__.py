"""Known fix patterns, in the order they are tried (the most specific first)."""

from __future__ import annotations

from ..grouping import ErrorGroup
from ..source import SourceContext
from .base import Fix, FixPattern
from .container_access import ContainerAccessPattern
from .cv2_imread import Cv2ImreadPattern
from .encoding import EncodingPattern
from .missing_module import MissingModulePattern
from .none_guard import NoneGuardPattern
from .optional_input import OptionalInputPattern
from .zero_division import ZeroDivisionPattern

PATTERNS: tuple[FixPattern, ...] = (
    EncodingPattern(), OptionalInputPattern(), Cv2ImreadPattern(), ZeroDivisionPattern(),
    MissingModulePattern(), NoneGuardPattern(), ContainerAccessPattern(),
)


def pattern_named(name: str) -> FixPattern:
    for p in PATTERNS:
        if p.name == name:
            return p
    raise KeyError(name)


def match(group: ErrorGroup, source: SourceContext | None) -> Fix | None:
    """The first pattern's fix for this group, or None (manual review)."""
    for pattern in PATTERNS:
        fix = pattern.matches(group, source)
        if fix is not None:
            return fix
    return None


__all__ = ["PATTERNS", "Fix", "FixPattern", "match", "pattern_named"]
