"""A scripted generator/scorer for testing the search's decisions exactly (a test double, not a model)."""

from __future__ import annotations

from collections.abc import Callable

from reer.backends.base import Generation, GenerationRequest, ScoreRequest, ScoreResult


class Scripted:
    def __init__(
        self,
        initial: str,
        candidates: list[list[str]],
        score_of: Callable[[str], float],
        initial_tokens: int = 500,
        paragraphs: list[str] | None = None,
    ) -> None:
        self.initial, self.candidates, self.score_of = initial, list(candidates), score_of
        self.initial_tokens = initial_tokens
        self.paragraphs = list(paragraphs or [])
        self.requests: list[GenerationRequest] = []
        self.scored_traces: list[str] = []

    def generate(self, requests: list[GenerationRequest]) -> list[list[Generation]]:
        out = []
        for request in requests:
            self.requests.append(request)
            if request.prefill.endswith("<refine>\n"):  # second half of a capped-analysis candidate
                out.append([Generation(text=self.paragraphs.pop(0), num_tokens=30, finish_reason="stop")])
            elif "<analyze>" in request.prefill:
                raws = self.candidates.pop(0)
                assert len(raws) == request.n
                out.append([Generation(text=r, num_tokens=50, finish_reason="stop") for r in raws])
            else:
                out.append([Generation(text=self.initial, num_tokens=self.initial_tokens, finish_reason="stop")])
        return out

    def score(self, requests: list[ScoreRequest]) -> list[ScoreResult]:
        results = []
        for request in requests:
            content = request.messages[-1]["content"]
            trace = content[len("<think>\n") : content.index("\n</think>")]
            self.scored_traces.append(trace)
            results.append(ScoreResult(token_logprobs=[-self.score_of(trace)], tokens=["t"]))
        return results


def refine(text: str) -> str:
    return f"thinking about it\n</analyze>\n<refine>\n{text}"
