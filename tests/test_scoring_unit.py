import pytest

from reer.records import clipped_score
from reer.search.scoring import score_request
from tests.conftest import LONG_REFERENCE


def test_clipping_bounds_each_token():
    assert clipped_score([-0.5, -10.0, -1.0], clip=2.0) == pytest.approx((0.5 + 2.0 + 1.0) / 3)
    assert clipped_score([-100.0] * 4, clip=2.0) == 2.0
    assert clipped_score([0.0], clip=2.0) == 0.0
    with pytest.raises(ValueError):
        clipped_score([], clip=2.0)


def test_span_covers_reference_after_its_first_paragraph():
    req = score_request("en", "Q", "my thinking", LONG_REFERENCE)
    content = req.messages[-1]["content"]
    start, end = req.span
    assert content == f"<think>\nmy thinking\n</think>\n<answer>\n{LONG_REFERENCE}\n</answer>"
    # y_rest begins with the separator: the blank-line tokens are scored, as published.
    assert content[start:end] == LONG_REFERENCE[LONG_REFERENCE.index("\n\nOn the twelfth") :]
    assert "Q" in req.messages[1]["content"] and "my thinking" not in req.messages[1]["content"]


HEAD = "The first paragraph of the reference, long enough to stand as a segment of its own: " + "x" * 40
LINES = [("line of verse " * 8).strip() for _ in range(3)]
SPANS = {
    "two paragraphs: from the blank line on": (f"{HEAD}\n\nSecond {HEAD}", f"\n\nSecond {HEAD}"),
    "a short last piece joins the head's only segment": (f"{HEAD}\n\nThe end.", f"{HEAD}\n\nThe end."),
    "odd whitespace stays in the separator": (f"{HEAD}\n\n \t\n{HEAD}", f"\n\n \t\n{HEAD}"),
    "a short first piece is part of the head": (f"Title\n\n{HEAD}\n\n{HEAD}", f"\n\n{HEAD}"),
    "title then lines: the newline fallback": ("Poem\n\n" + "\n".join(LINES), "\n" + "\n".join(LINES[1:])),
    "a single paragraph is scored in full": ("Just one paragraph.", "Just one paragraph."),
    "short pieces only: one segment, in full": ("One.\n\nTwo.", "One.\n\nTwo."),
}


@pytest.mark.parametrize(("reference", "scored"), SPANS.values(), ids=SPANS.keys())
def test_scored_characters_are_exactly_y_rest(reference, scored):
    req = score_request("en", "Q", "t", reference)
    content = req.messages[-1]["content"]
    assert content[slice(*req.span)] == scored
    assert req.span[1] == len(content) - len("\n</answer>")


def test_full_reference_scores_everything():
    full = score_request("en", "Q", "t", LONG_REFERENCE, full_reference=True)
    assert full.messages[-1]["content"][slice(*full.span)] == LONG_REFERENCE


def test_segment_minimum_reaches_the_head():
    ref = f"{'a' * 60}\n\n{'b' * 60}\n\n{'c' * 60}"
    whole = score_request("en", "Q", "t", ref)  # one segment at 100 characters: scored in full
    assert whole.messages[-1]["content"][slice(*whole.span)] == ref
    req = score_request("en", "Q", "t", ref, min_chars=50)
    assert req.messages[-1]["content"][slice(*req.span)] == f"\n\n{'b' * 60}\n\n{'c' * 60}"


def test_chinese_query_uses_chinese_instruction():
    req = score_request("zh", "写一首诗", "t", "诗")
    assert "写一首诗" in req.messages[1]["content"] and "请求" in req.messages[1]["content"]
