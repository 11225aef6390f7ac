from reer.language import prompt_language
from reer.search.text import parse_refinement


def test_refine_missing_returns_none():
    assert parse_refinement("<analyze>no tags here</analyze>") is None


def test_refine_takes_the_last_tag():
    raw = "I will write <refine>draft one</refine> hmm no.\n</analyze>\n<refine>\nfinal version\n</refine>"
    assert parse_refinement(raw) == "final version"


def test_refine_unterminated_runs_to_the_end():
    assert (
        parse_refinement("</analyze>\n<refine>\nstopped early by the stop string") == "stopped early by the stop string"
    )


def test_refine_empty_body():
    assert parse_refinement("<refine></refine>") == ""


def test_language_detection():
    assert prompt_language("写一首关于秋天的诗") == "zh"
    assert prompt_language("Write a poem about autumn, 秋") == "zh"
    assert prompt_language("Écris un poème") == "en"
    assert prompt_language("秋の詩をかいて") == "zh"  # kanji are CJK ideographs too
