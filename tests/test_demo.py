"""The README's main command, for real: `reer demo` on real Arena-Hard pairs with the embedded model."""

import json

from reer.data.pairs import load_pairs
from reer.export import read_samples
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
    assert {s.id for s in samples} <= {row["id"] for row in rows}
    card = (out / "dataset" / "README.md").read_text()
    assert f"| REER samples | {len(samples)} |" in card and "the thinking survived" in card
    assert "Made with reer " in card and "https://github.com/)" not in card
    assert "cannot write thinking that passes the paper's filters" in result.stdout
    assert "search records:" in result.stdout and "SFT dataset:" in result.stdout and "reer status" in result.stdout
