"""Rendering chats into the exact strings a tokenizer-based engine generates from and scores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reer.backends.base import Message
from reer.errors import TemplateError


def render_prompt(tokenizer: Any, messages: Sequence[Message], prefill: str = "") -> str:
    """The generation prompt: the chat plus an open assistant turn that starts with ``prefill``."""
    if not getattr(tokenizer, "chat_template", None):
        return _plain(messages) + "Assistant: " + prefill
    if prefill:
        chat = [*messages, {"role": "assistant", "content": prefill}]
        return tokenizer.apply_chat_template(chat, tokenize=False, continue_final_message=True)
    return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)


def render_scored(tokenizer: Any, messages: Sequence[Message], span: tuple[int, int]) -> tuple[str, tuple[int, int]]:
    """Render the whole chat and move ``span`` (a range of the last message) into the rendered string."""
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(list(messages), tokenize=False)
    else:
        text = _plain(messages[:-1]) + "Assistant: " + messages[-1]["content"]
    content = messages[-1]["content"]
    # The last occurrence: the assistant turn comes after any echo of the same text in the prompt.
    offset = text.rfind(content)
    if offset < 0:
        raise TemplateError(
            "the chat template changed the assistant text (for example it dropped the <think> block), "
            "so the reference cannot be located for scoring; use a scorer model whose template keeps it"
        )
    return text, (offset + span[0], offset + span[1])


def _plain(messages: Sequence[Message]) -> str:
    """A neutral format for base models that ship without a chat template."""
    names = {"system": "System", "user": "User", "assistant": "Assistant"}
    return "".join(f"{names.get(m['role'], m['role'].title())}: {m['content']}\n\n" for m in messages)
