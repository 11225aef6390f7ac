"""Rows of an input file — JSONL, JSON, Parquet or a Hugging Face datasets folder — with their line numbers.

Every stage that reads user files (pairs, SFT sets, benchmark copies) reads them here, so a bad row is
always reported the same way: file, line, field.
"""

from __future__ import annotations

import codecs
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
    """A JSONL line that cannot be read (not UTF-8, not JSON, not valid Unicode); a row problem, not a crash."""

    def __init__(self, message: str, field: str = "row") -> None:
        self.message, self.field = message, field


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """Each line decoded and parsed on its own: an undecodable or unparsable line is that row's problem.
    A UTF-8 byte-order mark is ignored; a file with a UTF-16 one is read as UTF-16."""
    for number, raw in enumerate(jsonl_lines(path), start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield number, Unparsable(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1})")
            continue
        yield number, parse_json(text)


def jsonl_lines(path: Path) -> list[bytes]:
    """The raw lines of a JSONL file, as UTF-8 bytes (a UTF-16 file converted, a byte-order mark dropped):
    line ``k`` of the file is item ``k - 1``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            data = data.decode("utf-16").encode("utf-8", "surrogatepass")
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: starts like UTF-16 but is not ({exc.reason}); save it as UTF-8") from exc
    return data.removeprefix(codecs.BOM_UTF8).split(b"\n")


def parse_json(text: str) -> Any:
    """A JSON value whose every string is valid Unicode, or :class:`Unparsable` saying what is wrong."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return Unparsable(f"not valid JSON ({exc.msg} at column {exc.colno})")
    except RecursionError:
        return Unparsable("not usable JSON (nested too deeply)")
    except ValueError:  # an integer beyond Python's 4,300-digit conversion limit
        return Unparsable("not usable JSON (a number with more than 4,300 digits)")
    if (where := _invalid_unicode(value)) is not None:
        return Unparsable("a lone surrogate (an escape like \\ud800): not valid Unicode", where or "row")
    return value


def _invalid_unicode(value: Any, where: str = "") -> str | None:
    """Where in ``value`` a string cannot be encoded as UTF-8 (a lone surrogate), or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where
        return None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        name = f"{where}.{key}" if where else str(key)
        if isinstance(key, str) and _invalid_unicode(key, name) is not None:
            return name
        if (found := _invalid_unicode(item, name)) is not None:
            return found
    return None


def _json_rows(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not valid UTF-8 at byte {exc.start + 1}; a .json input is read whole") from exc
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    data = parse_json(text)
    if isinstance(data, Unparsable):
        raise InputError(f"{path}: {data.message}; a .json input is read whole (JSONL reads rows one by one)")
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
