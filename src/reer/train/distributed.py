"""What ``reer train`` needs to know about the launcher: which process it is, how many there are, and whether the
launcher's own batch settings agree with the global batch the config asks for.

``accelerate launch`` and ``torchrun`` both set ``RANK`` and ``WORLD_SIZE``. Only rank 0 prints, writes side files
and merges; every rank trains and takes part in the final save (FSDP and ZeRO-3 gather the weights collectively).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from reer.config import TrainConfig
from reer.errors import ConfigError


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def on_cpu() -> bool:
    """No accelerator: transformers must be told (``use_cpu``), or under torchrun it leaves every process training
    alone on all the data instead of forming a gloo data-parallel group."""
    import torch

    return not torch.accelerator.is_available()


def accumulation_steps(config: TrainConfig) -> int:
    """Micro-batches per optimizer step so that devices × per-device batch × steps = the global batch."""
    devices = world_size()
    per_step = devices * config.per_device_batch_size
    if config.global_batch_size % per_step:
        raise ConfigError(
            f"train.global_batch_size={config.global_batch_size} is not a multiple of {devices} device(s) × "
            f"train.per_device_batch_size={config.per_device_batch_size}; change one of them"
        )
    steps = config.global_batch_size // per_step
    check_deepspeed(config, steps)
    return steps


def check_deepspeed(config: TrainConfig, steps: int) -> None:
    """A DeepSpeed launch whose accelerate or DeepSpeed config fixes the batch must agree with reer's (the
    ``accelerate config`` wizard writes ``gradient_accumulation_steps: 1``); "auto" takes reer's values."""
    wanted = {
        "gradient_accumulation_steps": steps,
        "train_micro_batch_size_per_gpu": config.per_device_batch_size,
        "train_batch_size": config.global_batch_size,
    }
    found: dict[str, tuple[str, object]] = {}
    launcher = os.environ.get("ACCELERATE_GRADIENT_ACCUMULATION_STEPS")
    if launcher is not None and launcher != "auto":
        found["gradient_accumulation_steps"] = ("the accelerate config", launcher)
    if file := os.environ.get("ACCELERATE_DEEPSPEED_CONFIG_FILE"):
        try:
            settings = json.loads(Path(file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ConfigError(f"cannot read the DeepSpeed config {file}: {error}") from error
        found |= {key: (file, settings[key]) for key in wanted if settings.get(key, "auto") != "auto"}
    for key, (where, value) in found.items():
        if str(value) != str(wanted[key]):
            raise ConfigError(
                f"{where} sets {key}: {value}, but train.global_batch_size={config.global_batch_size} over "
                f"{world_size()} process(es) × train.per_device_batch_size={config.per_device_batch_size} needs "
                f'{wanted[key]}: set it to "auto" (configs/deepspeed/ does) or remove it'
            )


def check_engaged(trainer: object) -> None:
    """FSDP or DeepSpeed asked for must be what runs: on CPUs accelerate 1.16 forms a MULTI_CPU group, which has no
    FSDP or DeepSpeed path, and would otherwise train plain DDP without a word."""
    from accelerate.utils import DistributedType

    asked_fsdp = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true" or bool(
        getattr(trainer.args, "fsdp", None)  # type: ignore[attr-defined]
    )
    asked_deepspeed = os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true" or bool(
        getattr(trainer.args, "deepspeed", None)  # type: ignore[attr-defined]
    )
    running = trainer.accelerator.state.distributed_type  # type: ignore[attr-defined]
    for asked, wanted, name in (
        (asked_fsdp, DistributedType.FSDP, "FSDP"),
        (asked_deepspeed, DistributedType.DEEPSPEED, "DeepSpeed"),
    ):
        if asked and running != wanted:
            raise ConfigError(
                f"{name} was asked for, but accelerate runs {running.value} here (on CPUs it has no {name} path; "
                "docs/training.md): drop the setting, or launch on GPUs"
            )
