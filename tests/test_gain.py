"""Thinking gain: measured by the real embedded model (a plan that explains its text against another text's plan
and filler), stored with each finished trajectory, refilled for a run made before gains, and the calibrated
no-gain check."""

import pytest

from reer.config import FilterConfig, ModelConfig, ReerConfig, SearchConfig
from reer.filters.checks import Thinking, no_gain
from reer.filters.gain import calibrate, swap_partners
from reer.records import Pair
from reer.search.gain import Subject, likelihoods
from tests.conftest import LONG_REFERENCE, needs_embedded

# Texts written for this test, each with the plan that explains it.
TEXTS = [
    (
        "Write a short scene about a baker who loses her sense of smell.",
        "Marta noticed it on a Tuesday, when the rye came out of the oven and the kitchen smelled of nothing at all."
        "\n\nShe pressed her face to the loaf. Warm crust, a faint crackle, and silence where the caraway should "
        "have been. She baked by the clock after that, and by the colour of the crust, and by the way her "
        "customers closed their eyes at the first bite.",
        "Start on an ordinary Tuesday with the rye loaf and the kitchen smelling of nothing. Then she presses her "
        "face to the bread: warm crust, crackle, no caraway. End with how she bakes by the clock, by the colour "
        "of the crust, and by watching customers close their eyes.",
    ),
    (
        "Describe a thunderstorm arriving over a harbour town.",
        "By four the gulls had gone quiet and the flags on the harbour wall hung straight down.\n\nThen the "
        "wind came all at once, rattling the shutters of the fish market, and the first drops hit the water "
        "like thrown gravel. Within a minute the boats were knocking against the pier and the lighthouse "
        "had switched on, though it was still afternoon.",
        "Open with the calm before: gulls silent at four, harbour flags hanging straight. Then the wind hits all "
        "at once, shutters of the fish market rattle, first drops like thrown gravel on the water. Close with "
        "boats knocking on the pier and the lighthouse lit in the afternoon.",
    ),
    (
        "Write about an old man teaching his granddaughter to play chess.",
        "He never let her win, and she loved him for it.\n\nEvery Sunday he set up the board by the window, "
        "white on her side, and explained one idea only: a knight on the rim is dim, or never bring the queen "
        "out early. She lost for two years. The first time she won, he shook her hand, very formally, and "
        "then went into the kitchen so she would not see his face.",
        "The key line: he never let her win and she loved him for it. Then the Sunday ritual at the window, "
        "white on her side, one idea per week such as the knight on the rim or the early queen. Two years of "
        "losing. The ending: her first win, a formal handshake, and him leaving for the kitchen to hide his face.",
    ),
]
FILLER = (
    "Let me think about how to write this well. I want the writing to be clear, vivid and well organised, with a "
    "good beginning, a strong middle and a satisfying ending. I should use concrete details and keep the tone "
    "consistent throughout, and make sure every sentence serves the piece."
)


@pytest.fixture(scope="module")
def gains(smollm):
    """Plain-NLL gain of each text's own plan, of the next text's plan, of filler and of the request restated."""
    search = SearchConfig()
    rows = []
    for k, (query, reference, plan) in enumerate(TEXTS):
        other = TEXTS[(k + 1) % len(TEXTS)][2]
        thinking = ["", plan, other, FILLER, f"The user asks: {query} I will write that."]
        found = likelihoods(smollm, [Subject("en", query, t, reference) for t in thinking], search)
        rows.append([found[0].nll - f.nll for f in found[1:]])
    return rows


@needs_embedded
def test_a_plan_that_explains_its_text_gains_more_than_another_plan_filler_or_the_request(gains):
    for own, swapped, filler, restated in gains:
        assert own > 0.1 and own > max(swapped, filler, restated) + 0.05
    null = [row[1] for row in gains]
    threshold = calibrate({"en": null}, 1.0, 0.0, 2)["en"].value  # the largest swapped gain
    assert all(row[0] > threshold for row in gains)
    assert all(
        no_gain(Thinking("", "x", "en", gain=row[0], gain_threshold=threshold), FilterConfig()) is None for row in gains
    )
    assert no_gain(Thinking("", "x", "en", gain=threshold, gain_threshold=threshold), FilterConfig())[0] == "no-gain"


