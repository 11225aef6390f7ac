"""`reer filter` on a DeepWriting-20K-size run: the Gopher measures, language identification and the quality
summary against the filter they were added to (reer 0.9.1, checked out beside this tree), on the same store.

The store is built through the run store's own API with the shape of the simulated 20,000-item run of
``bench scale`` at a quarter of the text length (its all-items run): 10 thinking paragraphs, 10 refinement
steps of 2 candidates each. One trajectory in ten is a loop (a paragraph written again and again), so the
new check's drop path is timed too.
"""

from __future__ import annotations

import random
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench.scale import REPO, measure_reer
from bench.sim_server import INITIAL_PARAGRAPHS, PARAGRAPH_WORDS, paragraph
from reer.records import Pair
from reer.records.trajectory import Candidate, InitialTrace, Scored, Step
from reer.search.reer import new_trajectory
from reer.store import RunStore

BASELINE = "a2f67ff"  # reer 0.9.1: the published top-3-trigram rule and the word-list language heuristic
REFERENCE_WORDS = 150


def run(items: int = 20_000, length: float = 0.25, loop_every: int = 10) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        _build(run_dir, items, length, loop_every)
        now = measure_reer(["filter", str(run_dir)])
        baseline = _baseline(Path(tmp) / "baseline", run_dir)
    return {
        "items": items,
        "text_length": length,
        "loops": items // loop_every,
        "filter": now,
        "baseline_filter": baseline,
        "ratio": now["wall_s"] / baseline["wall_s"] if baseline else None,
    }


def _build(run_dir: Path, items: int, length: float, loop_every: int) -> None:
    rng = random.Random(0)
    words = round(PARAGRAPH_WORDS * length)
    store = RunStore(run_dir)
    try:
        pairs = [
            Pair(id=f"item-{k}", query=f"Write a story about keeper {k}.", reference=paragraph(rng, REFERENCE_WORDS))
            for k in range(items)
        ]
        store.add_items(pairs, rollouts=1)
        for start in range(0, items, 200):
            with store.batch():
                for k, pair in enumerate(pairs[start : start + 200], start=start):
                    _save(store, pair, rng, words, loop=k % loop_every == 0)
    finally:
        store.close()


def _save(store: RunStore, pair: Pair, rng: random.Random, words: int, loop: bool) -> None:
    t = new_trajectory(pair)
    paragraphs = [paragraph(rng, words) for _ in range(INITIAL_PARAGRAPHS)]
    if loop:
        paragraphs = paragraphs[:2] + [paragraphs[2]] * (INITIAL_PARAGRAPHS - 2)
    trace = "\n\n".join(paragraphs)
    scored = Scored(score=1.0, token_logprobs=[])
    t.initial = InitialTrace(
        opener="Alright", raw=trace, trace=trace, num_tokens=words * 13, finish_reason="stop", generate_seconds=1
    )
    t.initial.scored = scored
    store.save_initial(t)
    for index in range(INITIAL_PARAGRAPHS):
        candidates = [
            Candidate(raw=paragraph(rng, words), text=paragraph(rng, words), num_tokens=words, finish_reason="stop")
            for _ in range(2)
        ]
        step = Step(
            step=index, segment_index=index, original=paragraphs[index], candidates=candidates, chosen=None,
            best_score=1.0, generate_seconds=1, score_seconds=1,
        )  # fmt: skip
        store.save_step(t, step)
    t.status, t.stop_reason, t.final_trace = "done", "all_segments_visited", trace
    store.save_finish(t)


def _baseline(checkout: Path, run_dir: Path) -> dict[str, Any] | None:
    """The same command with reer 0.9.1's code (a git worktree of this repository), or None outside a clone."""
    added = subprocess.run(
        ["git", "worktree", "add", "--detach", str(checkout), BASELINE], cwd=REPO, capture_output=True, text=True
    )
    if added.returncode != 0:
        print(f"no baseline: {added.stderr.strip()}")
        return None
    try:
        return measure_reer(["filter", str(run_dir)], source=checkout / "src")
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(checkout)], cwd=REPO, capture_output=True)
