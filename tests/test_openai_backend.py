"""The `openai` backend against a real OpenAI-compatible server: llama-cpp-python's, started on 127.0.0.1."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from reer.backends import GenerationRequest, Sampling, ScoreRequest, load_backend
from reer.backends.openai_backend import _finish
from reer.config import ModelConfig
from reer.records import Pair
from tests.conftest import SERVER_KEY, needs_llama_server

KEY_ENV = "REER_TEST_SERVER_KEY"
REFERENCE = "The keeper climbed the stairs each evening.\n\nHe lit the lamp and watched the ships pass in silence."
CONTENT = "<think>\nI should write about a lonely keeper and his lamp.\n</think>\n\n" + REFERENCE
CHAT = [
    {"role": "system", "content": "You are a writer."},
    {"role": "user", "content": "Write about a lighthouse keeper."},
    {"role": "assistant", "content": CONTENT},
]


def served(url: str, **fields) -> ModelConfig:
    tokenizer = "smollm2-135m-instruct"  # the served name is the server's; prompts are tokenized here
    return ModelConfig(
        backend="openai", base_url=url, api_key_env=KEY_ENV, model="smollm2", tokenizer=tokenizer, **fields
    )


@pytest.fixture
def backend(llama_server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SERVER_KEY)
    return load_backend(served(llama_server), "score", "scorer")


@needs_llama_server
def test_generation_honours_stop_strings_n_and_seeds(backend):
    sampling = Sampling(temperature=0.9, top_p=0.95, max_new_tokens=24, stop=(".",), seed=7)
    request = GenerationRequest(messages=CHAT[:2], sampling=sampling, prefill="<think>\n", n=3)
    first = backend.generate([request])[0]
    assert len(first) == 3 and all("." not in g.text for g in first)  # the server ignores n: asked one by one
    assert all(g.finish_reason in ("stop", "length") for g in first)
    assert all(g.num_tokens == len(backend.tokenizer(g.text, add_special_tokens=False)["input_ids"]) for g in first)
    assert any(g.finish_reason == "length" and g.num_tokens == 24 for g in first) or any(g.text for g in first)
    assert backend.generate([request])[0] == first  # seeded


@needs_llama_server
def test_echo_scores_match_in_process_llamacpp_and_transformers(backend, embedded_dir):
    """The same GGUF in-process gives the same numbers (tight); the transformers scorer runs the dequantized
    weights in fp32, whose kernels differ from llama.cpp's quantized ones (looser, stated tolerance)."""
    import llama_cpp
    import numpy as np

    from reer.backends.models import embedded_gguf_path
    from reer.backends.span_scorer import encode

    request = ScoreRequest(messages=CHAT, span=(CONTENT.index(REFERENCE), len(CONTENT)))
    served_scores = backend.score([request])[0]
    encoded = encode(backend.tokenizer, request)
    llm = llama_cpp.Llama(str(embedded_gguf_path()), logits_all=True, n_ctx=512, n_threads=2, verbose=False)
    llm.eval(encoded.ids)
    logits = np.asarray(llm.scores[: len(encoded.ids)], dtype=np.float64)
    logsoftmax = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    in_process = [float(logsoftmax[j - 1, encoded.ids[j]]) for j in encoded.scored]
    assert served_scores.tokens == encoded.tokens and len(served_scores.token_logprobs) == len(in_process)
    assert np.max(np.abs(np.subtract(served_scores.token_logprobs, in_process))) < 1e-3

    reference = load_backend(ModelConfig(), "score").score([request])[0]
    gaps = np.abs(np.subtract(served_scores.token_logprobs, reference.token_logprobs))
    assert gaps.mean() < 0.15 and gaps.max() < 0.5, (gaps.mean(), gaps.max())


@needs_llama_server
def test_a_search_runs_through_the_server_and_the_key_is_nowhere(llama_server, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    # Short texts: llama-cpp-python's echo sorts the whole vocabulary at every prompt position in Python.
    story = REFERENCE + "\n\nIn the morning he wrote one line in the log, as always: all clear, no wrecks."
    pair = Pair(id="keeper", query="Write a short story about a lighthouse keeper.", reference=story)
    pairs.write_text(pair.model_dump_json() + "\n")
    config = {
        "generator": served(llama_server).model_dump(mode="json"),
        "search": {
            "max_steps": 1,
            "max_new_tokens_initial": 96,
            "max_new_tokens_refine": 64,
            "analysis_tokens": 24,
            "min_initial_tokens": 8,
        },
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "reer", "synthesize", str(pairs), "-o", str(tmp_path / "run")]
    env = {**os.environ, KEY_ENV: SERVER_KEY}
    done = subprocess.run([*command, "-c", str(tmp_path / "config.yaml")], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    export = tmp_path / "records"
    exported = subprocess.run(
        [sys.executable, "-m", "reer", "export", str(tmp_path / "run"), "-o", str(export), "--format", "records",
         "--no-filter"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    row = json.loads((export / "train.jsonl").read_text().splitlines()[0])
    assert row["initial_thinking"] and 0 < row["final_score"] <= row["initial_score"] <= 2.0
    for text in (done.stdout, done.stderr, exported.stdout, exported.stderr):
        assert SERVER_KEY not in text
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SERVER_KEY.encode() not in path.read_bytes(), path


def test_a_served_model_without_a_local_tokenizer_says_what_to_set():
    from reer.errors import BackendError

    with pytest.raises(BackendError, match="set tokenizer:"):
        load_backend(ModelConfig(backend="openai", base_url="http://127.0.0.1:9/v1", model="Qwen3-32B"))


def test_the_finish_reason_tells_a_stop_string_from_the_end_of_the_sequence():
    assert _finish({"finish_reason": "length"}, False, ("</think>",)) == "length"
    assert _finish({"finish_reason": "stop", "stop_reason": "</think>"}, False, ("</think>",)) == "stop"
    assert _finish({"finish_reason": "stop", "stop_reason": None}, False, ("</think>",)) == "eos"  # vLLM
    assert _finish({"finish_reason": "stop"}, False, ()) == "eos"
    assert _finish({"finish_reason": "stop"}, True, ("</think>",)) == "stop"
