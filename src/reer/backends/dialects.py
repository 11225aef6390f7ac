"""Prompt log-probabilities from inference servers, in the three shapes they come in (``docs/deployment.md``).

Each dialect builds the request for tokenized strings and reads back the natural log-probability of every
scored token. vLLM takes several prompts in one request and answers a choice per prompt: the candidates of one
search step go together (a third of an item's requests fewer). The others take one prompt per request. Every
response is checked — a choice per prompt, as many positions as tokens sent, the server's token ids (or token
texts) equal to ours, a finite value ≤ 0 at every scored position — and anything else raises
:class:`ScoringResponseError`: never a sentinel score.

vLLM answers with an entry for every prompt position (about 2,300 for a published-size scoring prompt, a
quarter of a megabyte); only the scored span's entries become Python objects, the others are counted as raw
bytes (``msgspec``). Decoding them all was a fifth of the driver's time per item at scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import msgspec

from reer.backends.base import InvalidScores, checked_logprob
from reer.backends.http import parse_json
from reer.backends.render import Encoded

Dialect = Literal["vllm", "echo", "sglang"]
DIALECTS: tuple[Dialect, ...] = ("vllm", "echo", "sglang")


class ScoringResponseError(ValueError):
    """A server's log-probabilities do not line up with what was sent: the item fails with this reason."""


def request_body(dialect: Dialect, model: str, batch: Sequence[Encoded]) -> tuple[str, dict[str, Any], bool]:
    """(path, JSON body, whether the path is under the server root rather than ``/v1``) for ``batch``: one
    prompt, or several in the vllm dialect."""
    if dialect == "vllm":
        prompt = batch[0].ids if len(batch) == 1 else [encoded.ids for encoded in batch]
        body: dict[str, Any] = {"prompt": prompt, "max_tokens": 1, "temperature": 0, "prompt_logprobs": 1}
        return "/completions", {"model": model, **body, "return_token_ids": True}, False
    if len(batch) != 1:
        raise ValueError(f"the {dialect} dialect sends one prompt per request, not {len(batch)}")
    encoded = batch[0]
    if dialect == "echo":  # text, not ids: llama-cpp-python's server takes strings only; the tokens are checked
        body = {"prompt": encoded.text, "echo": True, "logprobs": 1, "max_tokens": 1, "temperature": 0}
        return "/completions", {"model": model, **body}, False
    sampling = {"max_new_tokens": 1, "temperature": 0}
    start = encoded.scored[0] - 1  # the entry at the start is null (its logits are in the cached prefix)
    body = {"input_ids": encoded.ids, "sampling_params": sampling, "return_logprob": True, "top_logprobs_num": 0}
    return "/generate", {**body, "logprob_start_len": start}, True


def read_logprobs(dialect: Dialect, answer: bytes, batch: Sequence[Encoded], bos_id: int | None) -> list[list[float]]:
    """Per prompt of ``batch``, the log-probability of each scored token in the server's ``answer``, checked
    against what was sent."""
    values = _vllm_spans(answer, batch) if dialect == "vllm" else None
    if values is None:
        values = _read_whole(dialect, parse_json(answer, "the server"), batch, bos_id)
    return [_all_checked(found, encoded) for found, encoded in zip(values, batch, strict=True)]


def _read_whole(dialect: Dialect, response: Any, batch: Sequence[Encoded], bos_id: int | None) -> list[list[Any]]:
    try:
        if dialect == "vllm":
            choices = sorted(response["choices"], key=lambda choice: choice.get("index", 0))
            _same_count(len(choices), len(batch))
            return [_vllm(choice, encoded) for choice, encoded in zip(choices, batch, strict=True)]
        if dialect == "echo":
            return [_echo(response, batch[0], bos_id)]
        return [_sglang(response, batch[0])]
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ScoringResponseError(
            f"the {dialect} response lacks {exc!r}: is the model's `scoring` dialect right?"
        ) from exc


def _all_checked(values: list[Any], encoded: Encoded) -> list[float]:
    try:  # the common case in two passes in C: every value a number, finite (else the sum is not), ≤ 0
        if len(values) == len(encoded.scored) and max(values) <= 0.0 and math.isfinite(sum(values)):
            return [float(value) for value in values]
    except TypeError:
        pass  # a null or a string among them: found and named below
    return [_checked(value, j) for value, j in zip(values, encoded.scored, strict=True)]


class _Logprob(msgspec.Struct):
    logprob: float | None = None


class _Choice(msgspec.Struct):
    prompt_logprobs: list[msgspec.Raw]
    index: int = 0
    prompt_token_ids: list[int] | None = None


class _Answer(msgspec.Struct):
    choices: list[_Choice]


_ANSWER = msgspec.json.Decoder(_Answer)
# Each position's tokens as objects: a server that writes bare numbers instead is read whole, by :func:`_vllm`
# (a union with floats here cost a fifth more per span).
_SPAN = msgspec.json.Decoder(list[dict[str, _Logprob] | None])


