"""kill -9 at random moments: during synthesis (against an uninterrupted run), during export and during eval.
Nothing finished is lost, nothing is done twice, the database stays intact and the end products are
byte-identical to those of runs never interrupted."""

import json
import os
import random
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import BENCHMARK_DIR
from tests.reliability.faults import (
    REPO,
    exported,
    fault_config,
    intact,
    no_repeated_steps,
    reer_command,
    run_reer,
    write_pairs,
)

KILLS = 8  # per test; the CI budget (40 minutes on 2 cores) bounds it


def kill_at_random(command: list[str], rng: random.Random, low: float, high: float, check) -> int:
    """Start ``command`` and kill -9 it after a random delay, ``KILLS`` times (checking after each kill);
    returns how many kills landed before the command could finish on its own."""
    landed = 0
    for _ in range(KILLS):
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(low, high))
        if process.poll() is None:
            process.kill()
            landed += 1
        process.wait()
        check()
    return landed


@pytest.mark.parametrize(("concurrency", "items"), [(1, 8), (4, 24)])
def test_kills_during_synthesis_lose_nothing_and_repeat_nothing(tmp_path, concurrency, items):
    pairs = write_pairs(tmp_path / "pairs.jsonl", *["slow"] * items, n=items)
    config = fault_config(tmp_path / "faulty.yaml", concurrency=concurrency)
    assert run_reer("synthesize", str(pairs), "-o", str(tmp_path / "calm"), "-c", str(config)).returncode == 0

    run = tmp_path / "killed"
    command = reer_command("synthesize", str(pairs), "-o", str(run), "-c", str(config))
    landed = kill_at_random(command, random.Random(concurrency), 0.3, 2.5, lambda: no_repeated_steps(run))
    assert landed >= KILLS - 2  # nearly every kill landed mid-run
    finished = run_reer("synthesize", str(pairs), "-o", str(run), "-c", str(config))
    assert finished.returncode == 0, finished.stderr
    no_repeated_steps(run)
    assert exported(run, tmp_path / "out-killed") == exported(tmp_path / "calm", tmp_path / "out-calm")


def test_kills_during_export_leave_it_absent_or_complete(tmp_path):
    pairs = write_pairs(tmp_path / "pairs.jsonl", n=40)
    config = fault_config(tmp_path / "faulty.yaml", concurrency=4)
    assert run_reer("synthesize", str(pairs), "-o", str(tmp_path / "run"), "-c", str(config)).returncode == 0
    out = tmp_path / "dataset"

    def absent_or_complete() -> None:
        if out.exists():
            manifest = json.loads((out / "export.json").read_text())
            assert manifest["rows"] == 40 == len((out / "train.jsonl").read_text().splitlines())
            assert (out / "README.md").read_text().startswith("---")

    command = reer_command("export", str(tmp_path / "run"), "-o", str(out), "--no-filter")
    kill_at_random(command, random.Random(7), 0.2, 1.5, absent_or_complete)
    assert run_reer("export", str(tmp_path / "run"), "-o", str(out), "--no-filter").returncode == 0
    absent_or_complete()
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask  # an ordinary folder, not a private temporary one
    assert not list(tmp_path.glob(".dataset.staging-*"))  # what the killed exports left was cleared


def test_kills_during_eval_lose_nothing(tmp_path):
    def evaluation(out: Path) -> list[str]:
        hellobench = str(BENCHMARK_DIR / "hellobench" / "main")
        return reer_command(
            "eval", "smollm2-135m-instruct", "-b", "hellobench", "--hellobench", hellobench, "-o", str(out),
            "--limit", "8", "--set", "eval.answers.backend=fake", "--set", "eval.judge.local.backend=fake",
            "--set", "eval.bootstrap=100", "--preset", "cpu",
        )  # fmt: skip

    calm = subprocess.run(evaluation(tmp_path / "calm"), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert calm.returncode == 0, calm.stderr
    killed = tmp_path / "killed"
    kill_at_random(evaluation(killed), random.Random(3), 0.3, 2.0, lambda: intact(killed / "eval.sqlite"))
    finished = subprocess.run(evaluation(killed), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr

    def answers(out: Path) -> list:
        results = json.loads((out / "results.json").read_text())
        return sorted(json.dumps(item, sort_keys=True) for item in results["benchmarks"]["hellobench"]["per_item"])

    assert answers(killed) == answers(tmp_path / "calm") and len(answers(killed)) == 8
