"""`reer eval` for real: SmolLM2 answers, the embedded local judge (smoke test) and a real OpenAI-compatible
server (llama-cpp-python's, started on 127.0.0.1 by the test) as judges; kill -9 and resume."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from reer.config import EvalConfig, JudgeConfig, SearchConfig
from reer.errors import ConfigError
from reer.eval import EvalRequest, Selection, evaluate, write_results
from reer.eval.benchmarks.base import JudgeTask
from reer.eval.judges import JudgeError, ModelJudge
from reer.eval.protocol import SamplingRecord
from reer.eval.results import Estimate, EvalResults
from reer.records.pair import write_pairs
from tests.browser import canvas_ink, open_report, shoot
from tests.conftest import (
    BENCHMARK_DIR,
    LONG_REFERENCE,
    SERVER_KEY,
    fake_run,
    needs_eval_framework,
    needs_llama,
    require,
)


def _rows(db: Path, table: str) -> dict[tuple, tuple]:
    with sqlite3.connect(db) as connection:
        if table == "answers":
            query = "SELECT benchmark, item_id, raw, created FROM answers"
        else:
            query = "SELECT benchmark, item_id, part, raws, created FROM scores"
        rows = connection.execute(query).fetchall()
    width = 2 if table == "answers" else 3
    return {row[:width]: row[width:] for row in rows}


def _verdicts(db: Path, benchmark: str) -> list[list[str]]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT raws FROM scores WHERE benchmark = ?", (benchmark,)).fetchall()
    return [json.loads(raws) for (raws,) in rows]


def _wait_for(db: Path, table: str, at_least: int, process: subprocess.Popen, deadline: float) -> None:
    while not (db.exists() and len(_rows(db, table)) >= at_least):
        if process.poll() is not None:
            pytest.fail(f"reer eval ended before it could be killed: {process.stderr.read()}")
        assert time.time() < deadline, f"no {table} saved in time"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def heldout(tmp_path_factory) -> Path:
    require("eval_framework")
    from reer.data.sources import arena_hard_creative

    pairs = sorted(arena_hard_creative(), key=lambda p: len(p.query) + len(p.reference))[:2]
    path = tmp_path_factory.mktemp("heldout") / "pairs.jsonl"
    write_pairs(pairs, path)
    return path


@needs_eval_framework
@needs_llama
def test_small_evaluation_with_the_local_judge_resumes_after_kill_9(tmp_path, heldout, embedded_dir, page, viewer):
    out = tmp_path / "eval"
    db = out / "eval.sqlite"
    command = [
        sys.executable, "-m", "reer", "eval", "smollm2-135m-instruct",
        "-b", "writingbench", "-b", "longbench-write", "-b", "likelihood",
        "--longbench", str(BENCHMARK_DIR / "longbench-write"), "--references", str(heldout),
        "--domains", "D", "--lang", "en", "--limit", "2", "--max-new-tokens", "24", "-o", str(out),
        "--set", "eval.batch_size=1", "--set", "eval.thinking_tokens=24",
        "--set", "eval.judge.local.backend=llamacpp", "--set", "eval.judge.max_tokens=8", "--preset", "cpu",
    ]  # fmt: skip
    env = {**os.environ, "COLUMNS": "200"}
    deadline = time.time() + 600

    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    _wait_for(db, "answers", 1, first, deadline)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    answers_before = _rows(db, "answers")
    assert 1 <= len(answers_before) < 4

    second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    _wait_for(db, "scores", 3, second, deadline)  # likelihood (2 pairs) done, judging under way
    os.kill(second.pid, signal.SIGKILL)
    second.wait()
    scores_before = _rows(db, "scores")
    assert len(scores_before) >= 3

    finished = subprocess.run(command, capture_output=True, text=True, env=env)
    assert finished.returncode == 0, finished.stderr
    answers, scores = _rows(db, "answers"), _rows(db, "scores")
    assert len(answers) == 4  # 2 WritingBench + 2 LongBench-Write, none twice
    assert all(answers[key] == value for key, value in answers_before.items())  # nothing answered again
    assert len(scores) == 2 + 2 * 5 + 2  # likelihood + 5 criteria per WritingBench item + 1 per LongBench item
    assert all(scores[key] == value for key, value in scores_before.items())  # no verdict asked twice

    results = json.loads((out / "results.json").read_text())
    assert results["smoke_test_only"] is True and "SMOKE TEST ONLY" in results["judge"]
    assert "SMOKE TEST ONLY" in (out / "results.md").read_text() and "SMOKE TEST ONLY" in finished.stderr
    wb, lb = results["benchmarks"]["writingbench"], results["benchmarks"]["longbench-write"]
    assert wb["items"] == 2 and {row["group"] for row in wb["per_item"]} == {"D"}
    assert wb["judge"]["tasks"] == 10 and lb["judge"]["tasks"] == 2
    # The smoke judge fills only the score slots of WritingBench's JSON, so the tiny model does give numbers.
    assert wb["judge"]["unscored"] < 10 and wb["judge"]["calls"] >= 10
    assert all('"reason": "(a local judge)"' in raw for row in _verdicts(db, "writingbench") for raw in row)
    assert wb["protocol"]["deviations"][0] == "judge: the embedded 135M model (a smoke test, not a judge)"
    assert all(0 <= row["scores"]["S_l"] <= 100 for row in lb["per_item"])  # deterministic, whatever the judge did
    unscored_sq = lb["metrics"]["S_q"]["overall"]["unscored"]
    assert unscored_sq == lb["judge"]["unscored"]  # unscored verdicts are counted, never zero-filled
    for key in ("thinking_units", "answer_units", "reflections_per_1k", "top3_trigram_share", "cut_off"):
        assert key in wb["thinking"]
    likelihood = results["likelihood"]
    assert likelihood["pairs"] == 2 and likelihood["nll_without_thinking"]["mean"] > 0
    assert likelihood["gain"]["mean"] == pytest.approx(
        likelihood["nll_without_thinking"]["mean"] - likelihood["nll_with_thinking"]["mean"]
    )
    assert results["settings"]["judge"]["model"] == "smollm2-135m-instruct" and results["versions"]["reer"]
    for plot in ("writingbench-groups.png", "longbench-write-length.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    changed = subprocess.run([*command, "--set", "eval.temperature=0.1"], capture_output=True, text=True, env=env)
    assert changed.returncode == 1 and "other settings" in changed.stderr and "answers" in changed.stderr
    _shown_in_the_report(out, results, tmp_path, page, viewer)


def _shown_in_the_report(out: Path, results: dict, tmp_path: Path, page: Any, viewer: Any) -> None:
    """`reer report --eval`: the headlines with intervals, the group bars, the length scatter, every answer
    with the judge's verdicts, and the likelihood, drawn in a real browser."""
    run = fake_run(tmp_path, [{"id": "one", "query": "Write about a keeper.", "reference": LONG_REFERENCE}])
    open_report(page, run, tmp_path / "report.html", "--eval", str(out))
    page.click("#contents a:text-is('evaluation: eval')")
    page.wait_for_selector("#eval")
    assert "SMOKE TEST ONLY" in page.inner_text(".smoke")
    protocol = page.inner_text("#eval .protocol >> nth=0")
    assert protocol.startswith("Not comparable with published figures: judge: the embedded 135M model")
    wb_d = results["benchmarks"]["writingbench"]["headlines"]["WB-D"]
    assert f"{wb_d['mean']:.1f} [{wb_d['ci_low']:.1f}, {wb_d['ci_high']:.1f}]" in page.inner_text("#eval .cards")
    benchmarks = results["benchmarks"]
    bars = [
        any(e["mean"] is not None for e in benchmarks[name]["metrics"][metric]["groups"].values())
        for name, metric in (("writingbench", "score"), ("longbench-write", "S"))
    ]
    ink = canvas_ink(page, "#eval")  # group bars where a group was scored, and LongBench-Write's length scatter
    assert bars[0] and len(ink) == sum(bars) + 1 and all(n > 500 for n in ink), (bars, ink)
    assert page.locator(".answer").count() == 4
    page.click(".answer summary >> nth=0")
    page.wait_for_selector(".answer[data-filled] h4")  # filled when it opens (the toggle event)
    first = page.inner_text(".answer >> nth=0")
    assert "judge, " in first and "answer (" in first
    gain = results["likelihood"]["gain"]["mean"]
    assert f"{gain:.3f}" in page.inner_text("#eval")
    shoot(page, "report-eval.png")
    assert page.problems == []

    page.goto(viewer(run, "--eval", str(out)))  # the viewer serves the same page from its API
    page.click("#contents a:text-is('evaluation: eval')")
    page.wait_for_selector("#eval .answer")
    assert f"{wb_d['mean']:.1f} [" in page.inner_text("#eval .cards") and page.locator(".answer").count() == 4
    assert page.problems == []


