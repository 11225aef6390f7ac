"""``reer eval``: answer the selected benchmark items with the model under test, judge, aggregate, report.

Phases run in order and each saves as it goes: answers (one transaction per batch), the reference
likelihood, then the judge's verdicts (one transaction per batch). A rerun skips everything saved, so a
killed evaluation resumes without generating an answer or asking for a verdict twice.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from reer.backends import GenerationRequest, Sampling, load_backend, require
from reer.config import EvalConfig, ReerConfig
from reer.errors import InputError, ReerError
from reer.eval import likelihood, protocol
from reer.eval.benchmarks import BENCHMARKS, Benchmark, EvalItem, Selection
from reer.eval.benchmarks.base import Files
from reer.eval.judges import ModelJudge, judge_label, judge_tasks
from reer.eval.metrics import bootstrap, bootstrap_halves, text_length, thinking_stats
from reer.eval.protocol import ProtocolRecord, SamplingRecord
from reer.eval.results import (
    BenchmarkResult,
    Estimate,
    EvalResults,
    ItemResult,
    JudgeCounts,
    LikelihoodResult,
    MetricSummary,
    ThinkingSummary,
)
from reer.records.pair import Pair, load_pairs
from reer.records.sample import split_reply
from reer.store.eval_store import Answer, EvalStore, Saved

LIKELIHOOD = "likelihood"
NAMES = (*BENCHMARKS, LIKELIHOOD)
Progress = Callable[[str, int, int], None]  # (phase, done, total)
_PACKAGES = ("torch", "transformers", "llama_cpp_python", "urllib3", "peft", "trl")


@dataclass
class EvalRequest:
    model: str
    benchmarks: Sequence[str]
    out_dir: Path
    config: EvalConfig
    clip: float  # REER's clip (the config's search.clip) for the likelihood's clipped score
    sources: dict[str, Path] = field(default_factory=dict)  # benchmark → its file or folder
    selections: dict[str, Selection] = field(default_factory=dict)
    references: Path | None = None  # held-out pairs for the reference likelihood
    markers: Sequence[str] = ()  # reflection phrases counted in the thinking statistics
    seed: int = 0
    smoke: bool = False  # --preset cpu: the embedded judge may run (a smoke test of the whole path)

    @classmethod
    def of(
        cls,
        model: str,
        benchmarks: Sequence[str],
        out_dir: Path,
        config: ReerConfig,
        *,
        sources: dict[str, Path | None],
        groups: dict[str, Sequence[str]],
        lang: str | None = None,
        limit: int | None = None,
        references: Path | None = None,
        per_group: bool = False,
        smoke: bool = False,
    ) -> EvalRequest:
        """A request from the run's settings and a selection: ``sources``, benchmark → the file or folder given
        (None: its default); ``groups``, benchmark → the domains or subsets to keep; ``per_group``: ``limit``
        counts per group."""
        if lang not in (None, "en", "zh"):
            raise ReerError(f"--lang must be en or zh, got {lang!r}")
        languages = (lang,) if lang else ()
        return cls(
            model=model,
            benchmarks=benchmarks,
            out_dir=out_dir,
            config=config.eval,
            clip=config.search.clip,
            sources={name: path for name, path in sources.items() if path is not None},
            selections={
                name: Selection(limit, languages, tuple(groups.get(name, ())), per_group, config.seed)
                for name in benchmarks
            },
            references=references,
            markers=config.filters.reflection_markers,
            seed=config.seed,
            smoke=smoke,
        )


NO_JUDGE = (
    "a real judge is needed: pass --judge-url URL --judge-model NAME (an OpenAI-compatible endpoint: GPT-4o, "
    "Claude through a gateway, WritingBench's critic on vLLM), or --preset cpu for a smoke test with the embedded model"
)


def evaluate(request: EvalRequest, progress: Progress | None = None) -> EvalResults:
    """Run (or resume) an evaluation into ``request.out_dir``; return the results written there."""
    unknown = [name for name in request.benchmarks if name not in NAMES]
    if unknown or not request.benchmarks:
        raise ReerError(f"unknown benchmark(s) {', '.join(unknown) or '(none given)'}; choose from: {', '.join(NAMES)}")
    judged = [name for name in request.benchmarks if name != LIKELIHOOD]
    if judged and request.config.judge.smoke_only and not request.smoke:
        raise ReerError(NO_JUDGE)
    report = progress or (lambda phase, done, total: None)
    items = {name: BENCHMARKS[name].load(request.sources.get(name), _selection(request, name)) for name in judged}
    empty = [name for name, its in items.items() if not its]
    if empty:
        raise ReerError(f"no {' or '.join(empty)} items match the selection (--domains, --subsets, --lang, --limit)")
    files = {name: BENCHMARKS[name].official(request.sources.get(name)) for name in judged}
    pairs = _reference_pairs(request) if LIKELIHOOD in request.benchmarks else []
    store = EvalStore(request.out_dir)
    try:
        recorded = settings(request, files)
        store.check_settings(recorded)
        model = _ModelUnderTest(request)
        for name, its in items.items():
            _answer(store, BENCHMARKS[name], its, model, request, report)
        if pairs:
            _likelihood(store, pairs, model, request, report)
        judge = _Judge(request)
        for name, its in items.items():
            _judge(store, BENCHMARKS[name], its, files[name], judge, request, report)
        return EvalResults(
            created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            model=request.model,
            judge=judge_label(request.config.judge),
            smoke_test_only=request.config.judge.smoke_only,
            confidence=request.config.confidence,
            settings=recorded,
            versions=_versions(),
            benchmarks={
                name: summarize(BENCHMARKS[name], its, store, request, files[name]) for name, its in items.items()
            },
            likelihood=_likelihood_summary(store, pairs, request) if pairs else None,
        )
    finally:
        store.close()


def _digest(parts: list[str]) -> str:
    """One short digest of the benchmarks' files a run read (the prompt version of earlier results)."""
    import hashlib

    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _selection(request: EvalRequest, name: str) -> Selection:
    return request.selections.get(name, Selection(seed=request.seed))


