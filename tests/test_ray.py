"""The Ray runner on a real local cluster: a head and two worker nodes started by the test on 127.0.0.1, each
its own `ray start` process. Workers search with the fake-of-faults backend (named by its import path, as
any unregistered backend is), whose ``slow`` items take long enough to kill things mid-run."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import free_port, needs, require, wait_for
from tests.reliability.faults import REPO, exported, no_repeated_steps, reer_command, run_reer, write_pairs

pytestmark = needs("ray")

BACKEND = "tests.reliability.faults:FaultyBackend"
WORKER_NODES = 2


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """HOST:PORT of a head (no CPUs: it schedules no worker) and two one-CPU worker nodes."""
    require("ray")
    ray = Path(sys.executable).with_name("ray")
    port = free_port()
    address = f"127.0.0.1:{port}"
    temp = Path(f"/tmp/reer-ray-{os.getpid()}")  # Ray's socket paths must stay short
    # Token authentication, as a real cluster should run: every node and every driver reads the same token.
    token = tmp_path_factory.mktemp("ray-auth") / "token"
    token.write_text(secrets.token_hex(32), encoding="utf-8")
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token), "RAY_USAGE_STATS_ENABLED": "0"}
    saved = {key: os.environ.get(key) for key in auth}
    os.environ.update(auth)  # for the drivers the tests start
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    common = ["--block", "--node-ip-address", "127.0.0.1", "--object-store-memory", str(100 * 2**20)]
    logs = tmp_path_factory.mktemp("ray-logs")

    def node(name: str, *args: str) -> subprocess.Popen:
        with open(logs / f"{name}.log", "w") as log:  # the child keeps its own copy of the descriptor
            return subprocess.Popen([ray, "start", *args, *common], cwd=REPO, env=env, stdout=log, stderr=log)

    head = ["--head", "--port", str(port), "--num-cpus", "0", "--include-dashboard", "false", "--temp-dir", str(temp)]
    nodes = [node("head", *head)]
    try:
        wait_for("the Ray head", lambda: b"Ray runtime started" in (logs / "head.log").read_bytes(), 120, 0.5)
        for k in range(WORKER_NODES):
            nodes.append(_join(node, f"worker-{k}", address, k + 1))
        yield address
    finally:
        for process in reversed(nodes):
            process.send_signal(signal.SIGTERM)  # `ray start --block` takes its node's processes down with it
        for process in nodes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(temp, ignore_errors=True)
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def _join(node, name: str, address: str, cpus: int, attempts: int = 3) -> subprocess.Popen:
    """Start one worker node and wait until the cluster counts its CPU. One node at a time, and again if
    it gives up: a raylet that cannot register within Ray's fixed 30 s (a loaded 2-core machine) exits."""
    for attempt in range(attempts):
        process = node(f"{name}-{attempt}", "--address", address, "--num-cpus", "1")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if _cpus(address) >= cpus:
                return process
            time.sleep(1.0)
        process.terminate()
        process.wait(timeout=60)
    pytest.fail(f"the Ray worker node {name} did not join in {attempts} attempts (logs beside the test's tmp)")