def test_http_judge_key_comes_from_the_environment(llama_server, monkeypatch):
    """The endpoint judge is the openai backend, chat only: the key from the environment and nowhere else,
    a refusal stops the evaluation with the server's reason, and no local tokenizer is needed."""
    config = JudgeConfig(kind="openai", base_url=llama_server, model="smollm2", api_key_env="REER_TEST_JUDGE_KEY")
    task = JudgeTask("score", ({"role": "user", "content": "Say hello."},), ("score",))
    sampling = SamplingRecord(temperature=0.0, max_tokens=8)
    monkeypatch.delenv("REER_TEST_JUDGE_KEY", raising=False)
    with pytest.raises(ConfigError, match="REER_TEST_JUDGE_KEY"):
        ModelJudge(config)
    monkeypatch.setenv("REER_TEST_JUDGE_KEY", "wrong")
    with pytest.raises(JudgeError, match="HTTP 401") as refused:
        ModelJudge(config).complete([task], sampling)
    assert "wrong" not in str(refused.value)
    monkeypatch.setenv("REER_TEST_JUDGE_KEY", SERVER_KEY)
    judge = ModelJudge(config)
    assert judge.generator.tokenizer is None and judge.generator.config.chat_only
    [reply] = judge.complete([task], sampling)
    assert isinstance(reply, str) and reply.strip()
    with pytest.raises(ConfigError, match=r"judge\.base_url is required"):
        ModelJudge(JudgeConfig(kind="openai"))


