"""Rendering chats into the exact strings a tokenizer-based engine generates from and scores.

Both go the published way: the chat template renders the system and user turns *with the generation
prompt*, and the assistant's text — a generation's pre-fill, or the whole scored answer — is appended as
raw text. The assistant turn never goes through the template: some templates rewrite it (Qwen3's moves a
``<think>`` block and re-spaces what follows ``</think>``) or reject it, which would change or lose the
very characters being scored.

Text from data is tokenized as text. A request or reference that contains ``<|im_end|>`` must not end the
turn the template opened: only the special tokens the *template* wrote are control tokens (found by
rendering the chat once more with every special-token string in the data masked); everything else is
tokenized with special tokens split into ordinary text.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

import numpy as np

from reer.backends.base import Message, ScoreRequest
from reer.backends.pieces import piece_tokenizer
from reer.errors import TemplateError

_THINK = "<think>"
_MASK = "\ue000"  # a private-use character: no template treats it specially


@dataclass(frozen=True)
class Encoding:
    text: str
    ids: list[int]
    offsets: np.ndarray | None  # (start, end) characters in ``text``, one row per token, where asked for


def encode_prompt(tokenizer: Any, messages: Sequence[Message], prefill: str = "") -> Encoding:
    """:func:`render_prompt`, tokenized with only the template's special tokens as control tokens. A generation
    prompt needs no offsets, whose assembly was a fifth of a long prompt's splicing."""
    return _encode(tokenizer, messages, prefill, render_prompt(tokenizer, messages, prefill), offsets=False)


def encode_scored(
    tokenizer: Any, messages: Sequence[Message], span: tuple[int, int]
) -> tuple[Encoding, tuple[int, int]]:
    """:func:`render_scored`, tokenized the same way; the span moved into the rendered string."""
    text, moved = render_scored(tokenizer, messages, span)
    return _encode(tokenizer, messages[:-1], messages[-1]["content"], text), moved


class TokenTexts(Sequence[str]):
    """The scored tokens' texts, cut from the rendered string when first read. A scoring prompt's span holds about
    a thousand tokens: making their strings for every candidate cost 5 ms of the driver's CPU per item, and only
    the incumbent's are kept (and compared, in tests and the echo dialect's check)."""

    __slots__ = ("_text", "_offsets", "_texts")

    def __init__(self, text: str, offsets: np.ndarray) -> None:
        self._text = text
        self._offsets = offsets  # (start, end) of each scored token in ``text``
        self._texts: list[str] | None = None

    def _all(self) -> list[str]:
        if self._texts is None:
            self._texts = list(map(self._text.__getitem__, map(slice, *self._offsets.T.tolist())))
        return self._texts

    def __len__(self) -> int:
        return len(self._offsets)

    def __getitem__(self, index: Any) -> Any:
        return self._all()[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TokenTexts | list | tuple):
            return self._all() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to lists, which are not hashable

    def __repr__(self) -> str:
        return repr(self._all())


@dataclass(frozen=True)
class Encoded:
    ids: list[int]
    scored: list[int]  # indices of the tokens inside the span
    tokens: Sequence[str]
    text: str = ""  # the rendered string the ids encode (what text-only servers are sent)


def encode(tokenizer: Any, request: ScoreRequest) -> Encoded:
    """A scoring request rendered and tokenized once, with the tokens overlapping its span (straddlers
    included): what every scoring backend, in-process or server, scores."""
    enc, (start, end) = encode_scored(tokenizer, request.messages, request.span)
    text, offsets = enc.text, enc.offsets
    assert offsets is not None
    inside = (offsets[:, 0] < end) & (offsets[:, 1] > start)
    inside[:1] = False
    scored = np.flatnonzero(inside)
    if not len(scored):
        raise ValueError(f"the span {request.span} covers no token")
    return Encoded(ids=enc.ids, scored=scored.tolist(), tokens=TokenTexts(text, offsets[scored]), text=text)


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
    template = getattr(tokenizer, "chat_template", None)
    bos = getattr(tokenizer, "bos_token", None)
    key = (id(tokenizer), template, bos, tuple((m["role"], m["content"]) for m in messages))
    found = _RENDERED.get(key)
    if found is not None and found[0] is tokenizer:
        return found[1]
    prompt = _render(tokenizer, messages) if template else _bos(tokenizer) + _plain(messages) + "Assistant: "
    with _RENDERED_LOCK:  # every scoring prompt of an item has the same header: rendered once
        _RENDERED[key] = (tokenizer, prompt)
        if len(_RENDERED) > 1024:
            del _RENDERED[next(iter(_RENDERED))]
    return prompt


