"""``reer train``: supervised fine-tuning on REER data with TRL's ``SFTTrainer`` (full or LoRA).

The same code runs on a CPU, one GPU, or several through ``accelerate launch``/``torchrun``: the device
count comes from the launcher (``WORLD_SIZE``), and gradient accumulation is derived from it so the
*global* batch stays what the config says. Checkpoints go to ``OUT_DIR/checkpoint-N``; a rerun resumes
from the newest one. The final model is saved in Hugging Face format to ``OUT_DIR/final`` with the
settings that produced it.
"""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from reer.config import TrainConfig
from reer.errors import ConfigError, ReerError
from reer.records.sample import SftSample
from reer.train import guard
from reer.train.data import prompt_completion
from reer.train.mask import check_mask, render_mask


@dataclass
class TrainResult:
    final: Path
    merged: Path | None
    steps: int
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    resumed_from: str | None = None
    peak_memory_mb: float = 0.0
    truncated: int = 0  # samples cut at max_length: their end (often the answer) is not trained on
    dropped: int = 0  # samples whose prompt alone filled max_length: not trained on at all

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / self.steps if self.steps else 0.0


def train(
    samples: list[SftSample],
    out_dir: Path,
    config: TrainConfig,
    seed: int = 0,
    source: str = "",
    merge: bool = False,
    show_sample: Callable[[Any], None] | None = None,
    notice: Callable[[str], None] | None = None,
    force: bool = False,
) -> TrainResult:
    """Fine-tune ``config.base_model`` on ``samples`` (read from ``source``, recorded with the model) into
    ``out_dir``; resume if checkpoints are there (the same data and settings only, unless ``force``).
    ``notice`` hears, before the first step, how many samples are longer than ``max_length``."""
    from datasets import Dataset

    if not samples:
        raise ReerError(f"{source or 'the data'} holds no training samples (all filtered out? see `reer filter`)")
    rows = [prompt_completion(s) for s in samples]
    guard.check_resume(out_dir, guard.fingerprint(rows, config, seed), force)
    tokenizer = _tokenizer(config)
    lengths = guard.token_lengths(rows, tokenizer)
    if (message := guard.over_length_notice(lengths, config)) and notice:
        notice(message)
    kept = (
        rows
        if config.over_length == "truncate"
        else [r for r, n in zip(rows, lengths, strict=True) if n <= config.max_length]
    )
    if not kept:
        raise ReerError(f"every sample is longer than train.max_length={config.max_length} tokens; raise it")
    dataset = Dataset.from_list(kept)
    trainer = _trainer(dataset, tokenizer, out_dir, config, seed)
    if len(trainer.train_dataset) == 0:  # TRL drops samples whose prompt alone fills max_length
        raise ReerError(f"every sample's prompt is longer than train.max_length={config.max_length}; raise it")
    first = trainer.train_dataset[0]  # TRL drops samples whose prompt fills max_length: find its source by id
    check_mask(first, dataset[dataset["id"].index(first["id"])], tokenizer, config.max_length)
    dropped = len(rows) - len(trainer.train_dataset)
    truncated = sum(len(row["input_ids"]) >= config.max_length for row in trainer.train_dataset)
    if show_sample:
        show_sample(render_mask(trainer.train_dataset[0], tokenizer))
    last = _last_checkpoint(out_dir)
    started = time.perf_counter()
    steps_before = _checkpoint_step(last)
    trainer.train(resume_from_checkpoint=last)
    seconds = time.perf_counter() - started
    final = _save(trainer, tokenizer, out_dir / "final", config, source, len(samples))
    merged = _merge(trainer, tokenizer, out_dir / "merged") if merge and config.method == "lora" else None
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return TrainResult(
        final,
        merged,
        trainer.state.global_step - steps_before,
        losses,
        seconds,
        last,
        _peak_memory_mb(),
        truncated,
        dropped,
    )


