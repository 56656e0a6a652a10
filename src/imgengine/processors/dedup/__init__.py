"""Duplicate photos: exact (sha256) and near (perceptual hashes verified on thumbnails, CLIP when present)
groups, keeper choice with reasons, and the actions on the other copies (``actions.py``)."""

from __future__ import annotations

from .finder import DedupParams, find_duplicates
from .model import DuplicateGroup, FindResult, Member, PhotoEntry
from .service import load_entries, scan_duplicates

__all__ = ["DedupParams", "DuplicateGroup", "FindResult", "Member", "PhotoEntry", "find_duplicates",
           "load_entries", "scan_duplicates"]
