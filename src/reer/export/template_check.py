"""Does a chat template keep the thinking? Rendering every exported sample with the trainer's tokenizer.

Several templates silently lose reasoning during SFT: ChatML templates render only ``content`` (so
``reasoning_content`` vanishes), and reasoning-model templates cut ``<think>…</think>`` out of assistant
turns. Training then teaches a model to answer without thinking, and nothing fails. This check renders each
sample exactly as a trainer would and fails loudly unless the thinking appears verbatim, inside
``<think>…</think>``, before the answer.
"""

from __future__ import annotations

from typing import Any

from reer.errors import TemplateError
from reer.records.formats import Row, chat, to_sample
from reer.records.sample import SftSample

_PREVIEW = 60


def check_template(rows: list[Row], tokenizer: Any, model: str, fmt: str) -> int:
    """Render every row; return how many were checked, or raise TemplateError naming the failures."""
    failures: list[tuple[str, str]] = []
    for number, row in enumerate(rows, start=1):
        sample = to_sample(row, number)
        try:
            rendered = tokenizer.apply_chat_template(chat(row), tokenize=False)
        except Exception as exc:  # a template raises whatever its Jinja code raises
            failures.append((sample.id, f"the template failed to render: {exc}"))
            continue
        problem = template_problem(rendered, sample)
        if problem:
            failures.append((sample.id, problem))
    if failures:
        first_id, first = failures[0]
        raise TemplateError(
            f"--check-template {model}: the chat template loses the thinking in {len(failures)} of {len(rows)} "
            f"samples (first: {first_id}: {first}). {_advice(fmt)} Nothing was written."
        )
    return len(rows)


def template_problem(rendered: str, sample: SftSample) -> str | None:
    """What the rendering did to the sample's thinking and answer, or None when both survived intact."""
    if not sample.thinking:
        return None if sample.answer in rendered else "the answer is missing from the rendering"
    at = rendered.find(sample.thinking)
    if at < 0:
        if sample.thinking[:_PREVIEW] in rendered:
            return "the thinking is altered (its start is there, the full text is not)"
        return "the thinking is dropped"
    end = at + len(sample.thinking)
    if "<think>" not in rendered[:at]:
        return "the thinking is not inside <think>"
    closing = rendered.find("</think>", end)
    answer = rendered.find(sample.answer, end)
    if answer < 0:
        return "the answer is missing after the thinking"
    if closing < 0 or closing > answer:
        return "</think> does not close the thinking before the answer"
    return None


def _advice(fmt: str) -> str:
    if fmt == "messages":
        return (
            "This template does not render `reasoning_content`: export with --format messages-inline "
            "(the thinking written into the content), or train with a template that renders it."
        )
    return (
        "This template rewrites assistant turns (reasoning templates often strip <think> blocks): train with a "
        "template that keeps them, e.g. the model's template without the stripping step."
    )
