"""The full record of one finished trajectory (``--format records``): the triple plus how it was found."""

from __future__ import annotations

from typing import Any

from reer.records import Pair
from reer.records.trajectory import Trajectory


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
                "seconds": round(s.generate_seconds + s.score_seconds, 3),
                "retries": s.retries,
            }
            for s in t.steps
        ],
        "generated_tokens": t.generated_tokens,
        "seconds": round(t.seconds, 3),
        "retries": t.retries,
        "source": pair.source,
    }
