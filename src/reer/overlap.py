"""Verbatim overlap between two texts, and repetition inside one, in words (characters for Chinese)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from difflib import SequenceMatcher

from reer.language import units


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


def _ngrams(items: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(items[i : i + n]) for i in range(len(items) - n + 1)}


def top_trigram_share(text: str) -> float:
    """Share of all trigrams taken by the three most frequent ones: high for degenerate, looping text."""
    words = units(text)
    trigrams = Counter(zip(words, words[1:], words[2:], strict=False))
    total = sum(trigrams.values())
    return sum(n for _, n in trigrams.most_common(3)) / total if total else 0.0
