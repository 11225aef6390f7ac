"""Post-filters on finished trajectories: every check on a crafted failing and passing case, and the run."""

import pytest

from reer.config import FilterConfig, ModelConfig, ReerConfig, SearchConfig
from reer.filters import failed_checks, filter_run
from reer.filters.checks import (
    Thinking,
    language_mismatch,
    leakage,
    mixed_language,
    no_conclusion,
    repetition,
    too_short,
    truncated,
)
from reer.records import Pair
from reer.records.trajectory import InitialTrace, Trajectory
from reer.search.runner import synthesize
from reer.store import RunStore
from tests.conftest import LONG_REFERENCE

GOOD = (
    "Alright, the user wants a short story about a lighthouse keeper who has been alone too long. Hmm, the heart "
    "of it is loneliness that has become a habit, so the reader should feel the quiet before anything happens. "
    "Maybe I should open inside his head, counting days, and let the silence feel almost like a person.\n\n"
    "Then someone has to arrive. Wait, if it is an adult the story turns into a rescue; a child rowing out alone "
    "would be lighter and warmer, and she can bring something small and practical that shows the village cares. "
    "Coffee works, because it is ordinary and he would forget it.\n\n"
    "---\n\nOutline: the count of silent days; the boat at dawn; the girl and the tin; his embarrassment; the "
    "last line showing that the village has been watching over him all along, gently and without fuss."
)
CONFIG = FilterConfig()
PAIR = Pair(id="keeper", query="Write a short story about a lonely lighthouse keeper.", reference=LONG_REFERENCE)


def trajectory(trace: str, finish: str = "stop", language: str = "en") -> Thinking:
    """What the checks read of a finished trajectory of PAIR with this thinking."""
    initial = InitialTrace(opener="", raw=trace, trace=trace, num_tokens=300, finish_reason=finish, generate_seconds=1)
    t = Trajectory(item_id="keeper", language=language, status="done", initial=initial, final_trace=trace)
    return Thinking.of(PAIR, t)


def test_a_good_trace_passes_every_check():
    assert failed_checks(trajectory(GOOD), CONFIG) == {}


def test_truncated_or_unclosed_thinking():
    assert truncated(trajectory(GOOD, finish="length"), CONFIG)[0] == "truncated"
    assert truncated(trajectory(GOOD + "\n</think>\nmore"), CONFIG)[0] == "truncated"
    assert truncated(trajectory(GOOD, finish="eos"), CONFIG) is None
    keep = CONFIG.model_copy(update={"keep_truncated": True})  # the demo's setting: budget-cut thinking stays
    assert truncated(trajectory(GOOD, finish="length"), keep) is None
    assert truncated(trajectory(GOOD + "\n</think>\nmore"), keep)[0] == "truncated"  # a stray tag never does


def test_end_of_thinking_still_reflecting():
    dithering = GOOD + "\n\nHmm, wait. But wait, let me think again. Hmm, maybe not. Wait, alternatively hmm."
    reason, detail = no_conclusion(trajectory(dithering), CONFIG)
    assert reason == "no-conclusion" and "reflection phrases" in detail
    # the same markers early in the trace are fine: only the tail must conclude
    early = "Hmm, wait. But wait, let me think again. Hmm, maybe not. Wait, alternatively hmm.\n\n" + GOOD
    assert no_conclusion(trajectory(early), CONFIG) is None
    assert no_conclusion(trajectory(dithering), FilterConfig(tail_max_markers=50)) is None


def test_degenerate_repetition():
    looping = GOOD + "\n\n" + "and then the keeper waits " * 60
    assert repetition(trajectory(looping), CONFIG)[0] == "repetition"
    assert repetition(trajectory(GOOD), CONFIG) is None


def test_too_short_thinking():
    assert too_short(trajectory("Alright, a story. Hmm, a keeper."), CONFIG)[0] == "too-short"
    assert too_short(trajectory(GOOD), CONFIG) is None


def test_leakage_of_the_reference_into_the_thinking():
    copied = GOOD + "\n\nDraft: " + LONG_REFERENCE.split("\n\n")[1]
    reason, detail = leakage(trajectory(copied), CONFIG)
    assert reason == "leakage" and "longest copied run" in detail
    # a short quoted phrase is not a leak
    assert leakage(trajectory(GOOD + ' Maybe "a second tenant in the tower".'), CONFIG) is None
    # n-gram overlap catches copies cut into short pieces
    pieces = " ... ".join(" ".join(LONG_REFERENCE.split()[i : i + 12]) for i in range(0, 120, 14))
    assert leakage(trajectory(GOOD + "\n\n" + pieces), FilterConfig(max_copied_units=1000))[0] == "leakage"


