"""Segmentation = REER.md §2 exactly: table-driven cases with the exact segments, and a property test
against an independent character-by-character scanner written from the spec's words."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reer.search.segments import segment_spans, split_segments, text_segments

A, B, C = "a" * 120, "b" * 120, "c" * 120
Y99, Z100 = "y" * 99, "z" * 100
LINE1, LINE2, LINE3 = ("first line " * 10).strip(), ("second line " * 10).strip(), ("third line " * 10).strip()
ZH = "我需要先想清楚读者是谁，" * 10  # 120 characters

CASES = {
    "blank lines cut paragraphs; the separator opens the next": (
        f"{A}\n\n{B}\n\n\n  {C}",
        [A, f"\n\n{B}", f"\n\n\n  {C}"],
    ),
    "whitespace after the first newline belongs to the separator": (
        f"{A}\n\n   \t\n{B}",
        [A, f"\n\n   \t\n{B}"],
    ),
    "trailing spaces before a blank line stay with the content": (
        f"{A}   \n\n{B}",
        [f"{A}   ", f"\n\n{B}"],
    ),
    "'\\n \\n' is no blank line: the newline fallback cuts there": (
        f"{A}\n \n{B}",
        [A, f"\n \n{B}"],
    ),
    "'\\n \\n' inside a paragraph when real blank lines exist": (
        f"{A}\n \n{B}\n\n{C}",
        [f"{A}\n \n{B}", f"\n\n{C}"],
    ),
    "CRLF: no '\\n\\n', so the newline fallback cuts and keeps the \\r": (
        f"{A}\r\n\r\n{B}",
        [f"{A}\r", f"\n\r\n{B}"],
    ),
    "99 raw characters wait for the next long piece": (
        f"{Y99}\n\n{Z100}\n\n{Z100}",
        [f"{Y99}\n\n{Z100}", f"\n\n{Z100}"],
    ),
    "100 raw characters stand alone": (
        f"{Z100}\n\n{Z100}",
        [Z100, f"\n\n{Z100}"],
    ),
    "trailing spaces count towards the 100": (
        f"{'y' * 97}   \n\n{Z100}",
        [f"{'y' * 97}   ", f"\n\n{Z100}"],
    ),
    "a short tail joins the last segment": (
        f"{A}\n\n{B}\n\nThe end.\n",
        [A, f"\n\n{B}\n\nThe end.\n"],
    ),
    "a leading separator waits like any short piece": (
        f"\n\n{A}\n\n{B}",
        [f"\n\n{A}", f"\n\n{B}"],
    ),
    "display math is never cut": (
        f"{A}\n\n\\[\n a + b\n\n = c \\]{B}\n\n{C}",
        [A, f"\n\n\\[\n a + b\n\n = c \\]{B}", f"\n\n{C}"],
    ),
    "an unclosed \\[ protects the text to its end": (
        f"{A}\n\n\\[ x + y\n\n{B}\n\n{C}",
        [A, f"\n\n\\[ x + y\n\n{B}\n\n{C}"],
    ),
    "a short title then long lines: one segment after gluing, so cut at lines": (
        f"Title\n\n{LINE1}\n{LINE2}\n{LINE3}",
        [f"Title\n\n{LINE1}", f"\n{LINE2}", f"\n{LINE3}"],
    ),
    "the newline fallback is used whatever it gives": (
        f"Short.\n{A}",
        [f"Short.\n{A}"],
    ),
    "all short: one segment": ("a\n\nb\n\nc", ["a\n\nb\n\nc"]),
    "Chinese counts characters": (f"{ZH}\n\n{ZH}\n\n好的。", [ZH, f"\n\n{ZH}\n\n好的。"]),
    "whitespace only is one (blank) segment": ("  \n\n \n", ["  \n\n \n"]),
    "empty text has no segment": ("", []),
}


@pytest.mark.parametrize(("text", "expected"), CASES.values(), ids=CASES.keys())
def test_segments_are_exactly_the_published_ones(text, expected):
    assert split_segments(text) == expected
    assert split_segments(text) == published_segments(text)
    assert "".join(split_segments(text)) == text
    spans = segment_spans(text)
    assert [text[s:e] for s, e in spans] == expected
    assert text_segments(text) == [segment.strip() for segment in expected]


def test_min_chars_is_configurable():
    text = "a" * 50 + "\n\n" + "b" * 50
    assert split_segments(text, min_chars=100) == [text]
    assert split_segments(text, min_chars=40) == ["a" * 50, "\n\n" + "b" * 50]


# Pieces that exercise every rule: separators of both kinds with odd whitespace, math delimiters, CJK.
_ATOMS = ["word ", "x" * 37, "我们", "\n", "\n\n", " ", "\t", "\r", "\u3000", "\\[", "\\]", ".", "\n \n"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_ATOMS), max_size=60).map("".join), st.sampled_from([1, 10, 40, 100]))
def test_cut_is_lossless_and_matches_an_independent_scanner(text, min_chars):
    segments = split_segments(text, min_chars)
    assert "".join(segments) == text
    assert all(len(segment) >= min_chars for segment in segments[:-1])
    assert segments == published_segments(text, min_chars)


def published_segments(text: str, min_chars: int = 100) -> list[str]:
    """REER.md §2 as a literal character scanner (independent of the regular expressions under test)."""
    segments = _scan_and_glue(text, "\n\n", min_chars)
    return segments if len(segments) > 1 else _scan_and_glue(text, "\n", min_chars)


def _scan_and_glue(text: str, separator: str, min_chars: int) -> list[str]:
    pieces: list[str] = []
    content, i = "", 0
    while i < len(text):
        if text.startswith("\\[", i):
            close = text.find("\\]", i + 2)
            end = len(text) if close < 0 else close + 2
            content, i = content + text[i:end], end
        elif text.startswith(separator, i):
            j = i + 1
            while j < len(text) and text[j].isspace():
                j += 1
            pieces += [content, text[i:j]]
            content, i = "", j
        else:
            content, i = content + text[i], i + 1
    if content:
        pieces.append(content)
    segments: list[str] = []
    waiting: list[str] = []
    for piece in pieces:
        if not piece.strip() or len(piece) < min_chars:
            waiting.append(piece)
        else:
            segments.append("".join(waiting) + piece)
            waiting = []
    if waiting:
        if segments:
            segments[-1] += "".join(waiting)
        else:
            segments = ["".join(waiting)]
    return segments
