"""Thinking gain: whether a thinking trace explains its answer, and the pass that measures it over a run.

gain = score(y | x, empty thinking) − score(y | x, z), in the search's own scoring format (REER.md §1), both as
REER's clipped score and as the plain mean NLL. One extra scoring pass per item. Whether a gain is large enough
is decided against a null measured on the same run: the gain that *another item's* thinking (same language)
gives this item's reference (:func:`null_gains`). Thinking that explains its answer clears that null; thinking
that would have done as well for any answer — filler, restated requests, a plan for another text — does not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from reer.backends import load_backend
from reer.backends.base import Scorer, checked_logprobs
from reer.config import FilterConfig, ReerConfig, SearchConfig
from reer.filters.gain import finished_with_gain, null_key, partners
from reer.language import prompt_language
from reer.records import Pair
from reer.records.sample import SftSample
from reer.records.trajectory import Gain, Scored, Trajectory, mean_nll
from reer.search.scoring import score_request
from reer.store import RunStore


@dataclass(frozen=True)
class Likelihood:
    """The reference after one thinking: REER's clipped score, the plain mean NLL, the scored tokens."""

    score: float
    nll: float
    tokens: int

    @classmethod
    def of(cls, token_logprobs: list[float], clip: float) -> Likelihood:
        return cls(Scored.of(token_logprobs, clip).score, mean_nll(token_logprobs), len(token_logprobs))


@dataclass(frozen=True)
class Subject:
    """What is scored: a request, its language, a thinking trace and the reference answer after it."""

    language: str
    query: str
    thinking: str
    reference: str


def likelihoods(scorer: Scorer, subjects: Sequence[Subject], config: SearchConfig) -> list[Likelihood]:
    """Each subject's reference scored after its thinking, in one scorer call (the backend batches it)."""
    requests = [
        score_request(
            s.language,
            s.query,
            s.thinking,
            s.reference,
            full_reference=config.score_full_reference,
            min_chars=config.min_segment_chars,
        )
        for s in subjects
    ]
    return [Likelihood.of(checked_logprobs(r), config.clip) for r in scorer.score(requests)] if requests else []


def gain_of(empty: Likelihood, thinking: Scored, seconds: float = 0.0) -> Gain:
    """The gain of a trajectory whose best thinking scored ``thinking`` (with its per-token values)."""
    return Gain(
        empty_score=empty.score,
        empty_nll=empty.nll,
        thinking_score=thinking.score,
        thinking_nll=mean_nll(thinking.token_logprobs),
        seconds=seconds,
    )


def timed_empty(scorer: Scorer, subject: Subject, config: SearchConfig) -> tuple[Likelihood, float]:
    """The reference after empty thinking, and the seconds it took."""
    started = time.perf_counter()
    empty = likelihoods(scorer, [Subject(subject.language, subject.query, "", subject.reference)], config)[0]
    return empty, time.perf_counter() - started


