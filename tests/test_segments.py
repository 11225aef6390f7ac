from reer.search.segments import segment_spans, split_segments

LONG = "x" * 120


def test_blank_lines_split_paragraphs():
    text = f"{LONG}a\n\n{LONG}b\n\n\n  {LONG}c"
    assert split_segments(text) == [f"{LONG}a", f"{LONG}b", f"{LONG}c"]


def test_blank_line_with_trailing_whitespace_is_one_separator():
    text = f"{LONG}a\n\n   \t\n{LONG}b"
    assert split_segments(text) == [f"{LONG}a", f"{LONG}b"]


def test_single_newline_fallback_when_no_blank_lines():
    text = f"{LONG}a\n{LONG}b\n{LONG}c"
    assert split_segments(text) == [f"{LONG}a", f"{LONG}b", f"{LONG}c"]


def test_no_fallback_when_blank_lines_give_two_segments():
    text = f"{LONG}a\n{LONG}b\n\n{LONG}c"
    assert split_segments(text) == [f"{LONG}a\n{LONG}b", f"{LONG}c"]


def test_short_pieces_glue_onto_the_next_long_one_keeping_separators():
    text = f"Hmm.\n\nWait, maybe.\n\n{LONG}a\n\n{LONG}b"
    assert split_segments(text) == [f"Hmm.\n\nWait, maybe.\n\n{LONG}a", f"{LONG}b"]


def test_short_tail_joins_the_last_segment():
    text = f"{LONG}a\n\n{LONG}b\n\nThe end."
    assert split_segments(text) == [f"{LONG}a", f"{LONG}b\n\nThe end."]


def test_all_short_is_one_segment_and_empty_is_none():
    assert split_segments("a\n\nb\n\nc") == ["a\n\nb\n\nc"]
    assert split_segments("") == []
    assert split_segments("  \n\n \n") == []


def test_display_math_is_never_cut():
    math = "\\[\n a + b\n\n = c \n\\]"
    text = f"{LONG}a\n\n{LONG} {math} tail\n\n{LONG}c"
    segments = split_segments(text)
    assert len(segments) == 3
    assert math in segments[1]


def test_min_chars_is_configurable():
    text = "a" * 50 + "\n\n" + "b" * 50
    assert len(split_segments(text, min_chars=100)) == 1
    assert len(split_segments(text, min_chars=40)) == 2


def test_chinese_text_splits_by_characters():
    para = "我需要先想清楚读者是谁，" * 10  # 120 characters
    text = f"{para}\n\n{para}\n\n好的。"
    segments = split_segments(text)
    assert segments == [para, f"{para}\n\n好的。"]


def test_spans_index_the_original_text():
    text = f"  {LONG}a\n\n{LONG}b  "
    spans = segment_spans(text)
    assert spans == [(2, 123), (125, 246)]  # no leading or trailing whitespace inside a span
    assert [text[s:e] for s, e in segment_spans(text)] == split_segments(text)