def _tokenizer(config: TrainConfig) -> Any:
    from transformers import AutoTokenizer

    from reer.backends.models import resolve_model_path

    return AutoTokenizer.from_pretrained(resolve_model_path(config.base_model), local_files_only=True)


def _trainer(dataset: Any, tokenizer: Any, out_dir: Path, config: TrainConfig, seed: int) -> Any:
    from trl import SFTConfig, SFTTrainer

    from reer.backends.models import resolve_model_path

    model_path = resolve_model_path(config.base_model)
    bf16, dtype = _precision(config.dtype)
    args = SFTConfig(
        output_dir=str(out_dir),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.per_device_batch_size,
        gradient_accumulation_steps=accumulation_steps(config),
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,
        weight_decay=config.weight_decay,
        # only when asked: transformers warns on the argument itself (renamed in v6)
        **cast(dict[str, Any], {"gradient_checkpointing": True} if config.gradient_checkpointing else {}),
        max_length=config.max_length,
        completion_only_loss=True,
        bf16=bf16,
        model_init_kwargs={"dtype": dtype},
        logging_steps=config.logging_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        report_to="none",
        seed=seed,
        dataset_num_proc=None,
    )
    return SFTTrainer(
        model=model_path, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=_lora(config)
    )


def accumulation_steps(config: TrainConfig) -> int:
    """Micro-batches per optimizer step so that devices × per-device batch × steps = the global batch."""
    devices = int(os.environ.get("WORLD_SIZE", "1"))
    per_step = devices * config.per_device_batch_size
    if config.global_batch_size % per_step:
        raise ConfigError(
            f"train.global_batch_size={config.global_batch_size} is not a multiple of {devices} device(s) × "
            f"train.per_device_batch_size={config.per_device_batch_size}; change one of them"
        )
    return config.global_batch_size // per_step


def _precision(dtype: str) -> tuple[bool, str]:
    """(bf16 mixed precision?, dtype the weights load in)."""
    import torch

    if dtype == "auto":
        dtype = "bfloat16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "float32"
    return dtype == "bfloat16", dtype


def _lora(config: TrainConfig) -> Any:
    if config.method != "lora":
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.lora_target_modules,
        task_type="CAUSAL_LM",
    )


def _last_checkpoint(out_dir: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(out_dir)) if out_dir.is_dir() else None


def _checkpoint_step(checkpoint: str | None) -> int:
    return int(checkpoint.rsplit("-", 1)[1]) if checkpoint else 0


def _save(trainer: Any, tokenizer: Any, final: Path, config: TrainConfig, source: str, samples: int) -> Path:
    """The model with a generation config that stops at the end of a turn, its tokenizer and the settings; then
    ``final/`` is checked to hold a model that loads (:func:`guard.verify_final`)."""
    generation = trainer.model.generation_config
    generation.eos_token_id = guard.stop_tokens(tokenizer, generation.eos_token_id)
    trainer.save_model(str(final))
    generation.save_pretrained(str(final))  # a LoRA adapter folder too: `reer generate` and servers read it
    tokenizer.save_pretrained(str(final))
    # What the trainer really ran with, not what the launcher set: under torchrun without a distributed setup
    # each process trains alone (WORLD_SIZE 2, trainer world size 1), and the record must say so.
    args = trainer.args
    world = args.world_size
    batch = {
        "world_size": world,
        "global_batch": world * args.per_device_train_batch_size * args.gradient_accumulation_steps,
    }
    settings = {"train": config.model_dump(mode="json"), "data": source, "samples": samples} | batch
    (final / "reer-train.json").write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    guard.verify_final(final, lora=config.method == "lora")
    return final


def _merge(trainer: Any, tokenizer: Any, target: Path) -> Path:
    """LoRA adapters folded into the base weights: a plain model any tool loads."""
    merged = trainer.model.merge_and_unload()
    merged.save_pretrained(str(target))
    tokenizer.save_pretrained(str(target))
    return target


def _peak_memory_mb() -> float:
    """Peak resident memory of this process (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
