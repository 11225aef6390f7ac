"""Searching on a Ray cluster: workers pull items, the driver keeps the run store.

Each worker is a Ray actor that opens its own backends from the run's config (a local model per worker, or
the shared servers of the ``openai`` backend) and searches ``concurrency`` items at a time, batched together
as on one machine. Every completed stage streams back to the driver (a Ray generator), which commits it
to the run store — the store's only writer — as it arrives, so the guarantees of a local run hold unchanged:
a stage is saved once it is committed, a rerun resumes each item from its last committed stage.

Workers pull: an item goes to the least loaded worker as soon as it has room, never in waves. A worker
that dies (its process killed, its node lost) hands its items back to the queue, to resume from the last
stage the driver committed; Ray restarts the worker. Items are independent and every random choice is
seeded from the item, so where an item runs does not change its result.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal

from reer.config import ReerConfig, RunnerConfig
from reer.errors import ConfigError, ReerError
from reer.records import Pair
from reer.records.trajectory import Step, Trajectory
from reer.search.items import Journal, handed_over, open_searcher, run_item
from reer.search.reer import Searcher
from reer.store import RunStore

Work = tuple[Pair, Trajectory]
RESTARTS = 8  # times Ray restarts a dead worker before it is given up
POLL_SECONDS = 1.0
CONNECT_SECONDS = 10.0


@dataclass
class Stage:
    """One completed stage of one item, as it travels from a worker to the driver. ``trajectory`` carries the
    stage's own fields; steps travel once each, in their own stage, never again with later ones."""

    kind: Literal["initial", "step", "finish", "failed", "error"]
    trajectory: Trajectory | None = None
    step: Step | None = None
    error: str = ""

    def apply(self, trajectory: Trajectory, journal: Journal) -> None:
        """Commit this stage on the driver, onto the driver's copy of the trajectory."""
        if self.kind == "error":
            raise ReerError(self.error)
        if self.kind == "step":
            assert self.step is not None
            trajectory.steps.append(self.step)
            journal.save_step(trajectory, self.step)
            return
        sent = self.trajectory
        assert sent is not None
        if self.kind == "initial":
            trajectory.status, trajectory.initial = sent.status, sent.initial
            trajectory.scored_tokens, trajectory.reject_reason = sent.scored_tokens, sent.reject_reason
            journal.save_initial(trajectory)
        elif self.kind == "finish":
            trajectory.status, trajectory.stop_reason = sent.status, sent.stop_reason
            trajectory.final_trace, trajectory.reject_reason = sent.final_trace, sent.reject_reason
            trajectory.gain = sent.gain
            journal.save_finish(trajectory)
        else:
            journal.mark_failed(trajectory, sent.error or "")


class _Outbox:
    """A worker's sink: each stage goes into a queue that the worker's generator yields from."""

    def __init__(self) -> None:
        self.stages: queue.Queue[Stage | None] = queue.Queue()

    def save_initial(self, trajectory: Trajectory) -> None:
        self.stages.put(Stage("initial", trajectory.model_copy(update={"steps": []}, deep=True)))

    def save_step(self, trajectory: Trajectory, step: Step) -> None:
        self.stages.put(Stage("step", step=step.model_copy(deep=True)))

    def save_finish(self, trajectory: Trajectory) -> None:
        self.stages.put(Stage("finish", _header(trajectory)))

    def mark_failed(self, trajectory: Trajectory, error: str) -> None:
        self.stages.put(Stage("failed", _header(trajectory)))


def _header(trajectory: Trajectory) -> Trajectory:
    return trajectory.model_copy(update={"steps": [], "initial": None}, deep=True)


