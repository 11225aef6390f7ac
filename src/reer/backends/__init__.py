"""Inference backends, looked up by name and imported only when used.

A backend is a class taking a :class:`reer.config.ModelConfig` and implementing ``generate`` and/or
``score`` (see :mod:`reer.backends.base`); its ``capabilities`` say which, plus "tokenize" when its
``token_counter(config)`` counts tokens without loading the weights; a class whose abilities depend on its
configuration also has ``capabilities_of(config)``. Third-party packages register more
through the ``reer.backends`` entry-point group, exactly like the built-in ones; an unregistered class is
named by its import path, ``package.module:Class`` (every Ray worker then imports it the same way).
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from reer.backends.base import (
    Capability,
    Generation,
    GenerationRequest,
    Generator,
    Sampling,
    Scorer,
    ScoreRequest,
    ScoreResult,
)
from reer.config import DEFAULT_CONTEXT, ModelConfig, ReerConfig
from reer.errors import BackendError

BACKENDS: dict[str, str] = {
    "transformers": "reer.backends.transformers_backend:TransformersBackend",
    "llamacpp": "reer.backends.llamacpp_backend:LlamaCppBackend",
    "openai": "reer.backends.openai_backend:OpenAIBackend",
    "fake": "reer.backends.fake:FakeBackend",
}

__all__ = [
    "BACKENDS",
    "Generation",
    "GenerationRequest",
    "Generator",
    "Sampling",
    "ScoreRequest",
    "ScoreResult",
    "Scorer",
    "backend_class",
    "check_backends",
    "context_length",
    "load_backend",
    "open_backends",
    "open_token_counter",
    "require",
]


def _available() -> dict[str, str]:
    found = {ep.name: ep.value for ep in entry_points(group="reer.backends")}
    return {**found, **BACKENDS}


def backend_class(config: ModelConfig) -> Any:
    """The class registered under ``config.backend`` (imported, nothing loaded)."""
    available = _available()
    target = available.get(config.backend) or (config.backend if ":" in config.backend else None)
    if target is None:
        close = difflib.get_close_matches(config.backend, list(available), n=1)
        hint = f" — did you mean '{close[0]}'?" if close else ""
        raise BackendError(f"unknown backend '{config.backend}'{hint} (known: {', '.join(sorted(available))})")
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendError(f"backend '{config.backend}' needs a package that is missing: {exc}") from exc
    try:
        return getattr(module, class_name)
    except AttributeError:
        raise BackendError(f"backend '{config.backend}': {module_name} has no class {class_name}") from None


def require(config: ModelConfig, capability: Capability, role: str, fix: str = "") -> Any:
    """The backend class, if it can do ``capability``; else one line that says what to change."""
    cls = backend_class(config)
    able = getattr(cls, "capabilities", frozenset({"generate", "score"}))
    if hasattr(cls, "capabilities_of"):  # what this configuration of it can do (a chat-only API cannot score)
        able = cls.capabilities_of(config)
    if capability not in able:
        can = ", ".join(sorted(able)) or "nothing"
        raise BackendError(f"{config.backend} cannot {capability} (it can: {can}); {fix or f'choose another {role}'}")
    return cls


def load_backend(config: ModelConfig, capability: Capability = "generate", role: str = "generator") -> Any:
    """Construct the backend named in ``config`` after checking that it can do what ``role`` needs."""
    return require(config, capability, role)(config)


def check_backends(config: ReerConfig) -> None:
    """That the generator can generate and the scorer can score, loading nothing: a wrong pairing stops at
    set-up with the fix, not at the first item."""
    fix = "add scorer: {backend: transformers} (a scorer of the same model)" if config.scorer is None else ""
    require(config.generator, "generate", "generator")
    require(config.scorer_model, "score", "scorer", fix)


def open_backends(config: ReerConfig) -> tuple[Generator, Scorer]:
    """Generator and scorer; one instance (one loaded model) when both name the same model, both checked
    before either model loads."""
    check_backends(config)
    generator = load_backend(config.generator)
    scorer = generator if config.scorer_model == config.generator else load_backend(config.scorer_model, "score")
    return generator, scorer


def open_token_counter(config: ModelConfig) -> Callable[[str], int]:
    """Token counts by ``config``'s tokenizer, without loading its weights (the pre-filter's limits)."""
    counter: Callable[[str], int] = require(config, "tokenize", "scorer").token_counter(config)
    return counter


def context_length(config: ModelConfig) -> int:
    """The context window ``config``'s model runs with, without loading it: the configured one, else its
    backend's own (a server's ``max_model_len``), else the default."""
    cls = backend_class(config)
    if hasattr(cls, "context_length_of"):
        return int(cls.context_length_of(config))
    return config.context_length or DEFAULT_CONTEXT