def settings(request: EvalRequest, files: dict[str, Files] | None = None) -> dict[str, Any]:
    """What the numbers depend on; a resumed evaluation must use the same (the key's variable name only)."""
    config = request.config
    judge = config.judge.model_dump(exclude={"concurrency", "timeout", "http_retries"})
    protocols = {
        name: {
            "answers": protocol.answer_sampling(name, config, request.seed).model_dump(),
            "judge": protocol.judge_sampling(name, config.judge).model_dump(),
            "attempts": protocol.attempts(name, config.judge),
            "prompt_files": sorted(found.recorded.values()),
        }
        for name, found in (files or {}).items()
    }
    return {
        "model": request.model,
        "answers": config.answers.model_dump(include={"backend", "dtype"})
        | config.model_dump(include={"temperature", "top_p", "top_k", "max_new_tokens", "thinking_tokens"}),
        "judge": judge,
        "judge_prompts": _digest(sorted(d for found in (files or {}).values() for d in found.recorded.values())),
        "protocols": protocols,
        "seed": request.seed,
    }


class _ModelUnderTest:
    """Loaded on first use only: a resumed evaluation with every answer saved never loads it."""

    def __init__(self, request: EvalRequest) -> None:
        self.config = request.config.answers.model_copy(update={"model": request.model})
        require(self.config, "generate", "backend for the model under test")
        if LIKELIHOOD in request.benchmarks:
            fix = "the likelihood benchmark scores with the model under test: set eval.answers.backend: transformers"
            require(self.config, "score", "backend", fix)

    @cached_property
    def backend(self) -> Any:
        return load_backend(self.config)


class _Judge:
    """Opened on first use only, like the model under test."""

    def __init__(self, request: EvalRequest) -> None:
        self.config = request.config.judge

    @cached_property
    def client(self) -> Any:
        return ModelJudge(self.config)


def _answer(
    store: EvalStore,
    bench: Benchmark,
    items: list[EvalItem],
    model: _ModelUnderTest,
    request: EvalRequest,
    report: Progress,
) -> None:
    name = bench.name
    saved = store.answers(name)
    missing = [item for item in items if item.id not in saved]
    done = len(items) - len(missing)
    report(f"{name}: answers", done, len(items))
    wanted = protocol.answer_sampling(name, request.config, request.seed)
    sampling = Sampling(wanted.temperature, wanted.top_p, wanted.max_tokens, seed=wanted.seed, top_k=wanted.top_k)
    for chunk in batched(missing, request.config.batch_size):
        started = time.perf_counter()
        messages = [[{"role": "user", "content": item.prompt}] for item in chunk]
        replies = model.backend.generate([GenerationRequest(messages=m, sampling=sampling) for m in messages])
        seconds = (time.perf_counter() - started) / len(chunk)
        answers = []
        for item, (reply, *_) in zip(chunk, replies, strict=True):
            thinking, _ = split_reply(reply.text)
            answer = bench.answer_of(reply.text)
            answers.append(
                Answer(item.id, reply.text, thinking, answer, reply.num_tokens, reply.finish_reason, seconds)
            )
        store.save_answers(name, answers)
        done += len(chunk)
        report(f"{name}: answers", done, len(items))


