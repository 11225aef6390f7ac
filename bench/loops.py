"""Loop control at generation, measured on the demo's generator: the initial thinking of the same Arena-Hard
pairs with no penalty (the published setting, the baseline) and with each penalty, judged by the filters.

Each arm runs the real search up to its initial trace (``max_steps: 0``) with the demo's budgets; the scorer is
the deterministic fake, because only the thinking is measured here. Rejected traces (too short, one paragraph)
are counted apart; every other trace is judged with the demo's filters.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from reer.backends import load_backend
from reer.backends.fake import FakeBackend
from reer.config import PENALTIES_OFF, ModelConfig, SearchConfig
from reer.demo import DEMO_SEARCH, demo_config, demo_pairs
from reer.filters import failed_checks
from reer.filters.checks import Thinking
from reer.filters.repetition import repetition_measures
from reer.search.reer import Searcher, new_trajectory

ARTIFACTS = Path(os.environ.get("REER_ARTIFACTS", "artifacts"))
ARMS: dict[str, dict[str, float]] = {
    "no penalty (published)": {},
    "repetition_penalty 1.1": {"repetition_penalty": 1.1},
    "repetition_penalty 1.2": {"repetition_penalty": 1.2},
    "frequency_penalty 0.5": {"frequency_penalty": 0.5},
    "presence_penalty 0.5": {"presence_penalty": 0.5},
}


class _Discard:
    """A journal that keeps nothing: the arms are compared on the trajectories they return."""

    def save_initial(self, t: Any) -> None: ...
    def save_step(self, t: Any, step: Any) -> None: ...
    def save_finish(self, t: Any) -> None: ...


def run(pairs: int = 24, keep: Path | None = ARTIFACTS) -> dict[str, Any]:
    """``keep``: where each arm's traces and verdicts are written (JSONL), to be read, not only counted."""
    backend = "llamacpp" if importlib.util.find_spec("llama_cpp") else "transformers"
    generator = load_backend(ModelConfig(backend=backend), "generate", "generator")
    items = demo_pairs(pairs)
    filters = demo_config().filters
    arms = {}
    for name, penalties in ARMS.items():
        config = SearchConfig(**{**DEMO_SEARCH, "max_steps": 0, **PENALTIES_OFF, **penalties})
        started = time.perf_counter()
        finished = [Searcher(generator, FakeBackend(), config).run(p, new_trajectory(p), _Discard()) for p in items]
        seconds = time.perf_counter() - started
        done = [(p, t) for p, t in zip(items, finished, strict=True) if t.status == "done"]
        dup = [repetition_measures(t.final_trace or "")["dup_10gram_char_frac"] for _, t in done]
        verdicts = [failed_checks(Thinking.of(p, t), filters) for p, t in done]
        gopher = sum("gopher-repetition" not in v for v in verdicts)
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            slug = "-".join(f"{k}-{v}" for k, v in penalties.items()) or "none"
            with (keep / f"loops-{slug}.jsonl").open("w", encoding="utf-8") as out:
                for (p, t), v in zip(done, verdicts, strict=True):
                    out.write(json.dumps({"id": p.id, "thinking": t.final_trace, "failed": v}) + "\n")
        every = sum(not v for v in verdicts)
        arms[name] = {
            "traces": len(done),
            "rejected": len(items) - len(done),
            "mean_dup_10gram": statistics.fmean(dup) if dup else 0.0,
            "pass_gopher": gopher,
            "pass_gopher_share": gopher / len(done) if done else 0.0,
            "pass_all": every,
            "pass_all_share": every / len(done) if done else 0.0,
            "seconds": seconds,
        }
        print(name, arms[name], flush=True)
    return {"generator": f"SmolLM2-135M on {backend}", "pairs": pairs, "arms": arms}
