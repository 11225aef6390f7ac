"""``reer train``: supervised fine-tuning on REER data with TRL's ``SFTTrainer`` (full or LoRA).

The same code runs on a CPU, one GPU, or several through ``accelerate launch``/``torchrun``: the device
count comes from the launcher (``WORLD_SIZE``), and gradient accumulation is derived from it so the
*global* batch stays what the config says. Checkpoints go to ``OUT_DIR/checkpoint-N``; a rerun resumes
from the newest one. The final model is saved in Hugging Face format to ``OUT_DIR/final`` with the
settings that produced it.
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reer.config import TrainConfig
from reer.errors import ConfigError, ReerError
from reer.records.sample import SftSample
from reer.train import arguments, distributed, guard, template
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
    dropped: int = 0  # samples not trained on: over max_length (train.over_length=drop) or their prompt alone
    eval_loss: float | None = None  # on the held-out share (train.eval_fraction)
    main: bool = True  # rank 0 (or the only process): the one that reports

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
    ``notice`` hears, before the first step, how many samples are longer than ``max_length`` (on rank 0 only)."""
    from datasets import Dataset

    if not samples:
        raise ReerError(f"{source or 'the data'} holds no training samples (all filtered out? see `reer filter`)")
    arguments.pass_through(config)  # a wrong train.sft key fails before anything is loaded
    main = distributed.is_main()
    tell = notice if notice and main else (lambda message: None)
    rows = [prompt_completion(s) for s in samples]
    guard.check_resume(out_dir, guard.fingerprint(rows, config, seed), force, write=main)
    tokenizer = template.training_tokenizer(config)
    lengths = guard.token_lengths(rows, tokenizer)
    for message in (guard.over_length_notice(lengths, config), arguments.precision_warning(config)):
        if message:
            tell(message)
    kept = (
        rows
        if config.over_length == "truncate"
        else [r for r, n in zip(rows, lengths, strict=True) if n <= config.max_length]
    )
    if not kept:
        raise ReerError(f"every sample is longer than train.max_length={config.max_length} tokens; raise it")
    training, held_out = _split(Dataset.from_list(kept), config.eval_fraction, seed)
    trainer = _trainer(training, held_out, tokenizer, out_dir, config, seed)
    distributed.check_engaged(trainer)
    trainer.accelerator.wait_for_everyone()  # rank 0 has cleared a --force folder before anyone looks in it
    if len(trainer.train_dataset) == 0:  # TRL drops samples whose prompt alone fills max_length
        raise ReerError(f"every sample's prompt is longer than train.max_length={config.max_length}; raise it")
    if not config.packing:  # a packed row holds several samples: the mask is checked unpacked (tests)
        first = trainer.train_dataset[0]  # TRL drops samples whose prompt fills max_length: find its source by id
        check_mask(first, training[training["id"].index(first["id"])], tokenizer, config.max_length)
        if show_sample and main:
            show_sample(render_mask(first, tokenizer))
    dropped = len(rows) - len(held_out or []) - len(trainer.train_dataset) if not config.packing else 0
    truncated = sum(n > config.max_length for n in lengths) if config.over_length == "truncate" else 0
    last = _last_checkpoint(out_dir)
    started = time.perf_counter()
    steps_before = _checkpoint_step(last)
    finished = _finished_state(last)
    if finished is None:
        trainer.train(resume_from_checkpoint=last)
    else:  # a rerun of a finished run: transformers would train one step past the end before it stops
        trainer._load_from_checkpoint(last)
        trainer.state = finished
    seconds = time.perf_counter() - started
    eval_loss = trainer.evaluate()["eval_loss"] if held_out is not None else None
    final = _save(trainer, tokenizer, out_dir / "final", config, source, len(samples), eval_loss)
    merged = _merge(trainer, tokenizer, out_dir / "merged") if merge and config.method == "lora" and main else None
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
        eval_loss,
        main,
    )


def _split(dataset: Any, fraction: float, seed: int) -> tuple[Any, Any]:
    """(training rows, held-out rows or None): a seeded share held out for the eval loss."""
    if not fraction:
        return dataset, None
    held = max(1, round(fraction * len(dataset)))
    if held >= len(dataset):
        raise ConfigError(f"train.eval_fraction={fraction} leaves no training sample of {len(dataset)}; lower it")
    parts = dataset.train_test_split(test_size=held, seed=seed)
    return parts["train"], parts["test"]


def _trainer(dataset: Any, held_out: Any, tokenizer: Any, out_dir: Path, config: TrainConfig, seed: int) -> Any:
    from trl import SFTTrainer

    from reer.backends.models import resolve_model_path

    eos = config.eos_token or template.turn_end_token(tokenizer)
    args = arguments.sft_config(config, out_dir, seed, eos, held_out is not None)
    return SFTTrainer(
        model=resolve_model_path(config.base_model),
        args=args,
        train_dataset=dataset,
        eval_dataset=held_out,
        processing_class=tokenizer,
        peft_config=_lora(config),
    )


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


def _finished_state(checkpoint: str | None) -> Any:
    """The trainer state of ``checkpoint`` if it is the end of the run (its last step taken), else None."""
    from transformers import TrainerState

    if checkpoint is None:
        return None
    state = TrainerState.load_from_json(str(Path(checkpoint) / "trainer_state.json"))
    return state if state.max_steps and state.global_step >= state.max_steps else None


def _checkpoint_step(checkpoint: str | None) -> int:
    return int(checkpoint.rsplit("-", 1)[1]) if checkpoint else 0


def _save(
    trainer: Any, tokenizer: Any, final: Path, config: TrainConfig, source: str, samples: int, eval_loss: float | None
) -> Path:
    """The model with a generation config that stops at the end of a turn, its tokenizer and the settings; then
    ``final/`` is checked to hold a model that loads (:func:`guard.verify_final`). Every rank takes part in
    ``save_model`` (FSDP and ZeRO-3 gather the weights); only rank 0 writes the rest."""
    generation = trainer.model.generation_config
    generation.eos_token_id = template.stop_tokens(tokenizer, generation.eos_token_id)
    trainer.save_model(str(final))
    if trainer.accelerator.is_main_process:
        generation.save_pretrained(str(final))  # a LoRA adapter folder too: `reer generate` and servers read it
        tokenizer.save_pretrained(str(final))
        # What the trainer really ran with, not what the launcher set.
        args = trainer.args
        world = args.world_size
        record = {
            "train": config.model_dump(mode="json"),
            "data": source,
            "samples": samples,
            "world_size": world,
            "global_batch": world * args.per_device_train_batch_size * args.gradient_accumulation_steps,
            "precision": arguments.precision(config)[0],
            "eval_loss": eval_loss,
        }
        (final / "reer-train.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        guard.verify_final(final, lora=config.method == "lora")
    trainer.accelerator.wait_for_everyone()
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
