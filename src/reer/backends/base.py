"""The backend contract: the only seam between the REER search and any inference engine.

Two batch-first operations, with exact semantics so that every engine (transformers, llama.cpp, vLLM,
an OpenAI-compatible server) returns the same numbers for the same model:

* ``generate(requests)`` — for each request, ``n`` sampled continuations of a chat whose assistant turn is
  pre-filled with ``prefill``. The returned text continues the prefill (the prefill itself is not
  repeated) and is cut *before* the first stop string; generation stops as soon as a stop string appears.
  ``max_new_tokens`` is capped by what the model's context leaves after the prompt.
* ``score(requests)`` — for each request, the model's chat template renders every message but the last
  with the generation prompt, and the last (assistant) message's content is appended as raw text — never
  through the template, which may rewrite it (see ``render.py``). The string is tokenized once, and for
  every token whose character range overlaps ``span`` (a range of the last message's content) the result
  holds the natural log-probability of that token given *all* tokens before it. A token that straddles a
  span boundary belongs to the span. Pieces are never tokenized separately: BPE merges across a boundary
  would change the tokens.

Batching, caching and retries live behind this contract, never in the search.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Message = dict[str, str]


@dataclass(frozen=True)
class Sampling:
    temperature: float
    top_p: float | None  # None: not sent to a server (its neutral 1.0 in process)
    max_new_tokens: int
    stop: tuple[str, ...] = ()
    seed: int | None = None
    # Loop control, off by default (as published); each backend passes them as its engine's own parameters.
    repetition_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    top_k: int | None = None  # None: not sent, the engine's default (WritingBench's answers use 20)

    @property
    def penalties(self) -> tuple[float, float, float]:
        return self.repetition_penalty, self.frequency_penalty, self.presence_penalty


@dataclass(frozen=True)
class GenerationRequest:
    messages: Sequence[Message]
    sampling: Sampling
    prefill: str = ""
    n: int = 1


FinishReason = Literal["stop", "eos", "length"]


@dataclass(frozen=True)
class Generation:
    text: str
    num_tokens: int
    finish_reason: FinishReason


@dataclass(frozen=True)
class ScoreRequest:
    messages: Sequence[Message]
    span: tuple[int, int]


@dataclass(frozen=True)
class ScoreResult:
    token_logprobs: list[float]
    tokens: Sequence[str] = field(default_factory=list)
    context_tokens: int = 0


class RetryTally:
    """Requests a backend sent again on behalf of one stage of one item (recorded beside its seconds)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.count += 1


_tally: ContextVar[RetryTally | None] = ContextVar("reer_retry_tally", default=None)


@contextmanager
def tally_retries() -> Iterator[RetryTally]:
    """Count the retries of the backend calls made inside; a backend that works in threads of its own runs
    them in a copy of the caller's context (``contextvars.copy_context``) so they count here too."""
    token = _tally.set(tally := RetryTally())
    try:
        yield tally
    finally:
        _tally.reset(token)


def note_retry() -> None:
    """Called by a backend each time it sends a request again."""
    if (tally := _tally.get()) is not None:
        tally.add()


class InvalidScores(ValueError):
    """A backend's log-probabilities are not log-probabilities: the item fails with this reason, never a score."""


def checked_logprob(value: float | None) -> float:
    """A natural log-probability, or :class:`InvalidScores`: NaN or infinity, or above 0 by more than rounding
    (a positive value would give a negative, "better than certain" score)."""
    if value is None or not math.isfinite(value) or value > 1e-4:
        raise InvalidScores(f"{value} is not a log-probability (a finite value ≤ 0)")
    return min(value, 0.0)


def checked_logprobs(result: ScoreResult) -> list[float]:
    """Every scored token's value, checked, and as many values as scored tokens."""
    values = result.token_logprobs
    if not values or (result.tokens and len(values) != len(result.tokens)):
        raise InvalidScores(f"{len(values)} log-probabilities for {len(result.tokens)} scored tokens")
    try:  # the common case in two passes in C: every value a float, finite (else the sum is not), ≤ 0
        if max(values) <= 0.0 and math.isfinite(sum(values)):
            return list(values)
    except TypeError:
        pass  # a None among them: found and named below
    checked = []
    for k, value in enumerate(values):
        try:
            checked.append(checked_logprob(value))
        except InvalidScores as exc:
            raise InvalidScores(f"scored token {k}: {exc}") from None
    return checked


# What a backend class can do, declared as ``capabilities`` on the class: the registry checks a use against
# it before any model is loaded. "tokenize" means ``token_counter(config)``: token counts without the weights.
Capability = Literal["generate", "score", "tokenize"]


@runtime_checkable
class Generator(Protocol):
    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Generation]]: ...


@runtime_checkable
class Scorer(Protocol):
    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]: ...


class PromptTooLongError(ValueError):
    """A prompt that fills the model's context: it fails its item (recorded), not the run."""


def context_budget(max_new_tokens: int, prompt_tokens: int, context_length: int) -> int:
    """New tokens allowed after a prompt: the request's budget, capped by the context the prompt leaves."""
    left = context_length - prompt_tokens
    if left < 1:
        raise PromptTooLongError(
            f"the prompt has {prompt_tokens} tokens and leaves no room in the model's {context_length}-token "
            "context: use shorter pairs or a model with a longer context (context_length in the model config)"
        )
    return min(max_new_tokens, left)


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` before the earliest stop string; say whether one was found."""
    hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return (text[: min(hits)], True) if hits else (text, False)
