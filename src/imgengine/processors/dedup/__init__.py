"""Duplicate photos: exact (sha256) and near (perceptual hashes verified on thumbnails, CLIP when present)
groups, keeper choice with reasons, and the actions on the other copies (``actions.py``).

Names are imported on first use (PEP 562), so ``from imgengine.processors.dedup.params import DedupParams``
costs no numpy at start-up."""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {"DedupParams": "params", "find_duplicates": "finder", "DuplicateGroup": "model", "FindResult": "model",
          "Member": "model", "PhotoEntry": "model", "load_entries": "service", "scan_duplicates": "service"}

__all__ = ["DedupParams", "DuplicateGroup", "FindResult", "Member", "PhotoEntry", "find_duplicates",
           "load_entries", "scan_duplicates"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
