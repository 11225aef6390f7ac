"""The REER score (REER.md §1): how likely the reference is after a given thinking trace."""

from __future__ import annotations

from reer import prompts
from reer.backends.base import ScoreRequest
from reer.search.segments import segment_spans

THINK_OPEN = "<think>\n"


def score_request(
    language: str, query: str, trace: str, reference: str, *, full_reference: bool = False, min_chars: int = 100
) -> ScoreRequest:
    """Chat to score: reference-free instruction, then ``<think>\\n trace \\n</think>\\n<answer>\\n reference
    \\n</answer>`` as the assistant's raw text.

    The scored span is ``y_rest``: the reference from the end of its first segment, so it begins with the
    separator (the blank-line tokens are scored, as published). A single-segment reference is scored in
    full — the published code scores only the newline after it, a quirk we do not copy — and so is every
    reference when ``full_reference`` is set.
    """
    head = THINK_OPEN + trace + "\n</think>\n<answer>\n"
    content = head + reference + "\n</answer>"
    spans = segment_spans(reference, min_chars)
    start = 0 if full_reference or len(spans) <= 1 else spans[0][1]
    messages = [
        {"role": "system", "content": prompts.render(language, "system")},
        {"role": "user", "content": prompts.render(language, "instruction", query=query)},
        {"role": "assistant", "content": content},
    ]
    return ScoreRequest(messages=messages, span=(len(head) + start, len(head) + len(reference)))
