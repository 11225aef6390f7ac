import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reer.errors import InputError
from reer.records.pair import FieldMap, load_pairs


def _jsonl(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_our_shape_and_published_shapes(tmp_path):
    path = _jsonl(
        tmp_path / "p.jsonl",
        [
            {"id": "a", "query": "Q1", "reference": "R1"},
            {"index": 7, "question": "Q2", "solution": "R2"},
            {"prompt": "Q3", "solution": "<think>\nplanning here\n</think>\n\nThe answer."},
            {"prompt": "Q4", "solution": "<think>x</think><answer>\nWrapped.\n</answer>"},
        ],
    )
    result = load_pairs(path)
    assert result.problems == []
    assert [(p.id, p.query, p.reference) for p in result.pairs[:2]] == [("a", "Q1", "R1"), ("7", "Q2", "R2")]
    assert result.pairs[2].reference == "The answer."
    assert result.pairs[3].reference == "Wrapped."
    assert len(result.pairs[2].id) == 12  # content hash when the row has no id


def test_malformed_rows_are_reported_with_line_and_field_and_valid_rows_still_load(tmp_path):
    path = _jsonl(
        tmp_path / "p.jsonl",
        [
            {"id": "ok1", "query": "Q", "reference": "R"},
            "{not json",
            {"id": "no-ref", "query": "Q"},
            {"id": "bad-type", "query": 5, "reference": "R"},
            {"id": "empty", "query": "  ", "reference": "R"},
            {"id": "ok1", "query": "Q again", "reference": "R"},
            {"prompt": "Q", "solution": "<think>never closed"},
            {"something": "else"},
            [1, 2],
            {"id": "ok2", "query": "Q", "reference": "R"},
        ],
    )
    result = load_pairs(path)
    assert [p.id for p in result.pairs] == ["ok1", "ok2"]
    found = {(pr.line, pr.field) for pr in result.problems}
    assert found == {
        (2, "row"),
        (3, "reference"),
        (4, "query"),
        (5, "query"),
        (6, "id"),
        (7, "solution"),
        (8, "query"),
        (9, "row"),
    }
    assert str(result.problems[0]).startswith(f"{path}:2: row: not valid JSON")


def test_json_list_and_parquet(tmp_path):
    rows = [{"id": "a", "query": "Q", "reference": "R"}, {"id": "b", "query": "Q", "reference": None}]
    (tmp_path / "p.json").write_text(json.dumps(rows))
    result = load_pairs(tmp_path / "p.json")
    assert [p.id for p in result.pairs] == ["a"] and result.problems[0].line == 2
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "p.parquet")
    result = load_pairs(tmp_path / "p.parquet")
    assert [p.id for p in result.pairs] == ["a"] and (result.problems[0].line, result.problems[0].field) == (
        2,
        "reference",
    )


def test_unreadable_files_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_pairs(tmp_path / "missing.jsonl")
    (tmp_path / "p.csv").write_text("a,b")
    with pytest.raises(InputError, match="unknown input format"):
        load_pairs(tmp_path / "p.csv")
    (tmp_path / "p.json").write_text('{"id": 1}')
    with pytest.raises(InputError, match="list of rows"):
        load_pairs(tmp_path / "p.json")


def test_field_mapping_and_reference_only_texts(tmp_path):
    path = _jsonl(
        tmp_path / "custom.jsonl",
        [
            {"uid": "u1", "instruction": "Write a haiku.", "output": "Old pond, frog jumps in"},
            {"uid": "u2", "instruction": "Write a limerick."},
        ],
    )
    fields = FieldMap(id="uid", query="instruction", reference="output")
    result = load_pairs(path, fields)
    assert [(p.id, p.query, p.reference) for p in result.pairs] == [("u1", "Write a haiku.", "Old pond, frog jumps in")]
    assert [str(p) for p in result.problems] == [f"{path}:2: output: missing"]
    texts = load_pairs(path, FieldMap(reference="instruction", require_query=False))
    assert [(p.query, p.reference) for p in texts.pairs] == [("", "Write a haiku."), ("", "Write a limerick.")]
    unmapped = load_pairs(path, FieldMap(reference="output"))
    assert unmapped.problems[0].field == "query"


def test_hugging_face_datasets_folder(tmp_path):
    from datasets import Dataset, DatasetDict

    rows = {"prompt_text": ["Write a poem.", "Write a story."], "answer": ["Roses.", "Once upon a time."]}
    Dataset.from_dict(rows).save_to_disk(tmp_path / "single")
    fields = FieldMap(query="prompt_text", reference="answer")
    assert [p.reference for p in load_pairs(tmp_path / "single", fields).pairs] == ["Roses.", "Once upon a time."]
    DatasetDict({"train": Dataset.from_dict(rows), "test": Dataset.from_dict(rows).select([1])}).save_to_disk(
        tmp_path / "dict"
    )
    assert len(load_pairs(tmp_path / "dict", fields).pairs) == 2
    test_split = FieldMap(query="prompt_text", reference="answer", split="test")
    assert [p.query for p in load_pairs(tmp_path / "dict", test_split).pairs] == ["Write a story."]
    with pytest.raises(InputError, match="choose a split with --split; it has: train, test"):
        load_pairs(tmp_path / "dict", FieldMap(query="prompt_text", reference="answer", split="validation"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a folder written by datasets"):
        load_pairs(tmp_path / "empty")