def test_unparsable_verdicts_from_a_real_server_are_counted_unscored(llama_server, tmp_path, monkeypatch):
    """A 1-token verdict can hold no score: every task is asked `attempts` times, then reported unscored."""
    monkeypatch.setenv("REER_TEST_JUDGE_KEY", SERVER_KEY)
    judge = JudgeConfig(
        kind="openai",
        base_url=llama_server,
        model="smollm2",
        api_key_env="REER_TEST_JUDGE_KEY",
        max_tokens=1,
        attempts=2,
    )
    request = EvalRequest(
        model="smollm2-135m-instruct",
        benchmarks=["hellobench"],
        out_dir=tmp_path / "eval",
        config=EvalConfig(max_new_tokens=16, judge=judge, bootstrap=200),
        clip=SearchConfig().clip,
        sources={"hellobench": BENCHMARK_DIR / "hellobench"},
        selections={"hellobench": Selection(limit=2, groups=("heuristic_text_generation",))},
    )
    results = evaluate(request)
    written = write_results(request.out_dir, results)
    summary = results.benchmarks["hellobench"]
    assert summary.judge.model_dump() == {"tasks": 2, "unscored": 2, "retried": 2, "calls": 4}
    assert summary.metrics["score"].overall == Estimate(mean=None, n=0, unscored=2)
    assert summary.headlines == {} and results.smoke_test_only is False
    assert results.settings["judge"]["api_key_env"] == "REER_TEST_JUDGE_KEY"
    assert EvalResults.model_validate_json((request.out_dir / "results.json").read_text()) == results
    assert "2 unscored" in (request.out_dir / "results.md").read_text()
    for path in [*written, request.out_dir / "eval.sqlite"]:
        assert SERVER_KEY.encode() not in path.read_bytes()
