"""Repetition inside one text, measured as Gopher/MassiveText does (Rae et al. 2021, Table A1).

The published REER rule (three most frequent trigrams > 30 % of all trigrams) misses loops of long
sentences: a 20-word sentence written seven times keeps its top trigrams near 5 %. Gopher's measures catch
them, because they count the *characters* covered by repeated lines, paragraphs and n-grams.

The arithmetic is datatrove's (``pipeline/filters/gopher_repetition_filter.py``, the implementation FineWeb
and others filter with), checked against its functions in the tests: every fraction is over all characters of
the text, a top n-gram's length is its words joined by spaces, and duplicated n-grams are counted greedily
left to right (a duplicate skips its n words). Two things are ours:

* units: whitespace-separated words, except in unspaced scripts (Chinese, Japanese, Thai), where every
  character is a unit — a Chinese loop has no spaces, so word n-grams would never repeat;
* every value is capped at 1: overlapping occurrences of a top n-gram ("a a a a") can cover more than the
  text in datatrove's count, and a fraction above 1 reads as a bug in a distribution.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import numpy as np

from reer.config import gopher_limits

MEASURES = tuple(gopher_limits())

LABELS: dict[str, str] = {
    "dup_line_frac": "duplicate lines",
    "dup_para_frac": "duplicate paragraphs",
    "dup_line_char_frac": "characters in duplicate lines",
    "dup_para_char_frac": "characters in duplicate paragraphs",
    **{f"top_{n}gram_char_frac": f"characters in the top {n}-gram" for n in range(2, 5)},
    **{f"dup_{n}gram_char_frac": f"characters in duplicate {n}-grams" for n in range(5, 11)},
}

_PARAGRAPH = re.compile(r"\n{2,}")
_LINE = re.compile(r"\n+")
# Scripts written without spaces between words: each character is a unit.
_UNSPACED = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0e7f"
_UNIT = re.compile(rf"[{_UNSPACED}]|[^\s{_UNSPACED}]+")
_UNSPACED_CHAR = re.compile(f"[{_UNSPACED}]")
_UNIT_AND_GAP = re.compile(rf"({_UNIT.pattern})(\s?)")
_BASE = np.uint64(0x9E3779B97F4A7C15)


@lru_cache(maxsize=16)
def repetition_measures(text: str) -> dict[str, float]:
    """Every measure of :func:`reer.config.gopher_limits` for ``text``, each in [0, 1] (all 0 for an empty text).

    Cached for the last few texts: the filter's check and the quality summary measure the same thinking.
    The dict is shared: read it, do not change it."""
    if not text.strip():
        return dict.fromkeys(MEASURES, 0.0)
    size = len(text)
    measures: dict[str, float] = {}
    for name, pieces in (("para", _PARAGRAPH.split(text.strip())), ("line", _LINE.split(text))):
        count, chars = _duplicates(pieces)
        measures[f"dup_{name}_frac"] = count / len(pieces)
        measures[f"dup_{name}_char_frac"] = chars / size
    units, lengths, gaps = _units(text)
    for n in range(2, 5):
        measures[f"top_{n}gram_char_frac"] = _top_ngram_chars(units, lengths, gaps, n) / size
    chars = 1
    for n in range(5, 11):
        # Every duplicate n-gram contains a duplicate (n-1)-gram: once none is left, none is for larger n.
        chars = _duplicate_ngram_chars(units, lengths, n) if chars else 0
        measures[f"dup_{n}gram_char_frac"] = chars / size
    return {name: min(1.0, measures[name]) for name in MEASURES}


def distinct_share(text: str, n: int) -> float:
    """Distinct-n (Li et al. 2016): distinct n-grams over all n-grams of the text's units; 0 when it has none.
    A looping text repeats its n-grams and scores low."""
    units, _, _ = _units(text)
    if len(units) < n:
        return 0.0
    keys = _ngram_keys(units, n)
    return len(np.unique(keys)) / len(keys)


def exceeded(measures: dict[str, float], limits: dict[str, float]) -> dict[str, tuple[float, float]]:
    """The measures above their limits: name → (value, limit)."""
    return {name: (measures[name], limit) for name, limit in limits.items() if measures[name] > limit}


def describe(failed: dict[str, tuple[float, float]]) -> str:
    """ "characters in duplicate 10-grams 0.72 > 0.10; …": the detail of a drop."""
    return "; ".join(f"{LABELS[name]} {value:.2f} > {limit:.2f}" for name, (value, limit) in failed.items())


def _duplicates(pieces: Iterable[str]) -> tuple[int, int]:
    """(pieces seen before, their characters): the first occurrence of each piece is not a duplicate."""
    seen: set[str] = set()
    count = chars = 0
    for piece in pieces:
        if piece in seen:
            count += 1
            chars += len(piece)
        else:
            seen.add(piece)
    return count, chars


@lru_cache(maxsize=8)
def _units(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each unit as a 64-bit id (its string hash: equal units, equal ids, within one process), its length,
    and whether whitespace follows it (a top n-gram's length counts one space per gap, as datatrove's join
    does). Built with C-level calls only: this runs on every trace of a 20,000-item run, and is cached, since
    the measures and distinct-n read the same units. The arrays are shared: read them, do not change them."""
    words: list[str]
    if _UNSPACED_CHAR.search(text):
        found = _UNIT_AND_GAP.findall(text)
        words = [word for word, _ in found]
        spaces = [bool(gap) for _, gap in found]
    else:  # spaced text only: str.split finds the same words, ten times faster than the pattern
        words = text.split()
        spaces = [True] * len(words)
        if words and not text[-1].isspace():
            spaces[-1] = False
    units = np.array(list(map(hash, words)), dtype=np.int64).view(np.uint64)
    return units, np.array(list(map(len, words)), dtype=np.int64), np.array(spaces, dtype=np.int64)


