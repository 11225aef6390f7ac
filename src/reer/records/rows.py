"""Rows of an input file — JSONL, JSON, Parquet or a Hugging Face datasets folder — with their line numbers.

Every stage that reads user files (pairs, SFT sets, benchmark copies) reads them here, so a bad row is
always reported the same way: file, line, field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reer.errors import InputError


@dataclass(frozen=True)
class RowProblem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


def read_rows(path: Path, split: str | None = None) -> Iterator[tuple[int, Any]]:
    """(line or row number, raw row) for each row; unreadable files raise InputError."""
    if not path.exists():
        raise InputError(f"input file {path} does not exist")
    if path.is_dir():
        yield from _hf_rows(path, split)
        return
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from _parquet_rows(path)
    elif suffix == ".json":
        yield from _json_rows(path)
    elif suffix in {".jsonl", ".ndjson"}:
        yield from _jsonl_rows(path)
    else:
        raise InputError(f"{path}: unknown input format '{suffix}'; use .jsonl, .json, .parquet or a datasets folder")


class Unparsable:
    """A JSONL line that is not JSON; reported as a row problem, not a crash."""

    def __init__(self, message: str) -> None:
        self.message = message


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8") as lines:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            try:
                yield number, json.loads(text)
            except json.JSONDecodeError as exc:
                yield number, Unparsable(f"not valid JSON ({exc.msg} at column {exc.colno})")


def _json_rows(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
    if not isinstance(data, list):
        raise InputError(f"{path}: a .json input must hold a list of rows")
    yield from enumerate(data, start=1)


def _parquet_rows(path: Path) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise InputError(f"{path}: cannot read Parquet: {exc}") from exc
    yield from enumerate(table.to_pylist(), start=1)


def _hf_rows(path: Path, split: str | None) -> Iterator[tuple[int, Any]]:
    """Rows of a folder written by ``datasets``' ``save_to_disk`` (a Dataset, or one split of a DatasetDict)."""
    from datasets import DatasetDict, load_from_disk

    try:
        data = load_from_disk(str(path))
    except FileNotFoundError as exc:
        raise InputError(f"{path}: not a folder written by datasets' save_to_disk ({exc})") from exc
    if isinstance(data, DatasetDict):
        split = split or ("train" if "train" in data else None)
        if split not in data:
            raise InputError(f"{path}: choose a split with --split; it has: {', '.join(data)}")
        data = data[split]
    yield from enumerate(data, start=1)
