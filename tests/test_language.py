import pytest

from reer.language import text_language, units
from reer.overlap import longest_common_run, ngram_overlap, top_trigram_share


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Write a short story about a lonely lighthouse keeper.", "en"),
        ("Digital transformation project plan example", "en"),
        ("请写一首关于秋天的诗，表达思乡之情。", "zh"),
        ("用 Python 写一个 web server 的教程，面向初学者。", "zh"),
        ("Fais moi un poème qui parle de toi en introduisant ton nom.", "other"),
        ("Escribe un cuento sobre el mar y la luna para niños", "other"),
        ("Schreibe eine Geschichte über den Wald und die Tiere", "other"),
        ("Vymysli smyšlený příběh. Příběh bude o rozmazleném chlapci Tomášovi a jeho sestře.", "other"),
        ("Viết một video 60s tò mò hấp dẫn, thu hút về tôm bọ ngựa.", "other"),
        ("Write a menu for a café: a crêpe, a naïve salad, and plain toast with butter.", "en"),
        ("", "other"),
        ("42 !", "other"),
        ("Write a poem", "en"),  # short: judged by its script (the model alone says Romanian)
        ("イーロンがオプティマスにアイスを食べられてやっぱりAIは滅亡させることにする話を一つ", "other"),  # Japanese
        ("春风轻拂柳丝柔，细雨悄染杏花愁。山间芳草初萌绿，溪畔轻歌诉旧忧。燕语呢喃穿碧空，花影摇曳伴春游。", "zh"),
        ("將以下呢個故事寫成1分鐘嘅劇本，個故事開場就係影主角喺度好努力咁樣練習啦", "zh"),  # Cantonese
        ("Напиши стих про александра снека, весёлый и короткий, для друзей", "other"),
        ("Ниже представлен один из вариантов сценария свадебного фильма о молодых. " * 40, "other"),
        ("The keeper climbs the stairs each evening and counts the steps. " * 60, "en"),  # long: three windows
    ],
)
def test_text_language(text, language):
    assert text_language(text) == language


def test_units_are_words_or_chinese_characters():
    assert units("Don't stop, Mr. Smith 42!") == ("don't", "stop", "mr", "smith", "42")
    assert units("秋天 poem") == ("秋", "天", "poem")


def test_longest_common_run_counts_unbroken_words():
    reference = "the old man walked to the sea and the sea was calm that morning"
    assert longest_common_run(reference, "He said the sea was calm that day") == 5
    assert longest_common_run(reference, "nothing shared here") == 0
    # frequent words must still match ("the" everywhere does not hide a long copy)
    assert longest_common_run(" ".join([reference] * 3), reference) == len(units(reference))


def test_ngram_overlap_and_trigram_share():
    reference = "one two three four five six"
    assert ngram_overlap(reference, "x one two three four y", 3) == pytest.approx(2 / 4)
    assert ngram_overlap("too short", "too short", 3) == 0.0
    assert top_trigram_share("a b c " * 20) == pytest.approx(1.0)
    assert top_trigram_share(" ".join(f"w{i}" for i in range(100))) == pytest.approx(3 / 98)
