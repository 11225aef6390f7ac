"""The complete record of one search: what users inspect, what the report draws, what resume restarts from."""

from __future__ import annotations

from itertools import repeat
from operator import neg
from typing import Literal

from pydantic import BaseModel, Field

Status = Literal["pending", "running", "done", "rejected", "failed"]


def clipped_score(token_logprobs: list[float], clip: float) -> float:
    """Mean over tokens of min(clip, -log p): lower is better, range [0, clip] (REER.md §1)."""
    if not token_logprobs:
        raise ValueError("no scored tokens")
    return sum(map(min, repeat(clip), map(neg, token_logprobs))) / len(token_logprobs)  # the same sum, in C


class Scored(BaseModel):
    """A score of the reference under one thinking trace, with its per-token log-probabilities."""

    score: float
    token_logprobs: list[float]

    @classmethod
    def of(cls, token_logprobs: list[float], clip: float) -> Scored:
        return cls(score=clipped_score(token_logprobs, clip), token_logprobs=token_logprobs)


def mean_nll(token_logprobs: list[float]) -> float:
    """Mean negative log-likelihood per scored token, unclipped: on small scorers most reference tokens sit above
    the 2-nat clip, so the plain mean separates thinking that explains its answer better than the clipped one."""
    if not token_logprobs:
        raise ValueError("no scored tokens")
    return -sum(token_logprobs) / len(token_logprobs)


class Gain(BaseModel):
    """Thinking gain: how much the final thinking makes its reference more likely than empty thinking, in the
    search's own scoring format (REER.md §1). Positive: the thinking explains its answer."""

    empty_score: float = Field(description="The REER score (clipped) of the reference after empty thinking.")
    empty_nll: float = Field(description="Its plain mean NLL per scored token.")
    thinking_score: float = Field(description="The REER score after the final thinking (the trajectory's).")
    thinking_nll: float = Field(description="Its plain mean NLL.")
    seconds: float = Field(0.0, description="Time spent scoring the reference after empty thinking.")

    @property
    def clipped(self) -> float:
        return self.empty_score - self.thinking_score

    @property
    def plain(self) -> float:
        return self.empty_nll - self.thinking_nll


class InitialTrace(BaseModel):
    opener: str
    raw: str = Field(description="The generated continuation of the opener, as returned.")
    trace: str = Field(description="Opener + text before </think>, unstripped (what the published code scores).")
    num_tokens: int
    finish_reason: str
    generate_seconds: float
    scored: Scored | None = None
    score_seconds: float = 0.0
    retries: int = Field(0, description="Requests a server backend sent again for this stage.")


class Candidate(BaseModel):
    raw: str
    text: str | None
    dropped: str | None = Field(None, description="Why the candidate was not scored (no <refine>, empty).")
    num_tokens: int
    finish_reason: str
    scored: Scored | None = None


class Step(BaseModel):
    step: int
    segment_index: int
    original: str
    candidates: list[Candidate]
    chosen: int | None = Field(description="Index of the accepted candidate; None keeps the original.")
    best_score: float = Field(description="Best score after this step.")
    generate_seconds: float
    score_seconds: float
    retries: int = Field(0, description="Requests a server backend sent again for this step.")


class Trajectory(BaseModel):
    """One rollout of one item."""

    item_id: str
    rollout: int = 0
    language: str
    status: Status = "pending"
    reject_reason: str | None = None
    error: str | None = None
    initial: InitialTrace | None = None
    steps: list[Step] = Field(default_factory=list)
    stop_reason: str | None = None
    final_trace: str | None = None
    scored_tokens: list[str] = Field(default_factory=list)
    gain: Gain | None = None

    def best(self) -> Scored | None:
        """The incumbent: the last accepted candidate, else the initial trace."""
        for step in reversed(self.steps):
            if step.chosen is not None:
                return step.candidates[step.chosen].scored
        return self.initial.scored if self.initial else None

    @property
    def initial_score(self) -> float | None:
        return self.initial.scored.score if self.initial and self.initial.scored else None

    @property
    def final_score(self) -> float | None:
        best = self.best()
        return best.score if best and self.status == "done" else None

    @property
    def seconds(self) -> float:
        """Model time spent on this trajectory, summed over every stage (and over resumes)."""
        if self.initial is None:
            return 0.0
        initial = self.initial.generate_seconds + self.initial.score_seconds
        return initial + sum(s.generate_seconds + s.score_seconds for s in self.steps)

    @property
    def retries(self) -> int:
        """Requests a server backend sent again for this trajectory, over every stage."""
        return (self.initial.retries if self.initial else 0) + sum(s.retries for s in self.steps)

    @property
    def generated_tokens(self) -> int:
        initial = self.initial.num_tokens if self.initial else 0
        return initial + sum(c.num_tokens for s in self.steps for c in s.candidates)
