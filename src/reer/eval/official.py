"""The benchmarks' own files — judge prompts, weights, data — found and read the same way for every benchmark.

A number is comparable with a published one only when the judge saw the benchmark's own prompt, so the prompt
text is read at run time from the benchmark's files, byte for byte, and recorded with its sha256. Python files
(HelloBench's ``llm_judge.py``, WritingBench's ``prompt.py``, ``weighted_scores.txt``) are *parsed*, never
executed: only top-level constant assignments are read, with :func:`ast.literal_eval`.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from reer.errors import InputError
from reer.packages import package_dir

EVALSCOPE = "evalscope==1.14.1"
LONGBENCH_RESOURCES = "third_party/longbench_write/resources"


@dataclass(frozen=True)
class OfficialFile:
    """One of a benchmark's own files as read: where it came from and its digest (recorded in results.json)."""

    path: Path
    sha256: str
    text: str


@cache
def read_official(path: Path) -> OfficialFile:
    data = path.read_bytes()
    return OfficialFile(path, hashlib.sha256(data).hexdigest(), data.decode("utf-8"))


def find_file(name: str, folders: Iterable[Path], hint: str) -> OfficialFile:
    """The first ``folders/name`` that exists; otherwise one line naming the file and what to download."""
    tried = list(dict.fromkeys(folders))
    for folder in tried:
        if (folder / name).is_file():
            return read_official((folder / name).resolve())
    where = ", ".join(str(f) for f in tried) or "nowhere"
    raise InputError(f"{name} not found (looked in {where}): {hint}")


def python_constants(file: OfficialFile, names: Sequence[str]) -> dict[str, Any]:
    """Top-level ``NAME = <literal>`` assignments of a Python file, read without running it."""
    try:
        tree = ast.parse(file.text, filename=str(file.path))
    except SyntaxError as exc:
        raise InputError(f"{file.path}:{exc.lineno}: not valid Python ({exc.msg})") from exc
    found: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in names:
                try:
                    found[name] = _literal(node.value)
                except ValueError as exc:
                    raise InputError(f"{file.path}:{node.lineno}: {name} is not a plain literal") from exc
    missing = [name for name in names if name not in found]
    if missing:
        raise InputError(f"{file.path}: defines no {', '.join(missing)} (is it the benchmark's own file?)")
    return found


def _literal(node: ast.expr) -> Any:
    """A literal, or a string literal's ``.strip()`` (WritingBench writes ``evaluate_prompt = \"""…\""".strip()``)."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "strip"
        and not node.args
        and not node.keywords
    ):
        value = ast.literal_eval(node.func.value)
        if isinstance(value, str):
            return value.strip()
    return ast.literal_eval(node)


def evalscope_resources() -> Path | None:
    """LongWriter's evaluation files as shipped in evalscope (installed ``--no-deps``), if it is installed."""
    try:
        return package_dir("evalscope", "") / LONGBENCH_RESOURCES
    except InputError:
        return None


def around(source: Path | None) -> list[Path]:
    """Folders where a benchmark's own files may sit relative to the data path a user gave: the folder itself,
    its parents (a repository root above ``data/main_data``), and a ``repo/`` folder beside them."""
    if source is None:
        return []
    folder = source if source.is_dir() else source.parent
    near = [folder, folder.parent, folder.parent.parent]
    return [p for f in near for p in (f, f / "repo")]
