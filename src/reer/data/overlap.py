"""Verbatim overlap between two texts, in words (characters for Chinese): copy and leakage checks."""

from __future__ import annotations

from difflib import SequenceMatcher

from reer.data.language import units


def longest_common_run(a: str, b: str) -> int:
    """Length of the longest run of units that appears, in order and unbroken, in both texts."""
    left, right = units(a), units(b)
    # autojunk off: frequent words must still count as matches, or long copies could hide behind "the".
    matcher = SequenceMatcher(None, left, right, autojunk=False)
    return matcher.find_longest_match(0, len(left), 0, len(right)).size


def ngram_overlap(source: str, copy: str, n: int) -> float:
    """Share of ``source``'s distinct n-grams that also appear in ``copy`` (0 when ``source`` has none)."""
    wanted = _ngrams(units(source), n)
    return len(wanted & _ngrams(units(copy), n)) / len(wanted) if wanted else 0.0


def _ngrams(items: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(items[i : i + n]) for i in range(len(items) - n + 1)}
