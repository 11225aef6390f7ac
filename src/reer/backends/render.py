"""Rendering chats into the exact strings a tokenizer-based engine generates from and scores.

Both go the published way: the chat template renders the system and user turns *with the generation
prompt*, and the assistant's text — a generation's pre-fill, or the whole scored answer — is appended as
raw text. The assistant turn never goes through the template: some templates rewrite it (Qwen3's moves a
``<think>`` block and re-spaces what follows ``</think>``) or reject it, which would change or lose the
very characters being scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reer.backends.base import Message

_THINK = "<think>"


def render_prompt(tokenizer: Any, messages: Sequence[Message], prefill: str = "") -> str:
    """The chat up to an open assistant turn, then ``prefill`` as raw text."""
    return generation_prompt(tokenizer, messages) + prefill


def render_scored(tokenizer: Any, messages: Sequence[Message], span: tuple[int, int]) -> tuple[str, tuple[int, int]]:
    """The chat with its last (assistant) message appended raw; ``span`` moved into the rendered string."""
    prompt = generation_prompt(tokenizer, messages[:-1])
    return prompt + messages[-1]["content"], (len(prompt) + span[0], len(prompt) + span[1])


def generation_prompt(tokenizer: Any, messages: Sequence[Message]) -> str:
    """The template's rendering of ``messages`` plus the assistant header.

    Templates of thinking models end the header with ``<think>``; the assistant text we append opens its
    own, so that trailing tag is removed (with the whitespace around the prompt, as the published code does).
    """
    if not getattr(tokenizer, "chat_template", None):
        return _bos(tokenizer) + _plain(messages) + "Assistant: "
    prompt = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
    if prompt.strip().endswith(_THINK):
        prompt = prompt.strip()[: -len(_THINK)]
    return prompt


def _bos(tokenizer: Any) -> str:
    """The BOS token, where the tokenizer opens every text with one: we tokenize without special tokens (the
    string must be the whole truth), and base models such as Gemma's degrade badly without their BOS. Chat
    templates write it themselves."""
    bos = getattr(tokenizer, "bos_token", None)
    if bos and tokenizer("x")["input_ids"][:1] == [tokenizer.bos_token_id]:
        return str(bos)
    return ""


def _plain(messages: Sequence[Message]) -> str:
    """A neutral format for base models that ship without a chat template (docs/method.md): each turn as
    ``Role: text`` and a blank line, the open assistant turn last."""
    names = {"system": "System", "user": "User", "assistant": "Assistant"}
    return "".join(f"{names.get(m['role'], m['role'].title())}: {m['content']}\n\n" for m in messages)
