"""The README's main command, for real: `reer demo` on real Arena-Hard pairs with the embedded model."""

import json

from reer.export import read_samples
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
    assert samples, "the demo's SFT dataset is empty"
    by_id = {row["id"]: row for row in rows}
    assert {s.id for s in samples} <= set(by_id)
    for sample in samples:  # what a user trains on: real thinking, then the reference as the answer
        assert len(sample.thinking.split()) >= 80 and sample.answer == by_id[sample.id]["reference"]
    card = (out / "dataset" / "README.md").read_text()
    assert f"| REER samples | {len(samples)} |" in card and "the thinking survived" in card
    assert "Made with reer " in card and "https://github.com/)" not in card
    assert f"| finished trajectories | {len(rows)} |" in card
    assert len(rows) == 4 or "| trajectories in the run | 4 |" in card  # rejected items are counted too
    assert "language:\n- en\n" in card and "| arena-hard-v2.0" in card and "Truncated thinking kept" in card
    assert "never closes its thinking" in result.stdout
    assert "search records:" in result.stdout and "SFT dataset:" in result.stdout and "reer status" in result.stdout
    report = (out / "report.html").read_text(encoding="utf-8")  # what `make demo` shows (opened in test_report)
    assert "report: " in result.stdout and '<script type="application/json" id="reer-overview">' in report
    assert report.count('type="application/gzip-base64" id="item-') == 4  # every trajectory's page
