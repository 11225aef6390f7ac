"""Small text rules of the method: language choice and reading a refinement out of raw model output."""

from __future__ import annotations

import re

_CJK = re.compile("[\u4e00-\u9fff]")


def detect_language(query: str) -> str:
    """'zh' when the query contains CJK ideographs (REER.md §3.1), else 'en'."""
    return "zh" if _CJK.search(query) else "en"


def parse_refinement(raw: str) -> str | None:
    """The text after the *last* ``<refine>`` up to ``</refine>`` or the end; None without ``<refine>``."""
    start = raw.rfind("<refine>")
    if start < 0:
        return None
    body = raw[start + len("<refine>") :]
    end = body.find("</refine>")
    return (body if end < 0 else body[:end]).strip()


def join_segments(segments: list[str]) -> str:
    return "\n\n".join(segments)
