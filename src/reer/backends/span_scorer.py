"""Fast span scoring for Hugging Face causal LMs.

Three savings over the obvious "one full forward per candidate, logits everywhere":

* the vocabulary head runs only at positions that predict a scored token (on SmolLM2 the 49k-word head
  is a fifth of the FLOPs per token, and full-sequence logits are hundreds of MB);
* requests sharing a long token prefix (the chat prompt plus the thinking before the edited segment —
  every candidate of one REER step) run that prefix once; its key/value cache is then repeated across the
  batch and only the differing suffixes are computed;
* the suffixes of a group run as one right-padded batch. Right padding needs no attention mask: with a
  causal mask, real tokens never attend to the pads that follow them.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch

from reer.backends.base import ScoreRequest, ScoreResult
from reer.backends.render import Encoded, encode


def shared_prefix(items: Sequence[Encoded]) -> int:
    """Tokens all items share, stopping before the first position whose logits are needed."""
    limit = min(min(it.scored) - 1 for it in items)
    first = items[0].ids
    n = 0
    while n < limit and all(len(it.ids) > n and it.ids[n] == first[n] for it in items):
        n += 1
    return n


class SpanScorer:
    def __init__(self, model: Any, tokenizer: Any, min_shared: int = 32, max_group: int = 16) -> None:
        self.decoder = model.get_decoder()
        self.head = model.get_output_embeddings()
        self.softcap = getattr(model.config, "final_logit_softcapping", None)
        self.tokenizer = tokenizer
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.min_shared, self.max_group = min_shared, max_group
        params = inspect.signature(self.decoder.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"  # renamed in transformers 5
        self._config = model.config

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        encoded = [encode(self.tokenizer, r) for r in requests]
        results: dict[int, ScoreResult] = {}
        for group in self._groups(encoded):
            results.update(zip(group, self._score_group([encoded[i] for i in group]), strict=True))
        return [results[i] for i in range(len(encoded))]

    def _groups(self, items: list[Encoded]) -> list[list[int]]:
        """Greedy grouping of requests that share at least ``min_shared`` leading tokens."""
        groups: list[list[int]] = []
        for i, item in enumerate(items):
            for group in groups:
                if len(group) < self.max_group and shared_prefix([items[group[0]], item]) >= self.min_shared:
                    group.append(i)
                    break
            else:
                groups.append([i])
        return groups

    @torch.inference_mode()
    def _score_group(self, items: list[Encoded]) -> list[ScoreResult]:
        shared = shared_prefix(items) if len(items) > 1 else 0
        kwargs: dict[str, Any] = {}
        if shared:
            from transformers import DynamicCache

            cache = DynamicCache(config=self._config)
            prefix = torch.tensor([items[0].ids[:shared]], device=self.device)
            self.decoder(input_ids=prefix, use_cache=True, **{self._cache_arg: cache})
            cache.batch_repeat_interleave(len(items))
            kwargs = {self._cache_arg: cache, "use_cache": True}
        suffixes = [it.ids[shared:] for it in items]
        width = max(map(len, suffixes))
        batch = torch.tensor([s + [self.pad_id] * (width - len(s)) for s in suffixes], device=self.device)
        hidden = self.decoder(input_ids=batch, **kwargs).last_hidden_state
        return [self._span_logprobs(hidden[b], it, shared) for b, it in enumerate(items)]

    def _span_logprobs(self, hidden: torch.Tensor, item: Encoded, shared: int) -> ScoreResult:
        rows = torch.tensor([j - 1 - shared for j in item.scored], device=self.device)
        logits = self.head(hidden[rows]).float()
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        targets = torch.tensor([item.ids[j] for j in item.scored], device=self.device)
        values = torch.log_softmax(logits, dim=-1).gather(1, targets[:, None])[:, 0].tolist()
        return ScoreResult(token_logprobs=values, tokens=item.tokens, context_tokens=item.scored[0])
