"""The SFT file formats, written and read back, and the chat each one becomes inside a trainer.

=================  ==========================================================================  ==============
format             row                                                                         read by
=================  ==========================================================================  ==============
messages           ``messages``: user, then assistant with ``reasoning_content`` + ``content``  TRL, templates
                                                                                               that render
                                                                                               reasoning
messages-inline    ``messages``: assistant ``content`` = ``<think>…</think>`` + answer          TRL, axolotl
sharegpt           ``conversations``: ``from`` human/gpt, ``value``                             LLaMA-Factory
alpaca             ``instruction``, ``input``, ``output``                                       LLaMA-Factory
deepwriting        ``prompt``, ``solution`` (the published DeepWriting-20K shape)               reer, scripts
verl               Parquet: ``prompt`` (chat), ``question``, ``answer``, ``messages``           verl SFT
records            the full search record (scores, steps) of ``reer export --format records``   analysis
=================  ==========================================================================  ==============
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reer.errors import InputError
from reer.records.rows import RowProblem, read_rows
from reer.records.sample import SftSample, inline, split_inline

Row = dict[str, Any]
Message = dict[str, str]


def _user_turns(s: SftSample) -> list[Message]:
    system = [{"role": "system", "content": s.system}] if s.system else []
    return [*system, {"role": "user", "content": s.prompt}]


def _messages(s: SftSample) -> Row:
    assistant = {"role": "assistant", "reasoning_content": s.thinking, "content": s.answer}
    return {"id": s.id, "messages": [*_user_turns(s), assistant], "source": s.source}


def _messages_inline(s: SftSample) -> Row:
    return {"id": s.id, "messages": [*_user_turns(s), {"role": "assistant", "content": inline(s)}], "source": s.source}


def _sharegpt(s: SftSample) -> Row:
    turns = [{"from": "human", "value": s.prompt}, {"from": "gpt", "value": inline(s)}]
    return {"id": s.id, "conversations": turns, "system": s.system or "", "source": s.source}


def _alpaca(s: SftSample) -> Row:
    return {
        "id": s.id,
        "instruction": s.prompt,
        "input": "",
        "output": inline(s),
        "system": s.system or "",
        "source": s.source,
    }


def _deepwriting(s: SftSample) -> Row:
    return {"index": s.id, "prompt": s.prompt, "solution": inline(s), "source": s.source}


def _verl(s: SftSample) -> Row:
    # Nested provenance is stored as JSON text: Parquet needs one schema for every row.
    return {
        "data_source": s.source.get("dataset", "reer"),
        "prompt": _user_turns(s),
        "question": s.prompt,
        "answer": inline(s),
        "messages": [*_user_turns(s), {"role": "assistant", "content": inline(s)}],
        "ability": "writing",
        "extra_info": {"id": s.id, "source": json.dumps(s.source, ensure_ascii=False)},
    }


WRITERS: dict[str, Callable[[SftSample], Row]] = {
    "messages": _messages,
    "messages-inline": _messages_inline,
    "sharegpt": _sharegpt,
    "alpaca": _alpaca,
    "deepwriting": _deepwriting,
    "verl": _verl,
}
FORMATS = (*WRITERS, "records")


def file_name(fmt: str) -> str:
    return "train.parquet" if fmt == "verl" else "train.jsonl"


def chat(row: Row) -> list[Message]:
    """The conversation a trainer builds from one row of any format (what its chat template renders)."""
    if "messages" in row:
        return list(row["messages"])
    if "conversations" in row:
        roles = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}
        turns = [{"role": roles[t["from"]], "content": t["value"]} for t in row["conversations"]]
        return _with_system(row, turns)
    if "instruction" in row:
        prompt = row["instruction"] + (f"\n\n{row['input']}" if row.get("input") else "")
        return _with_system(row, [{"role": "user", "content": prompt}, {"role": "assistant", "content": row["output"]}])
    if "prompt" in row and "solution" in row:
        return [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["solution"]}]
    if "query" in row and "thinking" in row:
        sample = SftSample(str(row["id"]), row["query"], row["thinking"], row["reference"])
        return [*_user_turns(sample), {"role": "assistant", "content": inline(sample)}]
    raise KeyError("no messages, conversations, instruction/output, prompt/solution or query/thinking fields")


def _with_system(row: Row, turns: list[Message]) -> list[Message]:
    return [{"role": "system", "content": row["system"]}, *turns] if row.get("system") else turns


def to_sample(row: Row, number: int) -> SftSample:
    """A sample from one row of any format above (or a public SFT set in one of their shapes)."""
    turns = chat(row)
    system = turns[0]["content"] if turns and turns[0]["role"] == "system" else None
    rest = turns[1:] if system is not None else turns
    if [t["role"] for t in rest] != ["user", "assistant"]:
        raise ValueError(f"expected one user turn then one assistant turn, got {[t['role'] for t in rest]}")
    user, assistant = rest
    if assistant.get("reasoning_content"):
        thinking, answer = assistant["reasoning_content"].strip(), assistant["content"].strip()
    else:
        thinking, answer = split_inline(assistant["content"])
    row_id = row.get("id", row.get("index", (row.get("extra_info") or {}).get("id", number)))
    return SftSample(str(row_id), user["content"], thinking, answer, system, _provenance(row))


def _provenance(row: Row) -> dict[str, Any]:
    source = row.get("source") or (row.get("extra_info") or {}).get("source") or {}
    return json.loads(source) if isinstance(source, str) else dict(source)


def read_samples(path: Path) -> list[SftSample]:
    """Every row of an SFT file (JSONL, JSON, Parquet or a datasets folder) as samples; bad rows are an error."""
    samples, problems = [], []
    for number, row in read_rows(path):
        if not isinstance(row, dict):
            field, message = getattr(row, "field", "row"), getattr(row, "message", "expected an object")
            problems.append(RowProblem(str(path), number, field, message))
            continue
        try:
            samples.append(to_sample(row, number))
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            problems.append(RowProblem(str(path), number, "row", f"not an SFT sample: {exc}"))
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise InputError("; ".join(map(str, problems[:3])) + more)
    return samples
