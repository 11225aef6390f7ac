"""Checks on pairs before the search: token lengths, language, exact and near-duplicate removal.

Every dropped pair is returned with its reason, so ``reer pairs`` can write them aside and count them.
Near-duplicates are found with MinHash and locality-sensitive hashing (:mod:`reer.filters.dedup`), so the
cost grows linearly with the number of pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from reer.config import PrefilterConfig
from reer.filters.dedup import NearDuplicates
from reer.language import text_language
from reer.records import Pair


@dataclass(frozen=True)
class Drop:
    id: str
    reason: str
    detail: str


def prefilter(
    pairs: Iterable[Pair], config: PrefilterConfig, count_tokens: Callable[[str], int]
) -> tuple[list[Pair], list[Drop]]:
    """Pairs that pass every check, in their order, and one drop per pair that failed one."""
    kept: list[Pair] = []
    drops: list[Drop] = []
    for pair in pairs:
        problem = _length_problem(pair, config, count_tokens) or _language_problem(pair, config)
        if problem:
            drops.append(Drop(pair.id, *problem))
        else:
            kept.append(pair)
    if config.dedup:
        kept, duplicates = deduplicate(kept, config)
        drops.extend(duplicates)
    return kept, drops


def _length_problem(pair: Pair, config: PrefilterConfig, count_tokens: Callable[[str], int]) -> tuple[str, str] | None:
    bounds = {
        "query": (pair.query, config.min_query_tokens, config.max_query_tokens),
        "reference": (pair.reference, config.min_reference_tokens, config.max_reference_tokens),
    }
    for name, (text, low, high) in bounds.items():
        tokens = count_tokens(text)
        if tokens < low:
            return f"{name}-too-short", f"{tokens} tokens < {low}"
        if tokens > high:
            return f"{name}-too-long", f"{tokens} tokens > {high}"
    return None


def _language_problem(pair: Pair, config: PrefilterConfig) -> tuple[str, str] | None:
    query, reference = text_language(pair.query), text_language(pair.reference)
    if query not in config.languages or reference not in config.languages:
        return "language", f"request {query}, reference {reference}; kept languages: {', '.join(config.languages)}"
    if query != reference:
        return "language", f"request in {query} but reference in {reference}"
    return None


def deduplicate(pairs: list[Pair], config: PrefilterConfig) -> tuple[list[Pair], list[Drop]]:
    """Keep the first of every group of exact or near-duplicate requests or references."""
    seen = [
        NearDuplicates(config.near_duplicate_threshold, config.num_perm, config.shingle_size, what, "pairs.")
        for what in ("query", "reference")
    ]
    kept, drops = [], []
    for pair in pairs:
        prints = [s.fingerprint(getattr(pair, s.what)) for s in seen]
        problem = next((p for s, fp in zip(seen, prints, strict=True) if (p := s.twin(*fp))), None)
        if problem:
            drops.append(Drop(pair.id, *problem))
            continue
        for s, fp in zip(seen, prints, strict=True):
            s.add(pair.id, *fp)
        kept.append(pair)
    return kept, drops