def _vllm_spans(answer: bytes, batch: Sequence[Encoded]) -> list[list[Any]] | None:
    """:func:`_vllm` for each prompt, decoding only the scored positions' entries; ``None`` for an answer it cannot
    read so (one that is not JSON as msgspec reads it, or not of vLLM's shape), which is then read whole."""
    try:
        choices = sorted(_ANSWER.decode(answer).choices, key=lambda choice: choice.index)
    except msgspec.DecodeError:
        return None
    _same_count(len(choices), len(batch))
    spans = [_vllm_span(choice, encoded) for choice, encoded in zip(choices, batch, strict=True)]
    return None if None in spans else spans  # type: ignore[return-value]


def _vllm_span(choice: _Choice, encoded: Encoded) -> list[Any] | None:
    entries = choice.prompt_logprobs
    first, last = encoded.scored[0], encoded.scored[-1]
    try:
        span = _SPAN.decode(b"[" + b",".join(entries[first : last + 1]) + b"]")
    except msgspec.DecodeError:
        return None
    _same_length(len(entries), len(encoded.ids))
    returned = choice.prompt_token_ids
    if returned is not None and returned != encoded.ids:
        raise ScoringResponseError("the server's prompt_token_ids differ from the token ids sent")
    sent = encoded.ids[first : last + 1]
    if len(encoded.scored) == len(span):  # the span is contiguous: each entry's value for the token sent, in C
        try:
            return [found.logprob for found in map(dict.__getitem__, span, map(str, sent))]  # type: ignore[arg-type]
        except (KeyError, TypeError):
            pass  # a null entry or a missing token: found and named below
    values = []
    for j in encoded.scored:
        entry = span[j - first]
        if entry is None:
            raise ScoringResponseError(f"position {j} has no log-probabilities")
        value = entry.get(str(encoded.ids[j]))
        if value is None:
            raise ScoringResponseError(f"position {j} has no entry for the token sent (id {encoded.ids[j]})")
        values.append(value.logprob)
    return values


def _vllm(choice: dict[str, Any], encoded: Encoded) -> list[Any]:
    entries = choice["prompt_logprobs"]
    _same_length(len(entries), len(encoded.ids))
    returned = choice.get("prompt_token_ids")
    if returned is not None and list(returned) != encoded.ids:
        raise ScoringResponseError("the server's prompt_token_ids differ from the token ids sent")
    values = []
    for j in encoded.scored:
        entry = entries[j]
        if entry is None:
            raise ScoringResponseError(f"position {j} has no log-probabilities")
        # Keyed by token id; the sent token's place among the keys changed between vLLM versions.
        found = entry.get(str(encoded.ids[j]))
        if found is None:
            raise ScoringResponseError(f"position {j} has no entry for the token sent (id {encoded.ids[j]})")
        values.append(found["logprob"] if isinstance(found, dict) else found)
    return values


def _echo(response: dict[str, Any], encoded: Encoded, bos_id: int | None) -> list[Any]:
    logprobs = response["choices"][0]["logprobs"]
    generated = response.get("usage", {}).get("completion_tokens", 1)
    values, tokens = logprobs["token_logprobs"], logprobs["tokens"]
    values, tokens = values[: len(values) - generated], tokens[: len(tokens) - generated]
    position = _echo_positions(len(values), encoded.ids, bos_id)
    missing = [j for j in encoded.scored if j not in position]
    if missing:
        raise ScoringResponseError(f"the server left out scored position {missing[0]} (a BOS token)")
    if "".join(tokens[position[j]] for j in encoded.scored) != "".join(encoded.tokens):
        raise ScoringResponseError("the server tokenized the prompt differently: its tokens differ from ours")
    return [values[position[j]] for j in encoded.scored]


def _echo_positions(returned: int, ids: list[int], bos_id: int | None) -> dict[int, int]:
    """Our token index → the server's position. Servers echo every token, except llama-cpp-python, which
    leaves out each BOS token — in ChatML, SmolLM2's BOS opens every turn (docs/deployment.md)."""
    if returned == len(ids):
        return {j: j for j in range(len(ids))}
    kept = [j for j, token in enumerate(ids) if token != bos_id]
    if ids and ids[0] == bos_id and returned == len(kept):
        return {j: p for p, j in enumerate(kept)}
    raise ScoringResponseError(f"the server returned {returned} prompt positions for {len(ids)} tokens sent")


def _sglang(response: Any, encoded: Encoded) -> list[Any]:
    entries = (response[0] if isinstance(response, list) else response)["meta_info"]["input_token_logprobs"]
    start = encoded.scored[0] - 1
    _same_length(len(entries) + start, len(encoded.ids))
    values = []
    for j in encoded.scored:
        value, token_id, *_ = entries[j - start]
        if token_id is not None and token_id != encoded.ids[j]:
            raise ScoringResponseError(f"position {j}: the server has token id {token_id}, we sent {encoded.ids[j]}")
        values.append(value)
    return values


def _same_count(choices: int, prompts: int) -> None:
    if choices != prompts:
        raise ScoringResponseError(f"the server returned {choices} choices, {prompts} expected (one per prompt sent)")


def _same_length(positions: int, sent: int) -> None:
    if positions != sent:
        raise ScoringResponseError(f"the server returned {positions} prompt positions for {sent} tokens sent")


def _checked(value: Any, position: int) -> float:
    if value is None:
        raise ScoringResponseError(f"the log-probability at scored position {position} is null")
    try:
        return checked_logprob(float(value))
    except InvalidScores as exc:
        raise ScoringResponseError(f"scored position {position}: {exc}") from None