class ItemWorker:
    """A Ray actor (made one by the driver): searches the items the driver sends it, streaming their stages."""

    def __init__(self, config_json: str) -> None:
        self.config = ReerConfig.model_validate_json(config_json)
        self.stopping = threading.Event()
        self._opening = threading.Lock()
        self._searcher: Searcher | None = None

    def ready(self) -> None:
        """Open the backends (load the model), so that a set-up problem stops the run before any item."""
        self._open()

    def stop(self) -> None:
        """Ctrl-C on the driver: end each running item after its next stage."""
        self.stopping.set()

    def search(self, pair: Pair, trajectory: Trajectory) -> Iterator[Stage]:
        outbox = _Outbox()
        journal = Journal(outbox, lambda kind, t: None, self.stopping)

        def work() -> None:
            try:
                run_item(self._open(), journal, pair, trajectory)
            except Exception as exc:  # a setup problem: the driver stops the run with this message
                message = str(exc) if isinstance(exc, ReerError) else f"{type(exc).__name__}: {exc}"
                outbox.stages.put(Stage("error", error=f"on Ray worker {os.getpid()}: {message}"))
            finally:
                outbox.stages.put(None)

        threading.Thread(target=work, name=f"reer-item-{pair.id[:32]}", daemon=True).start()
        while (stage := outbox.stages.get()) is not None:
            yield stage

    def _open(self) -> Searcher:
        with self._opening:
            if self._searcher is None:
                self._searcher = open_searcher(self.config)
            return self._searcher


@dataclass
class _Worker:
    handle: Any
    ready: bool = False
    load: int = 0


@dataclass
class _Running:
    worker: _Worker
    work: Work


@dataclass
class _Driver:
    """The scheduling loop: hands out items, commits stages as they arrive, requeues a lost worker's items."""

    ray: Any
    config: ReerConfig
    journal: Journal
    commits: Callable[[], AbstractContextManager[None]]  # the store's group commit
    queue: deque[Work]
    workers: list[_Worker] = field(default_factory=list)
    starting: dict[Any, _Worker] = field(default_factory=dict)
    running: dict[Any, _Running] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)

    def start_workers(self, count: int) -> None:
        runner = self.config.runner
        environment = _forwarded_environment(self.config)
        actor = self.ray.remote(ItemWorker).options(
            num_cpus=runner.cpus_per_worker,
            num_gpus=runner.gpus_per_worker,
            max_concurrency=self.config.concurrency + 2,  # its items, plus ready() and stop()
            max_restarts=RESTARTS,
            max_task_retries=0,  # a lost item comes back to the driver, which knows its committed stages
            runtime_env={"env_vars": environment} if environment else None,
        )
        config_json = self.config.model_dump_json()
        for _ in range(count):
            worker = _Worker(actor.remote(config_json))
            self.workers.append(worker)
            self.starting[worker.handle.ready.remote()] = worker

    def run(self) -> None:
        exceptions = self.ray.exceptions
        placed_by = time.monotonic() + self.config.runner.start_timeout
        stop_sent = False
        while self.running or (self.queue and not self.stopping.is_set()):
            if self.stopping.is_set() and not stop_sent:
                for worker in self.workers:
                    worker.handle.stop.remote()
                stop_sent = True
            if not self.stopping.is_set():
                self._hand_out()
            waiting = [*self.running, *self.starting]
            if not waiting:
                raise ReerError("every Ray worker is gone (each was restarted and died again); rerun to resume")
            first, _ = self.ray.wait(waiting, num_returns=1, timeout=POLL_SECONDS)
            if not any(w.ready for w in self.workers) and time.monotonic() > placed_by:
                raise ReerError(
                    f"no Ray worker started within {self.config.runner.start_timeout:.0f} s; the cluster has "
                    f"{self.ray.available_resources()} free — lower runner.workers, runner.cpus_per_worker or "
                    "runner.gpus_per_worker, or add nodes"
                )
            # Everything else that is ready too, committed together: one durable commit for many stages.
            ready = self.ray.wait(waiting, num_returns=len(waiting), timeout=0)[0] if first else []
            with self.commits():
                for ref in ready:
                    if ref in self.starting:
                        self._started(self.starting.pop(ref), ref, exceptions)
                    else:
                        self._advance(ref, exceptions)

    def _hand_out(self) -> None:
        ready = [w for w in self.workers if w.ready]
        while self.queue and ready:
            worker = min(ready, key=lambda w: w.load)
            if worker.load >= self.config.concurrency:
                return
            pair, trajectory = work = self.queue.popleft()
            generator = worker.handle.search.remote(pair, trajectory)
            self.running[generator] = _Running(worker, work)
            worker.load += 1

    def _started(self, worker: _Worker, ref: Any, exceptions: Any) -> None:
        try:
            self.ray.get(ref)
        except exceptions.RayTaskError as exc:  # opening the backends failed: so would every item
            raise ReerError(f"a Ray worker could not open the backends: {_cause(exc)}") from None
        except exceptions.RayActorError:  # it died for good (restarted too often, or its node is gone): drop it
            if worker in self.workers:
                self.workers.remove(worker)
            return
        worker.ready = True

    def _advance(self, generator: Any, exceptions: Any) -> None:
        running = self.running[generator]
        try:
            stage: Stage = self.ray.get(next(generator))
        except StopIteration:
            self._release(generator)
            return
        except exceptions.RayActorError:  # the worker died mid-item: its committed stages stand
            self._release(generator)
            self.queue.appendleft(running.work)
            if running.worker.ready:  # the first of its items to notice: wait for Ray to restart it
                running.worker.ready = False
                self.starting[running.worker.handle.ready.remote()] = running.worker
            return
        stage.apply(running.work[1], self.journal)

    def _release(self, generator: Any) -> None:
        running = self.running.pop(generator)
        running.worker.load -= 1


