"""`reer train` past one process: a real two-process gloo group on this CPU, and the launch configs for one node
of 8 GPUs read by accelerate's own launcher and transformers' own DeepSpeed config code (no GPU here)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import needs_deepspeed, needs_train

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


def _data(path: Path, count: int = 8) -> Path:
    rows = [
        {
            "id": f"s{i}",
            "messages": [
                {"role": "user", "content": f"Write line {i} about rain."},
                {"role": "assistant", "content": "<think>\nKeep it short.\n</think>\n\n" + "Rain taps. " * (i + 1)},
            ],
        }
        for i in range(count)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _train(launcher: list[str], data: Path, out: Path, model: Path, env: dict[str, str] | None = None):
    settings = {
        "train.base_model": str(model),
        "train.method": "full",
        "train.max_steps": 3,
        "train.global_batch_size": 4,
        "train.per_device_batch_size": 1,
        "train.learning_rate": 1e-3,
        "train.save_steps": 100,
        "train.logging_steps": 1,
    }
    command = [*launcher, "-m", "reer", "train", str(data), "-o", str(out), "--preset", "cpu-smoke"]
    for key, value in settings.items():
        command += ["--set", f"{key}={value}"]
    return subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200", **(env or {})}, timeout=600
    )


def _losses(out: Path) -> list[float]:
    state = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())
    return [entry["loss"] for entry in state["log_history"] if "loss" in entry]


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533"]


@needs_train
def test_two_gloo_processes_train_like_one_process_with_twice_the_accumulation(tiny_model_dir, tmp_path):
    """Global batch 4: one process accumulates 4 micro-batches, two processes 2 each over a gloo group. Same steps,
    same losses and the same weights (within float error, against an update 10,000 times larger); rank 0 alone
    reports and writes final/."""
    from safetensors.torch import load_file

    data = _data(tmp_path / "train.jsonl")
    one = _train([sys.executable], data, tmp_path / "one", tiny_model_dir)
    two = _train(TORCHRUN, data, tmp_path / "two", tiny_model_dir)
    assert one.returncode == 0, one.stderr[-3000:]
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("model: ") == 1 and two.stdout.count(" steps in ") == 1  # one writer, one report
    assert "3 steps in" in two.stdout and "3 steps in" in one.stdout
    records = [json.loads((tmp_path / run / "final" / "reer-train.json").read_text()) for run in ("one", "two")]
    assert [(r["world_size"], r["global_batch"]) for r in records] == [(1, 4), (2, 4)]
    assert _losses(tmp_path / "two") == pytest.approx(_losses(tmp_path / "one"), abs=1e-4)
    start = load_file(tiny_model_dir / "model.safetensors")
    a, b = (load_file(tmp_path / run / "final" / "model.safetensors") for run in ("one", "two"))
    moved = max(float((a[k] - start[k]).abs().max()) for k in a)
    apart = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert moved > 1e-3 and apart < moved * 1e-3


@needs_train
def test_fsdp_asked_for_on_a_cpu_is_refused_not_run_as_ddp(tiny_model_dir, tmp_path):
    """accelerate 1.16 runs a CPU group as MULTI_CPU, with no FSDP path: without reer's check the run would
    quietly be DDP."""
    data = _data(tmp_path / "train.jsonl", count=4)
    run = _train(TORCHRUN, data, tmp_path / "fsdp", tiny_model_dir, {"ACCELERATE_USE_FSDP": "true"})
    assert run.returncode != 0
    assert "FSDP was asked for, but accelerate runs MULTI_CPU here" in run.stderr
    assert not (tmp_path / "fsdp" / "final").exists()


def _launch_env(name: str) -> dict[str, str]:
    """The environment `accelerate launch --config_file configs/accelerate/NAME.yaml` gives each process, from
    accelerate's own parser and launcher helpers (what `launch_command` does, short of starting processes)."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    argv = ["--config_file", str(CONFIGS / "accelerate" / f"{name}.yaml"), "-m", "reer", "train", "d", "-o", "o"]
    args, defaults, from_config = _validate_launch_command(launch_command_parser().parse_args(argv))
    assert args.num_processes == 8 and args.num_machines == 1
    if not args.use_deepspeed:
        return prepare_multi_gpu_env(args)
    fields = list(defaults.deepspeed_config) + (["mixed_precision"] if from_config else [])
    args.deepspeed_fields_from_accelerate_config = ",".join(fields)
    return prepare_deepspeed_cmd_env(args)[1]