def _cpus(address: str) -> int:
    probe = "import ray; ray.init(address=%r, logging_level='ERROR'); print(int(ray.cluster_resources().get('CPU', 0)))"
    try:
        done = subprocess.run([sys.executable, "-c", probe % address], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return -1
    return int(done.stdout.strip() or 0) if done.returncode == 0 else -1


def _config(path: Path, concurrency: int = 2) -> Path:
    settings = {"generator": {"backend": BACKEND}, "search": {"max_steps": 2}, "concurrency": concurrency}
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


def _stages(run: Path) -> int:
    """Stages committed so far (initial traces and steps), read beside the writer."""
    if not (run / "reer.sqlite").exists():
        return 0
    db = sqlite3.connect(f"file:{run / 'reer.sqlite'}?mode=ro", uri=True)
    try:
        initial = db.execute("SELECT COUNT(*) FROM trajectories WHERE initial_raw IS NOT NULL").fetchone()[0]
        return initial + db.execute("SELECT COUNT(*) FROM steps").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


def _done(run: Path) -> dict[str, int]:
    db = sqlite3.connect(f"file:{run / 'reer.sqlite'}?mode=ro", uri=True)
    try:
        return dict(db.execute("SELECT status, COUNT(*) FROM trajectories GROUP BY status").fetchall())
    finally:
        db.close()


def _worker_pids() -> list[int]:
    """The processes of the run's Ray actors (Ray titles them after the class)."""
    found = subprocess.run(["pgrep", "-f", "ray::ItemWorker"], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def _searched_now(stdout: str) -> int:
    line = next(line for line in stdout.splitlines() if "searched in this call" in line)
    return int(line.split("│")[2])


@pytest.fixture(scope="module")
def calm(tmp_path_factory):
    """A local run (no Ray) of 8 slow items: what every Ray run of the same pairs must reproduce."""
    root = tmp_path_factory.mktemp("calm")
    pairs = write_pairs(root / "pairs.jsonl", *["slow"] * 8, n=8)
    config = _config(root / "config.yaml")
    done = run_reer("synthesize", str(pairs), "-o", str(root / "run"), "-c", str(config))
    assert done.returncode == 0, done.stderr
    return pairs, config, exported(root / "run", root / "out")


def test_a_ray_run_equals_a_local_run(cluster, calm, tmp_path):
    pairs, config, expected = calm
    run = tmp_path / "run"
    done = run_reer("synthesize", str(pairs), "-o", str(run), "-c", str(config), "--ray", cluster)
    assert done.returncode == 0, done.stderr + done.stdout
    assert _done(run) == {"done": 8}
    assert _searched_now(done.stdout) == 8
    assert exported(run, tmp_path / "out") == expected


def test_a_killed_worker_loses_nothing_and_repeats_nothing(cluster, calm, tmp_path):
    pairs, config, expected = calm
    run = tmp_path / "run"
    wait_for("earlier runs' workers to go", lambda: not _worker_pids(), 60, 0.5)
    driver = subprocess.Popen(
        reer_command("synthesize", str(pairs), "-o", str(run), "-c", str(config), "--ray", cluster),
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_for("a few committed stages", lambda: _stages(run) >= 4, 120)
    victims = wait_for("both workers", lambda: len(pids := _worker_pids()) == WORKER_NODES and pids, 60)
    os.kill(victims[0], signal.SIGKILL)
    committed = _stages(run)
    stdout, stderr = driver.communicate(timeout=300)
    assert driver.returncode == 0, stderr + stdout
    assert committed < 8 * 3  # the kill landed mid-run (8 items × initial + 2 steps)
    assert _done(run) == {"done": 8}
    no_repeated_steps(run)
    assert exported(run, tmp_path / "out") == expected


def test_ctrl_c_and_kill_9_of_the_driver_resume_on_another_worker_count(cluster, calm, tmp_path):
    pairs, config, expected = calm
    run = tmp_path / "run"
    command = reer_command("synthesize", str(pairs), "-o", str(run), "-c", str(config), "--ray", cluster)
    wait_for("earlier runs' workers to go", lambda: not _worker_pids(), 60, 0.5)

    interrupted = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for("a first committed stage", lambda: _stages(run) >= 1, 120)
    interrupted.send_signal(signal.SIGINT)
    _, stderr = interrupted.communicate(timeout=120)
    assert interrupted.returncode == 130, stderr
    assert "every completed stage is saved" in stderr
    after_ctrl_c = _stages(run)
    no_repeated_steps(run)

    killed = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for("more committed stages", lambda: _stages(run) >= after_ctrl_c + 3, 120)
    killed.kill()
    killed.wait()
    no_repeated_steps(run)
    finished_before = _done(run).get("done", 0)
    assert finished_before < 8

    wait_for("the killed driver's workers to go", lambda: not _worker_pids(), 60, 0.5)
    resumed = run_reer(*command[3:], "--workers", "1")
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    assert _searched_now(resumed.stdout) == 8 - finished_before  # finished items were skipped
    assert _done(run) == {"done": 8}
    no_repeated_steps(run)
    assert exported(run, tmp_path / "out") == expected


def test_a_backend_that_cannot_open_stops_the_run_with_its_reason(cluster, tmp_path):
    pairs = write_pairs(tmp_path / "pairs.jsonl", n=2)
    config = tmp_path / "config.yaml"
    # The driver only counts tokens, with the scorer (fine); the workers open a generator that is not there.
    settings = {"generator": {"backend": "transformers", "model": str(tmp_path / "no")}, "scorer": {"backend": "fake"}}
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    done = run_reer("synthesize", str(pairs), "-o", str(tmp_path / "run"), "-c", str(config), "--ray", cluster)
    assert done.returncode != 0
    assert "Ray worker" in done.stderr and str(tmp_path / "no") in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert json.loads((tmp_path / "run" / "config.json").read_text())["runner"]["kind"] == "ray"


@pytest.mark.parametrize(
    ("address", "message"), [("127.0.0.1:{port}", "no Ray cluster answers"), ("nowhere", "HOST:PORT")]
)
def test_a_cluster_that_is_not_there_is_one_line(tmp_path, address, message):
    pairs = write_pairs(tmp_path / "pairs.jsonl", n=1)
    config = _config(tmp_path / "config.yaml")
    where = address.format(port=free_port())
    done = run_reer("synthesize", str(pairs), "-o", str(tmp_path / "run"), "-c", str(config), "--ray", where)
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
