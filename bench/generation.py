"""Generation of one step's candidates: engines vs naive sequential ``generate`` calls (transformers)."""

from __future__ import annotations

import importlib.util
import time

from bench.baselines import NaiveBackend
from bench.workload import generation_step


def _tokens_per_s(backend, request) -> tuple[float, int, float]:
    start = time.perf_counter()
    out = backend.generate([request])[0]
    seconds = time.perf_counter() - start
    tokens = sum(g.num_tokens for g in out)
    return tokens / seconds, tokens, seconds


def run(transformers_backend, max_new_tokens: int = 128) -> dict:
    request = generation_step(max_new_tokens=max_new_tokens)
    naive = NaiveBackend(transformers_backend.model, transformers_backend.tokenizer)
    prompt_tokens = len(transformers_backend.tokenizer(request.messages[-1]["content"]).input_ids)
    result = {"prompt_tokens": prompt_tokens, "candidates": request.n, "max_new_tokens": max_new_tokens}
    result["naive_tok_s"], result["naive_tokens"], result["naive_seconds"] = _tokens_per_s(naive, request)
    t = _tokens_per_s(transformers_backend, request)
    result["transformers_batched_tok_s"], result["transformers_batched_tokens"], _ = t
    if importlib.util.find_spec("llama_cpp"):
        from reer.backends.llamacpp_backend import LlamaCppBackend
        from reer.config import ModelConfig

        llama = LlamaCppBackend(ModelConfig(backend="llamacpp"))
        llama.generate([request])  # warm-up: first call maps the model
        result["llamacpp_tok_s"], result["llamacpp_tokens"], result["llamacpp_seconds"] = _tokens_per_s(llama, request)
    best = max(v for k, v in result.items() if k.endswith("_tok_s") and not k.startswith("naive"))
    result["speedup"] = best / result["naive_tok_s"]
    return result
