"""Generation with llama.cpp (``llama-cpp-python``, an optional extra): 5–7× faster than transformers on a CPU.

Prompts are rendered with the model's Hugging Face chat template (the same rendering every backend uses)
and tokenized by llama.cpp from the same GGUF vocabulary. Candidates of one request are sampled one after
another: llama.cpp keeps the key/value cache of the longest prefix shared with the previous call, so the
prompt is evaluated once per request, not once per candidate.

Sampling is exactly temperature, then top-p, then a seeded draw — the order transformers and vLLM use — after
the loop-control penalties when they are switched on (``repeat_penalty``, ``frequency_penalty``,
``presence_penalty``, over every generated token).
llama.cpp's default chain differs (top-k 40, min-p 0.05, and top-p *before* temperature), so the backend
installs its own chain.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from reer.backends.base import (
    FinishReason,
    Generation,
    GenerationRequest,
    Sampling,
    context_budget,
    cut_at_stop,
)
from reer.backends.models import counting, gguf_file, load_tokenizer
from reer.backends.render import encode_prompt
from reer.config import DEFAULT_CONTEXT, EMBEDDED_MODEL, GEMMA_MODEL, ModelConfig
from reer.errors import BackendError, ModelNotFoundError


class LlamaCppBackend:
    """Generation only; score with a transformers scorer (``scorer:`` in the config)."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"generate", "tokenize"})

    @staticmethod
    def token_counter(config: ModelConfig) -> Callable[[str], int]:
        _gguf(config.model)
        return counting(load_tokenizer(config.model))

    def __init__(self, config: ModelConfig) -> None:
        try:
            import llama_cpp  # noqa: F401
        except ImportError as exc:
            raise BackendError(
                "the llama.cpp backend needs llama-cpp-python: pip install 'reer[llamacpp]' "
                "(it compiles llama.cpp, about 8 minutes on 2 cores; pip caches the wheel afterwards)"
            ) from exc
        self.config = config
        self.llm = _load_llama(str(_gguf(config.model)), config.context_length or DEFAULT_CONTEXT)
        self.tokenizer = load_tokenizer(config.model)
        self.end_tokens = {self.llm.token_eos(), self.tokenizer.eos_token_id}
        # generate() builds its sampler through this (private, version-pinned) hook; ours applies
        # temperature before top-p.
        self.llm._init_sampler = self._sampler_chain

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Generation]]:
        return [self._generate(request) for request in requests]

    def _generate(self, request: GenerationRequest) -> list[Generation]:
        # The Hugging Face tokenizer read from the same GGUF: its ids are llama.cpp's, and only the
        # template's special tokens are control tokens (``render.py``).
        tokens = encode_prompt(self.tokenizer, request.messages, request.prefill).ids
        seed = request.sampling.seed
        return [
            self._sample(tokens, request.sampling, None if seed is None else (seed + k) % 2**31)
            for k in range(request.n)
        ]

    def _sampler_chain(
        self,
        temp: float,
        top_p: float,
        top_k: int = 0,
        repeat_penalty: float = 1.0,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        **_: Any,
    ) -> Any:
        from llama_cpp._internals import LlamaSampler

        chain = LlamaSampler()
        if (repeat_penalty, frequency_penalty, presence_penalty) != (1.0, 0.0, 0.0):
            # Over every token generated so far (llama.cpp's default window is the last 64), before temperature.
            chain.add_penalties(
                n_vocab=self.llm.n_vocab(),
                penalty_last_n=self.llm.n_ctx(),
                penalty_repeat=repeat_penalty,
                penalty_freq=frequency_penalty,
                penalty_present=presence_penalty,
            )
        if temp <= 0:
            chain.add_greedy()
            return chain
        if top_k > 0:
            chain.add_top_k(top_k)
        chain.add_temp(temp)
        chain.add_top_p(top_p, 1)
        chain.add_dist(self.llm._seed)
        return chain

    def _sample(self, prompt: list[int], sampling: Sampling, seed: int | None) -> Generation:
        """One continuation. Our own loop over llama.cpp's token stream, because its completion API
        reports end-of-sequence and a stop string alike as "stop"."""
        if seed is not None:
            self.llm.set_seed(seed)
        budget = context_budget(sampling.max_new_tokens, len(prompt), self.llm.n_ctx())
        stops = [stop.encode("utf-8") for stop in sampling.stop if stop]
        window = max((len(stop) for stop in stops), default=0) + 16
        text, count = bytearray(), 0
        reason: FinishReason = "length"
        repeat, frequency, presence = sampling.penalties
        stream = self.llm.generate(
            prompt,
            temp=sampling.temperature,
            top_p=sampling.top_p if sampling.top_p is not None else 1.0,
            top_k=sampling.top_k or 0,
            repeat_penalty=repeat,
            frequency_penalty=frequency,
            presence_penalty=presence,
            reset=True,
        )
        for token in stream:
            if token in self.end_tokens:
                reason = "eos"
                break
            count += 1
            text += self.llm.detokenize([token])
            if any(stop in text[-window:] for stop in stops):
                reason = "stop"
                break
            if count >= budget:
                break
        stream.close()
        decoded, _ = cut_at_stop(text.decode("utf-8", errors="replace"), sampling.stop)
        return Generation(text=decoded, num_tokens=count, finish_reason=reason)


def _gguf(model: str) -> Path:
    gguf = gguf_file(model)
    if gguf is None:
        raise ModelNotFoundError(
            f"the llama.cpp backend needs a .gguf file, '{EMBEDDED_MODEL}' or '{GEMMA_MODEL}', got {model!r}"
        )
    return gguf


@cache
def _load_llama(path: str, context_length: int) -> Any:
    from llama_cpp import Llama

    return Llama(model_path=path, n_ctx=context_length, n_threads=os.cpu_count(), n_batch=512, verbose=False)
