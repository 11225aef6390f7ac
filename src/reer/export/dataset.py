"""``reer export``: filtered trajectories → an SFT dataset folder (data file, dataset card, manifest).

The folder is built next to its destination and swapped in at the end, so a failed template check or a
crash never leaves a half-written dataset where a trainer would pick it up.
"""

from __future__ import annotations

import glob
import json
import os
import random
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq

from reer.config import FilterConfig
from reer.errors import InputError, ReerError
from reer.export.card import CardFacts, render_card
from reer.export.records import trajectory_row
from reer.export.template_check import check_template
from reer.filters import FilterReport
from reer.filters.gain import describe as describe_gain
from reer.filters.parallel import ordered_map
from reer.filters.quality import QualityTally, features
from reer.filters.run import new_report, passing, run_thresholds
from reer.records import Pair
from reer.records.formats import WRITERS, Row, file_name, read_samples
from reer.records.markup import convert_all, describe
from reer.records.sample import SftSample
from reer.records.trajectory import Trajectory
from reer.store import RunStore
from reer.store.db import DB_NAME


@dataclass
class ExportResult:
    path: Path
    rows: int
    reer_samples: int
    mixed: int
    filters: FilterReport | None


def export_dataset(
    run_dir: Path,
    out_dir: Path,
    fmt: str = "messages-inline",
    filters: FilterConfig | None = None,
    mix: Path | None = None,
    mix_ratio: float = 0.85,
    check_template_of: str | None = None,
    seed: int = 0,
) -> ExportResult:
    """Filter (unless ``filters`` is None), convert, optionally mix and template-check, then write."""
    if fmt not in WRITERS and fmt != "records":
        raise ReerError(f"unknown format '{fmt}'; choose one of: {', '.join([*WRITERS, 'records'])}")
    _check_destination(out_dir)
    kept, search_config, report, statuses = _kept(run_dir, filters, records=fmt == "records")
    samples = [k.sample for k in kept]
    combined, mixed, markup = with_mix(samples, mix, mix_ratio, seed) if mix else (samples, [], Counter())
    if fmt == "records":
        if mixed:
            raise ReerError("--format records holds search records only; mix into an SFT format instead")
        rows: list[Row] = [k.record for k in kept if k.record is not None]
    else:
        rows = [WRITERS[fmt](s) for s in combined]
    if check_template_of:
        from reer.backends.models import load_tokenizer

        check_template(rows, load_tokenizer(check_template_of), check_template_of, fmt)
    facts = CardFacts(
        fmt=fmt,
        file=file_name(fmt),
        samples=samples,
        mixed=mixed,
        initial_scores=[k.initial_score for k in kept if k.initial_score is not None],
        final_scores=[k.final_score for k in kept if k.final_score is not None],
        search_config=search_config,
        filters=report,
        filter_config=filters.model_dump(mode="json") if filters else None,
        mix_source=str(mix) if mix else None,
        mix_ratio=mix_ratio if mix else None,
        template_checked=check_template_of,
        statuses=statuses,
        quality=thinking_quality(samples, filters),
    )
    if mix and len(mixed) < round(mix_ratio * len(samples)):
        facts.notes.append(f"{mix} holds only {len(mixed)} samples: fewer than the ratio asked for.")
    if mix:
        facts.notes.append(f"Reasoning markup in {mix.name}: {describe(markup)}.")
    if report is not None and report.gain_thresholds:
        facts.notes.append(
            "Thinking gain (the reference's NLL after empty thinking minus after the thinking, in the search's "
            f"scoring format): kept thinking clears {describe_gain(report.gain_thresholds)}."
        )
    _write_folder(out_dir, fmt, rows, facts)
    return ExportResult(out_dir / file_name(fmt), len(rows), len(samples), len(mixed), report)


def thinking_quality(samples: list[SftSample], filters: FilterConfig | None) -> dict[str, Any]:
    """The quality summary of the samples' thinking (``filters.quality``), against the limits in force."""
    tally = QualityTally(filters.repetition_limits) if filters else QualityTally()
    processes = filters.processes if filters else None
    for sample, found in zip(samples, ordered_map(features, (s.thinking for s in samples), processes), strict=True):
        tally.add(sample.id, found)
    return tally.summary()


def load_samples(data: Path, filters: FilterConfig | None = None) -> list[SftSample]:
    """Samples of whatever reer produced: an export folder, an SFT file in any format, or a run directory
    (its finished trajectories through ``filters``; every finished one with None)."""
    if (data / DB_NAME).exists():
        return run_samples(data, filters)
    if data.is_dir() and (data / "export.json").exists():
        for fmt in ("messages-inline", "verl"):
            if (data / file_name(fmt)).exists():
                return read_samples(data / file_name(fmt))
    if not data.exists():
        raise InputError(f"training data {data} does not exist; give an export folder, an SFT file or a run directory")
    return read_samples(data)


def run_samples(run_dir: Path, filters: FilterConfig | None) -> list[SftSample]:
    """The SFT samples of a run's finished trajectories that pass ``filters`` (all of them with None)."""
    return [k.sample for k in _kept(run_dir, filters)[0]]