def search_on_ray(todo: list[Work], config: ReerConfig, journal: Journal, store: RunStore) -> None:
    """Search ``todo`` on the Ray cluster of ``config.runner``; return when every item ended or the run stopped."""
    ray = _import_ray()
    runner = config.runner
    _join(ray, runner)
    try:
        count = len(todo)
        driver = _Driver(ray, config, journal, store.batch, deque(handed_over(todo)))
        driver.start_workers(min(count, _worker_count(ray, runner)))
        # The loop runs in a thread of its own so that Ctrl-C, which arrives in the main thread, never lands
        # between a stage and its commit: the loop stops handing out items and drains the running ones.
        with ThreadPoolExecutor(1, thread_name_prefix="reer-ray-driver") as pool:
            loop = pool.submit(driver.run)
            try:
                loop.result()
            except KeyboardInterrupt:
                driver.stopping.set()
                loop.result()
                raise
    finally:
        ray.shutdown()


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("runner.kind: ray needs Ray: pip install 'reer[ray]' (on the driver and every node)") from exc
    return ray


def _join(ray: Any, runner: RunnerConfig) -> None:
    options: dict[str, Any] = {"namespace": "reer", "log_to_driver": False, "logging_level": "WARNING"}
    if runner.address == "local":
        options["include_dashboard"] = False
    else:
        options["address"] = runner.address
    advice = "start one with `ray start --head` (and `ray start --address HEAD:6379` on each node), or use --ray local"
    if runner.address not in ("local", "auto"):
        _reachable(runner.address, advice)
    try:
        ray.init(**options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        raise ReerError(f"cannot join the Ray cluster at {runner.address!r}: {reason} — {advice}") from None


def _reachable(address: str, advice: str) -> None:
    """Ray retries an address that does not answer for minutes, silently: refuse it at once instead."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=CONNECT_SECONDS):
            pass
    except ValueError:
        raise ReerError(f"--ray {address!r}: give the head's HOST:PORT, e.g. 10.0.0.5:6379, or auto or local") from None
    except OSError as exc:
        raise ReerError(f"no Ray cluster answers at {address} ({exc.strerror or exc}) — {advice}") from None


def _worker_count(ray: Any, runner: RunnerConfig) -> int:
    if runner.workers is not None:
        return runner.workers
    resources = ray.cluster_resources()
    slots = [resources.get("CPU", 0) / runner.cpus_per_worker if runner.cpus_per_worker else float("inf")]
    if runner.gpus_per_worker:
        slots.append(resources.get("GPU", 0) / runner.gpus_per_worker)
    count = min(slots)
    return max(1, int(count)) if count != float("inf") else 1


def _forwarded_environment(config: ReerConfig) -> dict[str, str]:
    """The API keys the config names, so that workers on other machines reach the same servers."""
    names = {m.api_key_env for m in (config.generator, config.scorer_model) if m.api_key_env}
    return {name: os.environ[name] for name in sorted(names) if name in os.environ}


def _cause(exc: Any) -> str:
    cause = getattr(exc, "cause", None)
    return str(cause) if cause is not None else " ".join(str(exc).split())
