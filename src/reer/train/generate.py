"""``reer generate``: try a trained model — it thinks inside ``<think>`` and then answers.

Loads a full model directory, or a LoRA adapter directory on top of the base model it names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reer.records.sample import split_reply


@dataclass(frozen=True)
class Reply:
    thinking: str
    answer: str
    raw: str
    tokens: int


def load_for_generation(model: str, device: str = "cpu") -> tuple[Any, Any]:
    """(model, tokenizer) of a model directory, the embedded name, or a LoRA adapter directory."""
    from reer.backends.models import load_model
    from reer.config import ModelConfig

    return load_model(ModelConfig(model=model, device=device))


def generate_reply(
    model: Any, tokenizer: Any, prompt: str, max_new_tokens: int = 512, temperature: float = 0.0, seed: int = 0
) -> Reply:
    """One reply to ``prompt``, split into the thinking and the answer after ``</think>``."""
    import torch

    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )
    inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False).to(model.device)
    torch.manual_seed(seed)
    sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=max_new_tokens, **sampling)
    new = output[0, inputs["input_ids"].shape[1] :]
    raw = tokenizer.decode(new, skip_special_tokens=True)
    thinking, answer = split_reply(raw)
    return Reply(thinking, answer, raw, len(new))
