"""Generation and scoring with Hugging Face transformers (CPU or one GPU)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch

from reer.backends.base import (
    FinishReason,
    Generation,
    GenerationRequest,
    Sampling,
    ScoreRequest,
    ScoreResult,
    context_budget,
    cut_at_stop,
)
from reer.backends.models import counting, load_model, load_tokenizer
from reer.backends.render import encode_prompt
from reer.backends.span_scorer import SpanScorer
from reer.config import DEFAULT_CONTEXT, ModelConfig


class TransformersBackend:
    """Both halves of the contract on one loaded model."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"generate", "score", "tokenize"})

    @staticmethod
    def token_counter(config: ModelConfig) -> Callable[[str], int]:
        tokenizer = load_tokenizer(config.model)
        return counting(tokenizer)

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.model, self.tokenizer = load_model(config)
        self.scorer = SpanScorer(self.model, self.tokenizer)
        wanted = config.context_length or DEFAULT_CONTEXT
        self.context_length = min(wanted, getattr(self.model.config, "max_position_embeddings", None) or wanted)

    @property
    def device(self) -> torch.device:
        return self.model.device

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Generation]]:
        """All requests that share sampling settings run as one left-padded batch (``n`` rows each).

        A batch is seeded with its first request's seed, so a request's samples are reproducible for the
        same batch composition; cross-item batching trades bit-for-bit reproducibility for throughput.
        """
        results: list[list[Generation]] = [[] for _ in requests]
        groups: dict[tuple, list[int]] = {}
        for index, request in enumerate(requests):
            s = request.sampling
            groups.setdefault((s.temperature, s.top_p, s.top_k, s.max_new_tokens, s.stop, s.penalties), []).append(
                index
            )
        for indices in groups.values():
            rows = self._generate_batch([requests[i] for i in indices])
            for i in indices:
                results[i], rows = rows[: requests[i].n], rows[requests[i].n :]
        return results

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        return self.scorer.score(requests)

    @torch.inference_mode()
    def _generate_batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        sampling = requests[0].sampling
        prompts = [encode_prompt(self.tokenizer, r.messages, r.prefill).ids for r in requests]
        rows = [ids for ids, r in zip(prompts, requests, strict=True) for _ in range(r.n)]
        width = max(map(len, rows))
        pad = self.tokenizer.eos_token_id
        input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=self.device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=self.device)
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        sample = {"do_sample": True, "temperature": sampling.temperature, "top_p": sampling.top_p or 1.0}
        if sampling.top_k is not None:
            sample["top_k"] = sampling.top_k
        output = self.model.generate(
            input_ids,
            attention_mask=mask,
            max_new_tokens=context_budget(sampling.max_new_tokens, width, self.context_length),
            stop_strings=list(sampling.stop) or None,
            tokenizer=self.tokenizer,
            pad_token_id=pad,
            **(sample if sampling.temperature > 0 else {"do_sample": False}),
            **penalty_arguments(sampling, width),
        )
        return [decode_generation(self.tokenizer, row, sampling.stop) for row in output[:, width:].tolist()]


def penalty_arguments(sampling: Sampling, prompt_width: int) -> dict[str, Any]:
    """transformers' own ``repetition_penalty``; OpenAI's frequency and presence penalties, which transformers
    lacks, as a logits processor over the generated tokens (the prompt is the ``prompt_width`` columns before)."""
    arguments: dict[str, Any] = {}
    if sampling.repetition_penalty != 1.0:
        arguments["repetition_penalty"] = sampling.repetition_penalty
    if sampling.frequency_penalty or sampling.presence_penalty:
        from transformers import LogitsProcessorList

        penalty = OutputPenalty(prompt_width, sampling.frequency_penalty, sampling.presence_penalty)
        arguments["logits_processor"] = LogitsProcessorList([penalty])
    return arguments


class OutputPenalty:
    """logit − frequency × (times generated) − presence × (generated at all), as vLLM and OpenAI define them."""

    def __init__(self, prompt_width: int, frequency: float, presence: float) -> None:
        self.prompt_width, self.frequency, self.presence = prompt_width, frequency, presence

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        generated = input_ids[:, self.prompt_width :]
        counts = torch.zeros_like(scores).scatter_add_(1, generated, torch.ones_like(generated, dtype=scores.dtype))
        return scores - self.frequency * counts - self.presence * (counts > 0).to(scores.dtype)


def decode_generation(tokenizer: Any, token_ids: list[int], stops: Sequence[str]) -> Generation:
    """Generated token ids (padded after end-of-sequence) → text cut before the first stop string."""
    eos = tokenizer.eos_token_id
    ended = eos in token_ids
    if ended:
        token_ids = token_ids[: token_ids.index(eos)]
    text, stopped = cut_at_stop(tokenizer.decode(token_ids, skip_special_tokens=True), stops)
    reason: FinishReason = "stop" if stopped else "eos" if ended else "length"
    return Generation(text=text, num_tokens=len(token_ids), finish_reason=reason)
