"""`reer train` / `reer generate` for real: SmolLM2 fine-tuned (LoRA and full) on a small real REER export."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from reer.config import TRAIN_PRESETS, TrainConfig
from reer.export.dataset import load_samples
from reer.train.data import prompt_completion
from reer.train.mask import MaskError, check_mask, loss_mask
from tests.conftest import needs_train

SMALL = {**TRAIN_PRESETS["cpu-smoke"], "learning_rate": 1e-3}


@pytest.fixture(scope="session")
def real_export(demo_run):
    """The demo's output: real Arena-Hard pairs searched with the embedded model. Its run directory is itself
    valid training data (every finished trajectory, unfiltered here); `records/train.jsonl` is the same as a file."""
    out, result = demo_run
    assert result.returncode == 0, result.stderr
    return out


def mean_loss(model_dir, samples, max_length=512):
    """Mean loss per assistant token over the training samples (the quantity SFT lowers)."""
    import torch

    from reer.backends.models import load_model
    from reer.config import ModelConfig

    model, tokenizer = load_model(ModelConfig(model=str(model_dir)))
    total, count = 0.0, 0
    for sample in samples:
        example = prompt_completion(sample)
        prompt = tokenizer.apply_chat_template(example["prompt"], tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(example["prompt"] + example["completion"], tokenize=False)
        ids = tokenizer(full, add_special_tokens=False, return_tensors="pt")["input_ids"][:, :max_length]
        start = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        labels = ids.clone()
        labels[:, :start] = -100
        with torch.no_grad():
            loss = model(input_ids=ids, labels=labels).loss
        n = int((labels[:, 1:] != -100).sum())
        total, count = total + float(loss) * n, count + n
    return total / count


@needs_train
def test_the_loss_mask_covers_exactly_the_assistant_turn(real_export, embedded_dir, tmp_path):
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    samples = load_samples(real_export / "run")
    example = prompt_completion(samples[0])
    tokenizer = AutoTokenizer.from_pretrained(embedded_dir)
    args = SFTConfig(output_dir=str(tmp_path), completion_only_loss=True, max_length=4096, report_to="none", bf16=False)
    trainer = SFTTrainer(
        model=str(embedded_dir), args=args, train_dataset=Dataset.from_list([example]), processing_class=tokenizer
    )
    tokenized = trainer.train_dataset[0]
    assert check_mask(tokenized, example, tokenizer, 4096) is False

    # Independently, token by token: a token is trained on iff its characters lie in the assistant turn.
    full = tokenizer.apply_chat_template(example["prompt"] + example["completion"], tokenize=False)
    prompt = tokenizer.apply_chat_template(example["prompt"], tokenize=False, add_generation_prompt=True)
    encoded = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    assert encoded["input_ids"] == list(tokenized["input_ids"])
    for (start, end), trained in zip(encoded["offset_mapping"], loss_mask(tokenized), strict=True):
        assert trained == (start >= len(prompt)), (full[start:end], trained)
    trained_text = tokenizer.decode([t for t, m in zip(tokenized["input_ids"], loss_mask(tokenized), strict=True) if m])
    assert trained_text.startswith("<think>\n" + samples[0].thinking[:40])
    assert samples[0].answer in trained_text and trained_text.endswith("<|im_end|>\n")

    shifted = {**tokenized, "labels": [-100] + list(tokenized["labels"][:-1])}
    with pytest.raises(MaskError, match="not the prompt|not the assistant turn"):
        check_mask(shifted, example, tokenizer, 4096)


@needs_train
@pytest.mark.parametrize("method", ["lora", "full"])
def test_a_few_steps_lower_the_training_loss_and_the_model_reloads(real_export, tmp_path, method, embedded_dir):
    from reer.backends import load_backend
    from reer.config import ModelConfig
    from reer.train import train
    from reer.train.generate import generate_reply

    samples = load_samples(real_export / "run")[:2]
    config = TrainConfig(
        **{
            **SMALL,
            "method": method,
            "max_steps": 4,
            "global_batch_size": len(samples),
            "learning_rate": 1e-3 if method == "lora" else 1e-4,
        }
    )
    before = mean_loss(embedded_dir, samples)
    run = real_export / "run"
    result = train(load_samples(run), tmp_path / method, config, source=str(run), merge=method == "lora")
    assert result.steps == 4 and len(result.losses) == 4 and result.peak_memory_mb > 0
    after = mean_loss(result.merged or result.final, samples)
    assert after < before - 0.05, (before, after)
    saved = json.loads((result.final / "reer-train.json").read_text())
    assert saved["train"]["method"] == method and saved["samples"] >= 1
    if method == "lora":
        assert (result.final / "adapter_config.json").exists() and (result.merged / "config.json").exists()
    generator = load_backend(ModelConfig(model=str(result.final)))
    reply = generate_reply(generator, "Write a two-line poem about rain.", max_new_tokens=24)
    assert reply.tokens > 0 and reply.raw


@needs_train
def test_training_resumes_from_its_checkpoint_after_kill_9(real_export, tmp_path):
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "reer",
        "train",
        str(real_export / "records" / "train.jsonl"),
        "-o",
        str(out),
        "--preset",
        "cpu-smoke",
        "--set",
        "train.max_steps=5",
        "--set",
        "train.save_steps=1",
        "--set",
        "train.max_length=512",
        "--set",
        "train.global_batch_size=1",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    while not (out / "checkpoint-2" / "trainer_state.json").exists():
        assert process.poll() is None and time.time() < deadline, process.stderr.read() if process.poll() else ""
        time.sleep(0.5)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "final").exists()
    resumed = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout and "checkpoint-" in resumed.stdout
    steps = int(resumed.stdout.split(" steps in ")[0].split()[-1])
    assert 1 <= steps <= 3  # only what was left of the 5 steps
    state = json.loads((out / "checkpoint-5" / "trainer_state.json").read_text())
    assert state["global_step"] == 5 and (out / "final" / "adapter_config.json").exists()

    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "reer",
            "generate",
            str(out / "final"),
            "--prompt",
            "Write a haiku about the sea.",
            "--max-new-tokens",
            "16",
        ],
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0, shown.stderr
    assert "thinking" in shown.stdout and "answer" in shown.stdout and "16 tokens" in shown.stdout


def test_global_batch_must_split_over_devices(monkeypatch):
    from reer.errors import ConfigError
    from reer.train.distributed import accumulation_steps

    assert accumulation_steps(TrainConfig()) == 96
    monkeypatch.setenv("WORLD_SIZE", "8")
    assert accumulation_steps(TrainConfig(per_device_batch_size=2)) == 6
    with pytest.raises(ConfigError, match="not a multiple"):
        accumulation_steps(TrainConfig(global_batch_size=10, per_device_batch_size=2))


def test_show_sample_marks_the_trained_tokens(embedded_dir):
    from transformers import AutoTokenizer

    from reer.train.mask import render_mask

    tokenizer = AutoTokenizer.from_pretrained(embedded_dir)
    prompt, answer = (
        tokenizer("Write a haiku.")["input_ids"],
        tokenizer("<think>\nshort\n</think>\n\nRain.")["input_ids"],
    )
    tokenized = {"input_ids": prompt + answer, "labels": [-100] * len(prompt) + answer}
    text = render_mask(tokenized, tokenizer)
    assert text.plain == "Write a haiku.<think>\nshort\n</think>\n\nRain."
    trained = "".join(text.plain[span.start : span.end] for span in text.spans if span.style == "bold green")
    assert trained == "<think>\nshort\n</think>\n\nRain."


@needs_train
def test_a_sample_whose_request_fills_max_length_is_skipped_not_misaligned(embedded_dir, tmp_path):
    """TRL drops such a sample; the mask check must then compare the first kept sample with its own source."""
    from reer.records.sample import SftSample
    from reer.train import train

    long_request = SftSample("long", "Describe the harbour. " * 60, "Plan the scene.", "The harbour was quiet.")
    short = SftSample("short", "Write one line about rain.", "Keep it short.", "Rain taps the glass.")
    settings = TrainConfig(**(SMALL | {"max_steps": 1, "global_batch_size": 1, "max_length": 128}))
    result = train([long_request, short], tmp_path / "model", settings)
    assert result.dropped == 1 and result.steps == 1 and (result.final / "adapter_config.json").exists()


def _tiny(tiny_model_dir, **fields) -> TrainConfig:
    base = {"base_model": str(tiny_model_dir), "method": "full", "max_steps": 1, "global_batch_size": 1}
    return TrainConfig(**(SMALL | base | fields))


def _same_weights(a, b) -> bool:
    from safetensors.torch import load_file

    left, right = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    return left.keys() == right.keys() and all(bool((left[k] == right[k]).all()) for k in left)


def _lines(count: int, answer: str = "Rain taps the glass.") -> list:
    from reer.records.sample import SftSample

    return [SftSample(f"s{i}", f"Write line {i} about rain.", "Keep it short.", answer) for i in range(count)]


@needs_train
def test_resume_refuses_other_data_or_settings_unless_forced(tiny_model_dir, tmp_path):
    from reer.errors import ConfigError
    from reer.train import train

    out, config = tmp_path / "model", _tiny(tiny_model_dir)
    assert train(_lines(2), out, config).steps == 1
    again = train(_lines(2), out, config.model_copy(update={"save_steps": 7}))  # not learned: resumes
    assert again.resumed_from and again.resumed_from.endswith("checkpoint-1")
    assert again.steps == 0 and not (out / "checkpoint-2").exists()  # finished: no step past max_steps
    assert _same_weights(out / "checkpoint-1", again.final)
    with pytest.raises(ConfigError, match=r"was trained with other data: rerun with the same ones, pass --force"):
        train(_lines(3), out, config)
    with pytest.raises(ConfigError, match=r"other train\.learning_rate, seed"):
        train(_lines(2), out, config.model_copy(update={"learning_rate": 0.5}), seed=3)
    forced = train(_lines(3), out, config, force=True)
    assert forced.steps == 1 and forced.resumed_from is None
    saved = json.loads((out / "reer-train-run.json").read_text())
    assert saved["rows"] == 3 and saved["settings"]["learning_rate"] == config.learning_rate
    cli = subprocess.run(
        [sys.executable, "-m", "reer", "train", str(tmp_path / "none.jsonl"), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 1 and len(cli.stderr.strip().splitlines()) == 1


@needs_train
def test_over_length_samples_are_counted_before_training_and_dropped_or_cut(tiny_model_dir, tmp_path):
    from reer.train import train

    long_answer = "The rain kept falling on the harbour, on the boats and on the nets. " * 20
    samples = [*_lines(1), _lines(2, long_answer)[1]]
    heard: list[str] = []
    drop = _tiny(tiny_model_dir, max_length=128, over_length="drop")
    dropped = train(samples, tmp_path / "drop", drop, notice=heard.append)
    assert heard and heard[0].startswith("1 of 2 samples are longer than train.max_length=128 tokens (longest ")
    assert "dropped (train.over_length=drop" in heard[0] and dropped.dropped == 1 and dropped.truncated == 0
    heard.clear()
    cut = train(
        samples, tmp_path / "cut", _tiny(tiny_model_dir, max_length=128, over_length="truncate"), notice=heard.append
    )
    assert "cut at 128, their ends and stop tokens untrained" in heard[0] and cut.truncated == 1 and cut.dropped == 0


@needs_train
def test_final_holds_a_model_that_stops_at_the_end_of_its_turn(tiny_model_dir, tmp_path):
    """A full fine-tune's final/ loads with transformers and its generation config stops at <|im_end|> (the turn's
    end) as well as the base eos; a final/ without weights — what an FSDP sharded save leaves, which this CPU
    cannot provoke, so the weights are removed by hand — is a failure that names the fix."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from reer.errors import ReerError
    from reer.train import train
    from reer.train.guard import verify_final

    result = train(_lines(2), tmp_path / "model", _tiny(tiny_model_dir))
    tokenizer = AutoTokenizer.from_pretrained(result.final)
    stops = GenerationConfig.from_pretrained(result.final).eos_token_id
    assert stops[0] == tokenizer.convert_tokens_to_ids("<|im_end|>") and tokenizer.eos_token_id in stops
    assert AutoModelForCausalLM.from_pretrained(result.final).generation_config.eos_token_id == stops
    saved = json.loads((result.final / "reer-train.json").read_text())
    assert (saved["world_size"], saved["global_batch"]) == (1, 1)
    for weights in result.final.glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(ReerError, match="holds no model weights.*FULL_STATE_DICT.*zero3_save_16bit_model"):
        verify_final(result.final, lora=False)
