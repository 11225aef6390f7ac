"""Tokenizing long prompts from cached pieces, with exactly the ids and offsets of the whole string.

Every prompt of one item repeats most of the others: the instructions, the request, the reference and each
unchanged thinking segment recur in every generation and scoring prompt of its search (about 50 per
published-size item), and tokenizing them again was the driver's largest cost at scale (the byte-level
pre-tokenizer: about 1.7 µs per token). So a text is cut into lines (after its newlines, before the next
visible character), each distinct line or paragraph is tokenized once, and the prompt's ids are spliced.

A join is where tokenization can differ from the whole string's: ``".\\n\\n"`` alone ends with one
two-newline token, but before a letter the pre-tokenizer splits those newlines differently. So each join is
re-tokenized in a window from a word boundary at least two tokens and eight characters before it to one as
far after it. A word boundary is a token starting with a single space between two visible characters: every
tokenizer family starts a pre-token (or, without one, a piece) there whatever surrounds it, and BPE is local
to its final token boundaries (the merges on either side of a boundary are the merges of that side alone),
so the window's tokens are the whole string's. They are also checked: its first two and last two tokens must
be the pieces' own, at the same places. A join with no word boundary near it (text without spaces, as in
Chinese) is tried once more with a wider window; if that fails too, the whole string is tokenized and the
fall-back is counted (:attr:`PieceTokenizer.fallbacks`). A join between the same two pieces, decided inside
the left one, is remembered.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_CUT = re.compile(r"\n+(?=\S)")  # a piece ends after its newlines, before a visible character
_MARGINS = ((2, 8), (6, 32))  # (tokens, characters) each side of a join: the window, then the wider one
_AGREE = 2  # tokens at each end of a window that must be the pieces' own
_JOINS = 200_000  # joins remembered (each a few tokens)


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
        self.spliced = 0  # texts built from pieces
        self.fallbacks = 0  # texts whose joins did not agree, tokenized whole

    def encode(self, text: str) -> tuple[list[int], np.ndarray]:
        """The ids and offsets (an ``(n, 2)`` array) of ``text`` tokenized whole, without special tokens."""
        cuts = [m.end() for m in _CUT.finditer(text)]
        if not cuts:
            whole = self._tokenize(text)
            return list(whole.ids), whole.offsets
        bounds = [0, *cuts, len(text)]
        previous, previous_at, own = self._piece(text[: bounds[1]]), 0, 0
        spliced = _Spliced(list(previous.ids), [previous.offsets])
        for start, end in zip(bounds[1:], bounds[2:], strict=False):
            piece = self._piece(text[start:end])
            replaced = self._join(text, spliced, _Placed(previous, previous_at, own), piece, start)
            if replaced is None:
                with self._lock:
                    self.fallbacks += 1
                whole = self._tokenize(text)
                return list(whole.ids), whole.offsets
            previous, previous_at, own = piece, start, replaced
        with self._lock:
            self.spliced += 1
        return spliced.ids, np.concatenate(spliced.chunks)

    def count(self, text: str) -> int:
        return len(self.encode(text)[0])

    def _join(self, text: str, spliced: _Spliced, last: _Placed, piece: Piece, at: int) -> int | None:
        """Append ``piece`` (at ``at`` in ``text``) to the spliced tokens, which end with ``last``, re-tokenizing
        across the join: how many of the piece's first tokens the window replaced, or ``None`` (no agreement)."""
        own_start = len(spliced.ids) - (len(last.piece.ids) - last.own)  # where the last piece's own tokens begin
        known = self._joins.get((last.piece.text, piece.text))
        if known is not None and known.left >= last.own:  # this join, decided before, within the last piece
            spliced.truncate(own_start + known.left - last.own)
            spliced.add(known.window, last.at + known.start)
            spliced.add(Piece(piece.ids[known.right :], piece.offsets[known.right :], ""), at)
            return known.right
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
            window = self._piece(text[start:end])
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
                spliced.add(window, start)
                spliced.add(Piece(piece.ids[right:], piece.offsets[right:], ""), at)
                return right
            if left == 0 and right == len(piece.ids) and everything:
                break  # the window was already everything: widening cannot help
        return None

    def _remember(self, left: str, right: str, join: _Join) -> None:
        with self._lock:
            self._joins[(left, right)] = join
            if len(self._joins) > _JOINS:
                del self._joins[next(iter(self._joins))]

    def _piece(self, text: str) -> Piece:
        found = self._cache.get(text)  # reads take no lock: hundreds of item threads ask at once
        if found is not None:
            return found
        piece = self._tokenize(text)
        with self._lock:
            if text not in self._cache:
                self._cache[text] = piece
                self._held += len(piece.ids)
                while self._held > self.budget and len(self._cache) > 1:  # the oldest go first
                    self._held -= len(self._cache.pop(next(iter(self._cache))).ids)
        return piece

    def _tokenize(self, text: str) -> Piece:
        encoding = self.backend.encode(text, add_special_tokens=False)
        return Piece(tuple(encoding.ids), np.array(encoding.offsets, dtype=np.int64).reshape(-1, 2), text)


class _Spliced:
    """The tokens spliced so far: ids, and absolute offsets in chunks (one per piece added)."""

    def __init__(self, ids: list[int], chunks: list[np.ndarray]) -> None:
        self.ids, self.chunks = ids, chunks

    def tail(self, count: int) -> np.ndarray:
        """The offsets of the last ``count`` tokens (or all)."""
        taken, held = [], 0
        for chunk in reversed(self.chunks):
            taken.append(chunk)
            held += len(chunk)
            if held >= count:
                break
        rows = np.concatenate(taken[::-1]) if len(taken) > 1 else taken[0]
        return rows[-count:]

    def truncate(self, count: int) -> None:
        excess = len(self.ids) - count
        del self.ids[count:]
        while excess > 0:
            last = self.chunks.pop()
            if len(last) > excess:
                self.chunks.append(last[: len(last) - excess])
            excess -= len(last)

    def add(self, piece: Piece, at: int) -> None:
        self.ids.extend(piece.ids)
        self.chunks.append(piece.offsets + at)


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
