"""HelloBench's own GPT-4o judgements, aggregated by reer and by the official aggregation code, side by side.

    python -m bench.hellobench_official HELLOBENCH_REPO [--markdown]

HELLOBENCH_REPO is a copy of github.com/Quehry/HelloBench (its ``results/judgements/main_exp/`` holds the
judgements of 23 models, ``data/main_data/`` the items and ``weighted_scores.txt`` the weights). The official
aggregation is OpenCompass's HelloBench port (``opencompass==0.5.4``, ``datasets/subjective/hellobench.py``:
``post_process_hellobench`` and ``get_judgeanswer``); its wheel is downloaded with pip and those two functions
and its ``REGRESSION_DICT`` are compiled from its source and run as they are. Both read the same verdict texts.
Every item's score must agree to 1e-9; the table prints each model's subset means on both scales.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from reer.eval.benchmarks import BENCHMARKS, Selection
from reer.eval.benchmarks.base import JudgeTask
from reer.eval.benchmarks.hellobench import CREATIVE, SUBSETS

OPENCOMPASS = "opencompass==0.5.4"
PORT = "opencompass/datasets/subjective/hellobench.py"


def official_functions() -> dict[str, Any]:
    """OpenCompass's aggregation, compiled from its released source (decorators dropped: they only register)."""
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", folder, OPENCOMPASS], check=True
        )
        (wheel,) = Path(folder).glob("*.whl")
        source = zipfile.ZipFile(wheel).read(PORT).decode("utf-8")
    tree = ast.parse(source)
    wanted = {"REGRESSION_DICT", "post_process_hellobench", "get_judgeanswer"}
    body = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in wanted:
            node.decorator_list = []
            body.append(node)
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", None) in wanted for t in node.targets):
            body.append(node)
    namespace: dict[str, Any] = {"json": json, "np": np}
    exec(compile(ast.Module(body=body, type_ignores=[]), PORT, "exec"), namespace)  # noqa: S102 (their code)
    return namespace


def compare(repo: Path) -> list[dict[str, Any]]:
    """Per model: reer's and the official subset means (raw and rescaled); raises on any item that differs."""
    official = official_functions()
    bench = BENCHMARKS["hellobench"]
    files = bench.official(repo)
    assert official["REGRESSION_DICT"] == files.values["weights"], "OpenCompass's weights differ from the repository's"
    items = {item.id: item for item in bench.load(repo, Selection())}
    present = {item.group for item in items.values()}  # the repository's summarization.jsonl is not in every copy
    rows = []
    for model_dir in sorted((repo / "results" / "judgements" / "main_exp").iterdir()):
        row: dict[str, Any] = {"model": model_dir.name}
        for subset in SUBSETS:
            path = model_dir / f"{subset}_results.jsonl"
            if path.is_file() and subset in present:
                row[subset] = _subset(path, items, bench, files, official)
        rows.append(row)
    return rows


def _subset(path: Path, items: dict, bench: Any, files: Any, official: dict[str, Any]) -> dict[str, Any]:
    judged: dict[str, Any] = {}
    ours: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        item = items[record["id"]]
        verdict = record["checklist_wise_evaluation"]
        entries = ast.literal_eval(verdict) if isinstance(verdict, str) else verdict
        text = json.dumps(entries, ensure_ascii=False)  # the verdict as a judge's JSON answer
        gold = {"subcategory": item.data["category"], "num_checklist": len(item.data["checklist"])}
        judged[record["id"]] = {"prediction": text, "gold": gold}
        task = JudgeTask("checklist", (), tuple(str(k) for k in range(len(item.data["checklist"]))))
        parsed = bench.parse(task, text).scores
        scores = bench.item_scores(item, "", {"checklist": parsed}, files)
        if scores["rescaled"] is not None:
            ours[record["id"]] = scores["rescaled"]
    theirs = official["get_judgeanswer"](judged, str(path), official["post_process_hellobench"])
    assert ours.keys() == theirs.keys(), f"{path}: scored items differ"
    worst = max((abs(ours[k] - theirs[k]) for k in ours), default=0.0)
    assert worst < 1e-9, f"{path}: an item differs by {worst}"
    rescaled = float(np.mean(list(ours.values()))) if ours else float("nan")
    return {
        "items": len(judged),
        "scored": len(ours),
        "rescaled": rescaled,
        "official_rescaled": float(np.mean(list(theirs.values()))) if theirs else float("nan"),
        "raw": rescaled / 4 + 75,
        "max_item_difference": worst,
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    header = "| model | " + " | ".join(f"{s} raw / (x−75)·4" for s in SUBSETS) + " | HB-B | HB-A | unscored |"
    lines = [header, "|---|" + "---|" * (len(SUBSETS) + 3)]
    for row in rows:
        cells = [f"{row[s]['raw']:.1f} / {row[s]['rescaled']:.1f}" if s in row else "—" for s in SUBSETS]
        others = [(row[s]["raw"], row[s]["scored"]) for s in SUBSETS if s in row and s != CREATIVE and row[s]["scored"]]
        pooled = sum(r * n for r, n in others) / sum(n for _, n in others)
        unscored = sum(row[s]["items"] - row[s]["scored"] for s in SUBSETS if s in row)
        tail = f" | {row[CREATIVE]['raw']:.1f} | {pooled:.1f} | {unscored} |"
        lines.append(f"| {row['model']} | " + " | ".join(cells) + tail)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", type=Path)
    args = parser.parse_args()
    rows = compare(args.repo)
    items = sum(row[s]["items"] for row in rows for s in SUBSETS if s in row)
    print(f"{len(rows)} models, {items} judged items: every item equal to the official aggregation (< 1e-9)\n")
    print(markdown(rows))


if __name__ == "__main__":
    main()
