"""Training samples from whatever ``reer`` produced: an export folder, an SFT file in any export format, or a
run directory (its finished trajectories, through the post-filters) — optionally mixed with another set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reer.config import FilterConfig
from reer.errors import InputError
from reer.export.formats import file_name, read_samples
from reer.records.sample import SftSample, inline
from reer.store.db import DB_NAME


def load_samples(data: Path, filters: FilterConfig | None = None) -> list[SftSample]:
    """Samples of ``data``; a run directory is filtered with ``filters`` first (None: every finished one)."""
    if (data / DB_NAME).exists():
        from reer.export.dataset import run_samples

        return run_samples(data, filters)
    if data.is_dir() and (data / "export.json").exists():
        for fmt in ("messages-inline", "verl"):
            if (data / file_name(fmt)).exists():
                return read_samples(data / file_name(fmt))
    if not data.exists():
        raise InputError(f"training data {data} does not exist; give an export folder, an SFT file or a run directory")
    return read_samples(data)


def mix(samples: list[SftSample], other: Path, ratio: float, seed: int) -> list[SftSample]:
    """``samples`` plus ``ratio`` samples of ``other`` per sample, drawn without replacement, shuffled."""
    from reer.export.dataset import with_mix

    return with_mix(samples, other, ratio, seed)[0]


def prompt_completion(sample: SftSample) -> dict[str, Any]:
    """TRL's conversational prompt–completion shape: the loss falls on the completion (the assistant turn:
    thinking inside ``<think></think>``, then the answer) and never on the prompt."""
    prompt = ([{"role": "system", "content": sample.system}] if sample.system else []) + [
        {"role": "user", "content": sample.prompt}
    ]
    return {"id": sample.id, "prompt": prompt, "completion": [{"role": "assistant", "content": inline(sample)}]}
