"""Telling English from Chinese (and from anything else) without a model, plus the length unit of each.

Script counts decide Chinese. Latin-script text where many words carry diacritics (Czech, Vietnamese, …) is
not English. Other Latin-script text is English when English function words outnumber those of
the other common Latin-script languages (function words make up a large share of any prose); a short
request with none at all ("Digital transformation project plan example") is English when it is plain
ASCII. That is enough for filtering writing data, deterministic, and needs no downloaded language model.
"""

from __future__ import annotations

import re

_CJK = re.compile("[\u4e00-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
# A length unit: one CJK ideograph, or one run of Latin letters/digits (LongBench-Write counts the same way).
_UNIT = re.compile(r"[\u4e00-\u9fff]|[A-Za-z0-9]+(?:'[A-Za-z]+)?")
_FUNCTION_WORDS = """the a an and or but of to in on at for with as by from is are was were be been it its this that
    these those i you he she we they my your his her our their not no do does did have has had will would can could
    should what which who how if then there when"""
_ENGLISH_WORDS = frozenset(_FUNCTION_WORDS.split())
# Spanish, French, German, Italian, Portuguese, Dutch; words that are also English ("a", "in") left out.
_OTHER_FUNCTION_WORDS = """el la los las del que y en una es por con para como pero le les des et est une du pour
    dans pas qui sur
    der das und ist nicht ein eine zu mit auf den dem sie ich il di che per non sono della o os em um uma não
    het een van ook niet zijn"""
_OTHER_WORDS = frozenset(_OTHER_FUNCTION_WORDS.split())
MIN_CHINESE_SHARE = 0.3
# Words written with diacritics (Latin-1 Supplement, Latin Extended-A/B and Additional: Czech, Vietnamese, …).
_ANY_LATIN_WORD = re.compile("[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]+")
_DIACRITIC = re.compile("[\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]")
MAX_DIACRITIC_WORD_SHARE = 0.3  # English borrows a few ("café", "naïve"); Czech or Vietnamese prose is full of them


def prompt_language(query: str) -> str:
    """The language of the search's prompts: 'zh' when the query contains any CJK ideograph, else 'en'
    (REER.md §3.1, the published rule; coarser than :func:`text_language` on purpose)."""
    return "zh" if _CJK.search(query) else "en"


def text_language(text: str) -> str:
    """'zh', 'en', or 'other' for the main language of a text."""
    cjk = len(_CJK.findall(text))
    words = [w.lower() for w in _LATIN_WORD.findall(text)]
    if cjk and cjk / (cjk + len(words)) >= MIN_CHINESE_SHARE:
        return "zh"
    latin = _ANY_LATIN_WORD.findall(text)
    if latin and sum(bool(_DIACRITIC.search(w)) for w in latin) / len(latin) >= MAX_DIACRITIC_WORD_SHARE:
        return "other"
    english = sum(w in _ENGLISH_WORDS for w in words)
    other = sum(w in _OTHER_WORDS for w in words)
    if english > other or (words and english == other == 0 and text.isascii()):
        return "en"
    return "other"


def units(text: str) -> list[str]:
    """Words for English, characters for Chinese, lower-cased: the unit of lengths and of verbatim overlap."""
    return [u.lower() for u in _UNIT.findall(text)]
