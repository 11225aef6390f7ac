"""Cutting thinking traces and references into segments (REER.md §2), exactly as the published code does.

The cut is lossless: segments are contiguous character spans that together cover the whole text, and
every segment after the first begins with the separator in front of it. Where the search uses segments as
text (prompts, joins) it strips them (:func:`text_segments`); the scorer keeps them raw, so the blank-line
tokens after the reference's first segment are scored, as published.
"""

from __future__ import annotations

import re

Span = tuple[int, int]

# One pass finds, left to right, either a protected display-math block — from `\[` to the next `\]`, or to
# the end when it is never closed — or a separator: the exact string "\n\n" (or "\n") and every whitespace
# character after its first newline. Python's `\s` is exactly `str.isspace`, the published test. Math comes
# first in the alternation: at one position the published scanner checks for `\[` before a separator.
_MATH = r"\\\[(?s:.*?)(?:\\\]|\Z)"
_BLANK_LINE = re.compile(rf"{_MATH}|\n\n\s*")
_NEWLINE = re.compile(rf"{_MATH}|\n\s*")


def segment_spans(text: str, min_chars: int = 100) -> list[Span]:
    """Contiguous spans covering ``text``: blank-line paragraphs, short pieces glued onto the next long one.

    When that gives at most one segment, the text is cut again at single newlines and that result is used,
    whatever it is (decided after gluing, as published).
    """
    spans = _glue(text, _pieces(text, _BLANK_LINE), min_chars)
    if len(spans) <= 1:
        spans = _glue(text, _pieces(text, _NEWLINE), min_chars)
    return spans


def split_segments(text: str, min_chars: int = 100) -> list[str]:
    """The raw segments; ``"".join(split_segments(t)) == t``."""
    return [text[start:end] for start, end in segment_spans(text, min_chars)]


def text_segments(text: str, min_chars: int = 100) -> list[str]:
    """The segments as the search uses them in prompts and joins: stripped of surrounding whitespace."""
    return [segment.strip() for segment in split_segments(text, min_chars)]


def _pieces(text: str, pattern: re.Pattern[str]) -> list[Span]:
    """Alternating content and separator pieces; math blocks stay inside content. Empty content before a
    separator is a piece of its own (the published scanner emits it); empty content at the end is not."""
    pieces: list[Span] = []
    start = 0
    for match in pattern.finditer(text):
        if match.group().startswith("\\["):
            continue
        pieces += [(start, match.start()), match.span()]
        start = match.end()
    if start < len(text):
        pieces.append((start, len(text)))
    return pieces


def _glue(text: str, pieces: list[Span], min_chars: int) -> list[Span]:
    """A whitespace-only piece or one under ``min_chars`` raw characters waits for the next long piece; a
    leftover wait joins the last segment, or is the only segment when there is none."""
    segments: list[Span] = []
    waiting: int | None = None  # where the waiting pieces begin
    for start, end in pieces:
        if waiting is None:
            waiting = start
        if text[start:end].strip() and end - start >= min_chars:
            segments.append((waiting, end))
            waiting = None
    if waiting is not None:
        tail = pieces[-1][1]
        segments[-1:] = [(segments[-1][0], tail)] if segments else [(waiting, tail)]
    return segments
