"""The one road to a model: every use opens a ModelConfig through the registry, which checks what the
backend can do before any model loads."""

import pytest

from reer.backends import load_backend, open_backends, open_token_counter, require
from reer.config import ModelConfig, ReerConfig
from reer.errors import BackendError
from tests.conftest import needs_embedded


def test_a_generator_that_cannot_score_needs_a_scorer_and_the_error_names_the_fix():
    config = ReerConfig(generator=ModelConfig(backend="llamacpp"))
    with pytest.raises(BackendError, match=r"llamacpp cannot score .*add scorer: \{backend: transformers\}"):
        open_backends(config)


def test_capabilities_are_checked_before_construction():
    with pytest.raises(BackendError, match="llamacpp cannot score"):
        require(ModelConfig(backend="llamacpp"), "score", "scorer")
    assert require(ModelConfig(backend="llamacpp"), "generate", "generator").__name__ == "LlamaCppBackend"
    with pytest.raises(BackendError, match="did you mean 'fake'"):
        load_backend(ModelConfig(backend="fak"))


def test_the_fake_backend_counts_words_as_tokens():
    count = open_token_counter(ModelConfig(backend="fake"))
    assert count("three small words") == 3


@needs_embedded
def test_token_counts_come_from_the_scorers_tokenizer_without_its_weights():
    from reer.backends.models import load_tokenizer

    text = "The lighthouse keeper counted ships."
    expected = len(load_tokenizer("smollm2-135m-instruct")(text, add_special_tokens=False)["input_ids"])
    assert open_token_counter(ModelConfig())(text) == expected
    assert open_token_counter(ModelConfig(backend="llamacpp"))(text) == expected  # the GGUF's own tokenizer


def test_a_chat_only_api_can_generate_but_not_score():
    chat = ModelConfig(backend="openai", base_url="http://127.0.0.1:9/v1", model="gpt-4o", chat_only=True)
    require(chat, "generate", "judge")
    with pytest.raises(BackendError, match=r"openai cannot score \(it can: generate\)"):
        require(chat, "score", "scorer")
    with pytest.raises(BackendError, match="cannot tokenize"):
        require(chat, "tokenize", "scorer")
    assert require(chat.model_copy(update={"chat_only": False}), "score", "scorer").__name__ == "OpenAIBackend"


def test_an_unregistered_backend_is_named_by_its_import_path():
    from reer.backends.fake import FakeBackend

    assert type(load_backend(ModelConfig(backend="reer.backends.fake:FakeBackend"))) is FakeBackend
    with pytest.raises(BackendError, match="has no class Nope"):
        load_backend(ModelConfig(backend="reer.backends.fake:Nope"))
    with pytest.raises(BackendError, match="missing"):
        load_backend(ModelConfig(backend="not_a_package.engines:Engine"))
