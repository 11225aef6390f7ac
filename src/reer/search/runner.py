"""Running the search over a file of pairs into a run directory, resuming whatever is unfinished."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from reer import prompts
from reer.backends import check_backends, context_length, open_backends, open_token_counter
from reer.backends.batching import Batcher
from reer.config import ModelConfig, ReerConfig, fingerprint
from reer.errors import ConfigError, ReerError
from reer.records import Pair
from reer.records.trajectory import Step, Trajectory
from reer.search.reer import Searcher
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
                journal = _ReportingJournal(store, on_event or (lambda kind, t: None))
                try:
                    if config.runner.kind == "ray":
                        from reer.search.distributed import search_on_ray

                        search_on_ray(todo, config, journal, store)
                    else:
                        _search_here(todo, config, journal)
                finally:  # also after Ctrl-C: the report's wall time is the sum of these records
                    store.log_search_call(count, time.perf_counter() - started)
            return summarize(store, searched_now=count, seconds=time.perf_counter() - started, conflicts=conflicts)
        finally:
            store.close()


def _search_here(todo: list[tuple[Pair, Trajectory]], config: ReerConfig, journal: _ReportingJournal) -> None:
    """Search ``todo`` in this process, ``config.concurrency`` items at a time."""
    searcher = open_searcher(config)
    with ThreadPoolExecutor(config.concurrency, thread_name_prefix="reer-item") as pool:
        futures = [pool.submit(_run_one, searcher, journal, p, t) for p, t in handed_over(todo)]
        try:
            for future in futures:
                future.result()
        except BaseException:  # a setup error or Ctrl-C: start nothing new, stop the rest soon
            journal.stopping.set()
            for future in futures:
                future.cancel()
            raise


def handed_over(todo: list[tuple[Pair, Trajectory]]) -> Iterator[tuple[Pair, Trajectory]]:
    """``todo``'s items in order, each taken out of the list as it goes. The search is then the only holder of
    an item's trajectory, freed when the item ends: a finished trajectory carries every candidate's text and
    log-probabilities (about 0.7 MB for a published-size item, gigabytes over a 20,000-item run), and the
    store already has all of it."""
    todo.reverse()
    while todo:
        yield todo.pop()


PROMPT_ALLOWANCE = 256  # tokens of instructions, chat template and tags around the request and the reference


def _fitting(store: RunStore, todo: list[tuple[Pair, Trajectory]], config: ReerConfig) -> list[tuple[Pair, Trajectory]]:
    """The work that fits the models; items too long for them are rejected up front, with the reason, before a
    model loads (a reference of megabytes would otherwise exhaust the memory of the first engine call)."""
    fresh = [(pair, t) for pair, t in todo if t.initial is None]
    if not fresh:
        return todo
    check_backends(config)
    count = open_token_counter(config.scorer_model)
    context = min(context_length(config.generator), context_length(config.scorer_model))
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


def open_searcher(config: ReerConfig) -> Searcher:
    generator, scorer = open_backends(config)
    lock = threading.Lock()  # a generator and a scorer in this process never compute at once
    wait = 0.005 if config.concurrency > 1 else 0.0  # alone, a call has no one to wait for
    batched = _batched(generator, lock, wait, config.generator, "the generator")
    scorer = batched if scorer is generator else _batched(scorer, lock, wait, config.scorer_model, "the scorer")
    return Searcher(batched, scorer, config.search, seed=config.seed)


def _batched(backend: Any, lock: threading.Lock, wait: float, model: ModelConfig, name: str) -> Any:
    """In-process engines go through a batcher: requests of concurrent items meet in one call (gathered for
    ``wait`` seconds), and a call that hangs past ``timeout`` stops the run instead of hanging it. A server
    backend takes concurrent calls itself (bounded by its own traffic control and timeouts): used as it is."""
    if not getattr(backend, "local_compute", True):
        return backend
    return Batcher(backend, max_wait=wait, engine_lock=lock, timeout=model.timeout, name=f"{name} ({model.backend})")


class _Stopped(Exception):
    """Raised in a worker after its last save once the run is being stopped."""


class Sink(Protocol):
    """Where a search's stages are kept: the run store, or (on a Ray worker) the stream to the driver."""

    def save_initial(self, trajectory: Trajectory) -> None: ...

    def save_step(self, trajectory: Trajectory, step: Step) -> None: ...

    def save_finish(self, trajectory: Trajectory) -> None: ...

    def mark_failed(self, trajectory: Trajectory, error: str) -> None: ...


class _ReportingJournal:
    """A sink as the search's journal, telling a progress display about each saved stage.

    When the run is stopping (Ctrl-C, a setup error in another item), a search ends right after its next
    saved stage instead of running to the end of its item; the next run resumes it from there.
    """

    def __init__(
        self, sink: Sink, report: Callable[[str, Trajectory], None], stopping: threading.Event | None = None
    ) -> None:
        self.sink, self.report = sink, report
        self.stopping = stopping or threading.Event()

    def save_initial(self, trajectory: Trajectory) -> None:
        self.sink.save_initial(trajectory)
        self._after("initial", trajectory)

    def save_step(self, trajectory: Trajectory, step: Step) -> None:
        self.sink.save_step(trajectory, step)
        self._after("step", trajectory)

    def save_finish(self, trajectory: Trajectory) -> None:
        self.sink.save_finish(trajectory)
        self._after("finish", trajectory)

    def mark_failed(self, trajectory: Trajectory, error: str) -> None:
        trajectory.status, trajectory.error = "failed", error
        self.sink.mark_failed(trajectory, error)
        self.report("finish", trajectory)

    def _after(self, kind: str, trajectory: Trajectory) -> None:
        self.report(kind, trajectory)
        if self.stopping.is_set() and kind != "finish":
            raise _Stopped


def _run_one(searcher: Searcher, journal: _ReportingJournal, pair: Pair, trajectory: Trajectory) -> None:
    if journal.stopping.is_set():
        return
    try:
        searcher.run(pair, trajectory, journal)
    except _Stopped:
        pass  # saved up to its last completed stage; resumes on the next run
    except ReerError:
        raise  # a setup problem (bad template, missing model): every item would fail the same way
    except Exception as exc:  # one bad item must not stop the run; a rerun retries it
        journal.mark_failed(trajectory, f"{type(exc).__name__}: {exc}")


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