def score_samples(
    scorer: Scorer, samples: Sequence[SftSample], config: SearchConfig, progress: Progress | None = None
) -> list[dict[str, float | str | int]]:
    """Each (request, thinking, answer) sample scored the search's way: the answer's exact REER score and plain
    NLL after its thinking and after empty thinking, and the gains. What comparing datasets, or a reward on the
    reference likelihood, calls."""
    rows: list[dict[str, float | str | int]] = []
    for batch in _chunks(list(samples), BATCH // 2):
        subjects = []
        for sample in batch:
            language = prompt_language(sample.prompt)
            subjects += [
                Subject(language, sample.prompt, sample.thinking, sample.answer),
                Subject(language, sample.prompt, "", sample.answer),
            ]
        found = likelihoods(scorer, subjects, config)
        for k, sample in enumerate(batch):
            thought, empty = found[2 * k], found[2 * k + 1]
            rows.append(
                {
                    "id": sample.id,
                    "language": subjects[2 * k].language,
                    "reer_score": thought.score,
                    "nll": thought.nll,
                    "empty_reer_score": empty.score,
                    "empty_nll": empty.nll,
                    "gain": empty.nll - thought.nll,
                    "gain_clipped": empty.score - thought.score,
                    "scored_tokens": thought.tokens,
                }
            )
        if progress:
            progress(len(rows), len(samples))
    return rows


# -- the gain pass over a run -------------------------------------------------------------------------------

BATCH = 16  # pairs per scorer call (and per commit)
Progress = Callable[[int, int], None]  # (done, total)
T = TypeVar("T")


@dataclass
class GainPass:
    measured: int = 0  # trajectories whose gain was scored in this pass
    null_scored: int = 0  # swapped pairs scored in this pass
    seconds: float = 0.0

    @property
    def scored(self) -> int:
        return self.measured + self.null_scored


def measure_run(
    run_dir: Path,
    filters: FilterConfig,
    progress: Progress | None = None,
    store: RunStore | None = None,
) -> GainPass:
    """Fill a run's missing gains and null pairs with the run's own scorer, opened only if there is something
    to score (``store``: the caller's open store, e.g. the writer's at the end of a search)."""
    own = store is None
    opened = store or RunStore.open_existing(run_dir)
    try:
        config = ReerConfig.model_validate_json(opened.get_meta("config") or "{}")
        missing, todo = pending(opened, filters, config.seed)
        if not missing and not todo:
            return GainPass()
        scorer = load_backend(config.scorer_model, "score", "scorer")
        return measure(opened, scorer, config, filters, progress)
    finally:
        if own:
            opened.close()


def pending(store: RunStore, filters: FilterConfig, seed: int) -> tuple[list[tuple[str, int]], list[tuple[int, int]]]:
    """(trajectories without a gain, swapped pairs of the null not scored yet)."""
    return store.without_gain(), _null_todo(store, finished_with_gain(store), filters, seed)


def _null_todo(
    store: RunStore, finished: Sequence[tuple[Pair, Trajectory]], filters: FilterConfig, seed: int
) -> list[tuple[int, int]]:
    known = store.null_pairs()
    return [(i, j) for i, j in partners(finished, filters, seed) if null_key(finished, i, j) not in known]


def measure(
    store: RunStore, scorer: Scorer, config: ReerConfig, filters: FilterConfig, progress: Progress | None = None
) -> GainPass:
    """Score what is missing: gains of finished trajectories, then the null's swapped pairs. ``progress`` hears
    (done, total); the total grows once the gains are in and the null's pairs are known."""
    started = time.perf_counter()
    report = GainPass()
    missing = store.without_gain()
    for keys in _chunks(missing, BATCH):
        report.measured += _measure_gains(store, scorer, config, keys)
        if progress:
            progress(report.measured, len(missing))
    finished = finished_with_gain(store)
    todo = _null_todo(store, finished, filters, config.seed)
    total = report.measured + len(todo)
    for swaps in _chunks(todo, BATCH):
        subjects = [
            Subject(
                finished[i][1].language,
                finished[i][0].query,
                finished[j][1].final_trace or "",
                finished[i][0].reference,
            )
            for i, j in swaps
        ]
        scored = likelihoods(scorer, subjects, config.search)
        store.save_null(
            [
                (*null_key(finished, i, j), finished[i][1].language, s.score, s.nll)
                for (i, j), s in zip(swaps, scored, strict=True)
            ]
        )
        report.null_scored += len(swaps)
        if progress:
            progress(report.measured + report.null_scored, total)
    report.seconds = time.perf_counter() - started
    return report


def _measure_gains(store: RunStore, scorer: Scorer, config: ReerConfig, keys: list[tuple[str, int]]) -> int:
    """Gains of a batch of finished trajectories made before gains: their best scores are stored, the reference
    after empty thinking is scored now."""
    trajectories = [(store.pair(item), store.trajectory(item, rollout)) for item, rollout in keys]
    subjects = [Subject(t.language, pair.query, "", pair.reference) for pair, t in trajectories]
    started = time.perf_counter()
    empties = likelihoods(scorer, subjects, config.search)
    each = (time.perf_counter() - started) / max(1, len(subjects))
    saved = 0
    with store.batch():
        for (pair, t), empty in zip(trajectories, empties, strict=True):
            best = t.best()
            if best is not None and best.token_logprobs:
                store.save_gain(pair.id, t.rollout, gain_of(empty, best, each))
                saved += 1
    return saved


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
