"""The TRL ``SFTConfig`` a run trains with: reer's settings, the precision, and the user's pass-through fields.

Precision: full fine-tuning at 2e-5 needs fp32 master weights. In pure bf16 a weight near 1 has an ulp of 2^-7, so
an update of 2e-5 × (Adam's ≈1 step) is far below half an ulp and rounds away; bf16 *mixed* precision keeps the
weights and optimizer state in fp32 and computes in bf16.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from reer.config import TrainConfig
from reer.errors import ConfigError
from reer.train import distributed

# SFTConfig fields reer sets from train.* (or must own): a pass-through may not set them.
OWNED = {
    "output_dir": "-o",
    "num_train_epochs": "train.epochs",
    "max_steps": "train.max_steps",
    "learning_rate": "train.learning_rate",
    "per_device_train_batch_size": "train.per_device_batch_size",
    "gradient_accumulation_steps": "train.global_batch_size",
    "lr_scheduler_type": "train.lr_scheduler",
    "warmup_steps": "train.warmup_ratio",
    "weight_decay": "train.weight_decay",
    "gradient_checkpointing": "train.gradient_checkpointing",
    "max_length": "train.max_length",
    "completion_only_loss": "(always on: the loss falls on the assistant turn)",
    "assistant_only_loss": "(the loss falls on the assistant turn)",
    "bf16": "train.precision",
    "fp16": "train.precision",
    "use_cpu": "(set from the machine)",
    "model_init_kwargs": "train.precision / train.attn_implementation",
    "logging_steps": "train.logging_steps",
    "save_steps": "train.save_steps",
    "save_total_limit": "train.save_total_limit",
    "report_to": "train.report_to",
    "seed": "--seed",
    "packing": "train.packing",
    "padding_free": "train.padding_free",
    "eos_token": "train.eos_token",
    "chat_template_path": "train.chat_template",
    "eval_strategy": "train.eval_fraction",
    "eval_steps": "train.eval_steps",
}


def precision(config: TrainConfig) -> tuple[str, dict[str, bool], str]:
    """(the precision resolved for this machine, SFTConfig's bf16/fp16 flags, the dtype weights load in)."""
    import torch

    chosen = config.precision
    if chosen == "auto":
        if not torch.cuda.is_available():
            chosen = "fp32"
        else:
            chosen = "bf16-mixed" if torch.cuda.is_bf16_supported() else "fp16-mixed"
    flags = {"bf16": chosen in ("bf16-mixed", "bf16"), "fp16": chosen == "fp16-mixed"}
    return chosen, flags, "bfloat16" if chosen == "bf16" else "float32"


def check_launcher_precision(config: TrainConfig) -> None:
    """An accelerate config's ``mixed_precision`` overrides nothing silently: it must agree with train.precision."""
    launcher = os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
    chosen = precision(config)[0]
    implied = {"bf16-mixed": "bf16", "bf16": "bf16", "fp16-mixed": "fp16"}.get(chosen, "no")
    if launcher not in ("no", implied):
        raise ConfigError(
            f"the accelerate config's mixed_precision: {launcher} contradicts train.precision={chosen}: set "
            "mixed_precision: 'no' there (configs/accelerate/ do) and choose with train.precision"
        )


def precision_warning(config: TrainConfig) -> str | None:
    if config.precision != "bf16" or config.method != "full":
        return None
    return (
        "train.precision=bf16 keeps the weights themselves in bf16: updates smaller than half a bf16 ulp (most "
        f"updates at learning rate {config.learning_rate:g}) are lost. Use bf16-mixed unless memory forces this"
    )


def pass_through(config: TrainConfig) -> dict[str, Any]:
    """``train.sft``, checked: every key must be an SFTConfig field that reer does not set itself."""
    from trl import SFTConfig

    fields = {f.name for f in dataclasses.fields(SFTConfig)}
    for key in config.sft:
        if key in OWNED:
            raise ConfigError(f"train.sft.{key} is set by reer: use {OWNED[key]} instead")
        if key not in fields:
            raise ConfigError(f"train.sft.{key} is not a field of TRL's SFTConfig; see its documentation")
    return dict(config.sft)


def sft_config(config: TrainConfig, out_dir: Path, seed: int, eos_token: str | None, evaluating: bool) -> Any:
    """The SFTConfig for this run (a TRL error in a pass-through value becomes a one-line config error)."""
    from trl import SFTConfig

    check_launcher_precision(config)
    _, flags, dtype = precision(config)
    model_kwargs: dict[str, Any] = {"dtype": dtype}
    if config.attn_implementation:
        model_kwargs["attn_implementation"] = config.attn_implementation
    if distributed.world_size() > 1:
        model_kwargs["device_map"] = None  # each process holds (its shard of) the model; "auto" would spread it
    fields: dict[str, Any] = {
        "output_dir": str(out_dir),
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps or -1,
        "learning_rate": config.learning_rate,
        "per_device_train_batch_size": config.per_device_batch_size,
        "per_device_eval_batch_size": config.per_device_batch_size,
        "gradient_accumulation_steps": distributed.accumulation_steps(config),
        "lr_scheduler_type": config.lr_scheduler,
        "warmup_steps": config.warmup_ratio,
        "weight_decay": config.weight_decay,
        "gradient_checkpointing": config.gradient_checkpointing,  # TRL's default is True: always say which
        "max_length": config.max_length,
        "completion_only_loss": True,
        "use_cpu": distributed.on_cpu(),
        "model_init_kwargs": model_kwargs,
        "logging_steps": config.logging_steps,
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": config.save_total_limit,
        "report_to": config.report_to or "none",
        "seed": seed,
        "dataset_num_proc": None,
        "packing": config.packing,
        "padding_free": config.padding_free,
        "eos_token": eos_token,
        "eval_strategy": "steps" if evaluating else "no",
        "eval_steps": config.eval_steps or config.save_steps,
        **flags,
    }
    try:
        return SFTConfig(**(fields | pass_through(config)))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"TRL refused the training settings (train.* or train.sft): {error}") from error
