"""Cross-item batching: concurrent callers share engine calls and get exactly their own results."""

import threading
import time

import pytest

from reer.backends.base import GenerationRequest, Sampling
from reer.backends.batching import Batcher
from reer.backends.fake import FakeBackend
from reer.config import load_config
from reer.search.runner import synthesize
from reer.store import RunStore
from tests.conftest import without_timings


class Recording(FakeBackend):
    """The fake backend, remembering how many requests each engine call carried."""

    def __init__(self):
        super().__init__()
        self.batches = []

    def generate(self, requests):
        self.batches.append(len(requests))
        time.sleep(0.02)  # an engine call takes time; callers arriving meanwhile are batched
        return super().generate(requests)


def _request(seed):
    return GenerationRequest(
        messages=[{"role": "user", "content": f"prompt words {seed}"}], sampling=Sampling(0.8, 0.85, 50, seed=seed), n=2
    )


def test_concurrent_callers_are_batched_and_get_their_own_results():
    backend = Recording()
    batcher = Batcher(backend, max_wait=0.05)
    results = {}

    def call(seed):
        results[seed] = batcher.generate([_request(seed)])

    threads = [threading.Thread(target=call, args=(seed,)) for seed in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(backend.batches) == 8 and len(backend.batches) < 8  # fewer engine calls than callers
    for seed in range(8):
        assert results[seed] == FakeBackend().generate([_request(seed)])


def test_engine_errors_reach_every_waiting_caller():
    class Broken(FakeBackend):
        def score(self, requests):
            raise RuntimeError("engine down")

    batcher = Batcher(Broken())
    with pytest.raises(RuntimeError, match="engine down"):
        batcher.score([object()])
    assert batcher.generate([_request(1)])  # the dispatcher survives


def test_concurrent_run_equals_sequential_run(tmp_path, pair):
    pairs = [pair.model_copy(update={"id": f"item{i}"}) for i in range(6)]
    settings = {"generator.backend": "fake", "search.max_steps": 3, "search.stop_threshold": 0}
    synthesize(pairs, tmp_path / "seq", load_config(None, settings))
    summary = synthesize(pairs, tmp_path / "par", load_config(None, {**settings, "concurrency": 4}))
    assert summary.counts == {"done": 6}
    seq, par = RunStore(tmp_path / "seq"), RunStore(tmp_path / "par")
    assert [without_timings(t) for t in par.all_trajectories()] == [without_timings(t) for t in seq.all_trajectories()]
    # concurrency is not part of the fingerprint: a run may resume with another value
    assert seq.get_meta("fingerprint") == par.get_meta("fingerprint")
