"""End to end: trajectories per hour of the engine vs a sequential loop in the published code's style.

Same algorithm (the same ``Searcher``), same settings and workload; only the engines differ. The baseline
is one item at a time, one request at a time, generating every candidate separately without stop
strings, and scoring with full forwards plus 100 wasted generated tokens, as the published code did.
"""

from __future__ import annotations

import importlib.util
import statistics
import tempfile
import time
from pathlib import Path

from bench.baselines import NaiveBackend
from bench.workload import english_pairs
from reer.config import ModelConfig, ReerConfig, SearchConfig
from reer.search.reer import Searcher, new_trajectory
from reer.search.runner import synthesize
from reer.store import RunStore

# Published settings, shrunk for a 2-core CPU: 2 segments visited, shorter generations; the analysis cap
# lets the 135M model produce candidates at all (identical in both arms).
SETTINGS = {"max_steps": 2, "max_new_tokens_initial": 256, "max_new_tokens_refine": 192, "analysis_tokens": 64}


class _Discard:
    def save_initial(self, t): ...
    def save_step(self, t, step): ...
    def save_finish(self, t): ...


def _summary(trajectories, seconds: float) -> dict:
    done = [t for t in trajectories if t.status == "done"]
    return {
        "items": len(trajectories),
        "done": len(done),
        "seconds": seconds,
        "trajectories_per_hour": len(trajectories) / seconds * 3600,
        "mean_initial": statistics.fmean(t.initial_score for t in done) if done else None,
        "mean_final": statistics.fmean(t.final_score for t in done) if done else None,
        "generated_tokens": sum(t.generated_tokens for t in trajectories),
    }


def run(transformers_backend, items: int = 4, concurrency: tuple[int, ...] = (1, 4)) -> dict:
    pairs = english_pairs(items, 380)  # about 512 tokens of reference
    search = SearchConfig(**SETTINGS)

    naive = NaiveBackend(transformers_backend.model, transformers_backend.tokenizer, wasted_tokens=100)
    baseline = Searcher(naive, naive, search, seed=0)
    start = time.perf_counter()
    slow = [baseline.run(p, new_trajectory(p), _Discard()) for p in pairs]
    baseline_result = _summary(slow, time.perf_counter() - start)

    generator = ModelConfig(backend="llamacpp" if importlib.util.find_spec("llama_cpp") else "transformers")
    engines = {
        n: _engine(pairs, ReerConfig(generator=generator, scorer=ModelConfig(), search=search, concurrency=n))
        for n in concurrency
    }
    best = max(engines, key=lambda n: engines[n]["trajectories_per_hour"])
    return {
        "baseline": baseline_result,
        "engine": engines[best],
        "generator": generator.backend,
        "concurrency": best,
        "by_concurrency": {str(n): e["trajectories_per_hour"] for n, e in engines.items()},
        "speedup": engines[best]["trajectories_per_hour"] / baseline_result["trajectories_per_hour"],
    }


def _engine(pairs, config: ReerConfig) -> dict:
    with tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        synthesize(pairs, Path(run_dir), config)
        seconds = time.perf_counter() - start
        store = RunStore(Path(run_dir))
        result = _summary(store.all_trajectories(), seconds)
        store.close()
    return result
