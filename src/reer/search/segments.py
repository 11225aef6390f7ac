"""Cutting thinking traces and references into segments (REER.md §2).

Segments are character spans of the original text, so a segment that absorbed short pieces keeps their
original separators and nothing is ever rewritten by the cutting itself.
"""

from __future__ import annotations

import re

_BLANK_LINES = re.compile(r"\n\n\s*")
_NEWLINE = re.compile(r"\n")
_DISPLAY_MATH = re.compile(r"\\\[.*?\\\]", re.DOTALL)

Span = tuple[int, int]


def split_segments(text: str, min_chars: int = 100) -> list[str]:
    """The segments of ``text``: paragraphs, with pieces under ``min_chars`` glued onto the next one."""
    return [text[start:end] for start, end in segment_spans(text, min_chars)]


def segment_spans(text: str, min_chars: int = 100) -> list[Span]:
    pieces = _pieces(text, _BLANK_LINES)
    if sum(1 for s, e in pieces if text[s:e].strip()) <= 1:
        pieces = _pieces(text, _NEWLINE)
    return _glue_short(text, pieces, min_chars)


def _pieces(text: str, separator: re.Pattern[str]) -> list[Span]:
    protected = [m.span() for m in _DISPLAY_MATH.finditer(text)]
    spans, start = [], 0
    for match in separator.finditer(text):
        if any(a < match.start() < b for a, b in protected):
            continue  # a display-math block is never cut
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    return spans


def _glue_short(text: str, pieces: list[Span], min_chars: int) -> list[Span]:
    segments: list[Span] = []
    pending: int | None = None  # start of short pieces carried forward
    last_end = 0
    for start, end in pieces:
        piece = text[start:end]
        if not piece.strip():
            continue
        start, end = start + len(piece) - len(piece.lstrip()), end - len(piece) + len(piece.rstrip())
        pending = start if pending is None else pending
        last_end = end
        if end - start >= min_chars:
            segments.append((pending, end))
            pending = None
    if pending is not None:  # a short tail joins the last segment (or is the only one)
        segments[-1:] = [(segments[-1][0] if segments else pending, last_end)]
    return segments
