"""Prompt templates, one file per prompt and language, filled with ``string.Template`` (``$query``).

They are data, not code: editing a file changes the run fingerprint (see :func:`digest`), so a run never
mixes outputs of two prompt versions without ``--force``.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.resources import files
from string import Template

LANGUAGES = ("en", "zh")
NAMES = ("system", "instruction", "initial", "refine", "refine_leadin", "empty")


@cache
def template(language: str, name: str) -> Template:
    text = files(__package__).joinpath(language, f"{name}.txt").read_text(encoding="utf-8")
    return Template(text.rstrip("\n"))


def render(language: str, name: str, **values: str) -> str:
    return template(language, name).substitute(values)


def digest() -> str:
    """Hash of every template, part of a run's fingerprint."""
    h = hashlib.sha256()
    for language in LANGUAGES:
        for name in NAMES:
            h.update(f"{language}/{name}\n{template(language, name).template}\n".encode())
    return h.hexdigest()[:16]
