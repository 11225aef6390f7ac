"""Generation and scoring with Hugging Face transformers (CPU or one GPU)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from reer.backends.base import Generation, GenerationRequest, ScoreRequest, ScoreResult, cut_at_stop
from reer.backends.models import load_model
from reer.backends.render import render_prompt, render_scored
from reer.config import ModelConfig


class TransformersBackend:
    """Both halves of the contract on one loaded model."""

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.model, self.tokenizer = load_model(config)

    @property
    def device(self) -> torch.device:
        return self.model.device

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Generation]]:
        return [self._generate(request) for request in requests]

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        return [self._score(request) for request in requests]

    @torch.inference_mode()
    def _generate(self, request: GenerationRequest) -> list[Generation]:
        sampling = request.sampling
        prompt = render_prompt(self.tokenizer, request.messages, request.prefill)
        input_ids = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids.to(self.device)
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        sample = {"do_sample": True, "temperature": sampling.temperature, "top_p": sampling.top_p}
        output = self.model.generate(
            input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=sampling.max_new_tokens,
            num_return_sequences=request.n,
            stop_strings=list(sampling.stop) or None,
            tokenizer=self.tokenizer,
            pad_token_id=self.tokenizer.eos_token_id,
            **(sample if sampling.temperature > 0 else {"do_sample": False}),
        )
        return [self._decode(row, sampling.stop) for row in output[:, input_ids.shape[1] :].tolist()]

    def _decode(self, token_ids: list[int], stops: Sequence[str]) -> Generation:
        eos = self.tokenizer.eos_token_id
        ended = eos in token_ids
        if ended:
            token_ids = token_ids[: token_ids.index(eos)]
        text, stopped = cut_at_stop(self.tokenizer.decode(token_ids, skip_special_tokens=True), stops)
        reason = "stop" if stopped else "eos" if ended else "length"
        return Generation(text=text, num_tokens=len(token_ids), finish_reason=reason)

    @torch.inference_mode()
    def _score(self, request: ScoreRequest) -> ScoreResult:
        text, (start, end) = render_scored(self.tokenizer, request.messages, request.span)
        encoded = self.tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
        ids = encoded["input_ids"]
        scored = [j for j, (s, e) in enumerate(encoded["offset_mapping"]) if s < end and e > start and j > 0]
        if not scored:
            raise ValueError(f"the span {request.span} covers no token")
        # Logits only at the positions that predict a scored token: the vocabulary head is a large part
        # of the cost of a small model, and the rest of the sequence needs none.
        positions = torch.tensor(scored, device=self.device) - 1
        logits = self.model(torch.tensor([ids], device=self.device), logits_to_keep=positions).logits[0]
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        targets = torch.tensor([ids[j] for j in scored], device=self.device)
        values = logprobs.gather(1, targets[:, None])[:, 0].tolist()
        tokens = [text[s:e] for s, e in (encoded["offset_mapping"][j] for j in scored)]
        return ScoreResult(token_logprobs=values, tokens=tokens, context_tokens=scored[0])
