"""Tokenizing long prompts from cached pieces, with exactly the ids and offsets of the whole string.

Every prompt of one item repeats most of the others: the instructions, the request, the reference and each
unchanged thinking segment recur in every generation and scoring prompt of its search (about 50 per
published-size item), and tokenizing them again was the driver's largest cost at scale (the byte-level
pre-tokenizer: about 1.7 µs per token). So a text is cut into pieces at line starts (after its newlines,
before the next visible character), each distinct piece is tokenized once, and the prompt's ids are spliced.
A short line (a tag, a heading: no word boundary far enough from its end) stays with the piece before it, so
that the long lines are pieces of their own, found again in other prompts; and a piece never seen whose
lines were (a generated segment, counted when it was generated, then in a prompt with a blank line after it
and a tag before it) is spliced from them.

A join is where tokenization can differ from the whole string's: ``".\\n\\n"`` alone ends with one
two-newline token, but before a letter the pre-tokenizer splits those newlines differently. So each join is
re-tokenized in a window from a word boundary at least two tokens and eight characters before it to one as
far after it. A word boundary is a token starting with a single space between two visible characters: every
tokenizer family starts a pre-token (or, without one, a piece) there whatever surrounds it, and BPE is local
to its final token boundaries (the merges on either side of a boundary are the merges of that side alone),
so the window's tokens are the whole string's. They are also checked: its first two and last two tokens must
be the pieces' own, at the same places. A join with no word boundary near it is tried once more with a wider
window; if that fails too, the whole string is tokenized and the fall-back is counted
(:attr:`PieceTokenizer.fallbacks`). Text without spaces (Chinese) is not cut at all. A join between the same
two pieces, decided inside the left one, is remembered: most joins of a prompt are lookups.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

_LINE = re.compile(r"\n(?=\S)")  # a line ends after its newlines, before a visible character (the last
# newline of a run, not the run: the same cuts, found ten times faster)
_WORD = re.compile(r"\S \S")  # a word boundary: a single space between visible characters (:func:`_sure`)
_REACH = 16  # characters at least from a piece's last word boundary to its end: its joins' windows start in it
_MARGINS = ((2, 8), (6, 32))  # (tokens, characters) each side of a join: the window, then the wider one
_AGREE = 2  # tokens at each end of a window that must be the pieces' own
# Joins remembered: about a hundred per item in flight are reused; each holds its two pieces' texts (the bound
# on their memory, about 50 MB, whatever the run's length).
_JOINS = 50_000


@dataclass(frozen=True)
class Piece:
    """One text's tokens: ids, and (start, end) character offsets relative to the text, one row per token."""

    ids: tuple[int, ...]
    offsets: np.ndarray
    text: str


@dataclass(frozen=True)
class _Placed:
    """The last piece spliced: where it starts in the text, and the first of its own tokens (those before were
    replaced by the window of its join)."""

    piece: Piece
    at: int
    own: int


@dataclass(frozen=True)
class _Join:
    """A join's outcome, which two pieces decide alone when its window starts inside the left one: the window
    replaces the left piece's tokens from ``left`` (it starts ``start`` characters into that piece) and the
    right piece's first ``right`` tokens."""

    left: int
    window: Piece
    start: int
    right: int


