"""Judges: an OpenAI-compatible chat endpoint or a local model, and the parse-and-retry loop around them.

A verdict is accepted only when every score the task asks for is found and in range. Otherwise the task is
asked again (at ``retry_temperature``: a greedy retry would repeat the same text) up to ``retries`` more
times, and then recorded as *unscored*: counted in the results, never turned into a zero.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from reer.config import JudgeConfig
from reer.errors import ReerError
from reer.eval.benchmarks.base import JudgeTask

SYSTEM = "You are a meticulous, strict evaluator of writing. You follow the requested output format exactly."
SMOKE_LABEL = "SMOKE TEST ONLY: the embedded 135M model is not a meaningful judge"


class JudgeError(ReerError):
    """The judge endpoint refused or kept failing; finished judgements are saved, rerun to continue."""


class JudgeClient(Protocol):
    def complete(self, tasks: Sequence[JudgeTask], temperature: float, seed: int) -> list[str]: ...


@dataclass
class Outcome:
    part: str
    scores: dict[str, float] | None
    raws: list[str] = field(default_factory=list)

    @property
    def attempts(self) -> int:
        return len(self.raws)


def parse_scores(text: str, task: JudgeTask) -> dict[str, float] | None:
    """The last ``key: number`` (or JSON ``"key": number``) of each key, if all are present and in range."""
    found = {}
    for key in task.keys:
        name = re.escape(key).replace("_", "[ _-]")
        values = re.findall(rf"{name}[\"'*\s]*[:=][\"'*\s]*(-?\d+(?:\.\d+)?)", text, flags=re.IGNORECASE)
        if not values:
            return None
        value = float(values[-1])
        if not task.low <= value <= task.high:
            return None
        found[key] = value
    return found


def judge_tasks(client: JudgeClient, tasks: Sequence[JudgeTask], config: JudgeConfig, seed: int) -> list[Outcome]:
    """One outcome per task; each round asks again only the tasks whose verdict did not parse."""
    outcomes = [Outcome(task.part, None) for task in tasks]
    pending = list(range(len(tasks)))
    for attempt in range(config.retries + 1):
        if not pending:
            break
        temperature = config.temperature if attempt == 0 else config.retry_temperature
        texts = client.complete([tasks[i] for i in pending], temperature, seed + attempt)
        for i, text in zip(pending, texts, strict=True):
            outcomes[i].raws.append(text)
            outcomes[i].scores = parse_scores(text, tasks[i])
        pending = [i for i in pending if outcomes[i].scores is None]
    return outcomes


class ModelJudge:
    """A judge opened through the backend registry like every model: an OpenAI-compatible chat endpoint
    (the ``openai`` backend, chat only: its traffic rules, retries and key handling) or a model run
    in-process. A local verdict is pre-filled with the first score's name, so that even a small model answers
    with a number; a chat API cannot be pre-filled. The embedded model judges for smoke tests only."""

    def __init__(self, config: JudgeConfig) -> None:
        from reer.backends import load_backend

        self.config = config
        self.prefill = config.kind == "local"
        self.generator = load_backend(config.backend_config(), "generate", "judge")

    def complete(self, tasks: Sequence[JudgeTask], temperature: float, seed: int) -> list[str]:
        from reer.backends import GenerationRequest, Sampling
        from reer.backends.http import ServerError

        sampling = Sampling(temperature=temperature, top_p=1.0, max_new_tokens=self.config.max_tokens, seed=seed)
        requests = [
            GenerationRequest(
                messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": task.prompt}],
                sampling=sampling,
                prefill=f"{task.keys[0]}:" if self.prefill else "",
            )
            for task in tasks
        ]
        try:
            replies = self.generator.generate(requests)
        except ServerError as exc:  # refused, or still failing after its retries: stop, the verdicts so far are kept
            raise JudgeError(f"the judge endpoint failed: {exc}") from exc
        return [request.prefill + reply[0].text for request, reply in zip(requests, replies, strict=True)]


def judge_label(config: JudgeConfig) -> str:
    """How results name the judge; the embedded local judge always carries the smoke-test label."""
    if config.kind == "openai":
        label = f"{config.model} ({config.base_url})"
    else:
        label = f"{config.local.model} (local, {config.local.backend})"
    return f"{label} — {SMOKE_LABEL}" if config.smoke_only else label
