"""The backend contract: the only seam between the REER search and any inference engine.

Two batch-first operations, with exact semantics so that every engine (transformers, llama.cpp, vLLM,
an OpenAI-compatible server) returns the same numbers for the same model:

* ``generate(requests)`` — for each request, ``n`` sampled continuations of a chat whose assistant turn is
  pre-filled with ``prefill``. The returned text continues the prefill (the prefill itself is not
  repeated) and is cut *before* the first stop string; generation stops as soon as a stop string appears.
* ``score(requests)`` — for each request, the chat is rendered with the model's own chat template into one
  string, tokenized once, and for every token whose character range overlaps ``span`` (a range of the last
  message's content) the natural log-probability of that token given *all* tokens before it. A token that
  straddles a span boundary belongs to the span. Pieces are never tokenized separately: BPE merges across a
  boundary would change the tokens.

Batching, caching and retries live behind this contract, never in the search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Message = dict[str, str]


@dataclass(frozen=True)
class Sampling:
    temperature: float
    top_p: float
    max_new_tokens: int
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True)
class GenerationRequest:
    messages: Sequence[Message]
    sampling: Sampling
    prefill: str = ""
    n: int = 1


@dataclass(frozen=True)
class Generation:
    text: str
    num_tokens: int
    finish_reason: Literal["stop", "eos", "length"]


@dataclass(frozen=True)
class ScoreRequest:
    messages: Sequence[Message]
    span: tuple[int, int]


@dataclass(frozen=True)
class ScoreResult:
    token_logprobs: list[float]
    tokens: list[str] = field(default_factory=list)
    context_tokens: int = 0


@runtime_checkable
class Generator(Protocol):
    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Generation]]: ...


@runtime_checkable
class Scorer(Protocol):
    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]: ...


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` before the earliest stop string; say whether one was found."""
    hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return (text[: min(hits)], True) if hits else (text, False)