class PieceTokenizer:
    """A fast tokenizer's encoder that reuses the tokens of paragraphs it has seen (see the module's text).

    ``budget`` bounds the cache in tokens: the oldest pieces go first."""

    def __init__(self, backend: Any, budget: int = 2_000_000) -> None:
        self.backend = backend
        self.budget = budget
        self._cache: dict[str, Piece] = {}
        self._held = 0
        self._joins: dict[tuple[str, str], _Join] = {}
        self._lock = threading.Lock()
        self.spliced = 0  # texts built from two pieces or more
        self.fallbacks = 0  # texts whose joins did not agree, tokenized whole
        self.derived = 0  # pieces spliced from the same line with fewer newlines

    def encode(self, text: str) -> tuple[list[int], np.ndarray]:
        """The ids and offsets (an ``(n, 2)`` array) of ``text`` tokenized whole, without special tokens."""
        spliced = self._spliced(text)
        if spliced is None:
            whole = self._tokenize(text)
            return list(whole.ids), whole.offsets
        return spliced.ids, spliced.offsets()

    def ids(self, text: str) -> list[int]:
        """:meth:`encode`'s ids alone, without assembling their offsets."""
        spliced = self._spliced(text)
        return spliced.ids if spliced is not None else list(self._tokenize(text).ids)

    def count(self, text: str) -> int:
        return len(self.ids(text))

    def _spliced(self, text: str) -> _Spliced | None:
        bounds = _bounds(text)
        spliced = self._splice(text, bounds)
        with self._lock:
            if spliced is None:
                self.fallbacks += 1
            elif len(bounds) > 2:
                self.spliced += 1
        return spliced

    def _splice(self, text: str, bounds: list[int], derive: bool = True) -> _Spliced | None:
        """``text``'s tokens from those of its pieces (``text[bounds[k]:bounds[k + 1]]``), or ``None`` where a join
        did not agree. A join seen before between the same two pieces is a lookup: most joins of a prompt are."""
        previous = self._piece(text[: bounds[1]], derive)
        spliced, previous_at, own = _Spliced(previous), 0, 0
        joins = self._joins
        for start, end in zip(bounds[1:], bounds[2:], strict=False):
            piece = self._piece(text[start:end], derive)
            known = joins.get((previous.text, piece.text))
            if known is not None and known.left >= own:  # decided before, within the previous piece
                spliced.truncate(len(spliced.ids) - len(previous.ids) + known.left)
                spliced.add(known.window, 0, previous_at + known.start)
                spliced.add(piece, known.right, start)
                own = known.right
            else:
                replaced = self._join(text, spliced, _Placed(previous, previous_at, own), piece, start)
                if replaced is None:
                    return None
                own = replaced
            previous, previous_at = piece, start
        return spliced

    def _join(self, text: str, spliced: _Spliced, last: _Placed, piece: Piece, at: int) -> int | None:
        """Append ``piece`` (at ``at`` in ``text``) to the spliced tokens, which end with ``last``, re-tokenizing
        across the join: how many of the piece's first tokens the window replaced, or ``None`` (no agreement)."""
        own_start = len(spliced.ids) - (len(last.piece.ids) - last.own)  # where the last piece's own tokens begin
        tail = spliced.tail(64)
        everything = len(tail) == len(spliced.ids)
        for tokens, chars in _MARGINS:
            left = _left_edge(text, tail, at, tokens, chars, everything)
            if left is None:
                continue
            right = _right_edge(piece, tokens, chars)
            # From the text's start or a token's, to the next kept token's start or the piece's end: a character
            # no token's offsets cover (a combining accent after NFC) stays inside the window.
            start = int(tail[left, 0]) if left or not everything else 0
            end = at + (int(piece.offsets[right, 0]) if right < len(piece.ids) else len(piece.text))
            window = self._piece(text[start:end], derive=False)
            kept = len(spliced.ids) - len(tail) + left  # spliced tokens before the window
            # Where nothing is kept on a side (the window starts the text, or takes the whole piece), that side
            # has nothing to agree with, and nothing to get wrong.
            before = min(_AGREE, len(tail) - left) if kept else 0
            after = min(_AGREE, right) if right < len(piece.ids) else 0
            if _agree(window, 0, start, spliced.ids[kept : kept + before], tail[left : left + before]) and _agree(
                window, len(window.ids) - after, start, piece.ids[right - after : right],
                piece.offsets[right - after : right] + at,
            ):  # fmt: skip
                if kept > 0 and own_start <= kept:  # decided by the two pieces alone: the next time is a lookup
                    self._remember(last.piece.text, piece.text, _Join(last.own + kept - own_start, window,
                                                                      start - last.at, right))  # fmt: skip
                spliced.truncate(kept)
                spliced.add(window, 0, start)
                spliced.add(piece, right, at)
                return right
            if left == 0 and right == len(piece.ids) and everything:
                break  # the window was already everything: widening cannot help
        return None

    def _remember(self, left: str, right: str, join: _Join) -> None:
        with self._lock:
            self._joins[(left, right)] = join
            if len(self._joins) > _JOINS:
                del self._joins[next(iter(self._joins))]

    def _piece(self, text: str, derive: bool = True) -> Piece:
        found = self._cache.get(text)  # reads take no lock: hundreds of item threads ask at once
        if found is not None:
            return found
        piece = (self._derived(text) if derive else None) or self._tokenize(text)
        with self._lock:
            if text not in self._cache:
                self._cache[text] = piece
                self._held += len(piece.ids)
                while self._held > self.budget and len(self._cache) > 1:  # the oldest go first
                    self._held -= len(self._cache.pop(next(iter(self._cache))).ids)
        return piece

    def _derived(self, text: str) -> Piece | None:
        """A piece spliced from its lines, where most of it was seen: a generated segment is counted ending in
        ``"\\n"`` or nothing, then recurs in every prompt of its step with a blank line after it, or a tag line
        before it. The last line is cut before its newlines where it was seen with fewer."""
        bounds = [0, *(m.end() for m in _LINE.finditer(text))]
        last = bounds[-1]
        content = last + len(text[last:].rstrip("\n"))
        shorter = next((k for k in range(len(text) - 1, content - 1, -1) if text[last:k] in self._cache), None)
        if shorter is not None and shorter > last:
            bounds.append(shorter)
        bounds.append(len(text))
        seen = sum(
            end - start for start, end in zip(bounds, bounds[1:], strict=False) if text[start:end] in self._cache
        )
        if len(bounds) < 3 or 2 * seen < len(text):
            return None
        spliced = self._splice(text, bounds, derive=False)
        if spliced is None:
            return None
        with self._lock:
            self.derived += 1
        return Piece(tuple(spliced.ids), spliced.offsets(), text)

    def _tokenize(self, text: str) -> Piece:
        encoding = self.backend.encode(text, add_special_tokens=False)
        offsets = encoding.offsets  # (start, end) tuples, flattened straight into the array: 40% faster
        rows = np.fromiter(chain.from_iterable(offsets), dtype=np.int64, count=2 * len(offsets)).reshape(-1, 2)
        return Piece(tuple(encoding.ids), rows, text)


