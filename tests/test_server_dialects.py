"""The `vllm` and `sglang` scoring dialects and the traffic rules, against a real HTTP server of ours that
answers in exactly those servers' documented shapes with the embedded model's log-probabilities."""

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from reer.backends import ScoreRequest, load_backend
from reer.backends.dialects import ScoringResponseError, read_logprobs
from reer.backends.http import ServerError
from reer.backends.openai_backend import PROMPTS_PER_REQUEST
from reer.backends.render import Encoded
from reer.config import JudgeConfig, ModelConfig, ReerConfig, SearchConfig
from reer.records import Pair
from reer.search.runner import synthesize
from tests.conftest import LONG_REFERENCE, free_port, needs_embedded, trajectories_of

CONTENT = "<think>\nA keeper, a lamp, a storm.\n</think>\n\n" + LONG_REFERENCE
REQUEST = ScoreRequest(
    messages=[
        {"role": "user", "content": "Write about a lighthouse keeper."},
        {"role": "assistant", "content": CONTENT},
    ],
    span=(CONTENT.index(LONG_REFERENCE), len(CONTENT)),
)


@pytest.fixture(scope="module")
def shape_server(embedded_dir):
    port = free_port()
    server = _start(port)  # returns once the model is loaded and the port listens
    yield f"http://127.0.0.1:{port}/v1"
    server.terminate()
    server.wait(timeout=30)


def control(url: str, **state) -> int:
    reply = httpx.post(url.removesuffix("/v1") + "/control", json={"fault": None, "times": 0} | state)
    return int(reply.json()["requests"])


def served(url: str, dialect: str, **traffic) -> ModelConfig:
    return ModelConfig(
        backend="openai", base_url=url, model="smollm2", tokenizer="smollm2-135m-instruct", scoring=dialect, **traffic
    )


KEEPERS = [Pair(id=f"keeper-{i}", query="Write about a lighthouse keeper.", reference=LONG_REFERENCE) for i in (1, 2)]


def fake_search_scored_by(scorer: ModelConfig, max_steps: int) -> ReerConfig:
    """The fake generator, the served scorer, both items in flight at once."""
    return ReerConfig(
        generator=ModelConfig(backend="fake"), scorer=scorer, search=SearchConfig(max_steps=max_steps), concurrency=2
    )


@pytest.fixture(scope="module")
def expected(embedded_dir):
    return load_backend(ModelConfig(), "score").score([REQUEST])[0]


@needs_embedded
@pytest.mark.parametrize(("dialect", "order"), [("vllm", "first"), ("vllm", "last"), ("sglang", "first")])
def test_scores_equal_the_in_process_scorer(shape_server, expected, dialect, order):
    control(shape_server, order=order)  # vLLM put the sent token first, early V1 put it last: read by id
    result = load_backend(served(shape_server, dialect), "score").score([REQUEST])[0]
    assert result.tokens == expected.tokens
    assert np.max(np.abs(np.subtract(result.token_logprobs, expected.token_logprobs))) < 1e-3


@needs_embedded
@pytest.mark.parametrize("dialect", ["vllm", "sglang"])
@pytest.mark.parametrize(
    ("fault", "message"),
    [("wrong-id", "token id"), ("null", "null|no log-probabilities"), ("short", "prompt positions")],
)
def test_a_response_that_does_not_line_up_is_an_error_never_a_score(shape_server, dialect, fault, message):
    control(shape_server, fault=fault, times=1)
    with pytest.raises(ScoringResponseError, match=message):
        load_backend(served(shape_server, dialect), "score").score([REQUEST])


@needs_embedded
def test_vllm_scores_a_batch_in_one_request_each_prompt_as_it_scores_alone(shape_server, expected):
    content = "<think>\nThe lamp, then the storm.\n</think>\n\n" + LONG_REFERENCE
    other = ScoreRequest(
        messages=[REQUEST.messages[0], {"role": "assistant", "content": content}],
        span=(content.index(LONG_REFERENCE), len(content)),
    )
    backend = load_backend(served(shape_server, "vllm"), "score")
    alone = backend.score([other])[0]
    before = control(shape_server)
    together = backend.score([REQUEST, other, REQUEST])
    assert control(shape_server) - before == 1  # one request for the three prompts
    for result, single in zip(together, [expected, alone, expected], strict=True):
        assert result.tokens == single.tokens and result.context_tokens == single.context_tokens
        assert np.max(np.abs(np.subtract(result.token_logprobs, single.token_logprobs))) < 1e-3
    assert together[0].token_logprobs != together[1].token_logprobs  # each prompt read from its own choice

    before = control(shape_server)
    assert len(backend.score([REQUEST] * (PROMPTS_PER_REQUEST + 1))) == PROMPTS_PER_REQUEST + 1
    assert control(shape_server) - before == 2  # a long list goes in parts, which run at once

    control(shape_server, fault="missing-choice", times=1)
    with pytest.raises(ScoringResponseError, match="2 choices, 3 expected"):
        backend.score([REQUEST, other, REQUEST])


