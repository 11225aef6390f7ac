"""The run store at DeepWriting-20K size (20,000 items): how fast search stages commit, and what reading a
run the way `status`, `export` and `filter` now do costs against the full-record reads they replaced.

The run is made by the fake backend (instant), so the search's own machinery and the store are all that is
timed. Each item has 1 + `steps` stages committed (the published setting has up to 21 steps; the commit
cost per step is the same)."""

from __future__ import annotations

import json
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reer.config import ModelConfig, ReerConfig, SearchConfig
from reer.records import Pair
from reer.records.trajectory import Candidate, Scored, Step
from reer.search.runner import synthesize
from reer.store import RunStore

REFERENCE = "\n\n".join(
    f"Paragraph {k}: the keeper climbed the stairs, lit the lamp and watched the ships pass in the dark."
    for k in range(8)
)


def run(items: int = 20_000, steps: int = 3) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        pairs = [Pair(id=f"item-{k}", query=f"Write about keeper {k}.", reference=REFERENCE) for k in range(items)]
        config = ReerConfig(generator=ModelConfig(backend="fake"), search=SearchConfig(max_steps=steps))
        started = time.perf_counter()
        summary = synthesize(pairs, run_dir, config)
        search_seconds = time.perf_counter() - started
        store = RunStore.open_existing(run_dir, readonly=True)
        try:
            stages = store.db.execute("SELECT COUNT(*) FROM steps").fetchone()[0] + 2 * items  # + initial, finish
            status_new = _measure(lambda: store.overview())
            status_old = _measure(lambda: store.all_trajectories())
            export_new = _measure(lambda: list(store.finished(logprobs=False)))
            export_old = _measure(lambda: list(store.finished()))
        finally:
            store.close()
        commits = _commit_rate(Path(tmp) / "commits")
    return {
        "items": items,
        "steps_per_item": steps,
        "done": summary.counts.get("done", 0),
        "search_seconds": search_seconds,
        "items_per_s": items / search_seconds,
        "stage_commits_per_s_in_run": stages / search_seconds,
        "commits_per_s_alone": commits,
        "status": {"full_records": status_old, "overview": status_new, "speedup": status_old["s"] / status_new["s"]},
        "export_read": {
            "full_records": export_old,
            "without_logprobs": export_new,
            "speedup": export_old["s"] / export_new["s"],
            "memory_ratio": export_old["peak_mb"] / export_new["peak_mb"],
        },
    }


def _measure(read: Callable[[], Any]) -> dict[str, float]:
    tracemalloc.start()
    started = time.perf_counter()
    read()
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"s": seconds, "peak_mb": peak / 2**20}


def _commit_rate(run_dir: Path, count: int = 500) -> float:
    """Step commits per second alone: a published-size step (16 candidates, 1,000 scored tokens each)."""
    store = RunStore(run_dir)
    try:
        store.add_items([Pair(id="one", query="Write about a keeper.", reference=REFERENCE)], rollouts=1)
        trajectory = store.unfinished()[0][1]
        scored = Scored(score=1.0, token_logprobs=[-0.5] * 1000)
        candidates = [Candidate(raw="x " * 400, text="x " * 380, num_tokens=400, finish_reason="stop", scored=scored)]
        started = time.perf_counter()
        for k in range(count):
            step = Step(step=k, segment_index=0, original="o", candidates=candidates * 16, chosen=0,
                        best_score=1.0, generate_seconds=0.0, score_seconds=0.0)  # fmt: skip
            store.save_step(trajectory, step)
        return count / (time.perf_counter() - started)
    finally:
        store.close()


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
