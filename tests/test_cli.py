"""The command line, end to end (fake backend where the model is not the point)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

from reer.cli import app
from reer.data.pairs import load_pairs
from tests.test_sources import pytestmark as needs_eval_framework

runner = CliRunner()


def reer(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "reer", *args], capture_output=True, text=True, cwd=cwd, env=env)


@pytest.fixture
def fake_config(tmp_path):
    path = tmp_path / "fake.yaml"
    path.write_text(yaml.safe_dump({"generator": {"backend": "fake"}, "search": {"max_steps": 2, "stop_threshold": 0}}))
    return path


@pytest.fixture
def pairs_file(tmp_path, pair):
    path = tmp_path / "pairs.jsonl"
    rows = [pair.model_dump(), {"id": "broken", "query": "Q"}, {**pair.model_dump(), "id": "two"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@needs_eval_framework
def test_pairs_writes_real_loadable_pairs(tmp_path):
    out = tmp_path / "p.jsonl"
    result = runner.invoke(
        app,
        ["pairs", "arena-hard-creative", "-n", "3", "-o", str(out), "--english-only", "--max-reference-words", "120"],
    )
    assert result.exit_code == 0, result.output
    loaded = load_pairs(out)
    assert len(loaded.pairs) == 3 and loaded.problems == []
    assert all(p.source["dataset"] == "arena-hard-v2.0/creative_writing" for p in loaded.pairs)


def test_synthesize_status_export(tmp_path, fake_config, pairs_file):
    run_dir = tmp_path / "run"
    result = reer("synthesize", str(pairs_file), "-o", str(run_dir), "-c", str(fake_config), "--seed", "4")
    assert result.returncode == 3  # finished, but one row was malformed
    assert f"{pairs_file}:2: reference: missing" in result.stderr
    assert "done" in result.stdout and "mean score initial → final" in result.stdout

    again = reer("synthesize", str(pairs_file), "-o", str(run_dir), "-c", str(fake_config), "--seed", "4")
    assert re.search(r"searched in this call\s*│\s*0\s", again.stdout), again.stdout

    status = runner.invoke(app, ["status", str(run_dir)], env={"COLUMNS": "200"})
    assert status.exit_code == 0 and "keeper" in status.output and "two" in status.output

    out = tmp_path / "out.jsonl"
    exported = runner.invoke(app, ["export", str(run_dir), "-o", str(out)])
    assert exported.exit_code == 0 and "wrote 2 trajectories" in exported.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["keeper", "two"]
    row = rows[0]
    assert row["thinking"] and row["final_score"] <= row["initial_score"] and len(row["steps"]) == 2
    assert set(row) >= {"query", "reference", "initial_thinking", "stop_reason", "generated_tokens", "seconds"}


def test_changed_config_exits_1_with_advice(tmp_path, fake_config, pairs_file):
    run_dir = tmp_path / "run"
    reer("synthesize", str(pairs_file), "-o", str(run_dir), "-c", str(fake_config))
    result = reer("synthesize", str(pairs_file), "-o", str(run_dir), "-c", str(fake_config), "--max-steps", "1")
    assert result.returncode == 1
    assert "changed: search.max_steps" in result.stderr and "--force" in result.stderr
    assert "Traceback" not in result.stderr
    forced = reer(
        "synthesize", str(pairs_file), "-o", str(run_dir), "-c", str(fake_config), "--max-steps", "1", "--force"
    )
    assert forced.returncode == 3  # only the malformed row is left to complain about


def test_user_errors_are_one_clean_line(tmp_path, pairs_file):
    missing = reer("synthesize", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "r"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    typo = reer("synthesize", str(pairs_file), "-o", str(tmp_path / "r2"), "--set", "generator.backend=fak")
    assert typo.returncode == 1 and "did you mean 'fake'" in typo.stderr
    bad = reer("synthesize", str(pairs_file), "-o", str(tmp_path / "r3"), "--set", "search.top_p=2")
    assert bad.returncode == 1 and "search.top_p" in bad.stderr
    not_run = reer("status", str(tmp_path))
    assert not_run.returncode == 1 and "not a reer run directory" in not_run.stderr


def test_config_command_prints_effective_yaml(tmp_path, fake_config):
    result = runner.invoke(app, ["config", "-c", str(fake_config), "--set", "search.num_expansion=4"])
    data = yaml.safe_load(result.output)
    assert data["generator"]["backend"] == "fake" and data["search"]["num_expansion"] == 4
    assert data["search"]["stop_threshold"] == 0


def test_help_works_without_loading_torch():
    probe = "import sys, reer.cli; reer.cli.app(['--help'], standalone_mode=False); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.strip().endswith("False")
    for command in ("synthesize", "status", "export", "pairs", "demo", "config"):
        assert reer(command, "--help").returncode == 0
