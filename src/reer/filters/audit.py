"""``reer filter FILE``: the post-filters on a reasoning dataset reer did not make.

Any SFT file reer reads (JSONL, JSON, Parquet or a ``datasets`` folder; the chat, ShareGPT, Alpaca, verl and
records shapes, and DeepWriting-20K's published ``prompt``/``solution``-with-``<think>``) goes through the same
checks as a run's trajectories. The kept rows are written back untouched in the input's own format, the dropped
ones beside them with their reasons, and the quality of the kept thinking as JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reer.config import FilterConfig
from reer.filters.checks import Thinking
from reer.filters.quality import QualityTally
from reer.filters.run import FilterReport, judged, new_report
from reer.language import prompt_language
from reer.records.formats import chat, to_sample
from reer.records.rows import RowProblem, jsonl_lines, read_rows

_UNCLOSED = re.compile(r"^\s*<think>\n?(.*)$", re.DOTALL)


@dataclass
class AuditResult:
    report: FilterReport
    problems: list[RowProblem] = field(default_factory=list)
    kept: Path | None = None  # the kept rows, in the input's format
    dropped: Path | None = None  # one JSON line per dropped or unreadable row, with its reasons
    quality: Path | None = None


def audit_dataset(path: Path, config: FilterConfig, output: Path | None = None) -> AuditResult:
    """Judge every row of ``path``; with ``output``, write the kept rows, the dropped ones and the quality."""
    report = new_report()
    problems: list[RowProblem] = []
    subjects: list[tuple[tuple[str, int], Thinking]] = []
    for number, row in read_rows(path):
        try:
            subjects.append(_subject(row, number))
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            field_name = getattr(row, "field", "row")
            message = getattr(row, "message", None) or f"not an SFT sample with thinking: {exc}"
            problems.append(RowProblem(str(path), number, field_name, message))
    tally = QualityTally(config.repetition_limits)
    verdicts = judged(subjects, config, report, tally)
    kept_lines = [number for ((_, number), _), kept in zip(subjects, verdicts, strict=True) if kept]
    report.quality = tally.summary()
    result = AuditResult(report, problems)
    if output is not None:
        _write(path, output, kept_lines, result)
    return result


def _subject(row: Any, number: int) -> tuple[tuple[str, int], Thinking]:
    """One row's key — its id and line number, so rows that share an id stay apart — and what the checks read
    of it. Thinking that opens ``<think>`` and never closes it ran out: it is truncated."""
    if not isinstance(row, dict):
        raise TypeError("expected an object")
    sample = to_sample(row, number)
    language = prompt_language(sample.prompt)
    if not sample.thinking and (unclosed := _UNCLOSED.match(chat(row)[-1]["content"])):
        return (sample.id, number), Thinking("", unclosed.group(1).strip(), language, ran_out=True)
    return (sample.id, number), Thinking(sample.answer, sample.thinking, language)


def _write(source: Path, output: Path, kept_lines: list[int], result: AuditResult) -> None:
    output.mkdir(parents=True, exist_ok=True)
    result.kept = _write_kept(source, output, kept_lines)
    result.dropped = output / "dropped.jsonl"
    with result.dropped.open("w", encoding="utf-8") as out:
        for (row_id, line), reasons in sorted(result.report.drops.items(), key=lambda d: d[0][1]):
            out.write(json.dumps({"line": line, "id": row_id, "reasons": reasons}, ensure_ascii=False) + "\n")
        for problem in result.problems:
            unreadable = {"unreadable": f"{problem.field}: {problem.message}"}
            out.write(json.dumps({"line": problem.line, "id": None, "reasons": unreadable}, ensure_ascii=False) + "\n")
    result.quality = output / "quality.json"
    result.quality.write_text(json.dumps(result.report.quality, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_kept(source: Path, output: Path, kept_lines: list[int]) -> Path:
    """The kept rows as they were, in the source's format: JSONL lines verbatim, Parquet and ``datasets``
    rows taken from the source table (its schema and types untouched)."""
    if source.is_dir():
        from datasets import DatasetDict, load_from_disk

        data = load_from_disk(str(source))
        if isinstance(data, DatasetDict):
            data = data["train" if "train" in data else next(iter(data))]
        target = output / "kept"
        data.select([line - 1 for line in kept_lines]).save_to_disk(str(target))
        return target
    suffix = source.suffix.lower()
    target = output / f"kept{suffix}"
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(pq.read_table(source).take([line - 1 for line in kept_lines]), target)
    elif suffix == ".json":
        rows = json.loads(source.read_bytes().decode("utf-8-sig"))
        target.write_text(json.dumps([rows[line - 1] for line in kept_lines], ensure_ascii=False, indent=1) + "\n")
    else:
        lines = jsonl_lines(source)
        target.write_bytes(b"".join(lines[line - 1].rstrip(b"\r") + b"\n" for line in kept_lines))
    return target
