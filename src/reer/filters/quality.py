"""What the thinking of a dataset looks like, in numbers a reader of a dataset card checks before training:
its length, how varied its wording is, the repetition measures, the languages, and how much of it is
nearly the same as another sample. Collected one sample at a time, so a run of any size streams through.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reer.config import FilterConfig, PrefilterConfig
from reer.filters.dedup import NearDuplicates, minhash, normalised_hash, signature_of
from reer.filters.repetition import MEASURES, distinct_share, repetition_measures
from reer.language import text_language, units

# The pre-filters' settings: a thinking trace is a near-duplicate where a pair's reference would be.
NEAR_DUPLICATES = (
    PrefilterConfig().near_duplicate_threshold,
    PrefilterConfig().num_perm,
    PrefilterConfig().shingle_size,
)


@dataclass(frozen=True)
class Features:
    """What the summary needs of one sample's thinking: small, and cheap to send between processes."""

    units: int
    distinct: tuple[float, float]  # distinct-2, distinct-3
    measures: dict[str, float]
    language: str
    digest: str
    signature: np.ndarray  # MinHash hash values


def features(thinking: str) -> Features:
    digest, signature = normalised_hash(thinking), minhash(thinking, *NEAR_DUPLICATES[1:])
    return Features(
        units=len(units(thinking)),
        distinct=(distinct_share(thinking, 2), distinct_share(thinking, 3)),
        measures=repetition_measures(thinking),
        language=text_language(thinking),
        digest=digest,
        signature=signature.hashvalues,
    )


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

    def add(self, key: str, features: Features) -> None:
        """One sample, by the :func:`features` of its thinking (computed anywhere: a worker process, say)."""
        self.lengths.append(features.units)
        for n, values in self.distinct.items():
            values.append(features.distinct[n - 2])
        for name, value in features.measures.items():
            self.measures[name].append(value)
        self.languages[features.language] += 1
        seen = self._seen or self._index()
        signature = signature_of(features.signature)
        if seen.twin(features.digest, signature):
            self.near_duplicates += 1
        else:
            seen.add(key, features.digest, signature)

    def _index(self) -> NearDuplicates:
        self._seen = NearDuplicates(*NEAR_DUPLICATES, "thinking")
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
                "threshold": NEAR_DUPLICATES[0],
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
