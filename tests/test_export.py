"""SFT export: every format written and read back, verl Parquet, mixing, the dataset card, template checks."""

import json

import pyarrow.parquet as pq
import pytest

from reer.config import FilterConfig, ModelConfig, ReerConfig, SearchConfig
from reer.errors import ReerError, TemplateError
from reer.export import FORMATS, export_dataset, read_samples
from reer.records import Pair
from reer.search.runner import synthesize
from reer.store import RunStore
from tests.conftest import LONG_REFERENCE, needs_embedded

SFT_FORMATS = [f for f in FORMATS if f != "records"]
STRIPPING_TEMPLATE = (
    "{% for message in messages %}{% set content = message['content'] %}"
    "{% if message['role'] == 'assistant' and '</think>' in content %}"
    "{% set content = content.split('</think>')[-1].lstrip() %}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + content + '<|im_end|>\\n' }}{% endfor %}"
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    source = {"dataset": "unit/keeper", "licence": "cc-by-nc-4.0 (non-commercial)"}
    pairs = [
        Pair(
            id=f"item-{i}",
            query=f"Write story {i} about a lonely lighthouse keeper.",
            reference=LONG_REFERENCE,
            source=source,
        )
        for i in range(4)
    ]
    config = ReerConfig(generator=ModelConfig(backend="fake"), search=SearchConfig(max_steps=2, stop_threshold=0))
    synthesize(pairs, root / "run", config)
    return root / "run"


def finished(run_dir):
    store = RunStore.open_existing(run_dir)
    try:
        return {pair.id: (pair, t) for pair, t in store.finished()}
    finally:
        store.close()


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_reloads_to_the_same_samples(run_dir, tmp_path, fmt):
    result = export_dataset(run_dir, tmp_path / fmt, fmt, filters=FilterConfig())
    assert result.path.name == ("train.parquet" if fmt == "verl" else "train.jsonl")
    samples = read_samples(result.path)
    truth = finished(run_dir)
    assert result.rows == len(samples) == len(truth) == 4
    for sample in samples:
        pair, t = truth[sample.id]
        assert (sample.prompt, sample.thinking, sample.answer) == (pair.query, t.final_trace.strip(), pair.reference)
        assert sample.source["dataset"] == "unit/keeper"
    manifest = json.loads((tmp_path / fmt / "export.json").read_text())
    quality = manifest.pop("quality")
    assert manifest == {"format": fmt, "rows": 4, "reer_samples": 4, "mixed": 0}
    assert quality["samples"] == 4 and sum(quality["languages"].values()) == 4


def test_format_shapes(run_dir, tmp_path):
    rows = {}
    for fmt in ("messages", "messages-inline", "sharegpt", "alpaca", "deepwriting"):
        path = export_dataset(run_dir, tmp_path / fmt, fmt, filters=None).path
        rows[fmt] = json.loads(path.read_text().splitlines()[0])
    assistant = rows["messages"]["messages"][-1]
    assert set(assistant) == {"role", "reasoning_content", "content"} and "<think>" not in assistant["content"]
    inline = rows["messages-inline"]["messages"][-1]["content"]
    assert inline.startswith("<think>\n") and "\n</think>\n\n" in inline and inline.endswith(LONG_REFERENCE)
    assert [t["from"] for t in rows["sharegpt"]["conversations"]] == ["human", "gpt"]
    assert rows["alpaca"]["output"] == inline and rows["alpaca"]["input"] == ""
    assert set(rows["deepwriting"]) >= {"index", "prompt", "solution"} and rows["deepwriting"]["solution"] == inline
    table = pq.read_table(export_dataset(run_dir, tmp_path / "verl", "verl", filters=None).path)
    assert {"data_source", "prompt", "question", "answer", "messages", "ability", "extra_info"} <= set(
        table.column_names
    )
    first = table.to_pylist()[0]
    assert first["prompt"] == [{"role": "user", "content": first["question"]}] and first["answer"] == inline


def test_filtered_trajectories_are_not_exported_and_the_card_says_why(run_dir, tmp_path):
    strict = FilterConfig(min_thinking_units=10_000)
    result = export_dataset(run_dir, tmp_path / "none", "messages-inline", filters=strict)
    assert result.rows == 0 and result.filters.reasons["too-short"] == 4
    card = (tmp_path / "none" / "README.md").read_text()
    assert "| too-short | 4 |" in card and "| dropped by filters | 4 |" in card
    result = export_dataset(run_dir, tmp_path / "all", "messages-inline", filters=FilterConfig())
    card = (tmp_path / "all" / "README.md").read_text()
    assert "license: other" in card  # a licence with details is not a Hub licence id
    assert "| unit/keeper | cc-by-nc-4.0 (non-commercial) | 4 |" in card and "Non-commercial data inside" in card
    assert "## Score distribution" in card and '"max_steps": 2' in card and "| rows in train.jsonl | 4 |" in card
    assert "Truncated thinking kept" not in card
    export_dataset(run_dir, tmp_path / "kept", "messages-inline", filters=FilterConfig(keep_truncated=True))
    assert "Truncated thinking kept" in (tmp_path / "kept" / "README.md").read_text()


def test_mixing_adds_samples_at_the_ratio_with_provenance(run_dir, tmp_path):
    other = tmp_path / "public.jsonl"
    rows = [
        {"instruction": f"Solve {i} + {i}.", "input": "", "output": f"<think>\n{i} plus {i}\n</think>\n\n{2 * i}"}
        for i in range(10)
    ]
    other.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = export_dataset(run_dir, tmp_path / "mixed", "sharegpt", filters=None, mix=other, mix_ratio=0.5, seed=3)
    samples = read_samples(result.path)
    assert (result.reer_samples, result.mixed, len(samples)) == (4, 2, 6)
    mixed = [s for s in samples if s.id.startswith("mix-")]
    assert len(mixed) == 2 and all(s.source["mixed_from"] == str(other) for s in mixed)
    assert all(s.answer == str(2 * int(s.prompt.split()[1])) and s.thinking for s in mixed)
    again = export_dataset(run_dir, tmp_path / "mixed2", "sharegpt", filters=None, mix=other, mix_ratio=0.5, seed=3)
    assert again.path.read_text() == result.path.read_text()
    everything = export_dataset(run_dir, tmp_path / "all", "alpaca", filters=None, mix=other, mix_ratio=5)
    assert everything.mixed == 10 and "fewer than the ratio" in (tmp_path / "all" / "README.md").read_text()
    with pytest.raises(ReerError, match="records"):
        export_dataset(run_dir, tmp_path / "rec", "records", filters=None, mix=other)


def test_a_bad_mix_file_names_file_and_line(run_dir, tmp_path):
    other = tmp_path / "bad.jsonl"
    other.write_text('{"instruction": "a", "output": "b"}\n{"text": "no shape"}\nnot json\n')
    with pytest.raises(ReerError, match=r"bad.jsonl:2: row: not an SFT sample.*bad.jsonl:3: row: not valid JSON"):
        export_dataset(run_dir, tmp_path / "x", "alpaca", filters=None, mix=other)


def test_never_replaces_a_folder_that_is_not_an_export(run_dir, tmp_path):
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(ReerError, match="not a reer export"):
        export_dataset(run_dir, precious, "alpaca", filters=None)
    assert (precious / "notes.txt").read_text() == "keep me"
    with pytest.raises(ReerError, match="unknown format"):
        export_dataset(run_dir, tmp_path / "y", "jsonl", filters=None)


@needs_embedded
@pytest.mark.parametrize("fmt", ["messages-inline", "sharegpt", "alpaca", "deepwriting", "verl"])
def test_smollm2_template_keeps_inline_thinking(run_dir, tmp_path, fmt, embedded_dir):
    result = export_dataset(run_dir, tmp_path / fmt, fmt, filters=None, check_template_of=str(embedded_dir))
    assert result.rows == 4 and "the thinking survived" in (tmp_path / fmt / "README.md").read_text()


@needs_embedded
def test_smollm2_template_drops_reasoning_content(run_dir, tmp_path, embedded_dir):
    out = tmp_path / "messages"
    with pytest.raises(TemplateError, match=r"4 of 4 samples .*thinking is dropped.*messages-inline"):
        export_dataset(run_dir, out, "messages", filters=None, check_template_of="smollm2-135m-instruct")
    assert not out.exists()


@needs_embedded
def test_a_stripping_template_is_caught_and_the_old_export_survives(run_dir, tmp_path, embedded_dir):
    from transformers import AutoTokenizer

    stripping = tmp_path / "stripping-tokenizer"
    tokenizer = AutoTokenizer.from_pretrained(embedded_dir)
    tokenizer.chat_template = STRIPPING_TEMPLATE
    tokenizer.save_pretrained(stripping)
    out = tmp_path / "dataset"
    export_dataset(run_dir, out, "messages-inline", filters=None)
    before = (out / "train.jsonl").read_text()
    with pytest.raises(TemplateError, match=r"4 of 4 samples .*thinking is dropped.*strip"):
        export_dataset(run_dir, out, "alpaca", filters=None, check_template_of=str(stripping))
    assert (out / "train.jsonl").read_text() == before and not (out / "train.parquet").exists()


def test_training_data_from_an_export_folder_a_file_or_a_run(run_dir, tmp_path):
    from reer.export.dataset import load_samples, with_mix
    from reer.train.data import prompt_completion

    folder = export_dataset(run_dir, tmp_path / "data", "messages-inline", filters=None).path.parent
    from_folder = load_samples(folder)
    from_run = load_samples(run_dir)
    from_verl = load_samples(export_dataset(run_dir, tmp_path / "verl", "verl", filters=None).path)
    assert [s.id for s in from_folder] == [s.id for s in from_run] == [s.id for s in from_verl]
    assert load_samples(run_dir, FilterConfig(min_thinking_units=10_000)) == []
    example = prompt_completion(from_run[0])
    assert example["prompt"] == [{"role": "user", "content": from_run[0].prompt}]
    assert example["completion"][0]["content"].startswith("<think>\n" + from_run[0].thinking)
    mixed = with_mix(from_run, folder / "train.jsonl", 0.5, seed=1)[0]
    assert len(mixed) == 6 and sum(s.id.startswith("mix-") for s in mixed) == 2
    with pytest.raises(ReerError, match="does not exist"):
        load_samples(tmp_path / "missing")
