"""Deterministic measurements: LongBench-Write's length score, bootstrap intervals, thinking statistics."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from reer.eval.results import Estimate
from reer.filters.checks import reflection_markers
from reer.language import units
from reer.overlap import top_trigram_share


def length_score(required: float, produced: float) -> float:
    """``S_l`` of the LongWriter paper (REER.md §5): 100 at the target, falling off faster when too short."""
    if required <= 0:
        raise ValueError(f"required length must be positive, got {required}")
    if produced > required:
        return 100.0 * max(0.0, 1.0 - (produced / required - 1.0) / 3.0)
    if produced <= 0:
        return 0.0
    return 100.0 * max(0.0, 1.0 - (required / produced - 1.0) / 2.0)


def text_length(text: str) -> int:
    """Words for English, characters for Chinese: one unit per word or ideograph."""
    return len(units(text))


def bootstrap(values: Sequence[float], resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> Estimate:
    """Mean with a percentile bootstrap interval over items (a single item has a zero-width interval)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("no values to estimate from")
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return Estimate(mean=float(data.mean()), ci_low=float(low), ci_high=float(high), n=int(data.size))


def bootstrap_halves(
    first: Sequence[float | None],
    second: Sequence[float | None],
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """(mean of ``first`` + mean of ``second``) / 2, each over its own scored values — LongBench-Write's S over every
    S_l and the judged S_q, as its two scripts compute them — with a percentile bootstrap over items."""
    a = np.array([np.nan if v is None else v for v in first], dtype=float)
    b = np.array([np.nan if v is None else v for v in second], dtype=float)
    unscored = int(np.isnan(b).sum())
    if np.isnan(a).all() or np.isnan(b).all():
        return Estimate(unscored=unscored)
    picks = np.random.default_rng(seed).integers(0, a.size, size=(resamples, a.size))
    with warnings.catch_warnings():  # a resample may hold no judged item: its mean is nan, dropped below
        warnings.simplefilter("ignore", RuntimeWarning)
        means = (np.nanmean(a[picks], axis=1) + np.nanmean(b[picks], axis=1)) / 2.0
    means = means[~np.isnan(means)]
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    mean = (float(np.nanmean(a)) + float(np.nanmean(b))) / 2.0
    return Estimate(mean=mean, ci_low=float(low), ci_high=float(high), n=int((~np.isnan(b)).sum()), unscored=unscored)


def thinking_stats(thinking: str, answer: str, markers: Sequence[str]) -> dict[str, float]:
    """Per reply: lengths, reflection phrases per 1,000 thinking units, and repetition of the thinking."""
    thinking_units = text_length(thinking)
    found = reflection_markers(thinking, list(markers)) if thinking else 0
    return {
        "thinking_units": float(thinking_units),
        "answer_units": float(text_length(answer)),
        "reflections_per_1k": 1000.0 * found / thinking_units if thinking_units else 0.0,
        "top3_trigram_share": top_trigram_share(thinking),
    }
