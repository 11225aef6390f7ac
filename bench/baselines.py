"""The naive engines the benchmarks beat — faithful to the published code's way of calling models.

* scoring: one full forward per candidate, logits over the whole sequence and the whole vocabulary;
  and, as the published scorer did, 100 generated tokens per scoring call that nobody reads;
* generation: one ``generate`` call per candidate, no stop string (the text after ``</refine>`` is cut
  afterwards, so the parsed candidates are the same).

They implement the backend contract, so the very same search code runs on them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from reer.backends.base import Generation, GenerationRequest, ScoreRequest, ScoreResult
from reer.backends.render import encode, render_prompt
from reer.backends.transformers_backend import decode_generation


class NaiveBackend:
    def __init__(self, model, tokenizer, wasted_tokens: int = 100) -> None:
        self.model, self.tokenizer, self.wasted_tokens = model, tokenizer, wasted_tokens

    @torch.inference_mode()
    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        results = []
        for request in requests:
            item = encode(self.tokenizer, request)
            ids = torch.tensor([item.ids])
            logprobs = torch.log_softmax(self.model(ids).logits[0].float(), dim=-1)
            values = [logprobs[j - 1, item.ids[j]].item() for j in item.scored]
            if self.wasted_tokens:
                self.model.generate(
                    ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=self.wasted_tokens,
                    min_new_tokens=self.wasted_tokens,
                    do_sample=False,
                    pad_token_id=self.tokenizer.eos_token_id,
                )
            results.append(ScoreResult(token_logprobs=values, tokens=item.tokens, context_tokens=item.scored[0]))
        return results

    @torch.inference_mode()
    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Generation]]:
        out = []
        for request in requests:
            s = request.sampling
            prompt = render_prompt(self.tokenizer, request.messages, request.prefill)
            ids = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids
            rows = []
            for k in range(request.n):
                torch.manual_seed((s.seed or 0) + k)
                row = self.model.generate(
                    ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=s.max_new_tokens,
                    do_sample=s.temperature > 0,
                    temperature=s.temperature or None,
                    top_p=s.top_p,
                    pad_token_id=self.tokenizer.eos_token_id,
                )[0, ids.shape[1] :]
                rows.append(decode_generation(self.tokenizer, row.tolist(), s.stop))
            out.append(rows)
        return out
