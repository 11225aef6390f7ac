"""One item's search, wherever it runs: the searcher a process opens, the journal each saved stage goes
through, and the loop that hands items over. The local runner (:mod:`reer.search.runner`) and the Ray
workers (:mod:`reer.search.distributed`) both run items with these."""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from reer.backends import open_backends
from reer.backends.batching import Batcher
from reer.config import ModelConfig, ReerConfig
from reer.errors import ReerError
from reer.records import Pair
from reer.records.trajectory import Step, Trajectory
from reer.search.reer import Searcher


def open_searcher(config: ReerConfig) -> Searcher:
    """The process's searcher: its generator and scorer opened once, shared by every item it runs."""
    generator, scorer = open_backends(config)
    lock = threading.Lock()  # a generator and a scorer in this process never compute at once
    wait = 0.005 if config.concurrency > 1 else 0.0  # alone, a call has no one to wait for
    batched = _batched(generator, lock, wait, config.generator, "the generator")
    scorer = batched if scorer is generator else _batched(scorer, lock, wait, config.scorer_model, "the scorer")
    _settle_for_many_threads()
    return Searcher(batched, scorer, config.search, seed=config.seed)


def _settle_for_many_threads() -> None:
    """Every item in flight is a thread of this process, each a short burst of Python between server answers.
    What is loaded by now (libraries, tokenizers, models) is frozen out of the garbage collector, whose full
    passes would otherwise walk those millions of objects again and again; and a thread that wants the GIL
    asks for it after 20 ms rather than 5: a hundred threads asking every 5 ms cost more context switches than
    work. Measured at 128 items in flight against simulated servers: the freeze saved 12% of the driver's CPU
    per item, the longer interval 8% more; against real servers' latencies of seconds, 20 ms is no delay. The
    collector also runs every 10,000 allocations instead of 700 (what dies young dies by reference counting): its
    passes over the items in flight were 10% of the driver's CPU, now about 2.5%."""
    gc.freeze()
    gc.set_threshold(10_000, 50, 50)
    sys.setswitchinterval(max(sys.getswitchinterval(), 0.02))


def _batched(backend: Any, lock: threading.Lock, wait: float, model: ModelConfig, name: str) -> Any:
    """In-process engines go through a batcher: requests of concurrent items meet in one call (gathered for
    ``wait`` seconds), and a call that hangs past ``timeout`` stops the run instead of hanging it. A server
    backend takes concurrent calls itself (bounded by its own traffic control and timeouts): used as it is."""
    if not getattr(backend, "local_compute", True):
        return backend
    return Batcher(backend, max_wait=wait, engine_lock=lock, timeout=model.timeout, name=f"{name} ({model.backend})")


class Stopped(Exception):
    """Raised in a worker after its last save once the run is being stopped."""


class Sink(Protocol):
    """Where a search's stages are kept: the run store, or (on a Ray worker) the stream to the driver."""

    def save_initial(self, trajectory: Trajectory) -> None: ...

    def save_step(self, trajectory: Trajectory, step: Step) -> None: ...

    def save_finish(self, trajectory: Trajectory) -> None: ...

    def mark_failed(self, trajectory: Trajectory, error: str) -> None: ...


class Journal:
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
            raise Stopped


def run_item(searcher: Searcher, journal: Journal, pair: Pair, trajectory: Trajectory) -> None:
    if journal.stopping.is_set():
        return
    try:
        searcher.run(pair, trajectory, journal)
    except Stopped:
        pass  # saved up to its last completed stage; resumes on the next run
    except ReerError:
        raise  # a setup problem (bad template, missing model): every item would fail the same way
    except Exception as exc:  # one bad item must not stop the run; a rerun retries it
        journal.mark_failed(trajectory, f"{type(exc).__name__}: {exc}")


def handed_over(todo: list[tuple[Pair, Trajectory]]) -> Iterator[tuple[Pair, Trajectory]]:
    """``todo``'s items in order, each taken out of the list as it goes. The search is then the only holder of
    an item's trajectory, freed when the item ends: a finished trajectory carries every candidate's text and
    log-probabilities (about 0.7 MB for a published-size item, gigabytes over a 20,000-item run), and the
    store already has all of it."""
    todo.reverse()
    while todo:
        yield todo.pop()
