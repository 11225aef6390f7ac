"""Checks on pairs before the search: token lengths, language, exact and near-duplicate removal.

Every dropped pair is returned with its reason, so ``reer pairs`` can write them aside and count them.
Near-duplicates are found with MinHash signatures of word (or, for Chinese, character) shingles and
locality-sensitive hashing (``datasketch``), then confirmed on the estimated Jaccard similarity, so the
cost grows linearly with the number of pairs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from reer.config import PrefilterConfig
from reer.errors import ConfigError
from reer.language import text_language, units
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
    seen = [_Seen(field, config) for field in ("query", "reference")]
    kept, drops = [], []
    for pair in pairs:
        prints = [(_normalised_hash(getattr(pair, s.field)), _minhash(getattr(pair, s.field), config)) for s in seen]
        problem = next((p for s, fp in zip(seen, prints, strict=True) if (p := s.twin(*fp))), None)
        if problem:
            drops.append(Drop(pair.id, *problem))
            continue
        for s, fp in zip(seen, prints, strict=True):
            s.add(pair.id, *fp)
        kept.append(pair)
    return kept, drops


class _Seen:
    """The requests (or references) of the pairs kept so far: exact digests and a MinHash LSH index."""

    def __init__(self, field: str, config: PrefilterConfig) -> None:
        from datasketch import MinHashLSH

        self.field, self.threshold = field, config.near_duplicate_threshold
        self.exact: dict[str, str] = {}
        self.signatures: dict[str, Any] = {}
        try:
            self.index = MinHashLSH(threshold=config.near_duplicate_threshold, num_perm=config.num_perm)
        except ValueError as exc:  # too few permutations to split into LSH bands at this threshold
            raise ConfigError(
                f"pairs.near_duplicate_threshold={config.near_duplicate_threshold} needs more than "
                f"pairs.num_perm={config.num_perm} permutations ({exc}); raise num_perm or lower the threshold"
            ) from exc

    def twin(self, digest: str, signature: Any) -> tuple[str, str] | None:
        if digest in self.exact:
            return f"duplicate-{self.field}", f"same {self.field} as {self.exact[digest]}"
        # LSH returns candidates that are *probably* above the threshold; confirm each estimate.
        for other in self.index.query(signature):
            similarity = signature.jaccard(self.signatures[other])
            if similarity >= self.threshold:
                return f"near-duplicate-{self.field}", f"{self.field} ~ {other} (estimated Jaccard {similarity:.2f})"
        return None

    def add(self, pair_id: str, digest: str, signature: Any) -> None:
        self.exact[digest] = pair_id
        self.signatures[pair_id] = signature
        self.index.insert(pair_id, signature)


def _minhash(text: str, config: PrefilterConfig) -> Any:
    from datasketch import MinHash

    words = units(text)
    size = min(config.shingle_size, max(len(words), 1))
    template = _template(config.num_perm)
    signature = MinHash(num_perm=config.num_perm, permutations=template.permutations, scheme=template.scheme)
    signature.update_batch([" ".join(words[i : i + size]).encode() for i in range(max(len(words) - size + 1, 1))])
    return signature


@cache
def _template(num_perm: int) -> Any:
    """Drawing the hash permutations costs more than hashing a text: draw them once."""
    from datasketch import MinHash

    return MinHash(num_perm=num_perm, seed=1)


def _normalised_hash(text: str) -> str:
    return hashlib.sha1(" ".join(text.lower().split()).encode()).hexdigest()
