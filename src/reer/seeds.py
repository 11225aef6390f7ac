"""Seeds derived from the run seed, so that a resumed run draws what an uninterrupted one would."""

from __future__ import annotations

import hashlib


def derive_seed(seed: int, *parts: object) -> int:
    """A stable 32-bit seed per (run seed, item, rollout, step): resumes repeat what a full run does."""
    digest = hashlib.sha256("\x00".join(map(str, (seed, *parts))).encode()).digest()
    return int.from_bytes(digest[:4], "big")
