"""The README's main command, for real: `reer demo` on real Arena-Hard pairs with the embedded model."""

import json
import subprocess
import sys

from reer.config import gopher_limits
from reer.demo import demo_config
from reer.export import read_samples
from reer.filters import failed_checks
from reer.filters.checks import Thinking
from reer.filters.repetition import exceeded, repetition_measures
from reer.records.pair import load_pairs
from tests.conftest import needs_embedded, needs_eval_framework


@needs_embedded
@needs_eval_framework
def test_demo_runs_end_to_end(demo_run):
    out, result = demo_run
    assert result.returncode == 0, result.stderr
    assert len(load_pairs(out / "pairs.jsonl").pairs) == 4
    rows = [json.loads(line) for line in (out / "records" / "train.jsonl").read_text().splitlines()]
    assert rows, "every demo item was rejected"
    for row in rows:
        assert row["thinking"] and row["final_score"] <= row["initial_score"]  # the search never accepts worse
    assert any(row["final_score"] < row["initial_score"] for row in rows), "no item improved"
    samples = read_samples(out / "dataset" / "train.jsonl")
    by_id = {row["id"]: row for row in rows}
    assert {s.id for s in samples} <= set(by_id)
    filters = demo_config().filters
    for sample in samples:  # what a user trains on: thinking that passes every check, then the reference
        assert len(sample.thinking.split()) >= 80 and sample.answer == by_id[sample.id]["reference"]
        assert failed_checks(Thinking(sample.answer, sample.thinking, "en"), filters) == {}, sample.id
        assert not exceeded(repetition_measures(sample.thinking), gopher_limits()), sample.id
    if not samples:  # SmolLM2 may yield only degenerate thinking: then the demo says so, with the counts
        assert "No thinking passed every check (" in result.stdout
    audit = subprocess.run(  # the same verdict from `reer filter` on the exported file
        [sys.executable, "-m", "reer", "filter", str(out / "dataset" / "train.jsonl")], capture_output=True, text=True
    )
    assert audit.returncode == 0 and f"{len(samples)} kept, 0 dropped" in audit.stdout, audit.stdout + audit.stderr
    assert "gopher-repetition" in result.stdout  # the per-check table ends the search
    card = (out / "dataset" / "README.md").read_text()
    assert f"| REER samples | {len(samples)} |" in card and "the thinking survived" in card
    assert "Made with reer " in card and "https://github.com/)" not in card
    assert f"| finished trajectories | {len(rows)} |" in card
    assert len(rows) == 4 or "| trajectories in the run | 4 |" in card  # rejected items are counted too
    assert (not samples or "language:\n- en\n" in card) and "Truncated thinking kept" in card
    assert "Thinking gain" in card and "no-gain" in result.stdout  # measured on every finished trajectory
    assert "**Loop control at generation**: `frequency_penalty` 0.5" in card
    assert not samples or ("| arena-hard-v2.0" in card and "## Quality of the thinking" in card)
    assert "never closes its thinking" in result.stdout and "Real data needs a capable generator" in result.stdout
    assert "search records:" in result.stdout and "SFT dataset:" in result.stdout and "reer status" in result.stdout
    report = (out / "report.html").read_text(encoding="utf-8")  # what `make demo` shows (opened in test_report)
    assert "report: " in result.stdout and '<script type="application/json" id="reer-overview">' in report
    assert report.count('type="application/gzip-base64" id="item-') == 4  # every trajectory's page
