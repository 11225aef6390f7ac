"""Inference backends, looked up by name and imported only when used.

A backend is a class taking a :class:`reer.config.ModelConfig` and implementing ``generate`` and/or
``score`` (see :mod:`reer.backends.base`). Third-party packages register more through the
``reer.backends`` entry-point group, exactly like the built-in ones.
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points
from typing import Any

from reer.backends.base import (
    Generation,
    GenerationRequest,
    Generator,
    Sampling,
    Scorer,
    ScoreRequest,
    ScoreResult,
)
from reer.config import ModelConfig, ReerConfig
from reer.errors import BackendError

BACKENDS: dict[str, str] = {
    "transformers": "reer.backends.transformers_backend:TransformersBackend",
    "llamacpp": "reer.backends.llamacpp_backend:LlamaCppBackend",
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
    "load_backend",
    "open_backends",
]


def _available() -> dict[str, str]:
    found = {ep.name: ep.value for ep in entry_points(group="reer.backends")}
    return {**found, **BACKENDS}


def load_backend(config: ModelConfig) -> Any:
    """Import and construct the backend named in ``config``."""
    available = _available()
    target = available.get(config.backend)
    if target is None:
        close = difflib.get_close_matches(config.backend, list(available), n=1)
        hint = f" — did you mean '{close[0]}'?" if close else ""
        raise BackendError(f"unknown backend '{config.backend}'{hint} (known: {', '.join(sorted(available))})")
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendError(f"backend '{config.backend}' needs a package that is missing: {exc}") from exc
    return getattr(module, class_name)(config)


def open_backends(config: ReerConfig) -> tuple[Generator, Scorer]:
    """Generator and scorer; one instance (one loaded model) when both name the same model."""
    generator = load_backend(config.generator)
    scorer = generator if config.scorer_model == config.generator else load_backend(config.scorer_model)
    return generator, scorer
