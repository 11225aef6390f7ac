"""`reer filter FILE`: the same checks on a reasoning dataset reer did not make, in every shape it reads."""

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reer.records.formats import WRITERS, read_samples
from reer.records.sample import SftSample

CORPUS = json.loads((Path(__file__).parent / "data" / "traces" / "corpus.json").read_text(encoding="utf-8"))
ANSWER = "The keeper lit the lamp at dusk, as he had for thirty years, and waited for the boat that never came."
SOUND = [r for r in CORPUS if r["kind"] == "sound"][::6]  # two English, two Chinese
LOOPS = [r for r in CORPUS if r["kind"] == "degenerate"][::6]


def samples() -> list[SftSample]:
    rows = SOUND + LOOPS
    query = {"en": "Write a short story about a lighthouse keeper.", "zh": "写一篇关于灯塔看守人的短篇小说。"}
    source = {"dataset": "tests/corpus", "licence": "CC0-1.0"}
    return [SftSample(r["id"], query[r["language"]], r["text"], ANSWER, None, source) for r in rows]


def reer(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reer", *args], capture_output=True, text=True, timeout=300)


def write(tmp_path: Path, fmt: str, container: str) -> Path:
    rows = [WRITERS[fmt](s) for s in samples()]
    if container == "jsonl":
        path = tmp_path / "data.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    elif container == "json":
        path = tmp_path / "data.json"
        path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    elif container == "parquet":
        path = tmp_path / "data.parquet"
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        from datasets import Dataset

        path = tmp_path / "data-folder"
        Dataset.from_list(rows).save_to_disk(str(path))
    return path


SHAPES = [
    ("deepwriting", "jsonl"),  # DeepWriting-20K's published prompt / solution-with-<think>
    ("messages", "jsonl"),  # reasoning_content beside the answer
    ("messages-inline", "json"),
    ("sharegpt", "parquet"),
    ("alpaca", "jsonl"),
    ("verl", "parquet"),
    ("messages-inline", "datasets"),
]


@pytest.mark.parametrize(("fmt", "container"), SHAPES, ids=[f"{f}-{c}" for f, c in SHAPES])
def test_a_dataset_is_audited_and_its_kept_rows_written_in_its_own_format(tmp_path, fmt, container):
    source = write(tmp_path, fmt, container)
    out = tmp_path / "audit"
    result = reer("filter", str(source), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "8 rows with thinking: 4 kept, 4 dropped" in result.stdout
    assert "gopher-repetition │ 4" in result.stdout and "characters in duplicate" in result.stdout
    kept = next(p for p in out.iterdir() if p.name.startswith("kept"))
    assert kept.suffix == source.suffix  # same container (a datasets folder stays a folder)
    assert [s.id for s in read_samples(kept)] == [r["id"] for r in SOUND]
    if container == "parquet":  # rows taken from the source table: the schema is untouched
        assert pq.read_schema(kept) == pq.read_schema(source)
    dropped = [json.loads(line) for line in (out / "dropped.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [d["id"] for d in dropped] == [r["id"] for r in LOOPS]
    assert all("gopher-repetition" in d["reasons"] and d["line"] >= 5 for d in dropped)
    quality = json.loads((out / "quality.json").read_text(encoding="utf-8"))
    assert quality["samples"] == 4 and quality["languages"] == {"en": 2, "zh": 2}


def test_unreadable_rows_are_named_and_kept_apart_and_unclosed_thinking_is_truncated(tmp_path):
    source = write(tmp_path, "deepwriting", "jsonl")
    unclosed = {"index": "cut", "prompt": "Write a poem.", "solution": "<think>\nI begin to plan " + "a poem " * 60}
    with source.open("a", encoding="utf-8") as f:
        f.write('{"index": "broken", "prompt": \n')
        f.write(json.dumps({"index": "no-thinking-field", "text": "just text"}) + "\n")
        f.write(json.dumps(unclosed) + "\n")
    out = tmp_path / "audit"
    result = reer("filter", str(source), "-o", str(out))
    assert result.returncode == 3  # finished, with problems
    assert f"{source}:9: row: not valid JSON" in result.stderr.replace("\n", "")
    assert f"{source}:10: row: not an SFT sample" in result.stderr.replace("\n", "")
    dropped = {d["line"]: d for d in map(json.loads, (out / "dropped.jsonl").read_text().splitlines())}
    assert dropped[11]["reasons"]["truncated"].startswith("no </think>")
    assert set(dropped[9]["reasons"]) == set(dropped[10]["reasons"]) == {"unreadable"}
    assert len((out / "kept.jsonl").read_text().splitlines()) == 4


def test_output_is_refused_for_a_run_directory(tmp_path):
    from tests.conftest import LONG_REFERENCE, fake_run

    run = fake_run(tmp_path, [{"id": "a", "query": "Write about a keeper.", "reference": LONG_REFERENCE}])
    result = reer("filter", str(run), "-o", str(tmp_path / "x"))
    assert result.returncode != 0 and "reer export" in result.stderr
    assert not (tmp_path / "x").exists()
    assert "1 finished trajectories: 1 kept" in reer("filter", str(run)).stdout
