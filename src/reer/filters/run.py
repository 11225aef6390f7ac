"""Running the post-filters over a run directory and recording each drop, with its reasons, in the store."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reer.config import FilterConfig
from reer.errors import ReerError
from reer.filters.checks import CHECKS, failed_checks
from reer.filters.quality import QualityTally
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

    @property
    def dropped(self) -> int:
        return self.finished - self.kept


def filter_run(run_dir: Path, config: FilterConfig) -> FilterReport:
    """Check every finished trajectory; store the verdicts (replacing earlier ones) and count them.

    The only writer of verdicts: export and train judge the same way (:func:`judge`) without writing.
    """
    store = RunStore.open_existing(run_dir, readonly=True)
    try:
        report = judge(store.finished(logprobs=False), config)
    finally:
        store.close()
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


def judge(finished: Iterable[tuple[Pair, Trajectory]], config: FilterConfig) -> FilterReport:
    """The verdicts on finished trajectories, counted, and the quality of the thinking kept; nothing is written."""
    report = new_report()
    tally = QualityTally(config.repetition_limits)
    for pair, trajectory in passing(finished, config, report):
        tally.add(f"{pair.id}/{trajectory.rollout}", trajectory.final_trace or "")
    report.quality = tally.summary()
    return report


def new_report() -> FilterReport:
    return FilterReport(reasons=Counter({check.__name__.replace("_", "-"): 0 for check in CHECKS}))


def passing(
    finished: Iterable[tuple[Pair, Trajectory]], config: FilterConfig, report: FilterReport
) -> Iterator[tuple[Pair, Trajectory]]:
    """The trajectories that pass every check, one at a time (a run of any size streams through), each
    verdict counted into ``report``."""
    for pair, trajectory in finished:
        report.finished += 1
        failed = failed_checks(pair, trajectory, config)
        if failed:
            report.drops[(pair.id, trajectory.rollout)] = failed
            report.reasons.update(failed.keys())
            if "gopher-repetition" in failed:  # measured moments ago: the cached measures, not a second pass
                over = exceeded(repetition_measures(trajectory.final_trace or ""), config.repetition_limits)
                report.measures.update(over.keys())
        else:
            report.kept += 1
            yield pair, trajectory
