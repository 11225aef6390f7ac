"""The loss mask, checked before any training step: the loss must fall on the assistant turn — thinking and
answer — and on nothing of the prompt. A template or tokenizer quirk that shifts the boundary would
otherwise train silently on the wrong tokens."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from reer.errors import ReerError


class MaskError(ReerError):
    """The tokens trained on are not exactly the assistant turn."""


def check_mask(tokenized: dict[str, Any], example: dict[str, Any], tokenizer: Any, max_length: int) -> bool:
    """Compare the trained tokens of one tokenized example with its rendered assistant turn, token by token.

    Returns whether the sample was cut at ``max_length`` (then the trained tokens are the turn's start)."""
    ids, mask = list(tokenized["input_ids"]), loss_mask(tokenized)
    start = mask.index(1) if 1 in mask else len(mask)
    if any(mask[:start]) or not all(mask[start:]) or start == len(mask):
        raise MaskError(f"sample {example['id']}: the loss mask is not one block at the end: {_runs(mask)}")
    prompt = tokenizer.apply_chat_template(example["prompt"], tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(example["prompt"] + example["completion"], tokenize=False)
    expected_context = _ids(tokenizer, prompt)
    expected_trained = _ids(tokenizer, full[len(prompt) :]) if full.startswith(prompt) else None
    if ids[:start] != expected_context:
        raise MaskError(
            f"sample {example['id']}: the masked-out tokens are not the prompt: {tokenizer.decode(ids[:start])!r}"
        )
    truncated = len(ids) >= max_length and expected_trained is not None and len(expected_trained) > len(ids) - start
    if truncated and expected_trained is not None:
        expected_trained = expected_trained[: len(ids) - start]
    if expected_trained is None or ids[start:] != expected_trained:
        raise MaskError(
            f"sample {example['id']}: the trained tokens are not the assistant turn; trained: "
            f"{tokenizer.decode(ids[start:])[:200]!r}"
        )
    if not truncated and example["completion"][0]["content"] not in tokenizer.decode(ids[start:]):
        raise MaskError(f"sample {example['id']}: the thinking and answer are not all inside the trained tokens")
    return truncated


def loss_mask(tokenized: dict[str, Any]) -> list[int]:
    """1 for every token the loss is computed on: TRL marks the others with the label -100."""
    if "labels" in tokenized:
        return [int(label != -100) for label in tokenized["labels"]]
    return list(tokenized["completion_mask"])


def render_mask(tokenized: dict[str, Any], tokenizer: Any) -> Text:
    """The sample as text: prompt tokens dim (no loss), trained tokens bold green."""
    text = Text()
    for token, trained in zip(tokenized["input_ids"], loss_mask(tokenized), strict=True):
        text.append(tokenizer.decode([token]), style="bold green" if trained else "dim")
    return text


def _ids(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _runs(mask: list[int]) -> str:
    runs, start = [], 0
    for i in range(1, len(mask) + 1):
        if i == len(mask) or mask[i] != mask[start]:
            runs.append(f"{mask[start]}×{i - start}")
            start = i
    return " ".join(runs)
