"""Faults of engines and servers stay with the item they belong to, and never become a score."""

import pytest

from reer.backends.base import InvalidScores, ScoreResult
from reer.config import ModelConfig, ReerConfig, SearchConfig
from reer.eval.likelihood import measurements
from reer.search.runner import synthesize
from reer.store import RunStore
from tests.reliability.faults import fault_pairs


def faulty(concurrency: int) -> ReerConfig:
    return ReerConfig(
        generator=ModelConfig(backend="faulty"), search=SearchConfig(max_steps=2), concurrency=concurrency
    )


def outcomes(run_dir) -> dict[str, tuple[str, str | None]]:
    store = RunStore.open_existing(run_dir)
    try:
        return {t.item_id: (t.status, t.error) for t in store.all_trajectories()}
    finally:
        store.close()


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_failing_item_does_not_fail_its_batch_mates_on_any_run(tmp_path, concurrency):
    items = fault_pairs(None, "permanent", None, None, None, "permanent", None, None)
    for _ in range(3):  # and again on every rerun
        summary = synthesize(items, tmp_path / "run", faulty(concurrency))
        assert summary.counts == {"done": 6, "failed": 2}
        found = outcomes(tmp_path / "run")
        assert {k for k, (status, _) in found.items() if status == "failed"} == {"item-1", "item-5"}
        assert all("injected fault" in found[k][1] for k in ("item-1", "item-5"))


def test_a_transient_batch_failure_costs_nobody_anything(tmp_path):
    summary = synthesize(fault_pairs("transient", n=4), tmp_path / "run", faulty(4))
    assert summary.counts == {"done": 4}


@pytest.mark.parametrize(("fault", "reason"), [("nan", "nan is not"), ("positive", "0.5 is not"), ("truncated", "for")])
def test_values_that_are_not_log_probabilities_fail_the_item_with_the_reason(tmp_path, fault, reason):
    summary = synthesize(fault_pairs(fault, n=3), tmp_path / "run", faulty(2))
    assert summary.counts == {"done": 2, "failed": 1}
    status, error = outcomes(tmp_path / "run")["item-0"]
    assert status == "failed" and "InvalidScores" in error and reason in error


def test_likelihood_refuses_invalid_values():
    good = ScoreResult([-0.5, -1.0], ["a", "b"])
    with pytest.raises(InvalidScores, match="nan is not a log-probability"):
        measurements(good, ScoreResult([float("nan"), -1.0], ["a", "b"]), None, 2.0)


def test_garbage_from_the_generator_fails_only_its_item_and_the_run_goes_on(tmp_path):
    """NUL, escape codes and a lone surrogate in generated text: never a crash of the run."""
    summary = synthesize(fault_pairs("garbage", n=3), tmp_path / "run", faulty(2))
    assert summary.counts.get("done", 0) == 2 and summary.total == 3
    status, error = outcomes(tmp_path / "run")["item-0"]
    assert status == "failed" and "surrogates not allowed" in error  # refused by the store, with the reason


def test_a_reference_of_megabytes_is_rejected_before_any_model_call(tmp_path):
    huge = fault_pairs(None, n=2)
    huge[0] = huge[0].model_copy(update={"reference": "The sea rolls in. " * 300_000})  # 5.4 MB
    summary = synthesize(huge, tmp_path / "run", faulty(1))
    assert summary.counts == {"rejected": 1, "done": 1}
    store = RunStore.open_existing(tmp_path / "run")
    try:
        rejected = store.trajectory("item-0", 0)
    finally:
        store.close()
    assert rejected.initial is None and rejected.reject_reason.startswith("reference_too_long (5,400,000 characters")


def test_a_failed_start_binds_no_configuration(tmp_path):
    """A typo in the backend's name stops the start; the corrected command is not refused as a changed config."""
    from reer.errors import BackendError

    items = fault_pairs(n=2)
    with pytest.raises(BackendError, match="did you mean"):
        synthesize(items, tmp_path / "run", ReerConfig(generator=ModelConfig(backend="fakee")))
    assert synthesize(items, tmp_path / "run", ReerConfig(generator=ModelConfig(backend="fake"))).counts == {"done": 2}
