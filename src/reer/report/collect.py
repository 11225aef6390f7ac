"""A run, read through the store's own queries into the plain documents the report, the viewer and
`reer status --json` show. Nothing here opens SQLite itself: there is one way to read a run.

The overview is one row per trajectory (no records, no log-probabilities), so it stays small and fast at
20,000 items; an item's page is read only when someone opens it.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any

from reer.filters.repetition import LABELS
from reer.search.reer import current_segments
from reer.search.runner import summarize
from reer.store import RunStore
from reer.store.lock import writer_pid
from reer.version import __version__

_WORDS = re.compile(r"\s+|[^\s]+")


def status_document(store: RunStore) -> dict[str, Any]:
    """What `reer status` prints, as data: counts, mean scores, retries and one row per trajectory."""
    summary = summarize(store)
    return {
        "counts": summary.counts,
        "total": summary.total,
        "mean_initial": summary.mean_initial,
        "mean_final": summary.mean_final,
        "retries": summary.retries,
        "fingerprint": store.get_meta("fingerprint"),
        "items": [dict(vars(row)) for row in store.overview()],  # asdict deep-copies: 3x slower here
    }


def run_overview(store: RunStore, run_dir: Path) -> dict[str, Any]:
    """The report's first page: the status document plus the configuration, what the run spent, per-step
    acceptance and the filter's verdicts."""
    document = status_document(store)
    drops = store.filter_drops()
    for row in document["items"]:
        row["filtered"] = sorted(drops.get((row["item_id"], row["rollout"]), {}))
    calls, wall = store.search_calls()
    config = json.loads(store.get_meta("config") or "{}")
    document.update(
        run=_name(run_dir),
        reer_version=__version__,
        running=writer_pid(run_dir) is not None,
        config=config,
        models=_models(config),
        search_calls=calls,
        wall_seconds=wall if calls else None,
        totals=store.totals(),
        acceptance=[{"step": s, "visits": n, "accepted": k} for s, n, k in store.acceptance()],
        rejected=_reasons(row["note"] for row in document["items"] if row["status"] == "rejected"),
        filtered=_reasons(reason for found in drops.values() for reason in found),
        filters_ran=store.get_meta("filters") is not None,
        quality=_labelled(json.loads(store.get_meta("filter_quality") or "{}")),
    )
    return document


def _labelled(quality: dict[str, Any]) -> dict[str, Any]:
    """The last `reer filter`'s quality summary, each repetition measure with its reader's name."""
    for name, measure in quality.get("repetition", {}).items():
        measure["label"] = LABELS.get(name, name)
    return quality


def item_page(store: RunStore, item_id: str, rollout: int) -> dict[str, Any]:
    """Everything about one trajectory: texts, the score path, each step's candidates with a word diff
    against the segment they rewrite, the final thinking with its rewritten segments marked, and the change
    of every reference token's log-probability from the initial thinking to the final one."""
    t = store.trajectory(item_id, rollout)  # first: it names an item the run lacks
    pair = store.pair(item_id)
    config = json.loads(store.get_meta("config") or "{}")
    min_chars = config.get("search", {}).get("min_segment_chars", 100)
    page: dict[str, Any] = {
        "item_id": item_id,
        "rollout": rollout,
        "status": t.status,
        "language": t.language,
        "query": pair.query,
        "reference": pair.reference,
        "note": t.reject_reason or t.error or "",
        "stop_reason": t.stop_reason,
        "initial_score": t.initial_score,
        "final_score": t.final_score,
        "filtered": store.filter_verdict(item_id, rollout),
        "initial": None,
        "steps": [],
        "segments": [],
        "heat": None,
    }
    if t.initial is None:
        return page
    page["initial"] = {
        "opener": t.initial.opener,
        "trace": t.initial.trace,
        "num_tokens": t.initial.num_tokens,
        "finish_reason": t.initial.finish_reason,
        "score": t.initial_score,
    }
    page["steps"] = [
        {
            "step": s.step,
            "segment": s.segment_index,
            "original": s.original,
            "chosen": s.chosen,
            "best_score": s.best_score,
            "candidates": [
                {
                    "text": c.text,
                    "raw": c.raw,
                    "dropped": c.dropped,
                    "score": c.scored.score if c.scored else None,
                    "num_tokens": c.num_tokens,
                    "finish_reason": c.finish_reason,
                    "diff": word_diff(s.original, c.text) if c.text is not None else [],
                }
                for c in s.candidates
            ],
        }
        for s in t.steps
    ]
    if t.reject_reason is None:
        rewritten = {s.segment_index: s.step for s in t.steps if s.chosen is not None}
        page["segments"] = [
            {"text": text, "rewritten_at": rewritten.get(i)} for i, text in enumerate(current_segments(t, min_chars))
        ]
    first, best = t.initial.scored, t.best()
    if first and best and len(first.token_logprobs) == len(best.token_logprobs) == len(t.scored_tokens):
        page["heat"] = {
            "tokens": t.scored_tokens,
            "initial": [round(v, 4) for v in first.token_logprobs],
            "final": [round(v, 4) for v in best.token_logprobs],
        }
    return page


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """``new`` against ``old`` word by word: runs of ("=", text), ("-", removed) and ("+", added)."""
    a, b = _WORDS.findall(old), _WORDS.findall(new)
    runs: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            runs.append(("=", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            runs.append(("-", "".join(a[i1:i2])))
        if j2 > j1:
            runs.append(("+", "".join(b[j1:j2])))
    return runs


def _name(run_dir: Path) -> str:
    """The run's folder with its parent: ``demo/run`` tells more than ``run``."""
    path = run_dir.resolve()
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def _models(config: dict[str, Any]) -> dict[str, str]:
    generator = config.get("generator") or {}
    scorer = config.get("scorer") or generator
    return {
        role: f"{part.get('model', '?')} ({part.get('backend', '?')})"
        for role, part in (("generator", generator), ("scorer", scorer))
    }


def _reasons(notes: Any) -> dict[str, int]:
    """Counts per reason, the reason's name without its particulars: ``too_few_tokens (37 < 100)`` counts
    as ``too_few_tokens``."""
    counts: dict[str, int] = {}
    for note in notes:
        name = str(note).split(" (")[0] or "unknown"
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))
