"""Small text rules of the method: language choice and reading a refinement out of raw model output."""

from __future__ import annotations


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