@needs_deepspeed
@pytest.mark.parametrize("name", ["ddp", "fsdp", "zero2", "zero3"])
def test_the_8_gpu_launch_configs_give_the_paper_batch(name, monkeypatch):
    """Each config, read by accelerate's launcher, sets 8 processes that reer turns into the paper's global batch
    (8 × 1 × 12 = 96); FSDP gathers a full state dict; the DeepSpeed files, filled by transformers' own
    HfTrainerDeepSpeedConfig from reer's settings, agree with them and gather 16-bit weights at save (ZeRO-3)."""
    import dataclasses

    from trl import SFTConfig

    from reer.config import TrainConfig, apply_preset
    from reer.train.arguments import check_launcher_precision, precision
    from reer.train.distributed import accumulation_steps

    env = _launch_env(name)
    paper = apply_preset(TrainConfig(), "paper")
    for key, value in {**env, "WORLD_SIZE": "8"}.items():
        monkeypatch.setenv(key, value)
    steps = accumulation_steps(paper)  # also checks the DeepSpeed file and launcher against reer's batch
    check_launcher_precision(paper)
    assert steps == 12 and 8 * paper.per_device_batch_size * steps == 96
    if name == "fsdp":
        assert env["FSDP_STATE_DICT_TYPE"] == "FULL_STATE_DICT" and env["FSDP_VERSION"] == "2"
    if not name.startswith("zero"):
        return
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig

    defaults = {f.name: f.default for f in dataclasses.fields(SFTConfig) if f.default is not dataclasses.MISSING}
    _, flags, _ = precision(paper)  # bf16-mixed, explicit in the preset
    ours = {"per_device_train_batch_size": paper.per_device_batch_size, "gradient_accumulation_steps": steps}
    trainer_args = type("Args", (), {**defaults, **flags, **ours, "world_size": 8})
    deepspeed = HfTrainerDeepSpeedConfig(env["ACCELERATE_DEEPSPEED_CONFIG_FILE"])
    deepspeed.trainer_config_process(trainer_args)
    assert not deepspeed.mismatches
    config = deepspeed.config
    assert (config["train_batch_size"], config["train_micro_batch_size_per_gpu"]) == (96, 1)
    assert config["gradient_accumulation_steps"] == 12 and config["bf16"]["enabled"] is True
    assert config["zero_optimization"]["stage"] == int(name[-1])
    if name == "zero3":
        assert config["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True


@needs_train
def test_a_launcher_batch_that_contradicts_reer_is_refused_before_training(tmp_path, monkeypatch):
    """The `accelerate config` wizard writes gradient_accumulation_steps: 1 (and a DeepSpeed file may fix the
    batch): reer says which setting to change instead of letting transformers fail mid-start-up."""
    from reer.config import TrainConfig, apply_preset
    from reer.errors import ConfigError
    from reer.train.arguments import check_launcher_precision
    from reer.train.distributed import accumulation_steps

    paper = apply_preset(TrainConfig(), "paper")
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("ACCELERATE_GRADIENT_ACCUMULATION_STEPS", "1")
    with pytest.raises(ConfigError, match=r"the accelerate config sets gradient_accumulation_steps: 1, .* needs 12"):
        accumulation_steps(paper)
    monkeypatch.delenv("ACCELERATE_GRADIENT_ACCUMULATION_STEPS")
    fixed = tmp_path / "ds.json"
    fixed.write_text(json.dumps({"train_batch_size": 64, "zero_optimization": {"stage": 3}}))
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_CONFIG_FILE", str(fixed))
    with pytest.raises(ConfigError, match=r"ds\.json sets train_batch_size: 64, .* needs 96"):
        accumulation_steps(paper)
    monkeypatch.delenv("ACCELERATE_DEEPSPEED_CONFIG_FILE")
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "fp16")
    with pytest.raises(ConfigError, match=r"mixed_precision: fp16 contradicts train.precision=bf16-mixed"):
        check_launcher_precision(paper)
