"""One training sample — request, thinking, answer — and the ``<think>`` block every format writes.

Training format (REER.md §5): the thinking inside ``<think></think>``, then the answer. The request is the
user's raw query, exactly as a user would type it at inference time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_INLINE = re.compile(r"^\s*<think>\n?(.*?)\n?</think>\s*(.*)$", re.DOTALL)


@dataclass(frozen=True)
class SftSample:
    id: str
    prompt: str
    thinking: str
    answer: str
    system: str | None = None
    source: dict[str, Any] = field(default_factory=dict)


def inline(sample: SftSample) -> str:
    """The assistant turn with the thinking written into it."""
    return f"<think>\n{sample.thinking}\n</think>\n\n{sample.answer}"


def split_inline(text: str) -> tuple[str, str]:
    """(thinking, answer) of an assistant turn; no ``<think>`` block means no thinking."""
    match = _INLINE.match(text)
    return (match.group(1).strip(), match.group(2).strip()) if match else ("", text.strip())


def split_reply(raw: str) -> tuple[str, str]:
    """(thinking, answer) of a generated reply; a reply cut off inside ``<think>`` has thinking and no answer.
    A reply with only the closing tag thought too: templates that open ``<think>`` in the prompt (Qwen3's) leave
    the reply starting inside the block."""
    opened = raw.lstrip().startswith("<think>")
    if opened and "</think>" not in raw:
        return raw.lstrip().removeprefix("<think>").strip(), ""
    if not opened and "</think>" in raw:
        thinking, _, answer = raw.partition("</think>")
        return thinking.strip(), answer.strip()
    return split_inline(raw)
