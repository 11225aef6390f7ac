"""`reer train`'s settings beyond the core loop: base models (template, eos, stopping), precision, the held-out
eval loss and TensorBoard, TRL's knobs and pass-through, the presets, and `--mix` reasoning markups."""

import json
import shutil
import subprocess
import sys
from collections import Counter

import pytest

from reer.config import TRAIN_PRESETS, TrainConfig, apply_preset
from reer.errors import ConfigError
from reer.records.sample import SftSample
from tests.conftest import needs_gemma, needs_train

SMALL = {**TRAIN_PRESETS["cpu-smoke"], "method": "full", "max_steps": 1, "global_batch_size": 1, "save_steps": 100}


def _samples(count: int) -> list[SftSample]:
    words = ["rain", "snow", "wind", "sea", "fog", "hail", "dusk", "dawn"]
    return [
        SftSample(f"s{i}", f"Write one line about {w}.", f"One line about {w}, plain.", f"The {w} is quiet tonight.")
        for i, w in enumerate(words[:count])
    ]


@pytest.fixture
def qwen_like_base(tiny_model_dir, tmp_path):
    """The tiny model as a Qwen3-Base is shipped: a ChatML template whose turns end in <|im_end|>, but eos
    <|endoftext|> in the tokenizer and the model's configs."""
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    target = tmp_path / "base"
    shutil.copytree(tiny_model_dir, target)
    tokenizer = AutoTokenizer.from_pretrained(target)
    tokenizer.eos_token = "<|endoftext|>"
    tokenizer.save_pretrained(target)
    config = AutoConfig.from_pretrained(target)
    config.eos_token_id = tokenizer.eos_token_id
    config.save_pretrained(target)
    GenerationConfig(eos_token_id=tokenizer.eos_token_id, bos_token_id=config.bos_token_id).save_pretrained(target)
    return target


@needs_train
def test_a_base_model_whose_eos_is_not_the_turn_end_is_trained_to_stop_at_the_turn_end(qwen_like_base, tmp_path):
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    from reer.train import train

    result = train(_samples(2), tmp_path / "out", TrainConfig(**SMALL, base_model=str(qwen_like_base)))
    tokenizer = AutoTokenizer.from_pretrained(result.final)
    im_end, endoftext = tokenizer.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])
    assert tokenizer.eos_token == "<|im_end|>"
    assert GenerationConfig.from_pretrained(result.final).eos_token_id == [im_end, endoftext]
    assert AutoConfig.from_pretrained(result.final).eos_token_id == im_end
    kept = train(
        _samples(2), tmp_path / "kept", TrainConfig(**SMALL, base_model=str(qwen_like_base), eos_token="<|endoftext|>")
    )
    assert AutoTokenizer.from_pretrained(kept.final).eos_token == "<|endoftext|>"  # train.eos_token wins


