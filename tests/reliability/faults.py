"""FAKES OF FAULTS, for tests only: a backend that misbehaves on purpose, the way real engines and servers do.

:class:`FaultyBackend` is the fake backend (``reer.backends.fake``) plus faults, chosen per item by a marker
in the pair's query, e.g. ``"Write a poem. [fault:permanent]"``. The marker reaches every generation and
scoring request of that item (the query is in each prompt). A faulty request fails the *whole* engine call
it is part of, as an engine that raises on one input of a batch does. Registered as backend ``faulty`` by
the reliability tests' conftest, and only while they run. Below it: the helpers and checks the kill tests share.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from reer.backends.base import Generation, GenerationRequest, ScoreRequest, ScoreResult
from reer.backends.fake import FakeBackend
from reer.records import Pair
from tests.conftest import LONG_REFERENCE

_MARK = re.compile(r"\[fault:(\w+)\]")
HANG_SECONDS = 3600.0
SLOW_SECONDS = 0.4


class FaultyBackend(FakeBackend):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.transient_failed = False  # a transient fault fails the first call it is in, once
        self._lock = threading.Lock()

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Generation]]:
        faults = [_fault(r.messages) for r in requests]
        self._raise_for(faults)
        results = super().generate(requests)
        return [
            [Generation(_GARBAGE, g.num_tokens, g.finish_reason) for g in gens] if fault == "garbage" else gens
            for gens, fault in zip(results, faults, strict=True)
        ]

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        faults = [_fault(r.messages) for r in requests]
        self._raise_for(faults)
        results = super().score(requests)
        return [_bent(result, fault) for result, fault in zip(results, faults, strict=True)]

    def _raise_for(self, faults: list[str | None]) -> None:
        if "hang" in faults:
            time.sleep(HANG_SECONDS)
        if "slow" in faults:
            time.sleep(SLOW_SECONDS)
        if "permanent" in faults:
            raise RuntimeError("injected fault: this input always breaks the engine")
        if "transient" in faults:
            with self._lock:
                first, self.transient_failed = not self.transient_failed, True
            if first:
                raise RuntimeError("injected fault: a transient engine error")


_GARBAGE = "\x00\ufffd\x1b[2J\udcff" * 8  # NUL, replacement char, a terminal escape, a lone surrogate


def _fault(messages: Sequence[Any]) -> str | None:
    for message in messages:
        if found := _MARK.search(message["content"]):
            return found.group(1)
    return None


def _bent(result: ScoreResult, fault: str | None) -> ScoreResult:
    if fault == "nan":
        return ScoreResult([math.nan] * len(result.token_logprobs), result.tokens, result.context_tokens)
    if fault == "positive":
        return ScoreResult([0.5] * len(result.token_logprobs), result.tokens, result.context_tokens)
    if fault == "truncated":
        return ScoreResult(result.token_logprobs[:-1], result.tokens, result.context_tokens)
    return result


REPO = Path(__file__).resolve().parents[2]
_ENTRY = (
    "import sys; from reer.backends import BACKENDS; "
    f"BACKENDS['faulty'] = '{__name__}:FaultyBackend'; "
    "from reer.cli import run; sys.argv[0] = 'reer'; run()"
)


def reer_command(*args: str) -> list[str]:
    """``reer ARGS`` in a new process that also knows backend ``faulty`` (run it with ``cwd=REPO``)."""
    return [sys.executable, "-c", _ENTRY, *args]


def run_reer(*args: str) -> subprocess.CompletedProcess:
    """``reer ARGS`` (with backend ``faulty``) to its end."""
    return subprocess.run(reer_command(*args), capture_output=True, text=True, cwd=REPO, timeout=600)


def fault_config(path: Path, concurrency: int = 1, timeout: float = 3600.0, **search: Any) -> Path:
    """A config file for the faulty backend."""
    generator = {"backend": "faulty", "timeout": timeout}
    settings = {"generator": generator, "search": {"max_steps": 2, **search}, "concurrency": concurrency}
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


def fault_pairs(*faults: str | None, n: int = 8) -> list[Pair]:
    """``n`` pairs, the first ones carrying the given faults (None: healthy)."""
    marks = [f" [fault:{faults[i]}]" if i < len(faults) and faults[i] else "" for i in range(n)]
    return [
        Pair(id=f"item-{i}", query=f"Write about a lighthouse keeper, number {i}.{marks[i]}", reference=LONG_REFERENCE)
        for i in range(n)
    ]


def write_pairs(path: Path, *faults: str | None, n: int = 8) -> Path:
    path.write_text("".join(p.model_dump_json() + "\n" for p in fault_pairs(*faults, n=n)), encoding="utf-8")
    return path


def intact(database: Path) -> None:
    if not database.exists():
        return
    db = sqlite3.connect(database)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()


def no_repeated_steps(run: Path) -> None:
    intact(run / "reer.sqlite")
    if not (run / "reer.sqlite").exists():
        return
    db = sqlite3.connect(run / "reer.sqlite")
    try:
        for table, key in (("steps", "item_id, rollout, step"), ("candidates", "item_id, rollout, step, candidate")):
            repeated = f"SELECT COUNT(*) FROM (SELECT {key} FROM {table} GROUP BY {key} HAVING COUNT(*) > 1)"
            assert db.execute(repeated).fetchone()[0] == 0
    except sqlite3.OperationalError:  # killed before the schema was written: nothing to check yet
        pass
    finally:
        db.close()


def exported(run: Path, out: Path) -> dict[str, bytes]:
    done = run_reer("export", str(run), "-o", str(out), "--format", "records", "--no-filter")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    for row in rows:  # wall-clock fields differ between any two runs
        row.pop("seconds")
        for step in row["steps"]:
            step.pop("seconds")
    sft = run_reer("export", str(run), "-o", str(out.with_name(out.name + "-sft")), "--no-filter")
    assert sft.returncode == 0, sft.stderr
    return {
        "records": json.dumps(rows, sort_keys=True).encode(),
        "sft": (out.with_name(out.name + "-sft") / "train.jsonl").read_bytes(),
    }
