"""Scoring: the engine (span-only head, shared-prefix KV reuse, batched) vs one naive full forward per candidate."""

from __future__ import annotations

import statistics
import time

from bench.baselines import NaiveBackend
from bench.roofline import forward_flops
from bench.workload import scoring_step
from reer.backends.render import encode
from reer.backends.span_scorer import shared_prefix


def _time(fn, repeats: int) -> tuple[float, object]:
    fn()  # warm-up
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def run(backend, repeats: int = 3) -> dict:
    requests = scoring_step()
    naive = NaiveBackend(backend.model, backend.tokenizer, wasted_tokens=0)
    engine_s, fast = _time(lambda: backend.score(requests), repeats)
    naive_s, slow = _time(lambda: naive.score(requests), repeats)
    published = NaiveBackend(backend.model, backend.tokenizer, wasted_tokens=100)
    published_s, _ = _time(lambda: published.score(requests), 1)
    error = max(
        abs(a - b)
        for f, s in zip(fast, slow, strict=True)
        for a, b in zip(f.token_logprobs, s.token_logprobs, strict=True)
    )

    items = [encode(backend.tokenizer, r) for r in requests]
    shared = shared_prefix(items)
    scored = sum(len(it.scored) for it in items)
    config = backend.model.config
    engine_flops = forward_flops(config, shared, 0, 0) + sum(
        forward_flops(config, len(it.ids) - shared, shared, len(it.scored)) for it in items
    )
    naive_flops = sum(forward_flops(config, len(it.ids), 0, len(it.ids)) for it in items)
    return {
        "sequence_tokens": len(items[0].ids),
        "shared_prefix_tokens": shared,
        "candidates": len(items),
        "scored_tokens": scored,
        "max_abs_logprob_diff": error,
        "engine_seconds": engine_s,
        "naive_seconds": naive_s,
        "engine_candidates_per_s": len(items) / engine_s,
        "naive_candidates_per_s": len(items) / naive_s,
        "engine_scored_tokens_per_s": scored / engine_s,
        "naive_scored_tokens_per_s": scored / naive_s,
        "speedup": naive_s / engine_s,
        "flop_ratio": naive_flops / engine_flops,  # the most any exact engine gains at equal FLOP/s
        "published_style_seconds": published_s,
        "speedup_vs_published_style": published_s / engine_s,
        "engine_gflops": engine_flops / engine_s / 1e9,
        "naive_gflops": naive_flops / naive_s / 1e9,
    }
