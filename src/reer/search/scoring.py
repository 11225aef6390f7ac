"""The REER score (REER.md §1): how likely the reference is after a given thinking trace."""

from __future__ import annotations

from reer import prompts
from reer.backends.base import ScoreRequest
from reer.search.segments import segment_spans


def score_request(
    language: str, query: str, trace: str, reference: str, *, full_reference: bool = False, min_chars: int = 100
) -> ScoreRequest:
    """Chat to score: reference-free instruction, then ``<think>trace</think><answer>reference</answer>``.

    Only the reference after its first paragraph is scored (the first paragraph is context), unless
    ``full_reference`` is set or the reference is a single paragraph.
    """
    head = "<think>\n" + trace + "\n</think>\n<answer>\n"
    content = head + reference + "\n</answer>"
    spans = segment_spans(reference, min_chars)
    start = 0 if full_reference or len(spans) <= 1 else spans[1][0]
    messages = [
        {"role": "system", "content": prompts.render(language, "system")},
        {"role": "user", "content": prompts.render(language, "instruction", query=query)},
        {"role": "assistant", "content": content},
    ]
    return ScoreRequest(messages=messages, span=(len(head) + start, len(head) + len(reference)))


def clipped_score(token_logprobs: list[float], clip: float = 2.0) -> float:
    """Mean over tokens of min(clip, -log p): lower is better, range [0, clip]."""
    if not token_logprobs:
        raise ValueError("no scored tokens")
    return sum(min(clip, -lp) for lp in token_logprobs) / len(token_logprobs)
