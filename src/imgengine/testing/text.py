"""Scoring recognised text against the text that was rendered (the OCR tests and bench_plugins.py)."""

from __future__ import annotations


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions of single characters (rapidfuzz, the
    well-kept library for it; the test extra installs it)."""
    from rapidfuzz.distance import Levenshtein

    return int(Levenshtein.distance(a, b))


def char_accuracy(truth: str, found: str) -> float:
    """1 - edit distance / length of the truth (1.0 = read exactly; below 0 when far longer than the truth)."""
    return 1.0 - edit_distance(truth, found) / len(truth)
