"""`reer eval` folders and `reer experiment` comparisons, read into documents for the report's pages.

An evaluation's numbers come from its ``results.json`` (the typed :class:`EvalResults`), its answers and the
judge's verdicts from its ``eval.sqlite``, opened read-only. An experiment contributes its ablation table
and, as evaluations of their own, every arm's ``eval`` folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reer.errors import ReerError
from reer.eval.report import RESULTS_JSON
from reer.eval.results import EvalResults
from reer.experiment import Ablation
from reer.store.eval_store import EvalStore


def eval_document(eval_dir: Path, name: str | None = None) -> dict[str, Any]:
    """One evaluation: headlines with intervals, per-group estimates, thinking statistics, and every
    answer with the judge's verdicts."""
    results = _load(eval_dir / RESULTS_JSON, EvalResults, "`reer eval`")
    store = EvalStore.reading(eval_dir)
    try:
        benchmarks = {}
        for bench_name, bench in results.benchmarks.items():
            answers = store.answers(bench_name)
            verdicts: dict[str, list[dict[str, Any]]] = {}  # item → its verdicts, by part: one pass, one sort
            for (item_id, _), saved in sorted(store.scores(bench_name).items()):
                verdicts.setdefault(item_id, []).append(
                    {"part": saved.part, "scores": saved.scores, "raws": saved.raws}
                )
            rows = []
            for item in bench.per_item:
                answer = answers.get(item.id)
                rows.append(
                    item.model_dump()
                    | {
                        "thinking": answer.thinking if answer else "",
                        "answer": answer.answer if answer else "",
                        "verdicts": verdicts.get(item.id, []),
                    }
                )
            benchmarks[bench_name] = bench.model_dump(exclude={"per_item"}) | {"per_item": rows}
    finally:
        store.close()
    return {
        "name": name or eval_dir.resolve().name,
        "model": results.model,
        "judge": results.judge,
        "smoke_test_only": results.smoke_test_only,
        "created": results.created,
        "confidence": results.confidence,
        "benchmarks": benchmarks,
        "likelihood": results.likelihood.model_dump() if results.likelihood else None,
    }


def experiment_documents(experiment_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ablation table, and the evaluation of every arm that has one (named ``arm: <arm>``)."""
    table = _load(experiment_dir / "ablation.json", Ablation, "`reer experiment`")
    evaluations = [
        eval_document(experiment_dir / "arms" / arm / "eval", f"arm: {arm}")
        for arm in table.arms
        if (experiment_dir / "arms" / arm / "eval" / RESULTS_JSON).is_file()
    ]
    return table.model_dump() | {"name": experiment_dir.resolve().name}, evaluations


def _load(path: Path, model: Any, made_by: str) -> Any:
    if not path.is_file():
        raise ReerError(f"{path.parent} is not a {made_by} folder: {path.name} is missing")
    try:
        return model.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise ReerError(f"{path}: {f'field {where}: ' if where else ''}{problem['msg']}") from exc


def extra_documents(evals: list[Path], experiments: list[Path]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(evaluations, experiments) for the report: the folders given, then every experiment's arms."""
    evaluations = [eval_document(path) for path in evals]
    tables = []
    for path in experiments:
        table, arms = experiment_documents(path)
        tables.append(table)
        evaluations += arms
    return evaluations, tables


def contents(evaluations: list[dict[str, Any]], experiments: list[dict[str, Any]]) -> dict[str, Any]:
    """What the overview lists of them (the documents themselves load when their page opens)."""
    return {
        "evaluations": [{"name": e["name"], "model": e["model"]} for e in evaluations],
        "experiments": [{"name": t["name"]} for t in experiments],
    }
