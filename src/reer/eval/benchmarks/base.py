"""What every benchmark provides: items to answer, judge tasks per answer, and per-item scores.

A benchmark is a plain object with ``load`` → items, ``judge_tasks(item, answer)`` → the prompts a judge
must score, and ``item_scores(item, answer, verdicts)`` → the item's metrics on the published scale. The
runner owns generation, judging, retries, storage and aggregation, so a new benchmark is one small module.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from reer.errors import InputError

Verdicts = dict[str, dict[str, float] | None]  # judge task part → parsed scores, None when unscored


@dataclass(frozen=True)
class EvalItem:
    benchmark: str
    id: str
    prompt: str
    language: str
    group: str  # the subset, domain or type results are broken down by
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JudgeTask:
    """One judge call: a prompt asking for named scores in ``[low, high]``, one per line as ``name: score``."""

    part: str
    prompt: str
    keys: tuple[str, ...]
    low: float
    high: float


@dataclass(frozen=True)
class Selection:
    """Which items of a benchmark to run (``--domains``, ``--lang``, ``--subsets``, ``--limit``)."""

    limit: int | None = None
    languages: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    per_group: bool = False  # the limit counts per group (domain, subset) instead of per benchmark

    def apply(self, items: list[EvalItem]) -> list[EvalItem]:
        chosen = [
            item
            for item in items
            if (not self.languages or item.language in self.languages)
            and (not self.groups or item.group in self.groups)
        ]
        if self.limit is None:
            return chosen
        if not self.per_group:
            return chosen[: self.limit]
        taken: Counter[str] = Counter()
        kept = []
        for item in chosen:
            taken[item.group] += 1
            if taken[item.group] <= self.limit:
                kept.append(item)
        return kept


Headlines = dict[str, tuple[str, tuple[str, ...] | None]]  # published label → (metric, groups; None: all)


class Benchmark(Protocol):
    name: str
    headlines: Headlines

    def load(self, source: Path | None, selection: Selection) -> list[EvalItem]: ...

    def judge_tasks(self, item: EvalItem, answer: str) -> list[JudgeTask]: ...

    def item_scores(self, item: EvalItem, answer: str, verdicts: Verdicts) -> dict[str, float | None]: ...


def read_jsonl(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, Any]]]:
    """(line number, row) of a benchmark file; a bad line is an error naming file, line and field."""
    if not path.is_file():
        raise InputError(f"benchmark file {path} does not exist")
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
            for name in required:
                if row.get(name) in (None, ""):
                    raise InputError(f"{path}:{number}: field '{name}' is missing or empty")
            rows.append((number, row))
    return rows


def score_lines(keys: tuple[str, ...], low: float, high: float) -> str:
    """The answer format every judge prompt ends with."""
    lines = "\n".join(f"{key}: <score>" for key in keys)
    return f"Finish with exactly these lines, each score a number from {low:g} to {high:g}:\n{lines}"
