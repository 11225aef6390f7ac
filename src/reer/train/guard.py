"""What keeps ``reer train`` from succeeding silently wrong: resuming into a folder trained on other data or
settings, samples cut before their answer ends, a model that does not know where its turn ends, and a run
that "finishes" with no loadable model in ``final/``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reer.config import TrainConfig
from reer.errors import ConfigError, ReerError

RUN_FILE = "reer-train-run.json"
# Fields that change how checkpoints are written or logged, not what is learned: a resume may change them.
_NOT_LEARNED = {"save_steps", "save_total_limit", "logging_steps"}


def fingerprint(rows: Sequence[dict[str, Any]], config: TrainConfig, seed: int) -> dict[str, Any]:
    """The data (every training row, in order) as a digest, and the settings that shape what is learned."""
    data = hashlib.sha256()
    for row in rows:
        data.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode())
        data.update(b"\n")
    settings = config.model_dump(mode="json", exclude=_NOT_LEARNED) | {"seed": seed}
    return {"data": data.hexdigest(), "rows": len(rows), "settings": settings}


def check_resume(out_dir: Path, found: dict[str, Any], force: bool, write: bool = True) -> None:
    """Refuse to resume a folder trained on other data or settings (one line), unless ``force``: then its
    checkpoints and final model are removed and training starts over. The fingerprint is written for the next run.
    Every process checks; only the ``write`` one (rank 0) removes and writes."""
    path = out_dir / RUN_FILE
    if path.is_file():
        before = json.loads(path.read_text(encoding="utf-8"))
        differ = _differences(before, found)
        if differ and not force:
            raise ConfigError(
                f"{out_dir} was trained with other {', '.join(differ)}: rerun with the same ones, pass --force to "
                "start over in it (its checkpoints and final model are removed), or write to a new -o folder"
            )
        if differ and write:
            for old in [*out_dir.glob("checkpoint-*"), out_dir / "final", out_dir / "merged"]:
                shutil.rmtree(old, ignore_errors=True)
    if not write:
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(found, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)


def _differences(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    differ = ["data"] if before.get("data") != now["data"] else []
    old, new = before.get("settings", {}), now["settings"]
    differ += [f"train.{key}" if key != "seed" else "seed" for key in new if old.get(key) != new[key]]
    return differ


def token_lengths(rows: Sequence[dict[str, Any]], tokenizer: Any) -> list[int]:
    """Each prompt–completion row's length in tokens as the chat template renders it whole."""
    lengths = []
    for row in rows:
        text = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
        lengths.append(len(tokenizer(text, add_special_tokens=False)["input_ids"]))
    return lengths


def over_length_notice(lengths: Sequence[int], config: TrainConfig) -> str | None:
    """What happens to the samples longer than ``max_length``, said before the first step."""
    over = [n for n in lengths if n > config.max_length]
    if not over:
        return None
    head = (
        f"{len(over)} of {len(lengths)} samples are longer than train.max_length={config.max_length} tokens "
        f"(longest {max(over)})"
    )
    if config.over_length == "drop":
        return f"{head}: dropped (train.over_length=drop; truncate would train them without their end)"
    return f"{head}: cut at {config.max_length}, their ends and stop tokens untrained (train.over_length=truncate)"


def verify_final(final: Path, lora: bool) -> None:
    """``final/`` must hold what transformers loads and vLLM serves; otherwise the run fails with the fix."""
    weights = [p for p in final.glob("*.safetensors") if p.stat().st_size > 0]
    if not weights:
        raise ReerError(
            f"{final} holds no model weights (safetensors): under FSDP set fsdp_state_dict_type: FULL_STATE_DICT "
            "in the accelerate config, under DeepSpeed ZeRO-3 zero3_save_16bit_model: true (docs/training.md); "
            "then rerun the same command: it resumes from the last checkpoint and saves again"
        )
    needed = ["adapter_config.json" if lora else "config.json", "tokenizer_config.json", "generation_config.json"]
    missing = [name for name in needed if not (final / name).is_file()]
    if missing:
        raise ReerError(f"{final} lacks {', '.join(missing)}: the model cannot be loaded or served from it")
    template = (final / "chat_template.jinja").is_file() or "chat_template" in json.loads(
        (final / "tokenizer_config.json").read_text(encoding="utf-8")
    )
    if not template:
        raise ReerError(f"{final} has no chat template: train from a model whose tokenizer has one")
