"""A hung engine stops the run after its timeout; Ctrl-C stops after the current stage, a second one at once.
In every case the store stays consistent and a rerun finishes the rest."""

import signal
import sqlite3
import subprocess
import time

import pytest

from reer.store import RunStore
from tests.conftest import wait_for
from tests.reliability.faults import REPO, fault_config, reer_command, write_pairs


def counts(run_dir) -> dict[str, int]:
    try:
        store = RunStore.open_existing(run_dir, readonly=True)
    except Exception:
        return {}
    try:
        return store.status_counts()
    finally:
        store.close()


def consistent(run_dir) -> bool:
    db = sqlite3.connect(run_dir / "reer.sqlite")
    try:
        duplicates = db.execute(
            "SELECT COUNT(*) FROM (SELECT item_id, rollout, step FROM steps GROUP BY 1, 2, 3 HAVING COUNT(*) > 1)"
        ).fetchone()[0]
        return db.execute("PRAGMA integrity_check").fetchone()[0] == "ok" and duplicates == 0
    finally:
        db.close()


@pytest.mark.parametrize("concurrency", [1, 2])
def test_a_hung_engine_stops_the_run_after_its_timeout(tmp_path, concurrency):
    pairs = write_pairs(tmp_path / "pairs.jsonl", None, None, "hang", n=5)
    config = fault_config(tmp_path / "faulty.yaml", concurrency=concurrency, timeout=2)
    started = time.monotonic()
    done = subprocess.run(
        reer_command("synthesize", str(pairs), "-o", str(tmp_path / "run"), "-c", str(config)),
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1 and time.monotonic() - started < 60
    assert "the generator (faulty) did not answer within 2 s" in done.stderr and "Traceback" not in done.stderr
    assert counts(tmp_path / "run").get("done", 0) >= 2 and consistent(tmp_path / "run")


def test_ctrl_c_stops_after_the_current_stage_and_the_rerun_finishes(tmp_path):
    pairs = write_pairs(tmp_path / "pairs.jsonl", *["slow"] * 6, n=6)
    config = fault_config(tmp_path / "faulty.yaml")
    command = reer_command("synthesize", str(pairs), "-o", str(tmp_path / "run"), "-c", str(config))
    run = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for("a finished item", lambda: counts(tmp_path / "run").get("done", 0) >= 1, deadline=60)
    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 130 and "every completed stage is saved" in stderr
    assert counts(tmp_path / "run").get("done", 0) < 6 and consistent(tmp_path / "run")
    again = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert again.returncode == 0 and counts(tmp_path / "run") == {"done": 6} and consistent(tmp_path / "run")


def test_a_second_ctrl_c_quits_at_once_even_with_a_hung_call(tmp_path):
    pairs = write_pairs(tmp_path / "pairs.jsonl", "hang", n=4)
    config = fault_config(tmp_path / "faulty.yaml", concurrency=2)
    command = reer_command("synthesize", str(pairs), "-o", str(tmp_path / "run"), "-c", str(config))
    log = (tmp_path / "run.log").open("w+")
    run = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=log)
    wait_for("the run to start", lambda: counts(tmp_path / "run").get("pending", 0) >= 1, deadline=60)
    time.sleep(1.0)  # the hung call is under way
    run.send_signal(signal.SIGINT)
    time.sleep(1.0)
    assert run.poll() is None  # the first Ctrl-C waits for the running stage: here, forever
    run.send_signal(signal.SIGINT)
    assert run.wait(timeout=10) == 130
    log.seek(0)
    assert "Ctrl-C again quits at once" in log.read() and consistent(tmp_path / "run")