def test_a_vllm_answer_read_by_choice_index_and_one_with_bare_numbers_read_whole():
    """Choices are matched to prompts by their index; a position's values as bare numbers (not vLLM's objects) are
    not read by the fast path, but whole, to the same values."""
    batch = [
        Encoded(ids=[1, 5, 7, 9], scored=[2, 3], tokens=["a", "b"]),
        Encoded(ids=[1, 4, 6], scored=[1, 2], tokens=["c", "d"]),
    ]

    def answer(value):  # value(logprob) -> what the server writes for one token
        entries = [[None, {"5": value(-3.0)}, {"7": value(-0.5), "2": value(-0.1)}, {"9": value(-0.25)}],
                   [None, {"4": value(-1.5)}, {"6": value(-2.0)}]]  # fmt: skip
        choices = [{"index": k, "prompt_logprobs": entries[k], "prompt_token_ids": batch[k].ids} for k in (1, 0)]
        return json.dumps({"choices": choices}).encode()

    expected = [[-0.5, -0.25], [-1.5, -2.0]]
    assert read_logprobs("vllm", answer(lambda v: {"logprob": v, "rank": 1}), batch, None) == expected
    assert read_logprobs("vllm", answer(lambda v: v), batch, None) == expected


@needs_embedded
def test_500_and_429_are_retried_honouring_retry_after(shape_server, expected):
    backend = load_backend(served(shape_server, "vllm", retries=2), "score")
    control(shape_server, fault="500", times=1)
    assert backend.score([REQUEST])[0].token_logprobs == pytest.approx(expected.token_logprobs, abs=1e-3)
    control(shape_server, fault="429", times=1)
    started = time.monotonic()
    backend.score([REQUEST])
    assert time.monotonic() - started >= 1.0 and backend.traffic.retried == 2


@needs_embedded
def test_a_hung_server_times_out_and_the_error_names_the_cause(shape_server):
    backend = load_backend(served(shape_server, "vllm", retries=1, read_timeout=1.0), "score")
    control(shape_server, fault="hang", times=2)
    started = time.monotonic()
    with pytest.raises(ServerError, match="kept failing after 2 attempts.*ReadTimeout"):
        backend.score([REQUEST])
    assert time.monotonic() - started < 10


@needs_embedded
def test_a_server_that_keeps_failing_fails_the_item_not_the_run_and_a_rerun_retries(shape_server, tmp_path):
    pairs = KEEPERS
    # both items in flight: the failure must stay with the item whose request failed
    config = fake_search_scored_by(served(shape_server, "vllm", retries=0), max_steps=1)
    control(shape_server, fault="500", times=1)  # the first scoring request of the run fails, once
    first = synthesize(pairs, tmp_path / "run", config)
    assert first.counts == {"failed": 1, "done": 1}
    errors = [t.error for t in trajectories_of(tmp_path / "run") if t.status == "failed"]
    assert len(errors) == 1 and "HTTP 500" in errors[0]
    before = control(shape_server)
    second = synthesize(pairs, tmp_path / "run", config)
    assert second.counts == {"done": 2} and control(shape_server) > before


@needs_embedded
def test_retries_are_recorded_with_the_stage_that_made_them(shape_server, tmp_path):
    pairs = KEEPERS
    config = fake_search_scored_by(served(shape_server, "vllm", retries=2), max_steps=2)
    control(shape_server, fault="500", times=1)  # one item's first scoring request fails once
    summary = synthesize(pairs, tmp_path / "run", config)
    assert summary.counts == {"done": 2} and summary.retries == 1
    trajectories = trajectories_of(tmp_path / "run")
    initial = sorted(t.initial.retries for t in trajectories)
    steps = [step.retries for t in trajectories for step in t.steps]
    assert initial == [0, 1] and steps and set(steps) == {0}


def test_a_key_echoed_by_a_server_is_redacted_and_a_url_with_credentials_is_refused(shape_server, monkeypatch):
    monkeypatch.setenv("REER_TEST_KEY", "sk-planted-secret-0123")
    backend = load_backend(served(shape_server, "vllm", api_key_env="REER_TEST_KEY"), "score", "scorer")
    control(shape_server, fault="echo-headers", times=1)
    with pytest.raises(ServerError, match="HTTP 400") as refused:
        backend.score([REQUEST])
    assert "sk-planted-secret-0123" not in str(refused.value) and "[key redacted]" in str(refused.value)
    for url in ("http://user:sk-1@127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1?api_key=sk-1"):
        with pytest.raises(ValueError, match="no credentials"):
            ModelConfig(backend="openai", base_url=url)
        with pytest.raises(ValueError, match="no credentials"):
            JudgeConfig(kind="openai", base_url=url)


def _start(port: int) -> subprocess.Popen:
    script = Path(__file__).with_name("shape_server.py")
    server = subprocess.Popen([sys.executable, str(script), str(port)], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    return server
