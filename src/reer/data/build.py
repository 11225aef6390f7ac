"""``reer pairs``: a source → (reverse-engineered requests) → pre-filters → a validated pairs file.

Every pair that does not make it is accounted for: malformed rows with file, line and field; texts whose
request could not be written; pairs a pre-filter dropped — each with its reason, in ``*.dropped.jsonl``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from reer.config import ReerConfig
from reer.data.prefilter import Drop, prefilter
from reer.errors import InputError
from reer.records.pair import FieldMap, LoadResult, Pair, load_pairs, write_pairs
from reer.records.rows import RowProblem

BUNDLED = ("arena-hard-creative", "alpaca-eval", "shakespeare-sonnets", "shakespeare-plays")


@dataclass(frozen=True)
class SourceOptions:
    answers: str = "o3-mini"
    unit: str = "scene"
    target_words: int = 600
    fields: FieldMap = field(default_factory=FieldMap)
    licence: str | None = None
    max_reference_words: int | None = None
    limit: int | None = None


@dataclass
class BuildResult:
    pairs: list[Pair]
    drops: list[Drop]
    problems: list[RowProblem]
    read: int
    available: int = 0
    wanted: int | None = None

    @property
    def ran_out(self) -> bool:
        """The source ended before ``wanted`` pairs survived."""
        return self.wanted is not None and len(self.pairs) < self.wanted

    def reasons(self) -> Counter[str]:
        return Counter(d.reason for d in self.drops) + Counter(
            {"malformed-row": len(self.problems)} if self.problems else {}
        )


def load_source(source: str, options: SourceOptions) -> LoadResult:
    """Pairs of a bundled source or of a file/folder; reference-only texts come back with an empty query."""
    if source in BUNDLED:
        pairs = _bundled(source, options)
        result = LoadResult(pairs=pairs)
    elif Path(source).exists():
        result = load_pairs(Path(source), options.fields)
        if options.licence:
            for pair in result.pairs:
                pair.source.setdefault("licence", options.licence)
        for pair in result.pairs:
            pair.source.setdefault("dataset", Path(source).name)
    else:
        raise InputError(f"unknown source '{source}': give a file or folder, or one of: {', '.join(BUNDLED)}")
    if options.max_reference_words:
        from reer.data.sources import cut_reference

        result.pairs = [
            p.model_copy(update={"reference": cut_reference(p.reference, options.max_reference_words)})
            for p in result.pairs
        ]
    return result


def _bundled(source: str, options: SourceOptions) -> list[Pair]:
    from reer.data import shakespeare, sources

    if source == "arena-hard-creative":
        return sources.arena_hard_creative(options.answers)
    if source == "alpaca-eval":
        return sources.alpaca_eval()
    if source == "shakespeare-sonnets":
        return shakespeare.sonnets()
    return shakespeare.plays("speech" if options.unit == "speech" else "scene", options.target_words)


def build_pairs(
    source: str,
    output: Path,
    config: ReerConfig,
    options: SourceOptions,
    reverse_query: bool = False,
    filters: bool = True,
    on_start: Callable[[int], None] | None = None,
    on_pair: Callable[[Pair], None] | None = None,
) -> BuildResult:
    """Load, write missing requests, pre-filter, and write the pairs file and its drop list.

    ``options.limit`` is the number of pairs to *write*: texts are read on, in order, until that many
    survive the pre-filters or the source ends (``BuildResult.ran_out``). Requests are written only for the
    texts read, so a limit also bounds the generator's work.
    """
    loaded = load_source(source, options)
    missing = [p for p in loaded.pairs if not p.query]
    if missing and not reverse_query:
        raise InputError(
            f"{len(missing)} texts of {source} have no request (e.g. {missing[0].id}); add --reverse-query to have "
            "the generator write them, or map a request column with --query-field"
        )
    # Each round re-checks the pairs kept so far (deduplication needs them): count each text's tokens once.
    count_tokens = cache(_token_counter(config)) if filters else None
    pairs: list[Pair] = []
    drops: list[Drop] = []
    unread = loaded.pairs
    while unread and (options.limit is None or len(pairs) < options.limit):
        take = len(unread) if options.limit is None else options.limit - len(pairs)
        chunk, unread = unread[:take], unread[take:]
        if any(not p.query for p in chunk):
            chunk, failed = _with_requests(chunk, output, config, on_start, on_pair)
            drops += failed
        if count_tokens is None:
            pairs += chunk
            continue
        # The pairs kept so far come first, so deduplication keeps them and drops only new twins.
        pairs, filtered = prefilter(pairs + chunk, config.pairs, count_tokens)
        drops += filtered
    write_pairs(pairs, output)
    _write_drops(drops, loaded.problems, dropped_path(output))
    read = len(loaded.pairs) - len(unread)
    return BuildResult(pairs, drops, loaded.problems, read, len(loaded.pairs), options.limit)


def _with_requests(
    pairs: list[Pair],
    output: Path,
    config: ReerConfig,
    on_start: Callable[[int], None] | None,
    on_pair: Callable[[Pair], None] | None,
) -> tuple[list[Pair], list[Drop]]:
    from reer.backends import load_backend
    from reer.data.reverse_query import reverse_queries

    missing = [p for p in pairs if not p.query]
    if on_start:
        on_start(len(missing))
    output.parent.mkdir(parents=True, exist_ok=True)
    written, drops = reverse_queries(
        missing,
        load_backend(config.generator),
        config.pairs.reverse_query,
        seed=config.seed,
        model=f"{config.generator.backend}:{config.generator.model}",
        journal=output.with_name(output.name + ".queries.jsonl"),
        on_pair=on_pair,
    )
    by_id = {p.id: p for p in written}
    failed = {d.id for d in drops}
    return [by_id.get(p.id, p) for p in pairs if p.id not in failed], drops


def _token_counter(config: ReerConfig) -> Callable[[str], int]:
    """Token counts by the scorer's tokenizer: its context is what a reference must fit."""
    from reer.backends import open_token_counter

    return open_token_counter(config.scorer_model)


def dropped_path(output: Path) -> Path:
    return output.with_name(output.stem + ".dropped.jsonl")


def _write_drops(drops: list[Drop], problems: list[RowProblem], path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        for problem in problems:
            row = {"id": None, "reason": "malformed-row", "detail": str(problem)}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        for drop in drops:
            out.write(
                json.dumps({"id": drop.id, "reason": drop.reason, "detail": drop.detail}, ensure_ascii=False) + "\n"
            )
