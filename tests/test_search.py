"""The search's decisions (REER.md §3) on scripted model outputs, and resume on the deterministic fake."""

import pytest

from reer.backends.fake import FakeBackend
from reer.config import SearchConfig
from reer.search.reer import Searcher, new_trajectory
from reer.search.text import join_segments
from reer.store import RunStore
from tests.conftest import Memory, without_timings
from tests.scripted import Scripted, refine

A, B, C = ("alpha " * 25).strip(), ("bravo " * 25).strip(), ("charlie " * 25).strip()
INITIAL = f" is asking for a story.\n\n{A}\n\n{B}\n\n{C}"  # continues the opener


def _search(backend, pair, **settings):
    config = SearchConfig(
        **{
            "openers": {"en": [{"text": "Alright, the user", "weight": 1}], "zh": [{"text": "好的", "weight": 1}]},
            **settings,
        }
    )
    journal = Memory()
    t = Searcher(backend, backend, config, seed=3).run(pair, new_trajectory(pair), journal)
    return t, journal


def score_by_words(scores):
    """Score = the value of the first listed word found in the trace (else 1.5)."""
    return lambda trace: next((v for w, v in scores if w in trace), 1.5)


def test_strict_improvement_only_and_left_to_right(pair):
    backend = Scripted(
        INITIAL,
        [
            [refine("alpha tie " * 20), refine("no gain " * 20)],
            [refine("bravo better " * 20), refine("bravo best " * 20)],
            [refine("charlie worse " * 20), refine("z")],
        ],
        score_by_words([("best", 0.9), ("better", 1.0), ("tie", 1.5), ("worse", 1.8)]),
    )
    t, journal = _search(backend, pair)
    assert t.status == "done" and t.initial_score == 1.5
    assert [s.segment_index for s in t.steps] == [0, 1, 2]
    assert t.steps[0].chosen is None  # equal score is not an improvement
    assert t.steps[1].chosen == 1 and t.steps[1].best_score == 0.9
    assert t.steps[2].chosen is None and t.steps[2].best_score == 0.9
    assert t.final_score == 0.9
    first = "Alright, the user is asking for a story.\n\n" + A  # the short opener glued onto the next piece
    assert t.final_trace == join_segments([first, ("bravo best " * 20).strip(), C])
    assert journal.calls == ["initial", "step0", "step1", "step2", "finish:done"]
    assert t.stop_reason == "all_segments_visited"


def test_later_steps_see_accepted_rewrites_as_context(pair):
    backend = Scripted(
        INITIAL, [[refine("first rewrite " * 20)] * 2, [refine("x " * 60)] * 2], score_by_words([("first", 1.0)])
    )
    _search(backend, pair, max_steps=2)
    second_prompt = backend.requests[2].messages[-1]["content"]
    assert "first rewrite" in second_prompt and "alpha" not in second_prompt.split("THE PARAGRAPH TO IMPROVE")[0][-400:]


def test_stops_as_soon_as_below_threshold(pair):
    backend = Scripted(INITIAL, [[refine("great " * 30), refine("meh " * 30)]], score_by_words([("great", 0.2)]))
    t, _ = _search(backend, pair)
    assert len(t.steps) == 1 and t.final_score == 0.2 and t.stop_reason == "below_threshold"


def test_initial_below_threshold_needs_no_refinement(pair):
    backend = Scripted(INITIAL, [], lambda trace: 0.1)
    t, _ = _search(backend, pair)
    assert t.steps == [] and t.stop_reason == "initial_below_threshold" and t.final_score == 0.1


def test_max_steps_leaves_later_segments_untouched(pair):
    backend = Scripted(INITIAL, [[refine("better " * 30)] * 2], score_by_words([("better", 1.0)]))
    t, _ = _search(backend, pair, max_steps=1)
    assert len(t.steps) == 1 and t.stop_reason == "max_steps"
    assert t.final_trace.endswith(f"{B}\n\n{C}")


def test_candidates_without_refine_tag_are_dropped_and_recorded(pair):
    backend = Scripted(INITIAL, [["just analysis, no tag", refine("   ")]], lambda trace: 1.2)
    t, _ = _search(backend, pair, max_steps=1)
    step = t.steps[0]
    assert [c.dropped for c in step.candidates] == ["no <refine> tag", "empty refinement"]
    assert all(c.scored is None for c in step.candidates) and step.chosen is None
    assert step.candidates[0].raw == "just analysis, no tag"
    # only the initial trace was scored, then the reference after empty thinking (the thinking gain)
    assert len(backend.scored_traces) == 2 and backend.scored_traces[1] == ""


def test_capped_analysis_is_closed_and_the_paragraph_generated(pair):
    backend = Scripted(
        INITIAL,
        [["a long analysis that rambles on", "short analysis"]],
        score_by_words([("fresh", 1.0)]),
        paragraphs=["fresh take " * 20, "other take " * 20],
    )
    t, _ = _search(backend, pair, max_steps=1, analysis_tokens=64, max_new_tokens_refine=200)
    analyse, *follow_ups = backend.requests[1:]
    assert analyse.sampling.max_new_tokens == 64 and analyse.sampling.stop == ("</analyze>",) and analyse.n == 2
    assert [r.n for r in follow_ups] == [1, 1] and all(r.sampling.stop == ("</refine>",) for r in follow_ups)
    assert follow_ups[0].prefill.endswith("a long analysis that rambles on\n</analyze>\n<refine>\n")
    assert follow_ups[0].sampling.max_new_tokens == 200 - 50  # the rest of the refinement budget
    step = t.steps[0]
    assert [c.text for c in step.candidates] == [("fresh take " * 20).strip(), ("other take " * 20).strip()]
    assert step.candidates[0].raw.startswith("a long analysis") and step.chosen == 0
    assert step.candidates[0].num_tokens == 80