class _Spliced:
    """The tokens spliced so far: ids, and their offsets as parts of pieces' offsets (rows ``lo:hi``, moved by
    ``shift`` characters), joined only once, at the end."""

    def __init__(self, first: Piece) -> None:
        self.ids = list(first.ids)
        self.parts: list[tuple[np.ndarray, int, int, int]] = [(first.offsets, 0, len(first.ids), 0)]

    def add(self, piece: Piece, lo: int, shift: int) -> None:
        """The piece's tokens from ``lo``, its text starting ``shift`` characters into the spliced one."""
        self.ids.extend(piece.ids[lo:] if lo else piece.ids)
        self.parts.append((piece.offsets, lo, len(piece.ids), shift))

    def truncate(self, count: int) -> None:
        excess = len(self.ids) - count
        del self.ids[count:]
        parts = self.parts
        while excess > 0:
            offsets, lo, hi, shift = parts[-1]
            if hi - lo > excess:
                parts[-1] = (offsets, lo, hi - excess, shift)
                break
            parts.pop()
            excess -= hi - lo

    def tail(self, count: int) -> np.ndarray:
        """The offsets of the last ``count`` tokens (or all)."""
        taken, held = [], 0
        for offsets, lo, hi, shift in reversed(self.parts):
            first = max(lo, hi - (count - held))
            taken.append(offsets[first:hi] + shift)
            held += hi - first
            if held >= count:
                break
        return np.concatenate(taken[::-1]) if len(taken) > 1 else taken[0]

    def offsets(self) -> np.ndarray:
        parts = self.parts
        rows = np.concatenate([offsets[lo:hi] for offsets, lo, hi, _ in parts])
        rows += np.repeat([shift for *_, shift in parts], [hi - lo for _, lo, hi, _ in parts])[:, None]
        return rows


