"""Cross-item batching: many concurrent searches, one engine call at a time with everything they asked for.

Each item's search stays plain sequential code in its own thread and calls ``generate``/``score`` as if it
were alone. Those calls land in a queue; one dispatcher thread takes the first waiting job, gathers every
other job of the same kind that arrives within ``max_wait`` seconds (up to ``max_requests``), makes a single
backend call with all of their requests, and hands each caller its own results.

Threads, not asyncio: the search is synchronous code and the engines (torch, llama.cpp) release the GIL
while they compute, so threads give concurrency without making the search async. Serialising engine calls
through one dispatcher also keeps a CPU from being oversubscribed by several forward passes at once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from reer.errors import ReerError


@dataclass
class _Job:
    kind: str  # "generate" or "score"
    requests: Sequence[Any]
    future: Future = field(default_factory=Future)


class EngineTimeout(ReerError):
    """An engine call ran past its time limit: the engine is stuck, and every later call would wait behind it."""


class Batcher:
    """Wraps a backend; thread-safe ``generate`` and ``score`` that are batched across callers.

    Engine calls run in the dispatcher thread, so a caller can stop waiting: after ``timeout`` seconds it
    gets :class:`EngineTimeout` (stopping the run with a clear message), and so does every later caller —
    an in-process engine cannot be interrupted, and everything else would queue behind the stuck call.
    """

    def __init__(
        self,
        backend: Any,
        max_requests: int = 32,
        max_wait: float = 0.005,
        engine_lock: threading.Lock | None = None,
        timeout: float | None = None,
        name: str = "the engine",
    ) -> None:
        self.backend, self.max_requests, self.max_wait = backend, max_requests, max_wait
        self.timeout, self.name = timeout, name
        self.stuck: str | None = None  # set once a call has timed out
        # Batchers of one run share a lock so a generator and a scorer never compute at the same time
        # on the same cores (or device): that oversubscription costs more than it overlaps.
        self.engine_lock = engine_lock or threading.Lock()
        self.calls = 0  # engine calls made, for benchmarks and tests
        self._jobs: queue.Queue[_Job] = queue.Queue()
        self._held: list[_Job] = []  # jobs of the other kind, taken while gathering
        threading.Thread(target=self._dispatch, name="reer-batcher", daemon=True).start()

    def generate(self, requests: Sequence[Any]) -> list[Any]:
        return self._submit("generate", requests)

    def score(self, requests: Sequence[Any]) -> list[Any]:
        return self._submit("score", requests)

    def _submit(self, kind: str, requests: Sequence[Any]) -> list[Any]:
        if self.stuck:
            raise EngineTimeout(self.stuck)
        job = _Job(kind, requests)
        self._jobs.put(job)
        try:
            return job.future.result(timeout=self.timeout)
        except FutureTimeout:
            self.stuck = (
                f"{self.name} did not answer within {self.timeout:g} s (its `timeout:`); it is stuck, so the run "
                "stopped. Everything finished is saved: rerun to resume, with a larger timeout if calls are "
                "just slow."
            )
            raise EngineTimeout(self.stuck) from None

    def _dispatch(self) -> None:
        while True:
            first = self._held.pop(0) if self._held else self._jobs.get()
            batch = [first, *self._gather(first.kind, len(first.requests))]
            try:
                results = self._call(first.kind, [r for job in batch for r in job.requests])
            except Exception as exc:
                if len(batch) == 1:
                    first.future.set_exception(exc)
                    continue
                # One request may have failed the whole batch: run each caller's requests alone, so a failure
                # stays with the item that caused it and its batch-mates go on.
                for job in batch:
                    self._settle_alone(job)
                continue
            except BaseException as exc:  # interrupted: every waiting caller sees it, none hangs
                for job in batch:
                    job.future.set_exception(exc)
                continue
            start = 0
            for job in batch:
                job.future.set_result(results[start : start + len(job.requests)])
                start += len(job.requests)

    def _call(self, kind: str, requests: list[Any]) -> list[Any]:
        with self.engine_lock:
            results: list[Any] = getattr(self.backend, kind)(requests)
        self.calls += 1
        return results

    def _settle_alone(self, job: _Job) -> None:
        try:
            job.future.set_result(self._call(job.kind, list(job.requests)))
        except BaseException as exc:
            job.future.set_exception(exc)

    def _gather(self, kind: str, count: int) -> list[_Job]:
        gathered = [job for job in self._held if job.kind == kind]
        self._held = [job for job in self._held if job.kind != kind]
        count += sum(len(job.requests) for job in gathered)
        while count < self.max_requests:
            try:
                job = self._jobs.get(timeout=self.max_wait)
            except queue.Empty:
                break
            if job.kind != kind:
                self._held.append(job)
                continue
            gathered.append(job)
            count += len(job.requests)
        return gathered