@needs_train
@needs_gemma
def test_gemma_base_gets_a_template_and_after_training_reer_generate_stops_at_the_turn_end(tmp_path):
    """Gemma 3 270M base has no chat template: reer's (led by its <bos>, each turn closed by <eos>) is trained
    with it and saved with it, and the trained model stops there when asked through `reer generate`."""
    data = tmp_path / "train.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": s.prompt}, {"role": "assistant", "content": inline(s)}]}
        for s in _samples(4)
    ]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    out = tmp_path / "gemma"
    settings = [
        "train.base_model=gemma-3-270m",
        "train.max_steps=16",
        "train.learning_rate=1e-3",
        "train.global_batch_size=2",
        "train.save_steps=100",
    ]
    command = [sys.executable, "-m", "reer", "train", str(data), "-o", str(out), "--preset", "cpu-smoke"]
    trained = subprocess.run(command + [a for s in settings for a in ("--set", s)], capture_output=True, text=True)
    assert trained.returncode == 0, trained.stderr[-3000:]
    template = (out / "final" / "chat_template.jinja").read_text()
    assert template.startswith("{{ bos_token }}") and "{{ eos_token }}" in template
    stops = json.loads((out / "final" / "generation_config.json").read_text())["eos_token_id"]
    assert 1 in (stops if isinstance(stops, list) else [stops])  # Gemma's <eos>
    asked = [sys.executable, "-m", "reer", "generate", str(out / "final"), "--prompt", "Write one line about rain."]
    shown = subprocess.run([*asked, "--max-new-tokens", "64"], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr[-3000:]
    tokens = int(shown.stdout.strip().splitlines()[-1].strip("─ ").split()[0])
    assert "The rain is quiet tonight." in shown.stdout and tokens < 40  # it stopped, well inside the budget


def inline(sample: SftSample) -> str:
    from reer.records.sample import inline as written

    return written(sample)


def test_precision_keeps_fp32_master_weights_unless_pure_bf16_is_asked_for_with_a_warning():
    import torch

    from reer.train.arguments import precision, precision_warning

    assert precision(TrainConfig(precision="bf16-mixed")) == ("bf16-mixed", {"bf16": True, "fp16": False}, "float32")
    assert precision(TrainConfig(precision="bf16"))[2] == "bfloat16"
    assert precision(TrainConfig(precision="fp16-mixed"))[1] == {"bf16": False, "fp16": True}
    if not torch.cuda.is_available():
        assert precision(TrainConfig())[0] == "fp32"
    assert precision_warning(TrainConfig(precision="bf16-mixed")) is None
    assert "updates smaller than half a bf16 ulp" in str(precision_warning(TrainConfig(precision="bf16")))
    # Why: an update of 2e-5 to a weight of 1.0 is lost in bf16 and kept in fp32.
    weight = torch.tensor(1.0)
    assert float(weight.bfloat16() + torch.tensor(2e-5).bfloat16()) == 1.0
    assert float(weight + 2e-5) != 1.0
    with pytest.raises(ValueError, match="train.dtype is now train.precision"):
        TrainConfig(dtype="bfloat16")


@needs_train
def test_knobs_reach_trl_and_the_model(tiny_model_dir, tmp_path):
    """gradient_checkpointing=false is honoured (TRL's own default is true), bf16-mixed loads fp32 weights,
    attn_implementation reaches the model, and train.sft passes other SFTConfig fields through, checked."""
    import torch
    from datasets import Dataset

    from reer.train import template, trainer
    from reer.train.data import prompt_completion

    def built(**fields):
        config = TrainConfig(**SMALL, base_model=str(tiny_model_dir), **fields)
        tokenizer = template.training_tokenizer(config)
        rows = Dataset.from_list([prompt_completion(s) for s in _samples(2)])
        return trainer._trainer(rows, None, tokenizer, tmp_path / "out", config, 0)

    plain = built(precision="bf16-mixed", attn_implementation="eager", sft={"max_grad_norm": 0.25})
    assert plain.args.gradient_checkpointing is False and not plain.model.is_gradient_checkpointing
    assert plain.args.bf16 and next(plain.model.parameters()).dtype == torch.float32
    assert plain.model.config._attn_implementation == "eager" and plain.args.max_grad_norm == 0.25
    checkpointed = built(gradient_checkpointing=True, precision="bf16")
    assert checkpointed.args.gradient_checkpointing and next(checkpointed.model.parameters()).dtype == torch.bfloat16
    with pytest.raises(ConfigError, match=r"train.sft.learning_rate is set by reer: use train.learning_rate"):
        built(sft={"learning_rate": 1.0})
    with pytest.raises(ConfigError, match=r"train.sft.no_such_field is not a field of TRL's SFTConfig"):
        built(sft={"no_such_field": 1})
    with pytest.raises(ConfigError, match=r"TRL refused the training settings"):
        built(sft={"lr_scheduler_kwargs": "not a dict", "optim": "no-such-optimizer"})


@needs_train
def test_a_held_out_share_gives_an_eval_loss_and_tensorboard_gets_the_losses(tiny_model_dir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from reer.train import train

    config = TrainConfig(
        **(SMALL | {"max_steps": 2, "save_steps": 1}),
        base_model=str(tiny_model_dir),
        eval_fraction=0.25,
        report_to=["tensorboard"],
    )
    result = train(_samples(8), tmp_path / "out", config)
    assert result.eval_loss is not None and result.eval_loss > 0
    record = json.loads((result.final / "reer-train.json").read_text())
    assert record["eval_loss"] == result.eval_loss and record["precision"] == "fp32"
    events = list((tmp_path / "out").glob("runs/*/events.out.tfevents.*"))
    assert events
    scalars = EventAccumulator(str(events[0].parent)).Reload().Tags()["scalars"]
    assert "train/loss" in scalars and "eval/loss" in scalars
    with pytest.raises(ConfigError, match="leaves no training sample"):
        train(_samples(1), tmp_path / "none", config)


@needs_train
def test_packing_trains_several_samples_per_row(tiny_model_dir, tmp_path):
    from reer.train import train

    config = TrainConfig(**(SMALL | {"max_length": 256}), base_model=str(tiny_model_dir), packing=True)
    result = train(_samples(8), tmp_path / "out", config)
    assert result.steps == 1 and result.losses
    state = json.loads((tmp_path / "out" / "checkpoint-1" / "trainer_state.json").read_text())
    tokens = state["log_history"][0]["num_tokens"]  # one packed row of up to 256 tokens: four samples of ~61
    assert tokens > 3 * 61  # unpacked, the one-sample batch holds 61
    assert json.loads((result.final / "reer-train.json").read_text())["train"]["packing"]


def test_the_paper_preset_is_the_whole_recipe_and_deepwriter_needs_a_base_model():
    paper = apply_preset(TrainConfig(), "paper")
    assert (paper.base_model, paper.method, paper.epochs) == ("Qwen/Qwen3-8B-Base", "full", 3.0)
    assert (paper.learning_rate, paper.global_batch_size, paper.precision) == (2e-5, 96, "bf16-mixed")
    with pytest.raises(ConfigError, match=r"deepwriter preset .* set train.base_model .* or use --preset paper"):
        apply_preset(TrainConfig(), "deepwriter")
    mine = apply_preset(TrainConfig(base_model="/models/base"), "deepwriter")
    assert mine.base_model == "/models/base" and mine.global_batch_size == 96


def test_reasoning_markups_become_think_blocks_and_ambiguous_ones_are_refused():
    from reer.records.markup import convert_all, describe

    def answer(text: str, thinking: str = "") -> SftSample:
        return SftSample("x", "Solve it.", thinking, text)

    samples = [
        answer("<|begin_of_thought|>\nAdd them.\n<|end_of_thought|>\n\n<|begin_of_solution|>\n4\n<|end_of_solution|>"),
        answer("<thinking>Count.</thinking>\nThree."),
        answer("Two.", thinking="Already split."),
        answer("Just an answer."),
        answer("Intro <|begin_of_thought|>late<|end_of_thought|> 4"),
        answer("<|begin_of_thought|>never closed"),
        answer("Text with a stray <think>tag</think>."),
    ]
    kept, outcomes = convert_all(samples)
    assert [(s.thinking, s.answer) for s in kept] == [
        ("Add them.", "4"),
        ("Count.", "Three."),
        ("Already split.", "Two."),
        ("", "Just an answer."),
    ]
    assert outcomes == Counter(
        {
            "<|begin_of_thought|>": 1,
            "<thinking>": 1,
            "<think>": 1,
            "no thinking": 1,
            "refused: <|begin_of_thought|> is not one block at the start": 2,
            "refused: a <think> block not at the start of the answer": 1,
        }
    )
    line = describe(outcomes)
    assert "converted 1 from <|begin_of_thought|>" in line and "3 refused" not in line and "2 refused: " in line


def test_mix_converts_openthoughts_markup_and_says_so(tmp_path):
    """An OpenThoughts-shaped file (ShareGPT turns, markup in the answer) mixed in: its thinking lands in
    <think>, never in the answer; the count is printed by `reer train` and written into an export's card."""
    from reer.export.dataset import with_mix

    rows = [
        {
            "conversations": [
                {"from": "user", "value": f"What is {i} + {i}?"},
                {
                    "from": "assistant",
                    "value": f"<|begin_of_thought|>Double {i}.<|end_of_thought|>"
                    f"<|begin_of_solution|>{2 * i}<|end_of_solution|>",
                },
            ]
        }
        for i in range(4)
    ]
    mix = tmp_path / "openthoughts.jsonl"
    mix.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    combined, mixed, markup = with_mix(_samples(4), mix, 1.0, seed=0)
    assert len(mixed) == 4 and len(combined) == 8 and markup == Counter({"<|begin_of_thought|>": 4})
    assert all(s.thinking.startswith("Double") and "<|" not in s.answer for s in mixed)