@pytest.mark.parametrize(
    ("tokens", "initial", "reason"),
    [
        (99, INITIAL, "too_few_tokens"),
        (500, " is asking.\n\nshort one", "single_segment"),
        (500, f" is asking.\n \n{A}", "single_segment"),  # '\n \n' is no blank line; cut at lines, still one
    ],
)
def test_rejections_are_recorded_and_not_scored(pair, tokens, initial, reason):
    backend = Scripted(initial, [], lambda trace: 1.0, initial_tokens=tokens)
    t, journal = _search(backend, pair)
    assert t.status == "rejected" and t.reject_reason.startswith(reason)
    assert t.initial.trace.startswith("Alright, the user") and backend.scored_traces == []
    assert journal.calls == ["initial", "finish:rejected"]


def test_initial_is_scored_rejoined_or_raw(pair):
    messy = f" is asking.\n\n\n\n{A}  \n\n   \n{B}\n\n"
    for rejoined, expected in [
        (True, f"Alright, the user is asking.\n\n\n\n{A}\n\n{B}"),
        # rescore_joined=False scores exactly what the published code scored: opener + raw text, unstripped.
        (False, f"Alright, the user{messy}"),
    ]:
        backend = Scripted(messy, [], lambda trace: 0.1)
        _search(backend, pair, rescore_joined=rejoined)
        assert backend.scored_traces == [expected, ""]  # then the reference after empty thinking (the gain)


def test_prompts_prefills_and_stop_strings(pair):
    backend = Scripted(INITIAL, [[refine("b " * 60)] * 3], lambda trace: 1.0)
    _search(backend, pair, max_steps=1, num_expansion=3)
    initial, step = backend.requests
    assert initial.prefill == "<think>\nAlright, the user" and initial.sampling.stop == ("</think>",)
    assert pair.reference in initial.messages[-1]["content"] and pair.query in initial.messages[-1]["content"]
    assert step.prefill.endswith("\n<analyze>\n") and step.sampling.stop == ("</refine>",) and step.n == 3
    assert (step.sampling.temperature, step.sampling.top_p) == (0.8, 0.85)


def test_short_title_then_lines_is_cut_at_lines_not_rejected(pair):
    lines = "\n".join([A, B, C])
    backend = Scripted(f"'s request.\n\n{lines}", [], lambda trace: 0.1)
    t, _ = _search(backend, pair)
    assert t.status == "done"
    assert Searcher(backend, backend, SearchConfig(), seed=3).current_segments(t) == [
        f"Alright, the user's request.\n\n{A}",
        B,
        C,
    ]


def test_chinese_query_gets_chinese_prompts_and_openers(pair):
    zh = pair.model_copy(update={"query": "写一个关于灯塔看守人的故事"})
    backend = Scripted(INITIAL, [], lambda trace: 0.1)
    t, _ = _search(backend, zh)
    assert t.language == "zh" and backend.requests[0].prefill == "<think>\n好的"
    assert "写作请求" in backend.requests[0].messages[-1]["content"]


def test_opener_is_drawn_from_the_configured_distribution(pair):
    config = SearchConfig(max_steps=0)
    fake = FakeBackend()
    openers = {
        Searcher(fake, fake, config, seed=s).run(pair, new_trajectory(pair), Memory()).initial.opener for s in range(40)
    }
    assert openers == {"Okay, I am given", "Alright, the user", "Alright"}


class Crash(Exception):
    pass


class CrashingStore(RunStore):
    """The real store, dying right after the given number of steps were saved."""

    crash_after = 2

    def save_step(self, t, step):
        super().save_step(t, step)
        if step.step + 1 == self.crash_after:
            raise Crash


def test_resume_from_the_store_equals_an_uninterrupted_run(pair, tmp_path):
    fake = FakeBackend()
    config = SearchConfig(stop_threshold=0.0)
    searcher = Searcher(fake, fake, config, seed=11)

    whole = RunStore(tmp_path / "whole")
    whole.add_items([pair], 1)
    expected = searcher.run(pair, whole.trajectory(pair.id, 0), whole)

    broken = CrashingStore(tmp_path / "resumed")
    broken.add_items([pair], 1)
    with pytest.raises(Crash):
        searcher.run(pair, broken.trajectory(pair.id, 0), broken)
    broken.close()
    store = RunStore(tmp_path / "resumed")
    partial = store.trajectory(pair.id, 0)
    assert partial.status == "running" and len(partial.steps) == 2
    resumed = searcher.run(pair, partial, store)

    assert resumed.final_trace == expected.final_trace and resumed.final_score == expected.final_score
    assert without_timings(store.trajectory(pair.id, 0)) == without_timings(whole.trajectory(pair.id, 0))
    assert store.db.execute("SELECT COUNT(*) FROM steps").fetchone()[0] == len(expected.steps)
    assert expected.final_score < expected.initial_score  # the fake gives the search something to find
