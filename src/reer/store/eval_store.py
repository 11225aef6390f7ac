"""The evaluation's SQLite file: answers and judgements, each saved in its own transaction.

A rerun reads what is there and computes only what is missing, so after a crash or ``kill -9`` no saved
answer is generated again and no saved verdict is asked for again; primary keys refuse duplicates.
The settings that produced the results are stored too: resuming with different ones is refused.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reer.errors import ConfigError, ReerError

EVAL_DB = "eval.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
    benchmark TEXT NOT NULL, item_id TEXT NOT NULL, raw TEXT NOT NULL, thinking TEXT NOT NULL,
    answer TEXT NOT NULL, tokens INTEGER NOT NULL, finish_reason TEXT NOT NULL, seconds REAL NOT NULL,
    created REAL NOT NULL DEFAULT (julianday('now')), PRIMARY KEY (benchmark, item_id));
CREATE TABLE IF NOT EXISTS scores (
    benchmark TEXT NOT NULL, item_id TEXT NOT NULL, part TEXT NOT NULL, scores TEXT, raws TEXT NOT NULL,
    created REAL NOT NULL DEFAULT (julianday('now')), PRIMARY KEY (benchmark, item_id, part));
"""


@dataclass(frozen=True)
class Answer:
    item_id: str
    raw: str
    thinking: str
    answer: str
    tokens: int
    finish_reason: str
    seconds: float


@dataclass(frozen=True)
class Saved:
    """A stored judgement or measurement: ``scores`` None means unscored after ``len(raws)`` attempts."""

    item_id: str
    part: str
    scores: dict[str, float] | None
    raws: list[str]


class EvalStore:
    def __init__(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(out_dir / EVAL_DB, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)

    @classmethod
    def reading(cls, out_dir: Path) -> EvalStore:
        """The evaluation in ``out_dir``, read-only (for the report: it may be running, or on read-only media)."""
        path = out_dir / EVAL_DB
        if not path.is_file():
            raise ReerError(f"{out_dir} holds no evaluation ({EVAL_DB} is missing); make one with `reer eval`")
        store = cls.__new__(cls)
        store.db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
        return store

    def close(self) -> None:
        self.db.close()

    def check_settings(self, settings: dict[str, Any]) -> None:
        """Record the settings of a new evaluation, or refuse to resume one made with other settings."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'settings'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('settings', ?)", (json.dumps(settings, sort_keys=True),))
            return
        stored = json.loads(row[0])
        changed = sorted(key for key in set(stored) | set(settings) if stored.get(key) != settings.get(key))
        if changed:
            raise ConfigError(
                f"this evaluation folder was made with other settings ({', '.join(changed)} differ); "
                "resume with the same ones, or write to a new -o folder"
            )

    def answers(self, benchmark: str) -> dict[str, Answer]:
        rows = self.db.execute(
            "SELECT item_id, raw, thinking, answer, tokens, finish_reason, seconds FROM answers WHERE benchmark = ?",
            (benchmark,),
        )
        return {row[0]: Answer(*row) for row in rows}

    def save_answers(self, benchmark: str, answers: Iterable[Answer]) -> None:
        rows = [
            (benchmark, a.item_id, a.raw, a.thinking, a.answer, a.tokens, a.finish_reason, a.seconds) for a in answers
        ]
        self._insert(
            "INSERT INTO answers (benchmark, item_id, raw, thinking, answer, tokens, finish_reason, seconds)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def scores(self, benchmark: str) -> dict[tuple[str, str], Saved]:
        rows = self.db.execute("SELECT item_id, part, scores, raws FROM scores WHERE benchmark = ?", (benchmark,))
        return {
            (row[0], row[1]): Saved(row[0], row[1], json.loads(row[2]) if row[2] else None, json.loads(row[3]))
            for row in rows
        }

    def save_scores(self, benchmark: str, saved: Iterable[Saved]) -> None:
        rows = [
            (benchmark, s.item_id, s.part, json.dumps(s.scores) if s.scores is not None else None, json.dumps(s.raws))
            for s in saved
        ]
        self._insert("INSERT INTO scores (benchmark, item_id, part, scores, raws) VALUES (?, ?, ?, ?, ?)", rows)

    def _insert(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """All rows in one transaction: a batch is saved whole or not at all."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany(sql, rows)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
