"""Scoring recognised text against the text that was rendered (the OCR tests and bench_plugins.py)."""

from __future__ import annotations


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions of single characters."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def char_accuracy(truth: str, found: str) -> float:
    """1 - edit distance / length of the truth (1.0 = read exactly; below 0 when far longer than the truth)."""
    return 1.0 - edit_distance(truth, found) / len(truth)
