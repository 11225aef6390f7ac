"""``reer generate``: try a trained model — it thinks inside ``<think>`` and then answers.

The model is opened through the backend registry like every other use of a model, so a full model folder,
a LoRA adapter folder (merged onto the base it names) or a served model all work the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from reer.backends import GenerationRequest, Generator, Sampling
from reer.records.sample import split_reply


@dataclass(frozen=True)
class Reply:
    thinking: str
    answer: str
    raw: str
    tokens: int


def generate_reply(
    generator: Generator, prompt: str, max_new_tokens: int = 512, temperature: float = 0.0, seed: int = 0
) -> Reply:
    """One reply to ``prompt``, split into the thinking and the answer after ``</think>``."""
    sampling = Sampling(temperature=temperature, top_p=1.0, max_new_tokens=max_new_tokens, seed=seed)
    request = GenerationRequest(messages=[{"role": "user", "content": prompt}], sampling=sampling)
    reply = generator.generate([request])[0][0]
    thinking, answer = split_reply(reply.text)
    return Reply(thinking, answer, reply.text, reply.num_tokens)
