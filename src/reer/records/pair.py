"""A (request, reference) pair, the input of every stage, and reading pairs from any input file.

Accepted row shapes (or any columns, named with a :class:`FieldMap`):

* ``id`` / ``query`` / ``reference`` (ours);
* ``index`` / ``question`` / ``solution``;
* ``prompt`` / ``solution`` where the solution holds ``<think>…</think>`` before the answer — only the
  answer is kept as the reference.

A malformed row is reported with file, line and field and skipped; the valid rows still load.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from reer.records.rows import RowProblem, Unparsable, read_rows


class Pair(BaseModel):
    id: str
    query: str
    reference: str
    source: dict[str, Any] = Field(default_factory=dict, description="Provenance: dataset, licence, …")


@dataclass(frozen=True)
class FieldMap:
    """Which columns hold the id, the request and the reference when a file uses names of its own.

    ``query=None`` with ``require_query=False`` reads reference-only texts, whose request is written later
    (reverse-engineered queries).
    """

    id: str | None = None
    query: str | None = None
    reference: str | None = None
    require_query: bool = True
    split: str | None = None

    @property
    def custom(self) -> bool:
        return any((self.id, self.query, self.reference)) or not self.require_query


@dataclass
class LoadResult:
    pairs: list[Pair] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)


_THINK = re.compile(r"^\s*<think>.*?</think>", re.DOTALL)
_ANSWER = re.compile(r"^\s*<answer>(.*)</answer>\s*$", re.DOTALL)


def load_pairs(path: Path, fields: FieldMap | None = None) -> LoadResult:
    """All valid pairs of a file, and a problem per malformed row."""
    fields = fields or FieldMap()
    result = LoadResult()
    seen: dict[str, int] = {}
    for line, row in read_rows(path, fields.split):
        try:
            pair = _mapped_pair(row, fields) if fields.custom else _to_pair(row)
        except _RowError as exc:
            result.problems.append(RowProblem(str(path), line, exc.field, exc.message))
            continue
        if pair.id in seen:
            message = f"duplicate id {pair.id!r} (first on line {seen[pair.id]}); row skipped"
            result.problems.append(RowProblem(str(path), line, "id", message))
            continue
        seen[pair.id] = line
        result.pairs.append(pair)
    return result


def write_pairs(pairs: Iterable[Pair], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for pair in pairs:
            out.write(pair.model_dump_json() + "\n")
            count += 1
    return count


class _RowError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _mapped_pair(row: Any, fields: FieldMap) -> Pair:
    """A row read through explicit column names; the query may be absent for reference-only texts."""
    row = _object(row)
    reference = _text(row, fields.reference or "reference")
    if fields.query is None and fields.require_query and row.get("query") is None:
        raise _RowError("query", "missing (map it with --query-field, or write requests with --reverse-query)")
    query = _text(row, fields.query or "query") if fields.query or fields.require_query else ""
    row_id = row.get(fields.id or "id")
    return Pair(id=_row_id(row_id, query, reference), query=query, reference=reference, source=_source(row))


def _object(row: Any) -> dict[str, Any]:
    if isinstance(row, Unparsable):
        raise _RowError(row.field, row.message)
    if not isinstance(row, dict):
        raise _RowError("row", f"expected an object, got {type(row).__name__}")
    return row


def _to_pair(row: Any) -> Pair:
    row = _object(row)
    if "query" in row or "reference" in row:
        query, reference = _text(row, "query"), _text(row, "reference")
        row_id = row.get("id")
    elif "question" in row:
        query, reference = _text(row, "question"), _answer_only(_text(row, "solution"), "solution")
        row_id = row.get("index", row.get("id"))
    elif "prompt" in row:
        query, reference = _text(row, "prompt"), _answer_only(_text(row, "solution"), "solution")
        row_id = row.get("id", row.get("index"))
    else:
        raise _RowError("query", "missing; expected id/query/reference, index/question/solution or prompt/solution")
    return Pair(id=_row_id(row_id, query, reference), query=query, reference=reference, source=_source(row))


MAX_ID_CHARS = 256


def _row_id(row_id: Any, query: str, reference: str) -> str:
    if row_id is None:
        return hashlib.sha1(f"{query}\x00{reference}".encode()).hexdigest()[:12]
    if not isinstance(row_id, str | int) or isinstance(row_id, bool):
        raise _RowError("id", f"must be a string or an integer, got {type(row_id).__name__}")
    text = str(row_id)
    if not text.strip() or len(text) > MAX_ID_CHARS:
        raise _RowError("id", f"must have 1 to {MAX_ID_CHARS} characters, has {len(text)}")
    if not text.isprintable():  # ids go into file names, logs and tables: no newlines or escape codes
        raise _RowError("id", "holds control or invisible characters (newlines, escape codes, bidi overrides)")
    return text


def _source(row: dict[str, Any]) -> dict[str, Any]:
    return row["source"] if isinstance(row.get("source"), dict) else {}


def _text(row: dict[str, Any], name: str) -> str:
    value = row.get(name)
    if value is None:
        raise _RowError(name, "missing")
    if not isinstance(value, str):
        raise _RowError(name, f"must be a string, got {type(value).__name__}")
    if not value.strip():
        raise _RowError(name, "empty")
    return value.strip()


def _answer_only(solution: str, name: str) -> str:
    """Drop a leading ``<think>…</think>`` block (and unwrap ``<answer>``) from a published solution."""
    if solution.lstrip().startswith("<think>") and "</think>" not in solution:
        raise _RowError(name, "has <think> but no </think>: cannot tell the answer from the thinking")
    answer = _THINK.sub("", solution, count=1)
    wrapped = _ANSWER.match(answer)
    answer = (wrapped.group(1) if wrapped else answer).strip()
    if not answer:
        raise _RowError(name, "holds no answer after the thinking block")
    return answer