def _judge(
    store: EvalStore,
    bench: Benchmark,
    items: list[EvalItem],
    files: Files,
    judge: _Judge,
    request: EvalRequest,
    report: Progress,
) -> None:
    answers = store.answers(bench.name)
    saved = store.scores(bench.name)
    tasks = [(item.id, task) for item in items for task in bench.judge_tasks(item, answers[item.id].answer, files)]
    pending = [(item_id, task) for item_id, task in tasks if (item_id, task.part) not in saved]
    done = len(tasks) - len(pending)
    report(f"{bench.name}: verdicts", done, len(tasks))
    sampling = protocol.judge_sampling(bench.name, request.config.judge)
    attempts = protocol.attempts(bench.name, request.config.judge)
    for chunk in batched(pending, request.config.batch_size):
        outcomes = judge_tasks(judge.client, [task for _, task in chunk], bench.parse, sampling, attempts)
        store.save_scores(
            bench.name, [Saved(i, o.part, o.scores, o.raws) for (i, _), o in zip(chunk, outcomes, strict=True)]
        )
        done += len(chunk)
        report(f"{bench.name}: verdicts", done, len(tasks))


def batched(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Consecutive slices of ``size`` (``itertools.batched`` arrives only with Python 3.12)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _reference_pairs(request: EvalRequest) -> list[Pair]:
    if request.references is None:
        raise InputError("the likelihood benchmark needs --references PAIRS (held-out request/reference pairs)")
    loaded = load_pairs(request.references)
    if loaded.problems:
        raise InputError(
            f"{request.references}: {loaded.problems[0]} (fix the file; {len(loaded.problems)} rows have problems)"
        )
    limit = request.selections.get(LIKELIHOOD, Selection()).limit
    return loaded.pairs[:limit] if limit is not None else loaded.pairs


def _likelihood(
    store: EvalStore, pairs: list[Pair], model: _ModelUnderTest, request: EvalRequest, report: Progress
) -> None:
    saved = store.scores(LIKELIHOOD)
    missing = [pair for pair in pairs if (pair.id, likelihood.PART) not in saved]
    done = len(pairs) - len(missing)
    report("likelihood", done, len(pairs))
    for chunk in batched(missing, request.config.batch_size):
        generations = model.backend.generate(likelihood.thinking_requests(chunk, request.config, request.seed))
        thoughts = [g[0] for g in generations]
        requests = [
            r for pair, g in zip(chunk, thoughts, strict=True) for r in likelihood.score_requests(pair, g.text.strip())
        ]
        scored = model.backend.score(requests)
        rows = [
            Saved(
                pair.id,
                likelihood.PART,
                likelihood.measurements(scored[2 * k], scored[2 * k + 1], g, request.clip),
                [g.text],
            )
            for k, (pair, g) in enumerate(zip(chunk, thoughts, strict=True))
        ]
        store.save_scores(LIKELIHOOD, rows)
        done += len(chunk)
        report("likelihood", done, len(pairs))


def summarize(
    bench: Benchmark, items: list[EvalItem], store: EvalStore, request: EvalRequest, files: Files
) -> BenchmarkResult:
    """Per metric: mean with a bootstrap interval overall and per group, unscored items counted; headlines."""
    answers = store.answers(bench.name)
    saved = store.scores(bench.name)
    verdicts: dict[str, dict[str, Any]] = defaultdict(dict)
    for (item_id, part), row in saved.items():
        verdicts[item_id][part] = row.scores
    per_item = {item.id: bench.item_scores(item, answers[item.id].answer, verdicts[item.id], files) for item in items}
    groups = {item.id: item.group for item in items}
    metrics = {}
    for metric in next(iter(per_item.values()), {}):
        values = {item_id: scores[metric] for item_id, scores in per_item.items()}
        metrics[metric] = MetricSummary(
            overall=_estimate(list(values.values()), request),
            groups={
                group: _estimate([v for i, v in values.items() if groups[i] == group], request)
                for group in dict.fromkeys(item.group for item in items)
            },
        )
    headlines = {}
    halves = getattr(bench, "halves", None)
    for label, (metric, wanted) in bench.headlines.items():
        chosen = [scores for i, scores in per_item.items() if wanted is None or groups[i] in wanted]
        if halves:
            estimate = _estimate_halves([s[halves[0]] for s in chosen], [s[halves[1]] for s in chosen], request)
            if estimate.mean is not None:
                headlines[label] = estimate
        elif any(s[metric] is not None for s in chosen):
            headlines[label] = _estimate([s[metric] for s in chosen], request)
    rows = list(saved.values())
    return BenchmarkResult(
        items=len(items),
        headlines=headlines,
        metrics=metrics,
        judge=JudgeCounts(
            tasks=len(rows),
            unscored=sum(r.scores is None for r in rows),
            retried=sum(len(r.raws) > 1 for r in rows),
            calls=sum(len(r.raws) for r in rows),
        ),
        thinking=_thinking(answers.values(), request.markers),
        per_item=[_item_result(item, answers[item.id], per_item[item.id]) for item in items],
        protocol=_protocol(bench, items, request, files),
    )


def _protocol(bench: Benchmark, items: list[EvalItem], request: EvalRequest, files: Files) -> ProtocolRecord:
    config = request.config
    judge: SamplingRecord = protocol.judge_sampling(bench.name, config.judge)
    answers = protocol.answer_sampling(bench.name, config, request.seed)
    attempts = protocol.attempts(bench.name, config.judge)
    model = config.judge.model if config.judge.kind == "openai" else config.judge.local.model
    return ProtocolRecord(
        prompt_files=files.recorded,
        judge_model=model,
        judge_sampling=judge,
        judge_attempts=attempts,
        answer_sampling=answers,
        thinking=protocol.PROTOCOLS[bench.name].thinking,
        sample=_selection(request, bench.name).describe(items),
        deviations=protocol.deviations(bench.name, judge, answers, attempts, model, config.judge.smoke_only),
    )


def _estimate_halves(first: Sequence[float | None], second: Sequence[float | None], request: EvalRequest) -> Estimate:
    config = request.config
    return bootstrap_halves(first, second, config.bootstrap, config.confidence, request.seed)


def _estimate(values: Sequence[float | None], request: EvalRequest) -> Estimate:
    scored = [v for v in values if v is not None]
    unscored = len(values) - len(scored)
    if not scored:
        return Estimate(unscored=unscored)
    config = request.config
    estimate = bootstrap(scored, config.bootstrap, config.confidence, request.seed)
    return estimate.model_copy(update={"unscored": unscored})


def _item_result(item: EvalItem, answer: Answer, scores: dict[str, float | None]) -> ItemResult:
    return ItemResult(
        id=item.id,
        group=item.group,
        language=item.language,
        answer_units=text_length(answer.answer),
        thinking_units=text_length(answer.thinking),
        tokens=answer.tokens,
        finish_reason=answer.finish_reason,
        required_length=item.data.get("length"),
        scores=scores,
    )


def _thinking(answers: Iterable[Answer], markers: Sequence[str]) -> ThinkingSummary | None:
    answers = list(answers)
    if not answers:
        return None
    stats = [thinking_stats(a.thinking, a.answer, markers) for a in answers]
    means = {key: sum(s[key] for s in stats) / len(stats) for key in stats[0]}
    return ThinkingSummary(
        **means,
        with_thinking=sum(bool(a.thinking) for a in answers) / len(answers),
        cut_off=sum(a.finish_reason == "length" for a in answers),
        seconds_per_answer=sum(a.seconds for a in answers) / len(answers),
    )


def _likelihood_summary(store: EvalStore, pairs: list[Pair], request: EvalRequest) -> LikelihoodResult:
    saved = store.scores(LIKELIHOOD)
    rows = [saved[(pair.id, likelihood.PART)].scores or {} for pair in pairs if (pair.id, likelihood.PART) in saved]
    estimates = {metric: _estimate([row.get(metric) for row in rows], request) for metric in likelihood.METRICS}
    return LikelihoodResult(**estimates, pairs=len(rows), source=str(request.references))


def _versions() -> dict[str, str]:
    from reer.version import __version__

    found = {"reer": __version__}
    for package in _PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found
