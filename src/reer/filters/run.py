"""Running the post-filters over a run directory and recording each drop, with its reasons, in the store."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reer.config import FilterConfig
from reer.errors import ReerError
from reer.filters.checks import CHECKS, Thinking, failed_checks
from reer.filters.gain import Threshold, thresholds, value
from reer.filters.parallel import ordered_map
from reer.filters.quality import Features, QualityTally, features
from reer.filters.repetition import exceeded, repetition_measures
from reer.records import Pair
from reer.records.trajectory import Trajectory
from reer.store import RunStore


@dataclass
class FilterReport:
    finished: int = 0
    kept: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    measures: Counter[str] = field(default_factory=Counter)  # Gopher measures over their limits, per trajectory
    drops: dict[tuple[str, int], dict[str, str]] = field(default_factory=dict)
    stored: bool = True  # False when the run could not be written (read-only media)
    quality: dict[str, Any] = field(default_factory=dict)  # of the kept thinking (filters.quality)
    gain_thresholds: dict[str, Threshold] = field(default_factory=dict)  # the no-gain check's, per language

    @property
    def dropped(self) -> int:
        return self.finished - self.kept


def filter_run(run_dir: Path, config: FilterConfig) -> FilterReport:
    """Check every finished trajectory; store the verdicts (replacing earlier ones) and count them.

    The only writer of verdicts: export and train judge the same way (:func:`judge`) without writing.
    """
    store = RunStore.open_existing(run_dir, readonly=True)
    try:
        found = run_thresholds(store, config)
        report = judge(store.finished(logprobs=False), config, found)
    finally:
        store.close()
    report.gain_thresholds = found
    rows = [
        (item, rollout, reason, detail) for (item, rollout), f in report.drops.items() for reason, detail in f.items()
    ]
    try:
        writer = RunStore.open_existing(run_dir)
    except (OSError, ReerError):  # read-only media: the verdicts are reported, not stored
        report.stored = False
        return report
    try:
        writer.save_filter_drops(rows, config.model_dump_json(), json.dumps(report.quality))
    except sqlite3.Error:
        report.stored = False
    finally:
        writer.close()
    return report


def judge(
    finished: Iterable[tuple[Pair, Trajectory]], config: FilterConfig, thresholds: dict[str, Threshold] | None = None
) -> FilterReport:
    """The verdicts on finished trajectories, counted, and the quality of the thinking kept; nothing is written."""
    report = new_report()
    tally = QualityTally(config.repetition_limits)
    for _ in passing(finished, config, report, tally, thresholds):
        pass
    report.quality = tally.summary()
    return report


def run_thresholds(store: RunStore, config: FilterConfig) -> dict[str, Threshold]:
    """The no-gain thresholds of a run, from its stored null (the run's seed draws the swapped pairs)."""
    if not config.check_gain:
        return {}
    seed = json.loads(store.get_meta("config") or "{}").get("seed", 0)
    return thresholds(store, config, seed)


def new_report() -> FilterReport:
    return FilterReport(reasons=Counter({check.__name__.replace("_", "-"): 0 for check in CHECKS}))


def passing(
    finished: Iterable[tuple[Pair, Trajectory]],
    config: FilterConfig,
    report: FilterReport,
    quality: QualityTally | None = None,
    thresholds: dict[str, Threshold] | None = None,
) -> Iterator[tuple[Pair, Trajectory]]:
    """The trajectories that pass every check, one at a time and in order (a run of any size streams through),
    each verdict counted into ``report`` and each kept thinking into ``quality``. ``thresholds`` (per language,
    :func:`reer.filters.gain.thresholds`) are the no-gain check's; a language without one uses the floor. The
    trajectories wait here while their texts are judged (:func:`judged`)."""
    waiting: deque[tuple[Pair, Trajectory]] = deque()
    found = thresholds or {}

    def subjects() -> Iterator[tuple[tuple[str, int], Thinking]]:
        for pair, trajectory in finished:
            waiting.append((pair, trajectory))
            cut = found[trajectory.language].value if trajectory.language in found else config.gain_floor
            yield (pair.id, trajectory.rollout), Thinking.of(pair, trajectory, value(trajectory.gain, config), cut)

    for kept in judged(subjects(), config, report, quality):
        pair, trajectory = waiting.popleft()
        if kept:
            yield pair, trajectory


def judged(
    subjects: Iterable[tuple[tuple[str, int], Thinking]],
    config: FilterConfig,
    report: FilterReport,
    quality: QualityTally | None = None,
) -> Iterator[bool]:
    """For each (key, thinking) in order, whether it passes every check; the drops are counted into ``report``
    under their keys, the kept thinking into ``quality``. The checks run on every core
    (:mod:`reer.filters.parallel`)."""
    keys: deque[tuple[str, int]] = deque()

    def jobs() -> Iterator[tuple[Thinking, FilterConfig, bool]]:
        for key, thinking in subjects:
            keys.append(key)
            yield thinking, config, quality is not None

    for failed, over, found in ordered_map(verdict, jobs(), config.processes):
        key = keys.popleft()
        report.finished += 1
        if failed:
            report.drops[key] = failed
            report.reasons.update(failed.keys())
            report.measures.update(over)
        else:
            report.kept += 1
            if quality is not None and found is not None:
                quality.add(f"{key[0]}/{key[1]}", found)
        yield not failed


def verdict(job: tuple[Thinking, FilterConfig, bool]) -> tuple[dict[str, str], list[str], Features | None]:
    """One trajectory judged (in a worker process): the failed checks, the Gopher measures over their limits,
    and, when it is kept and a quality summary is wanted, the features of its thinking."""
    thinking, config, want_features = job
    failed = failed_checks(thinking, config)
    over = list(exceeded(repetition_measures(thinking.trace), config.repetition_limits)) if failed else []
    return failed, over, features(thinking.trace) if want_features and not failed else None
