"""What the trainer sees of a sample: TRL's conversational prompt–completion shape."""

from __future__ import annotations

from typing import Any

from reer.records.sample import SftSample, inline


def prompt_completion(sample: SftSample) -> dict[str, Any]:
    """TRL's conversational prompt–completion shape: the loss falls on the completion (the assistant turn:
    thinking inside ``<think></think>``, then the answer) and never on the prompt."""
    prompt = ([{"role": "system", "content": sample.system}] if sample.system else []) + [
        {"role": "user", "content": sample.prompt}
    ]
    return {"id": sample.id, "prompt": prompt, "completion": [{"role": "assistant", "content": inline(sample)}]}