def test_language_mismatch():
    chinese = "好的，用户想要一个关于灯塔看守人的故事。嗯，核心是孤独。" * 10
    assert language_mismatch(trajectory(chinese), CONFIG)[0] == "language-mismatch"
    assert language_mismatch(trajectory(chinese, language="zh"), CONFIG) is None
    assert language_mismatch(trajectory(chinese), FilterConfig(check_language=False)) is None


CHINESE_GOOD = (
    "好的，用户想要一个关于孤独灯塔看守人的短篇故事。核心是已经变成习惯的孤独，读者要先感到安静。"
    "也许应该从他的内心开始，数着日子，让沉默像一个房客。然后必须有人来。如果是大人，故事就变成救援；"
    "一个独自划船来的女孩会更温暖，她可以带来咖啡，说明村子一直在关心他。结尾要轻，不要说教。"
)


def test_mixed_language_thinking_is_dropped_with_its_share_both_ways():
    english_with_chinese = (
        GOOD + "\n\n然后她把咖啡罐递给他，说村里的人都记得他。他不好意思地笑了，接过罐子，看着小船离开。"
    )
    verdict = mixed_language(trajectory(english_with_chinese), CONFIG)
    assert verdict and verdict[0] == "mixed-language" and "(zh " in verdict[1] and verdict[1].endswith("request in en")
    chinese_with_english = CHINESE_GOOD + "Then I will describe the lamp, the ships and the long night in plain words."
    verdict = mixed_language(Thinking(CHINESE_GOOD, chinese_with_english, "zh"), CONFIG)
    assert verdict and "(en " in verdict[1]
    # The answer's language is allowed: an English request for an Arabic poem, planned in English with a draft.
    arabic = "قصيدة عن نموذج لغوي وحيد يتحدث إلى نفسه في الليل الطويل."
    assert mixed_language(Thinking(arabic * 3, GOOD + "\n\nDraft:\n" + arabic * 2, "en"), CONFIG) is None
    assert mixed_language(trajectory(GOOD + "\n\nDraft:\n" + arabic * 2), CONFIG)[0] == "mixed-language"
    assert mixed_language(trajectory(GOOD), CONFIG) is None
    assert mixed_language(Thinking(CHINESE_GOOD, CHINESE_GOOD, "zh"), CONFIG) is None
    assert mixed_language(trajectory(english_with_chinese), FilterConfig(max_foreign_share=1)) is None


def test_code_names_and_quoted_words_do_not_count_as_another_language():
    quoting = (
        GOOD + ' The title could echo Li Bai (李白): "床前明月光" or 「静夜思」, and `print("灯塔")` is not prose.'
    )
    assert mixed_language(trajectory(quoting), CONFIG) is None
    fenced = GOOD + "\n```python\n# 灯塔看守人的日记\nprint('你好，世界')\n```\n"
    assert mixed_language(trajectory(fenced), CONFIG) is None
    names = CHINESE_GOOD + "主角可以叫 John，灯塔模仿 Cape Hatteras，用 GPT-4 检查语气。"
    assert mixed_language(Thinking(CHINESE_GOOD, names, "zh"), CONFIG) is None
    assert mixed_language(trajectory("好的，" * 60), CONFIG) is None  # all Chinese: language-mismatch's case


@pytest.fixture
def fake_run(tmp_path):
    pairs = [PAIR, PAIR.model_copy(update={"id": "two"}), PAIR.model_copy(update={"id": "three"})]
    config = ReerConfig(generator=ModelConfig(backend="fake"), search=SearchConfig(max_steps=2, stop_threshold=0))
    synthesize(pairs, tmp_path / "run", config)
    return tmp_path / "run"


def test_filter_run_records_each_drop_with_its_reasons(fake_run):
    report = filter_run(fake_run, CONFIG)
    assert report.finished == 3 and report.kept == 3 and report.dropped == 0
    strict = FilterConfig(min_thinking_units=10_000, max_top3_trigram_share=0.001)
    report = filter_run(fake_run, strict)
    assert report.kept == 0 and report.reasons["too-short"] == 3 and report.reasons["repetition"] == 3
    store = RunStore.open_existing(fake_run)
    try:
        stored = store.filter_drops()
        assert set(stored) == {("keeper", 0), ("two", 0), ("three", 0)}
        assert set(stored[("two", 0)]) == {"too-short", "repetition"}
        assert "10000" in stored[("two", 0)]["too-short"]
    finally:
        store.close()
    filter_run(fake_run, CONFIG)  # a later run replaces the verdicts
    store = RunStore.open_existing(fake_run)
    try:
        assert store.filter_drops() == {}
    finally:
        store.close()


