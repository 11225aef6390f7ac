import pytest

from reer.search.scoring import clipped_score, score_request
from tests.conftest import LONG_REFERENCE


def test_clipping_bounds_each_token():
    assert clipped_score([-0.5, -10.0, -1.0], clip=2.0) == pytest.approx((0.5 + 2.0 + 1.0) / 3)
    assert clipped_score([-100.0] * 4) == 2.0
    assert clipped_score([0.0]) == 0.0
    with pytest.raises(ValueError):
        clipped_score([])


def test_span_covers_reference_after_its_first_paragraph():
    req = score_request("en", "Q", "my thinking", LONG_REFERENCE)
    content = req.messages[-1]["content"]
    start, end = req.span
    assert content.startswith("<think>\nmy thinking\n</think>\n<answer>\n") and content.endswith("\n</answer>")
    assert content[start:end] == LONG_REFERENCE[LONG_REFERENCE.index("On the twelfth") :]
    assert "Q" in req.messages[1]["content"] and "my thinking" not in req.messages[1]["content"]


def test_full_reference_and_single_paragraph_score_everything():
    full = score_request("en", "Q", "t", LONG_REFERENCE, full_reference=True)
    assert full.messages[-1]["content"][slice(*full.span)] == LONG_REFERENCE
    single = score_request("en", "Q", "t", "Just one paragraph.")
    assert single.messages[-1]["content"][slice(*single.span)] == "Just one paragraph."


def test_chinese_query_uses_chinese_instruction():
    req = score_request("zh", "写一首诗", "t", "诗")
    assert "写一首诗" in req.messages[1]["content"] and "请求" in req.messages[1]["content"]