_RENDERED: dict[tuple[Any, ...], tuple[Any, str]] = {}
_RENDERED_LOCK = threading.Lock()


def _render(tokenizer: Any, messages: Sequence[Message]) -> str:
    prompt = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
    if prompt.strip().endswith(_THINK):
        prompt = prompt.strip()[: -len(_THINK)]
    return str(prompt)


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


def _encode(tokenizer: Any, messages: Sequence[Message], tail: str, text: str, offsets: bool = True) -> Encoding:
    pattern = _specials(tokenizer)
    data = [m["content"] for m in messages] + [tail]
    if pattern is None or not any(pattern.search(piece) for piece in data):
        return Encoding(text, *_tokens(tokenizer, text)) if offsets else Encoding(text, _ids(tokenizer, text), None)

    def masked(piece: str) -> str:
        return pattern.sub(lambda m: _MASK * len(m.group()), piece)

    template = generation_prompt(tokenizer, [{**m, "content": masked(m["content"])} for m in messages]) + masked(tail)
    if len(template) != len(text):
        raise TemplateError("the chat template changes the length of message text; cannot tell its control tokens")
    ids: list[int] = []
    rows: list[np.ndarray] = []
    start = 0
    for control in pattern.finditer(template):  # the template's own special tokens, at their places
        _text_tokens(tokenizer, text, start, control.start(), ids, rows)
        ids.append(tokenizer.convert_tokens_to_ids(control.group()))
        rows.append(np.array([control.span()]))
        start = control.end()
    _text_tokens(tokenizer, text, start, len(text), ids, rows)
    return Encoding(text, ids, np.concatenate(rows).reshape(-1, 2))


def _text_tokens(tokenizer: Any, text: str, start: int, end: int, ids: list[int], offsets: list[np.ndarray]) -> None:
    if start == end:
        return
    run_ids, run_offsets = _tokens(_splitting(tokenizer), text[start:end])
    ids += run_ids
    offsets.append(run_offsets + start)


def _tokens(tokenizer: Any, text: str) -> tuple[list[int], np.ndarray]:
    """``text``'s ids and offsets without added special tokens: spliced from cached paragraphs
    (:mod:`reer.backends.pieces`) where the tokenizer is a fast one."""
    pieces = piece_tokenizer(tokenizer)
    if pieces is not None:
        return pieces.encode(text)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return list(enc["input_ids"]), np.array(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2)


def _ids(tokenizer: Any, text: str) -> list[int]:
    """:func:`_tokens` without the offsets."""
    pieces = piece_tokenizer(tokenizer)
    if pieces is not None:
        return pieces.ids(text)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


_SPLITTING: dict[int, Any] = {}
_SPLITTING_LOCK = threading.Lock()


def _splitting(tokenizer: Any) -> Any:
    """A copy of ``tokenizer`` that always reads special-token strings as text. transformers implements
    ``split_special_tokens=True`` by flipping a flag on the shared Rust tokenizer for the call, so threads
    sharing one tokenizer (a server backend's pool) would tokenize each other's prompts with the wrong
    setting: the template's control tokens split into text, or data's read as control tokens."""
    with _SPLITTING_LOCK:
        copy = _SPLITTING.get(id(tokenizer))
        if copy is None or copy[0] is not tokenizer:
            splitting = deepcopy(tokenizer)
            splitting.split_special_tokens = True
            splitting._tokenizer.encode_special_tokens = True
            copy = _SPLITTING[id(tokenizer)] = (tokenizer, splitting)
        return copy[1]


def _specials(tokenizer: Any) -> re.Pattern[str] | None:
    """The tokenizer's special-token strings as one pattern, longest first (a longer one wins where two overlap),
    compiled once per tokenizer: Gemma's has over 6,000, which one regular expression finds in a prompt 150
    times faster than looking for each."""
    found = _SPECIALS.get(id(tokenizer))
    if found is None or found[0] is not tokenizer:
        added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
        strings = {token.content for token in added.values() if getattr(token, "special", False)}
        strings |= set(getattr(tokenizer, "all_special_tokens", []))
        ordered = sorted(strings, key=len, reverse=True)
        found = _SPECIALS[id(tokenizer)] = (
            tokenizer,
            re.compile("|".join(map(re.escape, ordered))) if ordered else None,
        )
    return found[1]


_SPECIALS: dict[int, tuple[Any, re.Pattern[str] | None]] = {}
