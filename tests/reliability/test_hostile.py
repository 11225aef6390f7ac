"""The hostile-input corpus (tests/data/hostile/) through the real command line: each case ends with its
exit code and its message, valid rows still run, nothing ends in a traceback; and no bytes at all make
the pairs reader raise."""

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reer.records.pair import load_pairs
from reer.store import RunStore
from tests.reliability.faults import run_reer

CORPUS = Path(__file__).parents[1] / "data" / "hostile"
CASES = json.loads((CORPUS / "cases.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Every case, run once, two at a time."""
    base = tmp_path_factory.mktemp("hostile")
    fake = base / "fake.yaml"
    fake.write_text(yaml.safe_dump({"generator": {"backend": "fake"}, "search": {"max_steps": 1}}))

    def one(case: dict) -> tuple[dict, object, Path]:
        run = base / case["name"] / "run"
        places = {
            "{dir}": str(CORPUS),
            "{run}": str(run),
            "{fake}": str(fake),
            "{out}": str(base / case["name"] / "out"),
        }
        args = [_placed(arg, places) for arg in case["args"]]
        return case, run_reer(*args), run

    with ThreadPoolExecutor(2) as pool:
        return {case["name"]: result for case, *result in pool.map(one, CASES)}


def _placed(arg: str, places: dict[str, str]) -> str:
    for key, value in places.items():
        arg = arg.replace(key, value)
    return arg


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 60 and len({case["name"] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_hostile_input(case, outcomes):
    done, run = outcomes[case["name"]]
    assert done.returncode == case["exit"], f"{case['why']}: {done.stderr}"
    assert "Traceback" not in done.stderr and "\x1b[2J" not in done.stdout + done.stderr
    if "stderr" in case:
        assert case["stderr"] in " ".join(done.stderr.split()), done.stderr
    if "stdout" in case:
        assert case["stdout"] in done.stdout
    if "done" in case:
        store = RunStore.open_existing(run, readonly=True)
        try:
            assert store.status_counts().get("done", 0) == case["done"]
            reasons = " ".join(t.reject_reason or "" for t in store.all_trajectories())
        finally:
            store.close()
        if "status" in case:
            assert case["status"] in reasons
    if "card_absent" in case:
        exported = run_reer("export", str(run), "-o", str(run.parent / "card"), "--no-filter")
        assert exported.returncode == 0, exported.stderr
        card = (run.parent / "card" / "README.md").read_text(encoding="utf-8")
        assert not [text for text in case["card_absent"] if text in card], card


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2000))
def test_no_bytes_make_the_pairs_reader_raise(tmp_path, data):
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(data)
    result = load_pairs(path)  # every row is a pair or a problem naming its line
    assert all(problem.line >= 1 for problem in result.problems)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)), max_size=8))
def test_no_lines_make_the_pairs_reader_raise(tmp_path, lines):
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(b"\n".join(lines))
    load_pairs(path)