def _bounds(text: str) -> list[int]:
    """Where ``text`` is cut into pieces: at the starts of lines that have a word boundary, where the piece before
    has one between ``_REACH`` and three times that many characters before the cut (within the tokens a join's
    window looks back over). Then a join's window starts inside the piece before it,
    and two pieces decide the join alone (it is remembered); a short line (a tag, a heading) stays with the piece
    before it, so that the long lines are pieces of their own, found again in other prompts."""
    bounds = [0]
    starts = [m.end() for m in _LINE.finditer(text)]
    for at, following in zip(starts, [*starts[1:], len(text)], strict=False):
        if _WORD.search(text, at, following) and _WORD.search(text, max(bounds[-1], at - 3 * _REACH), at - _REACH):
            bounds.append(at)
    bounds.append(len(text))
    return bounds


def _left_edge(text: str, offsets: np.ndarray, at: int, tokens: int, chars: int, everything: bool) -> int | None:
    """The window's first token among the last spliced ones (``offsets``; ``everything``: all of them):
    ``tokens`` back from the join at least, ``chars`` before it at least, at a word boundary (:func:`_sure`),
    or the very first token. ``None`` if there is none among them."""
    rows = offsets.tolist()
    k = len(rows) - tokens
    while k > 0 and (at - rows[k][0] < chars or rows[k - 1][1] != rows[k][0] or not _sure(text, rows[k][0])):
        k -= 1
    return max(k, 0) if everything else k if k > 0 else None


def _sure(text: str, at: int) -> bool:
    """Whether a token starting at ``at`` starts a pre-token whatever surrounds the window: a single space
    between two visible characters. No pre-token of the GPT-2, Llama 3 or Qwen patterns runs from a visible
    character into a space, and each of them starts a word at its space; SentencePiece-style vocabularies
    (Gemma) have no piece that continues a word into the space after it."""
    return 0 < at < len(text) - 1 and text[at] == " " and not text[at - 1].isspace() and not text[at + 1].isspace()


def _right_edge(piece: Piece, tokens: int, chars: int) -> int:
    """How many of the piece's first tokens the window takes: ``tokens`` at least, ``chars`` into the piece at
    least, up to a word boundary (:func:`_sure`), or the whole piece."""
    rows = piece.offsets[: tokens + 64].tolist()
    k = min(len(rows), tokens)
    while k < len(rows) and (
        rows[k - 1][1] < chars or rows[k - 1][1] != rows[k][0] or not _sure(piece.text, rows[k][0])
    ):
        k += 1
    return k if k < len(rows) or len(rows) == len(piece.offsets) else len(piece.offsets)


def _agree(window: Piece, first: int, start: int, ids: Sequence[int], offsets: np.ndarray) -> bool:
    """The window's tokens from ``first`` are ``ids`` at ``offsets`` (absolute; the window starts at ``start``)."""
    n = len(ids)
    if not 0 <= first <= len(window.ids) - n:
        return False
    return (
        tuple(window.ids[first : first + n]) == tuple(ids)
        and (window.offsets[first : first + n] + start).tolist() == offsets.tolist()
    )


_ENCODERS: dict[int, tuple[Any, PieceTokenizer | None]] = {}
_ENCODERS_LOCK = threading.Lock()


def piece_tokenizer(tokenizer: Any) -> PieceTokenizer | None:
    """The process's piece encoder of a Hugging Face tokenizer; ``None`` for a slow (Python) one."""
    with _ENCODERS_LOCK:
        found = _ENCODERS.get(id(tokenizer))
        if found is None or found[0] is not tokenizer:
            backend = getattr(tokenizer, "_tokenizer", None)
            found = _ENCODERS[id(tokenizer)] = (tokenizer, PieceTokenizer(backend) if backend is not None else None)
        return found[1]