def finished_trajectories(run_dir: Path, filters: FilterConfig | None) -> list[tuple[Pair, Trajectory]]:
    """A run's finished trajectories that pass ``filters``, whole (judged here; only `reer filter` writes
    verdicts). For runs that fit in memory: `reer export` streams instead."""
    store = RunStore.open_existing(run_dir, readonly=True)
    try:
        finished = store.finished(logprobs=False)
        return list(
            passing(finished, filters, new_report(), None, run_thresholds(store, filters)) if filters else finished
        )
    finally:
        store.close()


@dataclass(frozen=True)
class _Kept:
    """What an export keeps of a passing trajectory: its sample, its record row and its two scores — not the
    trajectory, whose every candidate text would make a 20,000-item export hold the whole run in memory."""

    sample: SftSample
    record: Row | None  # the search record, for --format records
    initial_score: float | None
    final_score: float | None


def _kept(
    run_dir: Path, filters: FilterConfig | None, records: bool = False
) -> tuple[list[_Kept], dict[str, Any], FilterReport | None, dict[str, int]]:
    """The passing trajectories, reduced as they stream by; the search settings, the filter report, and how
    many trajectories of the run are in each status."""
    store = RunStore.open_existing(run_dir, readonly=True)
    try:
        report = new_report() if filters else None
        found = run_thresholds(store, filters) if filters else {}
        if report is not None:
            report.gain_thresholds = found
        finished = store.finished(logprobs=False)
        kept = [
            _Kept(
                trajectory_sample(pair, t), trajectory_row(pair, t) if records else None, t.initial_score, t.final_score
            )
            for pair, t in (passing(finished, filters, report, None, found) if filters and report else finished)
        ]
        search = json.loads(store.get_meta("config") or "{}")
        statuses = store.status_counts()
    finally:
        store.close()
    settings = {key: search[key] for key in ("generator", "scorer", "search", "seed") if key in search}
    return kept, settings, report, statuses


def trajectory_sample(pair: Pair, t: Trajectory, thinking: str | None = None) -> SftSample:
    """The SFT sample of a finished trajectory: its final thinking (or ``thinking``), then the reference."""
    assert t.final_trace is not None
    sample_id = pair.id if t.rollout == 0 else f"{pair.id}#{t.rollout}"
    return SftSample(sample_id, pair.query, (thinking or t.final_trace).strip(), pair.reference, None, pair.source)


class Mixed(NamedTuple):
    combined: list[SftSample]  # the REER samples and the mixed-in ones, shuffled
    mixed: list[SftSample]  # the mixed-in ones alone
    markup: Counter[str]  # the mix file's reasoning markups: converted, already <think>, refused (markup.describe)


def with_mix(samples: list[SftSample], path: Path, ratio: float, seed: int) -> Mixed:
    """``samples`` with ``ratio`` samples of another SFT set per REER sample, drawn without replacement from the
    ones whose reasoning is in ``<think>`` or converts to it (:mod:`reer.records.markup`)."""
    if ratio < 0:
        raise ReerError(f"--mix-ratio must be 0 or more, got {ratio}")
    others, outcomes = convert_all(read_samples(path))
    wanted = min(round(ratio * len(samples)), len(others))
    drawn = random.Random(seed).sample(others, wanted)
    mark = {"mixed_from": str(path)}
    mixed = [
        SftSample(f"mix-{s.id}", s.prompt, s.thinking, s.answer, s.system, {"dataset": path.name} | s.source | mark)
        for s in drawn
    ]
    combined = samples + mixed
    random.Random(seed).shuffle(combined)
    return Mixed(combined, mixed, outcomes)


def _write_folder(out_dir: Path, fmt: str, rows: list[Row], facts: CardFacts) -> None:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(out_dir)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.staging-{os.getpid()}-", dir=out_dir.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes it private; the export is an ordinary folder
    try:
        _write_rows(staging / file_name(fmt), rows, fmt)
        (staging / "README.md").write_text(render_card(facts), encoding="utf-8")
        manifest = {
            "format": fmt,
            "rows": len(rows),
            "reer_samples": len(facts.samples),
            "mixed": len(facts.mixed),
            "quality": facts.quality,
        }
        (staging / "export.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        _swap_in(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _remove_abandoned(out_dir: Path) -> None:
    """Staging folders of exports that were killed: their process is gone, so nobody will finish them."""
    for staging in out_dir.parent.glob(f".{glob.escape(out_dir.name)}.staging-*"):
        pid = staging.name.removeprefix(f".{out_dir.name}.staging-").split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(staging, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _check_destination(out_dir: Path) -> None:
    """Only an earlier export (or an empty folder) may be replaced: never a user's other files."""
    if out_dir.is_file() or (out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / "export.json").exists()):
        raise ReerError(f"{out_dir} exists and is not a reer export folder; choose another --output")


def _write_rows(path: Path, rows: list[Row], fmt: str) -> None:
    if fmt == "verl":
        pq.write_table(pa.Table.from_pylist(rows), path)
        return
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def _swap_in(staging: Path, out_dir: Path) -> None:
    """Replace ``out_dir`` with ``staging``; an existing export is moved aside first, then removed."""
    old = out_dir.with_name(f".{out_dir.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if out_dir.exists():
        os.replace(out_dir, old)
    os.replace(staging, out_dir)
    shutil.rmtree(old, ignore_errors=True)
