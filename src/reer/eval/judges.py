"""Judges: an OpenAI-compatible chat endpoint or a local model, and the attempt loop around them.

A verdict is read the benchmark's own way (``Benchmark.parse``). One that does not parse is asked again, with
the same messages and sampling as the benchmark's script does, until the benchmark's attempts are used up;
then it is recorded as *unscored*: counted in the results, never turned into a zero.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from reer.config import JudgeConfig
from reer.errors import ReerError
from reer.eval.benchmarks.base import JudgeTask, Parsed
from reer.eval.protocol import SamplingRecord

SMOKE_LABEL = "SMOKE TEST ONLY: the embedded 135M model is not a meaningful judge"


class JudgeError(ReerError):
    """The judge endpoint refused or kept failing; finished judgements are saved, rerun to continue."""


class JudgeClient(Protocol):
    def complete(self, tasks: Sequence[JudgeTask], sampling: SamplingRecord) -> list[str]: ...


@dataclass
class Outcome:
    part: str
    scores: dict[str, float] | None
    raws: list[str] = field(default_factory=list)

    @property
    def attempts(self) -> int:
        return len(self.raws)


def judge_tasks(
    client: JudgeClient,
    tasks: Sequence[JudgeTask],
    parse: Callable[[JudgeTask, str], Parsed],
    sampling: SamplingRecord,
    attempts: int,
) -> list[Outcome]:
    """One outcome per task; each round asks again only the tasks whose verdict did not parse and that have
    attempts left (a verdict may use up more than one, as the benchmark's own loop counts)."""
    outcomes = [Outcome(task.part, None) for task in tasks]
    used = [0] * len(tasks)
    pending = list(range(len(tasks)))
    while pending:
        texts = client.complete([tasks[i] for i in pending], sampling)
        for i, text in zip(pending, texts, strict=True):
            parsed = parse(tasks[i], text)
            outcomes[i].raws.append(text)
            outcomes[i].scores = parsed.scores
            used[i] += parsed.cost
        pending = [i for i in pending if outcomes[i].scores is None and used[i] < attempts]
    return outcomes


class ModelJudge:
    """A judge opened through the backend registry like every model: an OpenAI-compatible chat endpoint
    (the ``openai`` backend, chat only: its traffic rules, retries and key handling) or a model run
    in-process. The embedded model judges for smoke tests only.

    A local model writes only the scores: the verdict is the benchmark's official output format
    (:attr:`JudgeTask.form`) with one slot per score, and each slot is generated after everything before it
    (pre-filled) and reads the first number the model writes there — a value the format does not allow stays
    as written, so the official parser rejects it and the attempt counts as failed. A 135M model cannot write
    a benchmark's JSON freely; this keeps the whole official path (prompt, format, parser, attempts, scores)
    running in a CPU smoke test. A chat API cannot be pre-filled and answers in full."""

    SLOT_TOKENS = 6  # enough for "0.75" and a delimiter

    def __init__(self, config: JudgeConfig) -> None:
        from reer.backends import load_backend

        self.config = config
        self.local = config.kind == "local"
        self.generator = load_backend(config.backend_config(), "generate", "judge")

    def complete(self, tasks: Sequence[JudgeTask], sampling: SamplingRecord) -> list[str]:
        from reer.backends import Sampling

        sent = Sampling(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_new_tokens=sampling.max_tokens,
            seed=sampling.seed,
            top_k=sampling.top_k,
        )
        if self.local and all(task.form for task in tasks):
            slot = replace(sent, max_new_tokens=min(self.SLOT_TOKENS, sent.max_new_tokens), stop=(",", "}", "\n"))
            return [self._filled(task, slot) for task in tasks]
        return [reply.text for reply in self._generate([(task, "") for task in tasks], sent)]

    def _filled(self, task: JudgeTask, sampling: Any) -> str:
        """The task's form with its slots filled left to right. One task at a time: an engine that keeps its last
        prompt in cache (llama.cpp) then reads the long judge prompt once per verdict, not once per slot."""
        text = task.form[0]
        for piece in task.form[1:]:
            [reply] = self._generate([(task, text)], sampling)
            text += _first_number(reply.text) + piece
        return text

    def _generate(self, prompts: Sequence[tuple[JudgeTask, str]], sampling: Any) -> list[Any]:
        from reer.backends import GenerationRequest
        from reer.backends.http import ServerError

        requests = [
            GenerationRequest(messages=list(task.messages), sampling=sampling, prefill=prefill)
            for task, prefill in prompts
        ]
        try:
            replies = self.generator.generate(requests)
        except ServerError as exc:  # refused, or still failing after its retries: stop, the verdicts so far are kept
            raise JudgeError(f"the judge endpoint failed: {exc}") from exc
        return [reply[0] for reply in replies]


def _first_number(text: str) -> str:
    """The first number a slot's generation holds, as written; the text itself when it holds none."""
    found = re.search(r"-?\d+(?:\.\d+)?", text)
    return found.group(0) if found else json.dumps(text.strip())


def judge_label(config: JudgeConfig) -> str:
    """How results name the judge; the embedded local judge always carries the smoke-test label."""
    if config.kind == "openai":
        label = f"{config.model} ({config.base_url})"
    else:
        label = f"{config.local.model} (local, {config.local.backend})"
    return f"{label} — {SMOKE_LABEL}" if config.smoke_only else label
