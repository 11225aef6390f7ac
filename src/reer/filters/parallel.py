"""The checks of a large run on every core: an ordered, streaming map over worker processes.

Judging one published-size trajectory costs a few milliseconds of pure-Python text work (repetition
measures, language identification, verbatim overlap, a MinHash signature): about a minute for 20,000
trajectories on one core. The texts go to worker processes in chunks and the answers come back in order, with
only a few chunks in flight, so a run of any size streams through in bounded memory. Small inputs stay in the
calling process, where starting workers would cost more than it saves.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

CHUNK = 128  # items per task: large enough that pickling and scheduling are a small share of the work


def ordered_map(
    function: Callable[[Item], Result], items: Iterable[Item], processes: int | None = None
) -> Iterator[Result]:
    """``map(function, items)``, in order, on up to ``processes`` worker processes (None: one per core).
    ``function`` must be a module-level function (it is pickled by name)."""
    processes = processes or _cores()
    items = iter(items)
    first = list(islice(items, CHUNK))
    if processes <= 1 or len(first) < CHUNK:
        yield from map(function, first)
        yield from map(function, items)
        return
    with ProcessPoolExecutor(processes) as pool:
        pending: deque[Future[list[Result]]] = deque([pool.submit(_each, function, first)])
        for chunk in iter(lambda: list(islice(items, CHUNK)), []):
            pending.append(pool.submit(_each, function, chunk))
            if len(pending) > 2 * processes:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()


def _cores() -> int:
    """The cores this process may run on (a container's share, not the machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _each(function: Callable[[Item], Result], chunk: list[Item]) -> list[Result]:
    return [function(item) for item in chunk]
