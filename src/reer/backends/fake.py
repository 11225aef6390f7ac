"""A deterministic fake backend: no model, instant, for trying the pipeline and testing search logic.

It is a *fake*, not a model: the generator stitches paragraphs out of words of the prompt, and the scorer
calls a reference word "likely" (log-probability -0.05) when the thinking mentions it and "unlikely" (-3)
otherwise. That is enough for the search to have something real to optimise — rewrites that pull
reference words into the thinking lower the score — while every result is reproducible from the seed.
Select it with ``backend: fake``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import ClassVar

from reer.backends.base import Generation, GenerationRequest, ScoreRequest, ScoreResult, cut_at_stop
from reer.config import ModelConfig

_WORD = re.compile(r"\S+")
LIKELY, UNLIKELY = -0.05, -3.0


class FakeBackend:
    capabilities: ClassVar[frozenset[str]] = frozenset({"generate", "score", "tokenize"})

    @staticmethod
    def token_counter(config: ModelConfig) -> Callable[[str], int]:
        return lambda text: len(_WORD.findall(text))  # the fake's tokens are words

    def __init__(self, config: ModelConfig | None = None, paragraphs: int = 4) -> None:
        self.config = config
        self.paragraphs = paragraphs

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Generation]]:
        return [[self._one(request, k) for k in range(request.n)] for request in requests]

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        return [self._score(request) for request in requests]

    def _one(self, request: GenerationRequest, k: int) -> Generation:
        rng = random.Random(f"{request.sampling.seed}/{k}")
        # Tag-like words ("</think>.") would end the fake's own output early.
        words = [w for w in _WORD.findall(request.messages[-1]["content"]) if "<" not in w]
        if "<analyze>" in request.prefill:
            text = f"This paragraph needs more of the target.\n</analyze>\n<refine>\n{_paragraph(rng, words)}"
        else:
            text = "\n\n".join(_paragraph(rng, words) for _ in range(self.paragraphs)) + "\n</think>"
        text, stopped = cut_at_stop(text, request.sampling.stop)
        tokens = len(_WORD.findall(text))
        if tokens > request.sampling.max_new_tokens:
            kept = _WORD.findall(text)[: request.sampling.max_new_tokens]
            return Generation(text=" ".join(kept), num_tokens=len(kept), finish_reason="length")
        return Generation(text=text, num_tokens=tokens, finish_reason="stop" if stopped else "eos")

    def _score(self, request: ScoreRequest) -> ScoreResult:
        content = request.messages[-1]["content"]
        thinking = content.split("</think>", 1)[0]
        known = {w.lower() for w in _WORD.findall(thinking)}
        start, end = request.span
        tokens = _WORD.findall(content[start:end])
        if not tokens:
            raise ValueError(f"the span {request.span} covers no token")
        logprobs = [LIKELY if t.lower() in known else UNLIKELY for t in tokens]
        return ScoreResult(token_logprobs=logprobs, tokens=tokens, context_tokens=len(_WORD.findall(content[:start])))


def _paragraph(rng: random.Random, words: list[str]) -> str:
    """About 30 words (well over 100 characters) drawn from the prompt, opening with a thinking marker."""
    marker = rng.choice(["Hmm,", "Wait,", "Maybe", "Let me think:", "Alternatively,"])
    return " ".join([marker, *rng.choices(words or ["text"], k=30)])