def _ngram_keys(units: np.ndarray, n: int) -> np.ndarray:
    """One 64-bit polynomial hash per n-gram (wrapping arithmetic); a collision needs two of a text's few
    thousand n-grams to meet in 2^64 values."""
    keys = units[: len(units) - n + 1].copy()
    for k in range(1, n):
        keys = keys * _BASE + units[k : len(units) - n + 1 + k]
    return keys


def _top_ngram_chars(units: np.ndarray, lengths: np.ndarray, gaps: np.ndarray, n: int) -> int:
    """Characters of the most frequent n-gram times its count; of equally frequent ones the first in the text
    wins, as in datatrove's ``Counter.most_common``."""
    if len(units) < n:
        return 0
    _, first, counts = np.unique(_ngram_keys(units, n), return_index=True, return_counts=True)
    top = counts.max()
    at = int(first[counts == top].min())
    return int(lengths[at : at + n].sum() + gaps[at : at + n - 1].sum()) * int(top)


def _duplicate_ngram_chars(units: np.ndarray, lengths: np.ndarray, n: int) -> int:
    """Characters of n-grams seen before, scanning left to right; after a duplicate the scan jumps past it,
    so no character is counted twice (datatrove's ``find_all_duplicate``).

    Only n-grams that occur more than once can change the scan's state, so it visits just those positions:
    exact, and fast for sound text, where few n-grams recur.
    """
    if len(units) < n:
        return 0
    keys = _ngram_keys(units, n)
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    repeated = np.flatnonzero(counts[inverse] > 1)
    if not len(repeated):
        return 0
    ends = np.concatenate(([0], np.cumsum(lengths)))
    seen: set[int] = set()
    chars, next_free = 0, 0
    for at, key in zip(repeated.tolist(), inverse[repeated].tolist(), strict=True):
        if at < next_free:
            continue  # inside a duplicate already counted
        if key in seen:
            chars += int(ends[at + n] - ends[at])
            next_free = at + n
        else:
            seen.add(key)
    return chars
