"""What the thinking of a dataset looks like, in numbers a reader of a dataset card checks before training:
its length, how varied its wording is, the repetition measures, the languages, and how much of it is
nearly the same as another sample. Collected one sample at a time, so a run of any size streams through.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from reer.config import FilterConfig, PrefilterConfig
from reer.filters.dedup import NearDuplicates
from reer.filters.repetition import MEASURES, distinct_share, repetition_measures
from reer.language import text_language, units


@dataclass
class QualityTally:
    """Add each sample's thinking; :meth:`summary` gives the distributions."""

    limits: dict[str, float] = field(default_factory=lambda: FilterConfig().repetition_limits)
    lengths: list[int] = field(default_factory=list)
    distinct: dict[int, list[float]] = field(default_factory=lambda: {2: [], 3: []})
    measures: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in MEASURES})
    languages: Counter[str] = field(default_factory=Counter)
    near_duplicates: int = 0
    _seen: NearDuplicates | None = None

    def add(self, key: str, thinking: str) -> None:
        self.lengths.append(len(units(thinking)))
        for n, values in self.distinct.items():
            values.append(distinct_share(thinking, n))
        for name, value in repetition_measures(thinking).items():
            self.measures[name].append(value)
        self.languages[text_language(thinking)] += 1
        seen = self._seen or self._index()
        digest, signature = seen.fingerprint(thinking)
        if seen.twin(digest, signature):
            self.near_duplicates += 1
        else:
            seen.add(key, digest, signature)

    def _index(self) -> NearDuplicates:
        # The pre-filters' settings: a thinking trace is a near-duplicate where a pair's reference would be.
        pairs = PrefilterConfig()
        self._seen = NearDuplicates(pairs.near_duplicate_threshold, pairs.num_perm, pairs.shingle_size, "thinking")
        return self._seen

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (the same keys whatever the data; empty distributions are ``None``)."""
        count = len(self.lengths)
        return {
            "samples": count,
            "thinking_units": _spread(self.lengths),
            "distinct": {f"distinct-{n}": _spread(values) for n, values in self.distinct.items()},
            "repetition": {
                name: {
                    **(_spread(values) or {}),
                    "limit": self.limits[name],
                    "over": sum(v > self.limits[name] for v in values),
                }
                for name, values in self.measures.items()
            },
            "languages": dict(self.languages.most_common()),
            "near_duplicates": {
                "count": self.near_duplicates,
                "share": self.near_duplicates / count if count else None,
                "threshold": PrefilterConfig().near_duplicate_threshold,
            },
        }


def _spread(values: list[float] | list[int]) -> dict[str, float] | None:
    """Mean, deciles 1 and 9, median and maximum."""
    if not values:
        return None
    deciles = statistics.quantiles(values, n=10, method="inclusive") if len(values) > 1 else [values[0]] * 9
    return {
        "mean": statistics.fmean(values),
        "p10": deciles[0],
        "median": statistics.median(values),
        "p90": deciles[-1],
        "max": max(values),
    }
