"""The no-gain check's threshold: per language, from the run's null — another item's final thinking (same
language) scored on this item's reference, stored by the gain pass (:mod:`reer.search.gain`). Computed from what is
stored, with the current filter settings, whenever the filters run: no scorer is needed then.
"""

from __future__ import annotations

import json
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from reer.config import FilterConfig
from reer.records import Pair
from reer.records.trajectory import Gain, Trajectory
from reer.seeds import derive_seed
from reer.store import RunStore


def swap_partners(languages: Sequence[str], per_language: int, seed: int) -> list[tuple[int, int]]:
    """(item, other item) index pairs for the null: within each language, up to ``per_language`` items, each
    given the thinking of another item of its language (a seeded cycle: nobody keeps its own)."""
    by_language: dict[str, list[int]] = {}
    for index, language in enumerate(languages):
        by_language.setdefault(language, []).append(index)
    pairs: list[tuple[int, int]] = []
    for language, members in sorted(by_language.items()):
        if len(members) < 2 or per_language < 1:
            continue
        chooser = random.Random(derive_seed(seed, "gain-null", language))
        cycle = chooser.sample(members, len(members))  # a seeded order; each takes the next one's thinking
        count = min(per_language, len(members))
        pairs += [(cycle[i], cycle[(i + 1) % len(cycle)]) for i in range(count)]
    return sorted(pairs)


@dataclass(frozen=True)
class Threshold:
    """The gain a language's thinking must clear, and how it was set."""

    language: str
    value: float
    null_count: int
    null_quantile: float | None  # the null's quantile used (None: too few null pairs, the floor was used)
    floor: float

    def describe(self) -> str:
        if self.null_quantile is None:
            return (
                f"{self.language}: gain > {self.value:.3f} (the floor: only {self.null_count} swapped pairs, too few "
                "to calibrate)"
            )
        return (
            f"{self.language}: gain > {self.value:.3f} (the {self.null_quantile:.0%} quantile of {self.null_count} "
            f"swapped pairs' gains, floor {self.floor:g})"
        )


def calibrate(null: dict[str, list[float]], quantile: float, floor: float, minimum: int) -> dict[str, Threshold]:
    """Per language: the ``quantile`` of the null gains, never below ``floor``; the floor alone with fewer than
    ``minimum`` null pairs."""
    thresholds = {}
    for language, gains in null.items():
        if len(gains) < minimum:
            thresholds[language] = Threshold(language, floor, len(gains), None, floor)
            continue
        cut = (
            max(gains)
            if quantile >= 1
            else statistics.quantiles(gains, n=100, method="inclusive")[round(quantile * 100) - 1]
        )
        thresholds[language] = Threshold(language, max(floor, cut), len(gains), quantile, floor)
    return thresholds


def thresholds(store: RunStore, filters: FilterConfig, seed: int) -> dict[str, Threshold]:
    """Per language, the gain kept thinking must exceed: from the stored null, with the current settings."""
    finished = finished_with_gain(store)
    known = store.null_pairs()
    null: dict[str, list[float]] = {t.language: [] for _, t in finished}
    for i, j in partners(finished, filters, seed):
        found = known.get(null_key(finished, i, j))
        gain = finished[i][1].gain
        if found is None or gain is None:
            continue
        language, swapped_score, swapped_nll = found
        empty = gain.empty_nll if filters.gain_measure == "plain" else gain.empty_score
        null[language].append(empty - (swapped_nll if filters.gain_measure == "plain" else swapped_score))
    return calibrate(null, filters.gain_null_quantile, filters.gain_floor, filters.gain_min_null)


def value(gain: Gain | None, filters: FilterConfig) -> float | None:
    """A trajectory's gain in the configured measure."""
    if gain is None:
        return None
    return gain.plain if filters.gain_measure == "plain" else gain.clipped


def describe(found: dict[str, Threshold]) -> str:
    return "; ".join(t.describe() for _, t in sorted(found.items()))


def as_json(found: dict[str, Threshold], filters: FilterConfig) -> str:
    return json.dumps(
        {
            "measure": filters.gain_measure,
            "languages": {
                name: {
                    "threshold": t.value,
                    "null_pairs": t.null_count,
                    "quantile": t.null_quantile,
                    "floor": t.floor,
                    "how": t.describe(),
                }
                for name, t in sorted(found.items())
            },
        }
    )


def finished_with_gain(store: RunStore) -> list[tuple[Pair, Trajectory]]:
    """Finished trajectories with a gain, in input order (the null is drawn among them)."""
    return [(pair, t) for pair, t in store.finished(logprobs=False) if t.gain is not None]


def partners(finished: Sequence[tuple[Pair, Trajectory]], filters: FilterConfig, seed: int) -> list[tuple[int, int]]:
    return swap_partners([t.language for _, t in finished], filters.gain_null_items, seed)


def null_key(finished: Sequence[tuple[Pair, Trajectory]], i: int, j: int) -> tuple[str, int, str, int]:
    return finished[i][0].id, finished[i][1].rollout, finished[j][0].id, finished[j][1].rollout
