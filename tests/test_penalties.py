"""Loop control at generation: repetition, frequency and presence penalties reach every backend, each as its
engine's own parameter, and change what the real model writes; the run fingerprint holds them only when on."""

import pytest
import torch

from reer.backends import GenerationRequest, Sampling, load_backend
from reer.backends.fake import FakeBackend
from reer.backends.transformers_backend import OutputPenalty, penalty_arguments
from reer.config import ModelConfig, ReerConfig, SearchConfig, fingerprint
from reer.search.reer import Searcher, new_trajectory
from tests.conftest import SERVER_KEY, Memory, needs_embedded, needs_llama, needs_llama_server

CHAT = [{"role": "user", "content": "Write a short story about a lighthouse keeper."}]
PENALTIES = {
    "repetition": {"repetition_penalty": 1.3},
    "frequency": {"frequency_penalty": 1.0},
    "presence": {"presence_penalty": 1.0},
}


def greedy(backend, tokens: int, **penalties) -> str:
    sampling = Sampling(temperature=0, top_p=1, max_new_tokens=tokens, **penalties)
    return backend.generate([GenerationRequest(messages=CHAT, sampling=sampling, prefill="<think>\n")])[0][0].text


def test_penalties_are_off_by_default_and_fingerprinted_only_when_on():
    assert SearchConfig().repetition_penalty == 1.0
    assert SearchConfig().frequency_penalty == SearchConfig().presence_penalty == 0.0
    plain = fingerprint(ReerConfig(), "prompts")
    assert fingerprint(ReerConfig(search=SearchConfig(repetition_penalty=1.0)), "prompts") == plain
    for fields in PENALTIES.values():
        assert fingerprint(ReerConfig(search=SearchConfig(**fields)), "prompts") != plain
    with pytest.raises(ValueError):
        SearchConfig(frequency_penalty=3)


class RecordingFake(FakeBackend):
    """The deterministic fake, keeping every generation request it was sent (what the search asks for)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[GenerationRequest] = []

    def generate(self, requests):
        self.sent.extend(requests)
        return super().generate(requests)


def test_the_search_asks_every_generation_with_the_configured_penalties(pair):
    fake = RecordingFake()
    config = SearchConfig(stop_threshold=0, max_steps=2, repetition_penalty=1.2, frequency_penalty=0.4)
    Searcher(fake, fake, config).run(pair, new_trajectory(pair), Memory())
    assert len(fake.sent) == 3  # the initial trace and one refinement per visited segment
    assert {request.sampling.penalties for request in fake.sent} == {(1.2, 0.4, 0.0)}


def test_frequency_and_presence_lower_the_logits_of_generated_tokens_only():
    prompt_and_output = torch.tensor([[5, 6, 7, 7, 2]])  # prompt: 5 6; generated: 7 7 2
    scores = torch.zeros(1, 10)
    out = OutputPenalty(prompt_width=2, frequency=0.5, presence=1.0)(prompt_and_output, scores)
    assert out[0, 7].item() == pytest.approx(-0.5 * 2 - 1.0)
    assert out[0, 2].item() == pytest.approx(-0.5 - 1.0)
    assert out[0, 5].item() == out[0, 6].item() == out[0, 9].item() == 0.0  # prompt tokens are not penalised
    assert penalty_arguments(Sampling(0.8, 0.9, 10), 3) == {}  # off: transformers' defaults untouched
    assert penalty_arguments(Sampling(0.8, 0.9, 10, repetition_penalty=1.2), 3) == {"repetition_penalty": 1.2}


@needs_embedded
def test_transformers_generation_changes_under_each_penalty(smollm):
    backend = load_backend(ModelConfig(backend="transformers"), "generate", "generator")
    plain = greedy(backend, 48)
    for name, fields in PENALTIES.items():
        assert greedy(backend, 48, **fields) != plain, name


@needs_llama
def test_llamacpp_generation_changes_under_each_penalty(embedded_dir):
    backend = load_backend(ModelConfig(backend="llamacpp"), "generate", "generator")
    plain = greedy(backend, 48)
    assert greedy(backend, 48) == plain  # greedy is repeatable: a difference below is the penalty's
    for name, fields in PENALTIES.items():
        assert greedy(backend, 48, **fields) != plain, name


@needs_llama_server
def test_the_llama_server_receives_each_penalty(llama_server, monkeypatch):
    """The server's greedy output changes, so it read the fields (``repeat_penalty`` is its own name)."""
    monkeypatch.setenv("REER_TEST_SERVER_KEY", SERVER_KEY)
    config = ModelConfig(
        backend="openai", base_url=llama_server, api_key_env="REER_TEST_SERVER_KEY", model="smollm2",
        tokenizer="smollm2-135m-instruct",
    )  # fmt: skip
    backend = load_backend(config, "generate", "generator")
    plain = greedy(backend, 48)
    assert greedy(backend, 48) == plain
    for name, fields in PENALTIES.items():
        assert greedy(backend, 48, **fields) != plain, name


@pytest.mark.parametrize(
    ("scoring", "chat_only", "name"),
    [("vllm", False, "repetition_penalty"), ("sglang", False, "repetition_penalty"), ("echo", False, "repeat_penalty"),
     ("echo", True, "repetition_penalty")],
)  # fmt: skip
def test_each_server_dialect_gets_its_own_field_names(scoring, chat_only, name):
    from reer.backends.openai_backend import OpenAIBackend

    backend = OpenAIBackend.__new__(OpenAIBackend)  # only the body is built: no server, no tokenizer
    backend.config = ModelConfig(
        backend="openai", base_url="http://127.0.0.1:9/v1", scoring=scoring, chat_only=chat_only
    )
    on = Sampling(0.8, 0.9, 10, repetition_penalty=1.1, frequency_penalty=0.2, presence_penalty=0.3)
    assert backend._penalties(on) == {name: 1.1, "frequency_penalty": 0.2, "presence_penalty": 0.3}
    assert backend._penalties(Sampling(0.8, 0.9, 10)) == {}  # off: nothing a hosted API could reject