def test_export_judges_without_writing_verdicts(fake_run, tmp_path):
    from reer.export import export_dataset

    filter_run(fake_run, FilterConfig(min_thinking_units=10_000))
    result = export_dataset(fake_run, tmp_path / "out", filters=CONFIG)
    assert result.rows == 3  # judged with CONFIG: all kept
    store = RunStore.open_existing(fake_run)
    try:  # the verdicts of the last `reer filter` are untouched
        assert set(store.filter_drops()) == {("keeper", 0), ("two", 0), ("three", 0)}
    finally:
        store.close()


def corpus_trajectories(copies: int) -> list[tuple[Pair, Trajectory]]:
    """The trace corpus (tests/test_repetition.py) as finished trajectories, each row ``copies`` times."""
    import json
    from pathlib import Path

    rows = json.loads((Path(__file__).parent / "data" / "traces" / "corpus.json").read_text(encoding="utf-8"))
    out = []
    for k in range(copies):
        for row in rows:
            pair = PAIR.model_copy(update={"id": f"{row['id']}-{k}"})
            initial = InitialTrace(
                opener="", raw=row["text"], trace=row["text"], num_tokens=300, finish_reason="stop", generate_seconds=1
            )
            t = Trajectory(
                item_id=pair.id, language=row["language"], status="done", initial=initial, final_trace=row["text"]
            )
            out.append((pair, t))
    return out


def test_the_verdicts_and_the_quality_are_the_same_on_one_process_and_on_two():
    from reer.filters.run import judge

    finished = corpus_trajectories(copies=6)  # 288 trajectories: more than one chunk, so workers do run
    alone = judge(finished, FilterConfig(processes=1))
    shared = judge(finished, FilterConfig(processes=2))
    assert alone.drops == shared.drops and alone.reasons == shared.reasons and alone.measures == shared.measures
    assert alone.quality == shared.quality
    assert alone.kept == 144 and alone.reasons["gopher-repetition"] == 144
    # every sound trace appears six times: all but the first copy of each are near-duplicates
    assert alone.quality["near_duplicates"]["count"] == 144 - 24
    assert alone.quality["languages"] == {"en": 72, "zh": 72}


def test_the_quality_summary_tells_loops_from_sound_thinking():
    from reer.filters.quality import QualityTally, features

    sound, loops = QualityTally(), QualityTally()
    for pair, t in corpus_trajectories(copies=1):
        tally = loops if "loop" in pair.id else sound
        tally.add(pair.id, features(t.final_trace))
    good, bad = sound.summary(), loops.summary()
    assert good["distinct"]["distinct-3"]["median"] > 0.95 > bad["distinct"]["distinct-3"]["median"]
    assert good["repetition"]["dup_10gram_char_frac"]["over"] == 0
    assert bad["repetition"]["dup_10gram_char_frac"]["over"] == 24
    assert good["near_duplicates"]["count"] == 0 and good["samples"] == 24
    assert QualityTally().summary()["thinking_units"] is None  # nothing added: no distribution, no crash


def test_the_card_counts_gopher_drops_by_measure(fake_run, tmp_path):
    from reer.export import export_dataset

    strict = FilterConfig(repetition_limits={"top_2gram_char_frac": 0.001})
    result = export_dataset(fake_run, tmp_path / "out", filters=strict)
    assert result.rows == 0 and result.filters.measures == {"top_2gram_char_frac": 3}
    card = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    assert "| gopher-repetition | 3 |" in card and "| characters in the top 2-gram | 3 |" in card
    assert "## Quality of the thinking" not in card  # nothing kept, nothing to describe
    kept = export_dataset(fake_run, tmp_path / "kept", filters=CONFIG)
    card = (tmp_path / "kept" / "README.md").read_text(encoding="utf-8")
    assert kept.rows == 3 and "## Quality of the thinking" in card and "Languages of the thinking: en 3." in card


def test_the_card_names_loop_control_when_it_was_on(tmp_path):
    from reer.export import export_dataset

    pairs = [PAIR.model_copy(update={"id": f"p{k}"}) for k in range(2)]
    plain, penalised = tmp_path / "plain", tmp_path / "penalised"
    for run, search in ((plain, {}), (penalised, {"frequency_penalty": 0.5, "repetition_penalty": 1.1})):
        config = ReerConfig(generator=ModelConfig(backend="fake"), search=SearchConfig(max_steps=1, **search))
        synthesize(pairs, run / "run", config)
        export_dataset(run / "run", run / "out", filters=CONFIG)
    card = (penalised / "out" / "README.md").read_text(encoding="utf-8")
    assert "**Loop control at generation**: `repetition_penalty` 1.1, `frequency_penalty` 0.5." in card
    assert "Loop control" not in (plain / "out" / "README.md").read_text(encoding="utf-8")
