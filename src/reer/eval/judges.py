"""Judges: an OpenAI-compatible chat endpoint or a local model, and the parse-and-retry loop around them.

A verdict is accepted only when every score the task asks for is found and in range. Otherwise the task is
asked again (at ``retry_temperature``: a greedy retry would repeat the same text) up to ``retries`` more
times, and then recorded as *unscored*: counted in the results, never turned into a zero.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from reer.config import JudgeConfig
from reer.errors import ConfigError, ReerError
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


class HttpJudge:
    """Any OpenAI-compatible ``/chat/completions`` endpoint; the key is read from the environment only."""

    def __init__(self, config: JudgeConfig) -> None:
        if not config.base_url:
            raise ConfigError("judge.base_url is required for an OpenAI-compatible judge (e.g. --judge-url URL)")
        headers = {}
        if config.api_key_env:
            key = os.environ.get(config.api_key_env)
            if not key:
                raise ConfigError(
                    f"the judge key is read from the environment variable {config.api_key_env}, which is not set; "
                    "export it, or set judge.api_key_env to null for an endpoint that needs no key"
                )
            headers["Authorization"] = f"Bearer {key}"
        self.config = config
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        self.client = httpx.Client(headers=headers, timeout=config.timeout)

    def complete(self, tasks: Sequence[JudgeTask], temperature: float, seed: int) -> list[str]:
        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            return list(pool.map(lambda task: self._one(task.prompt, temperature, seed), tasks))

    def _one(self, prompt: str, temperature: float, seed: int) -> str:
        body = {
            "model": self.config.model,
            "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}],
            "temperature": temperature,
            "max_tokens": self.config.max_tokens,
            "seed": seed,
        }
        problem = ""
        for attempt in range(self.config.http_retries + 1):
            if attempt:
                time.sleep(min(60.0, 2.0**attempt))
            try:
                response = self.client.post(self.url, json=body)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code == 429 or response.status_code >= 500:
                problem = f"HTTP {response.status_code}"
                continue
            if response.status_code >= 400:
                raise JudgeError(
                    f"the judge endpoint {self.url} refused: HTTP {response.status_code} {response.text[:300]}"
                )
            try:
                return response.json()["choices"][0]["message"]["content"] or ""
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise JudgeError(
                    f"the judge endpoint {self.url} did not answer like an OpenAI chat API: {exc}"
                ) from exc
        raise JudgeError(f"the judge endpoint {self.url} kept failing ({problem}); rerun to continue where it stopped")


class LocalJudge:
    """A model run in-process. Its verdict is pre-filled with the first score's name, so that even a small
    model answers with a number; the embedded model judges for smoke tests only."""

    def __init__(self, config: JudgeConfig) -> None:
        from reer.backends import load_backend

        self.config = config
        self.generator = load_backend(config.local, "generate", "local judge")

    def complete(self, tasks: Sequence[JudgeTask], temperature: float, seed: int) -> list[str]:
        from reer.backends import GenerationRequest, Sampling

        sampling = Sampling(temperature=temperature, top_p=1.0, max_new_tokens=self.config.max_tokens, seed=seed)
        requests = [
            GenerationRequest(
                messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": task.prompt}],
                sampling=sampling,
                prefill=f"{task.keys[0]}:",
            )
            for task in tasks
        ]
        replies = self.generator.generate(requests)
        return [request.prefill + reply[0].text for request, reply in zip(requests, replies, strict=True)]


def open_judge(config: JudgeConfig) -> JudgeClient:
    return HttpJudge(config) if config.kind == "openai" else LocalJudge(config)


def judge_label(config: JudgeConfig) -> str:
    """How results name the judge; the embedded local judge always carries the smoke-test label."""
    if config.kind == "openai":
        label = f"{config.model} ({config.base_url})"
    else:
        label = f"{config.local.model} (local, {config.local.backend})"
    return f"{label} — {SMOKE_LABEL}" if config.smoke_only else label
