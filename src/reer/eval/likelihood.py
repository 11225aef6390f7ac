"""Reference likelihood: how probable held-out reference answers are under the model — REER's own signal,
needing no judge. Each reference is scored after an empty ``<think>`` block and after the model's own
thinking for that request; training on good thinking should make the second lower (better) than the first.
"""

from __future__ import annotations

from collections.abc import Sequence

from reer.backends.base import Generation, GenerationRequest, Sampling, ScoreRequest, ScoreResult, checked_logprobs
from reer.config import EvalConfig
from reer.records import Pair, clipped_score

PART = "likelihood"
# No benchmark prescribes this one: Qwen3's thinking-mode sampling, unless eval.temperature / eval.top_p are set.
TEMPERATURE, TOP_P = 0.6, 0.95
METRICS = ("nll_without_thinking", "nll_with_thinking", "gain", "reer_without_thinking", "reer_with_thinking")


def thinking_requests(pairs: Sequence[Pair], config: EvalConfig, seed: int) -> list[GenerationRequest]:
    """The model's own thinking for each request, stopped at ``</think>``."""
    temperature = TEMPERATURE if config.temperature is None else config.temperature
    top_p = TOP_P if config.top_p is None else config.top_p
    sampling = Sampling(temperature, top_p, config.thinking_tokens, stop=("</think>",), seed=seed)
    return [
        GenerationRequest(messages=[{"role": "user", "content": pair.query}], sampling=sampling, prefill="<think>\n")
        for pair in pairs
    ]


def score_requests(pair: Pair, thinking: str) -> tuple[ScoreRequest, ScoreRequest]:
    """The reference as the answer after an empty thinking block, and after ``thinking`` (training format)."""
    return _scored(pair, ""), _scored(pair, thinking)


def _scored(pair: Pair, thinking: str) -> ScoreRequest:
    head = f"<think>\n{thinking}\n</think>\n\n"
    messages = [{"role": "user", "content": pair.query}, {"role": "assistant", "content": head + pair.reference}]
    return ScoreRequest(messages=messages, span=(len(head), len(head) + len(pair.reference)))


def measurements(
    without: ScoreResult, with_thinking: ScoreResult, thinking: Generation, clip: float
) -> dict[str, float]:
    """Mean negative log-likelihood per reference token (lower is better), REER's clipped score, the gain.
    Values that are not log-probabilities raise :class:`reer.backends.base.InvalidScores`."""
    plain, thought = checked_logprobs(without), checked_logprobs(with_thinking)
    nll_without, nll_with = -sum(plain) / len(plain), -sum(thought) / len(thought)
    return {
        "nll_without_thinking": nll_without,
        "nll_with_thinking": nll_with,
        "gain": nll_without - nll_with,
        "reer_without_thinking": clipped_score(plain, clip),
        "reer_with_thinking": clipped_score(thought, clip),
        "thinking_tokens": float(thinking.num_tokens),
        "reference_tokens": float(len(plain)),
    }