def test_the_null_swaps_within_a_language_and_never_keeps_its_own():
    languages = ["en", "zh", "en", "en", "zh", "fr"]
    pairs = swap_partners(languages, 10, seed=3)
    assert all(i != j and languages[i] == languages[j] for i, j in pairs)
    assert sorted(i for i, _ in pairs) == [0, 1, 2, 3, 4]  # fr has nobody to swap with
    assert swap_partners(languages, 10, seed=3) == pairs and len(swap_partners(languages, 1, seed=3)) == 2
    few = calibrate({"en": [0.1, 0.2]}, 0.95, 0.0, 20)["en"]
    assert few.value == 0.0 and few.null_quantile is None and "too few" in few.describe()
    many = calibrate({"en": [i / 100 for i in range(100)]}, 0.95, 0.0, 20)["en"]
    assert 0.93 <= many.value <= 0.96 and many.null_quantile == 0.95


def test_gain_is_stored_with_each_trajectory_and_refilled_for_a_run_made_before(tmp_path):
    from reer.filters import filter_run
    from reer.search.gain import measure_run
    from reer.search.runner import synthesize
    from reer.store import RunStore

    pair = Pair(id="keeper", query="Write a short story about a lonely lighthouse keeper.", reference=LONG_REFERENCE)
    pairs = [pair.model_copy(update={"id": f"item{i}"}) for i in range(4)]
    config = ReerConfig(generator=ModelConfig(backend="fake"), search=SearchConfig(max_steps=1, stop_threshold=0))
    synthesize(pairs, tmp_path / "run", config)
    store = RunStore.open_existing(tmp_path / "run")
    try:
        stored = {key: store.gain(*key) for key in [(p.id, 0) for p in pairs]}
        assert all(g is not None for g in stored.values())
        assert len(store.null_pairs()) == 4  # every item scored once on another's thinking
        store.db.execute("DELETE FROM gains")  # as a run made before gains
        store.db.execute("DELETE FROM gain_null")
    finally:
        store.close()
    done = measure_run(tmp_path / "run", config.filters)
    assert (done.measured, done.null_scored) == (4, 4)
    assert measure_run(tmp_path / "run", config.filters).scored == 0  # nothing is scored twice
    store = RunStore.open_existing(tmp_path / "run")
    try:
        for key, gain in stored.items():
            again = store.gain(*key)
            assert (
                again is not None
                and again.plain == pytest.approx(gain.plain)
                and again.clipped == pytest.approx(gain.clipped)
            )
    finally:
        store.close()
    strict = FilterConfig(gain_floor=100.0)
    report = filter_run(tmp_path / "run", strict)
    assert report.reasons["no-gain"] == 4 and "the floor" in report.gain_thresholds["en"].describe()


@needs_embedded
def test_reer_score_scores_every_row_shape_with_the_gain(tmp_path):
    """`reer score` on a chat export and on DeepWriting-20K's prompt/solution shape: the same scores for the same
    rows, and each text's own plan gains more than another text's plan (the embedded model, in-process)."""
    import json
    import subprocess
    import sys

    chat, deepwriting = tmp_path / "chat.jsonl", tmp_path / "deepwriting.jsonl"
    rows = [(f"t{k}", query, plan, reference) for k, (query, reference, plan) in enumerate(TEXTS)]
    rows.append(("swapped", TEXTS[0][0], TEXTS[1][2], TEXTS[0][1]))
    with chat.open("w") as out, deepwriting.open("w") as other:
        for row_id, query, plan, reference in rows:
            answer = f"<think>\n{plan}\n</think>\n\n{reference}"
            messages = [{"role": "user", "content": query}, {"role": "assistant", "content": answer}]
            out.write(json.dumps({"id": row_id, "messages": messages}) + "\n")
            other.write(json.dumps({"id": row_id, "prompt": query, "solution": answer}) + "\n")
    scored = {}
    for path in (chat, deepwriting):
        run = subprocess.run(
            [sys.executable, "-m", "reer", "score", str(path), "-o", str(path.with_suffix(".scores.jsonl"))],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        assert f"scored {len(rows)} rows" in run.stdout
        scored[path.name] = [json.loads(line) for line in path.with_suffix(".scores.jsonl").read_text().splitlines()]
    first, second = scored.values()
    assert [r["id"] for r in first] == [r[0] for r in rows]
    for a, b in zip(first, second, strict=True):
        assert a["gain"] == pytest.approx(b["gain"], abs=1e-4) and a["reer_score"] == pytest.approx(
            b["reer_score"], abs=1e-4
        )
        assert a["gain"] == pytest.approx(a["empty_nll"] - a["nll"]) and 0 <= a["reer_score"] <= 2.0
    by_id = {r["id"]: r for r in first}
    assert by_id["t0"]["gain"] > 0.5 > by_id["swapped"]["gain"]
