"""One finished trajectory per JSONL line: the triple (query, thinking, reference) plus how it was found."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from reer.data.pairs import Pair
from reer.search.record import Trajectory
from reer.store import RunStore


def trajectory_row(pair: Pair, t: Trajectory) -> dict[str, Any]:
    assert t.initial is not None
    return {
        "id": pair.id,
        "rollout": t.rollout,
        "language": t.language,
        "query": pair.query,
        "reference": pair.reference,
        "thinking": t.final_trace,
        "initial_thinking": t.initial.trace,
        "initial_score": t.initial_score,
        "final_score": t.final_score,
        "stop_reason": t.stop_reason,
        "steps": [
            {
                "segment_index": s.segment_index,
                "chosen": s.chosen,
                "best_score": s.best_score,
                "candidate_scores": [c.scored.score if c.scored else None for c in s.candidates],
                "dropped": [c.dropped for c in s.candidates],
            }
            for s in t.steps
        ],
        "generated_tokens": t.generated_tokens,
        "seconds": round(t.seconds, 3),
        "source": pair.source,
    }


def export_jsonl(run_dir: Path, out: Path) -> int:
    """Write every finished trajectory of ``run_dir`` to ``out`` (atomically); return how many."""
    store = RunStore.open_existing(run_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    count = 0
    try:
        with partial.open("w", encoding="utf-8") as handle:
            for pair, trajectory in store.finished():
                handle.write(json.dumps(trajectory_row(pair, trajectory), ensure_ascii=False) + "\n")
                count += 1
        os.replace(partial, out)
    finally:
        store.close()
    return count
