"""Running the search over a file of pairs into a run directory, resuming whatever is unfinished."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reer import prompts
from reer.backends import check_backends, context_length, open_token_counter
from reer.config import ReerConfig, fingerprint
from reer.errors import ConfigError
from reer.records import Pair
from reer.records.trajectory import Trajectory
from reer.search.gain import measure_run
from reer.search.items import Journal, handed_over, open_searcher, run_item
from reer.store import RunStore
from reer.store.lock import RunLock


@dataclass
class RunSummary:
    counts: dict[str, int]
    mean_initial: float | None
    mean_final: float | None
    searched_now: int
    seconds: float
    conflicts: list[str] = field(default_factory=list)
    retries: int = 0  # requests server backends sent again, over the run
    gains: tuple[int, float | None, float | None] = (0, None, None)  # (measured, mean plain, mean clipped)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def open_run(run_dir: Path, config: ReerConfig, *, force: bool = False) -> RunStore:
    """Open (or start) a run, refusing a configuration that differs from the one it started with."""
    store = RunStore(run_dir)
    new = fingerprint(config, prompts.digest())
    old = store.get_meta("fingerprint")
    if old is not None and old != new and store.has_work():  # a start that saved nothing binds nothing
        changed = _changed_keys(json.loads(store.get_meta("config") or "{}"), config.model_dump(mode="json"))
        what = ", ".join(changed) if changed else "the prompt templates"
        if not force:
            store.close()
            raise ConfigError(
                f"{run_dir} was started with a different configuration (changed: {what}). Rerun with the "
                "original settings to resume, choose a new output directory, or pass --force to continue "
                "under the new configuration (finished trajectories are kept as they are)."
            )
        store.log_event("config_changed", f"{old} -> {new}; changed: {what}")
    if old != new:
        store.set_meta(fingerprint=new, config=config.model_dump_json(), prompts=prompts.digest())
        (run_dir / "config.json").write_text(config.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return store


def synthesize(
    pairs: list[Pair],
    run_dir: Path,
    config: ReerConfig,
    *,
    force: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_event: Callable[[str, Trajectory], None] | None = None,
) -> RunSummary:
    """Search every pair not yet finished in ``run_dir``; finished trajectories are never redone."""
    started = time.perf_counter()
    with RunLock(run_dir):  # before anything is read or written: one writer per run
        store = open_run(run_dir, config, force=force)
        try:
            conflicts = store.add_items(pairs, config.search.rollouts)
            todo = _fitting(store, store.unfinished(), config)
            count = len(todo)
            if on_start:
                on_start(count)
            if todo:
                journal = Journal(store, on_event or (lambda kind, t: None))
                try:
                    if config.runner.kind == "ray":
                        from reer.search.distributed import search_on_ray

                        search_on_ray(todo, config, journal, store)
                    else:
                        _search_here(todo, config, journal)
                finally:  # also after Ctrl-C: the report's wall time is the sum of these records
                    store.log_search_call(count, time.perf_counter() - started)
            if config.filters.check_gain:
                _measure_gains(run_dir, config, store)
            return summarize(store, searched_now=count, seconds=time.perf_counter() - started, conflicts=conflicts)
        finally:
            store.close()


def _measure_gains(run_dir: Path, config: ReerConfig, store: RunStore) -> None:
    """The null the no-gain check is judged against (and an older run's gains). Best effort: every trajectory is
    already saved, and `reer filter` measures whatever this leaves (a scorer that fails here fails nothing)."""
    try:
        measure_run(run_dir, config.filters, store=store)
    except Exception as exc:  # noqa: BLE001 - recorded, and redone by `reer filter`
        store.log_event("gain_pass_failed", f"{type(exc).__name__}: {exc}; `reer filter` measures the rest")


def _search_here(todo: list[tuple[Pair, Trajectory]], config: ReerConfig, journal: Journal) -> None:
    """Search ``todo`` in this process, ``config.concurrency`` items at a time."""
    searcher = open_searcher(config)
    with ThreadPoolExecutor(config.concurrency, thread_name_prefix="reer-item") as pool:
        futures = [pool.submit(run_item, searcher, journal, p, t) for p, t in handed_over(todo)]
        try:
            for future in futures:
                future.result()
        except BaseException:  # a setup error or Ctrl-C: start nothing new, stop the rest soon
            journal.stopping.set()
            for future in futures:
                future.cancel()
            raise


PROMPT_ALLOWANCE = 256  # tokens of instructions, chat template and tags around the request and the reference


def _fitting(store: RunStore, todo: list[tuple[Pair, Trajectory]], config: ReerConfig) -> list[tuple[Pair, Trajectory]]:
    """The work that fits the models; items too long for them are rejected up front, with the reason, before a
    model loads (a reference of megabytes would otherwise exhaust the memory of the first engine call)."""
    fresh = [(pair, t) for pair, t in todo if t.initial is None]
    if not fresh:
        return todo
    check_backends(config)
    count = open_token_counter(config.scorer_model)
    models = [config.generator] + ([config.scorer_model] if config.scorer_model != config.generator else [])
    context = min(context_length(model) for model in models)  # a server is asked once per model
    rejected = set()
    for pair, trajectory in fresh:
        reason = _too_long(pair, config, count, context)
        if reason is not None:
            trajectory.status, trajectory.reject_reason = "rejected", reason
            store.save_finish(trajectory)
            rejected.add((pair.id, trajectory.rollout))
    return [(pair, t) for pair, t in todo if (pair.id, t.rollout) not in rejected]


def _too_long(pair: Pair, config: ReerConfig, count: Callable[[str], int], context: int) -> str | None:
    """Why ``pair`` cannot be searched: over the pre-filter's maxima, or no room in the context for at least
    ``search.min_initial_tokens`` of thinking beside the request and the reference (both are in the prompts)."""
    limits = config.pairs
    sizes = {}
    for name, text, most in (
        ("query", pair.query, limits.max_query_tokens),
        ("reference", pair.reference, limits.max_reference_tokens),
    ):
        if len(text) > 64 * most:  # no tokenizer gets under its maximum from here: do not tokenize megabytes
            return f"{name}_too_long ({len(text):,} characters; pairs.max_{name}_tokens is {most})"
        sizes[name] = count(text)
        if sizes[name] > most:
            return f"{name}_too_long ({sizes[name]} tokens > pairs.max_{name}_tokens {most})"
    needed = sizes["query"] + sizes["reference"] + PROMPT_ALLOWANCE + config.search.min_initial_tokens
    if needed > context:
        return (
            f"too_long_for_context (request + reference + {PROMPT_ALLOWANCE} prompt + "
            f"{config.search.min_initial_tokens} thinking = {needed} tokens > context_length {context})"
        )
    return None


def summarize(
    store: RunStore, *, searched_now: int = 0, seconds: float = 0.0, conflicts: list[str] | None = None
) -> RunSummary:
    mean_initial, mean_final = store.mean_scores()
    return RunSummary(
        counts=store.status_counts(),
        mean_initial=mean_initial,
        mean_final=mean_final,
        searched_now=searched_now,
        seconds=seconds,
        conflicts=conflicts or [],
        retries=store.retries(),
        gains=store.mean_gain(),
    )


def _changed_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    keys = sorted(set(old) | set(new))
    changed: list[str] = []
    for key in keys:
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changed += _changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            changed.append(f"{prefix}{key}")
    return changed
