"""The REER search for one item (REER.md §3), as plain sequential code.

Read it next to the method: initial trace → score → refine each segment once, left to right, keeping a
rewrite only when it strictly lowers the score → stop early below the threshold. Every stage is handed to
a :class:`Journal` as soon as it is complete, so a run killed at any moment resumes from its last
completed step (``run`` skips whatever the trajectory already holds).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Protocol

from reer import prompts
from reer.backends.base import (
    GenerationRequest,
    Generator,
    Sampling,
    Scorer,
    ScoreRequest,
    checked_logprobs,
    tally_retries,
)
from reer.config import SearchConfig
from reer.language import prompt_language
from reer.records import Pair
from reer.records.trajectory import Candidate, Gain, InitialTrace, Scored, Step, Trajectory
from reer.search.gain import Likelihood, Subject, gain_of, timed_empty
from reer.search.scoring import THINK_OPEN, score_request
from reer.search.segments import text_segments
from reer.search.text import join_segments, parse_refinement
from reer.seeds import derive_seed


class Journal(Protocol):
    """Where finished stages go (the run store); each call must be durable when it returns."""

    def save_initial(self, trajectory: Trajectory) -> None: ...

    def save_step(self, trajectory: Trajectory, step: Step) -> None: ...

    def save_finish(self, trajectory: Trajectory) -> None: ...


def new_trajectory(pair: Pair, rollout: int = 0) -> Trajectory:
    return Trajectory(item_id=pair.id, rollout=rollout, language=prompt_language(pair.query))


def current_segments(trajectory: Trajectory, min_chars: int) -> list[str]:
    """The initial segments (stripped, REER.md §2.4) with every accepted rewrite applied."""
    assert trajectory.initial is not None
    segments = text_segments(trajectory.initial.trace, min_chars)
    for step in trajectory.steps:
        if step.chosen is not None:
            segments[step.segment_index] = step.candidates[step.chosen].text or ""
    return segments


@dataclass
class Searcher:
    generator: Generator
    scorer: Scorer
    config: SearchConfig
    seed: int = 0
    _empty: dict[str, tuple[Likelihood, float]] = field(default_factory=dict, repr=False)

    def run(self, pair: Pair, trajectory: Trajectory, journal: Journal) -> Trajectory:
        """Search for ``pair``, continuing ``trajectory`` from wherever it stopped."""
        trajectory.status = "running"
        if trajectory.initial is None:
            with tally_retries() as retries:
                trajectory.initial = self._initial_trace(pair, trajectory)
                trajectory.reject_reason = self._rejection(trajectory.initial)
                if trajectory.reject_reason is None:
                    self._score_initial(pair, trajectory)
            trajectory.initial.retries = retries.count
            journal.save_initial(trajectory)
        if trajectory.reject_reason is not None:
            trajectory.status = "rejected"
            journal.save_finish(trajectory)
            return trajectory

        segments = self.current_segments(trajectory)
        visits = min(self.config.max_steps, len(segments))
        while len(trajectory.steps) < visits and not self._below_threshold(trajectory):
            with tally_retries() as retries:
                step = self._refine(pair, trajectory, segments, len(trajectory.steps))
            step.retries = retries.count
            trajectory.steps.append(step)
            if step.chosen is not None:
                segments[step.segment_index] = step.candidates[step.chosen].text or ""
            journal.save_step(trajectory, step)

        trajectory.stop_reason = self._stop_reason(trajectory, len(segments))
        trajectory.final_trace = join_segments(segments)
        trajectory.gain = self._gain(pair, trajectory)
        trajectory.status = "done"
        journal.save_finish(trajectory)
        return trajectory

    def current_segments(self, trajectory: Trajectory) -> list[str]:
        return current_segments(trajectory, self.config.min_segment_chars)

    # -- §3.2 initial trace -------------------------------------------------------------------------

    def _initial_trace(self, pair: Pair, trajectory: Trajectory) -> InitialTrace:
        lang = trajectory.language
        options = self.config.openers[lang]
        chooser = random.Random(derive_seed(self.seed, pair.id, trajectory.rollout, "opener"))
        opener = chooser.choices([o.text for o in options], weights=[o.weight for o in options])[0]
        request = GenerationRequest(
            messages=_chat(lang, "initial", query=pair.query, reference=pair.reference),
            prefill=THINK_OPEN + opener,
            sampling=self._sampling(
                self.config.max_new_tokens_initial, "</think>", pair.id, trajectory.rollout, "initial"
            ),
        )
        started = time.perf_counter()
        generation = self.generator.generate([request])[0][0]
        return InitialTrace(
            opener=opener,
            raw=generation.text,
            trace=opener + generation.text,
            num_tokens=generation.num_tokens,
            finish_reason=generation.finish_reason,
            generate_seconds=time.perf_counter() - started,
        )

    def _rejection(self, initial: InitialTrace) -> str | None:
        if initial.num_tokens < self.config.min_initial_tokens:
            return f"too_few_tokens ({initial.num_tokens} < {self.config.min_initial_tokens})"
        if len(text_segments(initial.trace, self.config.min_segment_chars)) <= 1:
            return "single_segment"
        return None

    # -- §3.3 score ---------------------------------------------------------------------------------

    def _score_initial(self, pair: Pair, trajectory: Trajectory) -> None:
        initial = trajectory.initial
        assert initial is not None
        # The published code scored the raw trace but candidates re-joined from stripped segments;
        # rescore_joined (the default) scores the incumbent in that same form.
        trace = join_segments(self.current_segments(trajectory)) if self.config.rescore_joined else initial.trace
        started = time.perf_counter()
        result = self.scorer.score([self._score_request(pair, trajectory.language, trace)])[0]
        initial.score_seconds = time.perf_counter() - started
        initial.scored = Scored.of(checked_logprobs(result), self.config.clip)
        trajectory.scored_tokens = list(result.tokens)

    def _gain(self, pair: Pair, trajectory: Trajectory) -> Gain | None:
        """The thinking gain of the final trace: the reference after empty thinking is scored once per item
        (rollouts of an item in this process share it)."""
        best = trajectory.best()
        if best is None or not best.token_logprobs:
            return None
        if pair.id not in self._empty:
            subject = Subject(trajectory.language, pair.query, "", pair.reference)
            self._empty[pair.id] = timed_empty(self.scorer, subject, self.config)
        empty, seconds = self._empty[pair.id]
        return gain_of(empty, best, seconds)

    def _below_threshold(self, trajectory: Trajectory) -> bool:
        best = trajectory.best()
        return best is not None and best.score < self.config.stop_threshold

    # -- §3.4 refine one segment --------------------------------------------------------------------

    def _refine(self, pair: Pair, trajectory: Trajectory, segments: list[str], index: int) -> Step:
        lang = trajectory.language
        before, after = segments[:index], segments[index + 1 :]
        empty = prompts.render(lang, "empty")
        messages = _chat(
            lang,
            "refine",
            query=pair.query,
            reference=pair.reference,
            segment=segments[index],
            before=join_segments(before) or empty,
            after=join_segments(after) or empty,
        )
        started = time.perf_counter()
        candidates = self._sample_candidates(messages, pair.id, trajectory.rollout, index, lang)
        generated = time.perf_counter()

        scorable = [c for c in candidates if c.text is not None]
        traces = [join_segments([*before, c.text or "", *after]) for c in scorable]
        results = self.scorer.score([self._score_request(pair, lang, t) for t in traces]) if traces else []
        for candidate, result in zip(scorable, results, strict=True):
            candidate.scored = Scored.of(checked_logprobs(result), self.config.clip)

        incumbent = trajectory.best()
        assert incumbent is not None
        chosen, best_score = self._choose(candidates, incumbent.score)
        return Step(
            step=index,
            segment_index=index,
            original=segments[index],
            candidates=candidates,
            chosen=chosen,
            best_score=best_score,
            generate_seconds=generated - started,
            score_seconds=time.perf_counter() - generated,
        )

    def _sample_candidates(
        self, messages: list[dict[str, str]], item_id: str, rollout: int, index: int, lang: str
    ) -> list[Candidate]:
        """``num_expansion`` rewrites of one segment: analysis, then the paragraph inside <refine>."""
        prefill = prompts.render(lang, "refine_leadin") + "\n<analyze>\n"
        budget = self.config.max_new_tokens_refine
        cap = self.config.analysis_tokens
        request = GenerationRequest(
            messages=messages,
            prefill=prefill,
            n=self.config.num_expansion,
            sampling=self._sampling(
                min(cap, budget) if cap else budget,
                "</refine>" if not cap else "</analyze>",
                item_id,
                rollout,
                "refine",
                index,
            ),
        )
        analyses = self.generator.generate([request])[0]
        if cap is None:  # published: one generation that must contain <refine> itself
            return [self._candidate(g.text, g.num_tokens, g.finish_reason) for g in analyses]
        # Capped analysis: close it ourselves and let the model write the paragraph.
        closed = [g.text.split("<refine>")[0].rstrip() + "\n</analyze>\n<refine>\n" for g in analyses]
        follow_ups = [
            GenerationRequest(
                messages=messages,
                prefill=prefill + text,
                n=1,
                sampling=self._sampling(
                    max(1, budget - g.num_tokens), "</refine>", item_id, rollout, "refine", index, k
                ),
            )
            for k, (g, text) in enumerate(zip(analyses, closed, strict=True))
        ]
        paragraphs = [out[0] for out in self.generator.generate(follow_ups)]
        return [
            self._candidate(text + p.text, g.num_tokens + p.num_tokens, p.finish_reason)
            for g, text, p in zip(analyses, closed, paragraphs, strict=True)
        ]

    @staticmethod
    def _candidate(raw: str, num_tokens: int, finish_reason: str) -> Candidate:
        text = parse_refinement(raw)
        dropped = "no <refine> tag" if text is None else "empty refinement" if not text else None
        return Candidate(
            raw=raw,
            text=text if not dropped else None,
            dropped=dropped,
            num_tokens=num_tokens,
            finish_reason=finish_reason,
        )

    @staticmethod
    def _choose(candidates: list[Candidate], incumbent: float) -> tuple[int | None, float]:
        """The best candidate and its score if it *strictly* beats the incumbent, else (None, incumbent)."""
        scored = [(c.scored.score, i) for i, c in enumerate(candidates) if c.scored is not None]
        if scored and min(scored)[0] < incumbent:
            score, index = min(scored)
            return index, score
        return None, incumbent

    def _stop_reason(self, trajectory: Trajectory, n_segments: int) -> str:
        if self._below_threshold(trajectory):
            return "below_threshold" if trajectory.steps else "initial_below_threshold"
        return "max_steps" if self.config.max_steps < n_segments else "all_segments_visited"

    # -- helpers ------------------------------------------------------------------------------------

    def _score_request(self, pair: Pair, language: str, trace: str) -> ScoreRequest:
        return score_request(
            language,
            pair.query,
            trace,
            pair.reference,
            full_reference=self.config.score_full_reference,
            min_chars=self.config.min_segment_chars,
        )

    def _sampling(self, max_new_tokens: int, stop: str, *seed_parts: object) -> Sampling:
        return Sampling(
            temperature=self.config.temperature,
            top_p=self.config.top_p,
            max_new_tokens=max_new_tokens,
            stop=(stop,),
            seed=derive_seed(self.seed, *seed_parts),
            repetition_penalty=self.config.repetition_penalty,
            frequency_penalty=self.config.frequency_penalty,
            presence_penalty=self.config.presence_penalty,
        )


def _chat(language: str, template: str, **values: str) -> list[dict[str, str]]:
    """A plain system message and one user turn filled from a prompt template."""
    return [
        {"role": "system", "content": prompts.render(language, "system")},
        {"role": "user", "content": prompts.render(language, template, **values)},
    ]
