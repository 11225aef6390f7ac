"""What every benchmark provides: items to answer, its own judge files, judge tasks per answer, the official
parse of a verdict, and per-item scores.

A benchmark is a plain object with ``load`` → items, ``official(source)`` → its own prompt files (and weights),
``judge_tasks(item, answer, files)`` → the messages a judge must answer, ``parse(task, text)`` → the verdict
read the benchmark's way, and ``item_scores(item, answer, verdicts, files)`` → the item's metrics on the
published scale. The runner owns generation, judging, attempts, storage and aggregation; the protocol's
numbers (sampling, attempts) are data in :mod:`reer.eval.protocol`.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from reer.errors import InputError
from reer.eval.official import OfficialFile

Verdicts = dict[str, dict[str, float] | None]  # judge task part → parsed scores, None when unscored


@dataclass(frozen=True)
class EvalItem:
    benchmark: str
    id: str
    prompt: str
    language: str
    group: str  # the subset, domain or type results are broken down by
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def stratum(self) -> str:
        """What a ``--limit`` sample is stratified by: the group, or a finer key a benchmark sets."""
        return str(self.data.get("stratum", self.group))


@dataclass(frozen=True)
class JudgeTask:
    """One judge verdict: the benchmark's own messages, filled in exactly as its script fills them."""

    part: str
    messages: tuple[dict[str, str], ...]
    keys: tuple[str, ...]  # the scores the verdict must hold
    # For a local judge only: the official output format as literal pieces around one slot per score. A small
    # local model fills the slots, never the format (see judges.ModelJudge).
    form: tuple[str, ...] = ()

    @property
    def prompt(self) -> str:
        """The user turn (the filled-in official prompt)."""
        return self.messages[-1]["content"]


@dataclass(frozen=True)
class Parsed:
    """A verdict read the benchmark's way; ``cost``: attempts it used up (LongWriter's loop charges a missing
    dimension twice, and reer counts as its code does)."""

    scores: dict[str, float] | None
    cost: int = 1


@dataclass(frozen=True)
class Files:
    """A benchmark's own files as read for this run, and what its judge needs from them."""

    prompts: dict[str, OfficialFile]  # role → file
    values: dict[str, Any] = field(default_factory=dict)  # the texts and tables read from them

    @property
    def recorded(self) -> dict[str, str]:
        return {str(f.path): f.sha256 for f in self.prompts.values()}


@dataclass(frozen=True)
class Selection:
    """Which items of a benchmark to run (``--domains``, ``--lang``, ``--subsets``, ``--limit``).

    The benchmarks' files are ordered (LongBench-Write by required length, WritingBench and HelloBench in blocks
    of a domain or subset), so a limit never takes the first lines: it draws a seeded sample stratified by
    :attr:`EvalItem.stratum`, each stratum in proportion to its size (largest remainders), at least one item
    from every stratum when the limit allows. Within a stratum the order is a seeded permutation, so raising the
    limit keeps most of the items already evaluated. The chosen items keep the file's order."""

    limit: int | None = None
    languages: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    per_group: bool = False  # the limit counts per group (domain, subset) instead of per benchmark
    seed: int = 0

    def apply(self, items: list[EvalItem]) -> list[EvalItem]:
        chosen = [
            item
            for item in items
            if (not self.languages or item.language in self.languages)
            and (not self.groups or item.group in self.groups)
        ]
        if self.limit is None or self.limit >= len(chosen) and not self.per_group:
            return chosen
        key = (lambda item: item.group) if self.per_group else (lambda item: item.stratum)
        strata: dict[str, list[EvalItem]] = {}
        for item in chosen:
            strata.setdefault(key(item), []).append(item)
        if self.per_group:
            quotas = {name: min(self.limit, len(members)) for name, members in strata.items()}
        else:
            quotas = allocate({name: len(members) for name, members in strata.items()}, self.limit)
        rng = random.Random(self.seed)
        kept: set[int] = set()
        for name, members in strata.items():
            order = rng.sample(range(len(members)), len(members))
            kept.update(id(members[i]) for i in order[: quotas[name]])
        return [item for item in chosen if id(item) in kept]

    def describe(self, items: list[EvalItem]) -> dict[str, object]:
        """What results.json records about the sample."""
        if self.limit is None:
            return {"kind": "all", "items": len(items)}
        strata = Counter(item.group if self.per_group else item.stratum for item in items)
        kind = "seeded sample per group" if self.per_group else "seeded stratified sample"
        return {"kind": kind, "limit": self.limit, "seed": self.seed, "items": len(items), "strata": dict(strata)}


def allocate(sizes: dict[str, int], total: int) -> dict[str, int]:
    """``total`` shared over strata in proportion to their sizes (largest remainders), every stratum getting at
    least one while ``total`` covers them all."""
    whole = sum(sizes.values())
    if total >= whole:
        return dict(sizes)
    floor = 1 if total >= len(sizes) else 0
    shares = {name: max(floor, total * size // whole) for name, size in sizes.items()}
    order = sorted(sizes, key=lambda name: (-(total * sizes[name] % whole), name))
    while sum(shares.values()) > total:  # the floor of one took too much: take back from the largest
        largest = max((n for n in shares if shares[n] > floor), key=lambda n: shares[n])
        shares[largest] -= 1
    while sum(shares.values()) < total:
        for name in order:
            if sum(shares.values()) < total and shares[name] < sizes[name]:
                shares[name] += 1
    return shares


Headlines = dict[str, tuple[str, tuple[str, ...] | None]]  # published label → (metric, groups; None: all)


class Benchmark(Protocol):
    name: str
    headlines: Headlines

    def load(self, source: Path | None, selection: Selection) -> list[EvalItem]: ...

    def official(self, source: Path | None) -> Files: ...

    def answer_of(self, reply: str) -> str: ...

    def judge_tasks(self, item: EvalItem, answer: str, files: Files) -> list[JudgeTask]: ...

    def parse(self, task: JudgeTask, text: str) -> Parsed: ...

    def item_scores(self, item: EvalItem, answer: str, verdicts: Verdicts, files: Files) -> dict[str, float | None]: ...


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
