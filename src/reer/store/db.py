"""The only module that speaks SQL.

One writer (the synthesis process). Every completed search stage is written in its own transaction, so a
crash or ``kill -9`` at any moment leaves each trajectory at its last completed step: nothing finished is
lost and a rerun writes nothing twice (primary keys would refuse a duplicate rather than store it).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from reer.errors import ReerError
from reer.language import prompt_language
from reer.records import Pair
from reer.records.trajectory import Candidate, Gain, InitialTrace, Scored, Step, Trajectory
from reer.store.lock import writer_pid
from reer.store.migrations import MIGRATIONS, migrate

DB_NAME = "reer.sqlite"
QUERY_PREVIEW = 200  # characters of each request in `overview()`: enough to recognise and search it


@dataclass(frozen=True)
class ItemState:
    item_id: str
    rollout: int
    status: str
    initial_score: float | None
    final_score: float | None
    steps: int
    note: str
    accepted: int = 0  # steps whose rewrite was kept
    generated_tokens: int = 0  # initial trace and every candidate
    model_seconds: float = 0.0  # generating and scoring, every stage summed
    thinking_chars: int | None = None  # the final thinking, else the initial trace
    query: str = ""  # its first QUERY_PREVIEW characters


class RunStore:
    def __init__(self, run_dir: Path, *, readonly: bool = False) -> None:
        """``readonly``: for readers (status, export), which then work beside a writing run and on read-only
        media; a run made by an older reer is upgraded first where it can be written."""
        self.path = run_dir / DB_NAME
        self._lock = threading.RLock()  # one connection, one writer: concurrent searches take turns
        if readonly:
            self.db = _read_only(self.path)
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version >= len(MIGRATIONS):
                return
            self.db.close()
            if version == 0 or writer_pid(run_dir) is not None:
                raise ReerError(f"{run_dir} is being set up by `reer synthesize` right now; try again in a moment")
            RunStore(run_dir).close()  # made by an older reer: upgrade it once, then read
            self.db = _read_only(self.path)
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=60)
        try:
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            migrate(self.db)
        except BaseException:
            self.db.close()  # an open transaction left behind would block the run's writer
            raise

    @classmethod
    def open_existing(cls, run_dir: Path, *, readonly: bool = False) -> RunStore:
        if not (run_dir / DB_NAME).is_file():
            raise ReerError(f"{run_dir} is not a reer run directory (no {DB_NAME}); start one with `reer synthesize`")
        try:
            return cls(run_dir, readonly=readonly)
        except sqlite3.DatabaseError as exc:
            raise ReerError(f"cannot open the run database {run_dir / DB_NAME}: {exc}") from exc

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self.db.in_transaction:  # inside batch(): its transaction commits this write with the others
                yield self.db
                return
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    @contextmanager
    def batch(self) -> Iterator[None]:
        """The saves made inside, committed together in one transaction (a group commit): a driver that
        receives many stages at once pays for one durable commit instead of one per stage. A crash commits
        all of them or none, and each stage extends its own trajectory, so what a rerun finds is always a
        state some run could have saved one stage at a time."""
        with self._transaction():
            yield

    # -- run metadata -------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else None

    def set_meta(self, **values: str) -> None:
        with self._transaction() as db:
            db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", values.items())

    def log_event(self, kind: str, message: str, item_id: str | None = None, rollout: int | None = None) -> None:
        self.db.execute(
            "INSERT INTO events (kind, item_id, rollout, message) VALUES (?, ?, ?, ?)",
            (kind, item_id, rollout, message),
        )

    def log_search_call(self, items: int, seconds: float) -> None:
        """Record one `reer synthesize` call's wall time. Best effort: it is written while the call ends,
        perhaps because the disk is full, and must not replace the error that ended it."""
        try:
            with self._transaction():  # behind any stage a worker thread is still committing
                self.log_event("searched", json.dumps({"items": items, "seconds": round(seconds, 3)}))
        except sqlite3.Error:
            pass

    def search_calls(self) -> tuple[int, float]:
        """How many `reer synthesize` calls searched this run, and their wall time summed (a call killed
        with ``kill -9`` left no record)."""
        calls = [json.loads(e["message"]) for e in self.events("searched")]
        return len(calls), sum(c["seconds"] for c in calls)

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM events" + (" WHERE kind = ?" if kind else "") + " ORDER BY id"
        return [dict(r) for r in self.db.execute(sql, (kind,) if kind else ())]

    # -- items --------------------------------------------------------------------------------------

    def add_items(self, pairs: list[Pair], rollouts: int) -> list[str]:
        """Register new items (and their rollouts); return ids whose stored text differs from ``pairs``."""
        conflicts = []
        with self._transaction() as db:
            position = db.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM items").fetchone()[0]
            for pair in pairs:
                row = db.execute("SELECT query, reference FROM items WHERE id = ?", (pair.id,)).fetchone()
                if row is None:
                    db.execute(
                        "INSERT INTO items (id, position, query, reference, source) VALUES (?, ?, ?, ?, ?)",
                        (pair.id, position, pair.query, pair.reference, json.dumps(pair.source)),
                    )
                    position += 1
                elif (row["query"], row["reference"]) != (pair.query, pair.reference):
                    conflicts.append(pair.id)
                    continue
                db.executemany(
                    "INSERT OR IGNORE INTO trajectories (item_id, rollout, language) VALUES (?, ?, ?)",
                    [(pair.id, r, prompt_language(pair.query)) for r in range(rollouts)],
                )
        return conflicts

    def unfinished(self) -> list[tuple[Pair, Trajectory]]:
        """Work left to do, in input order: everything not done and not rejected (failed is retried). A
        trajectory not yet started is built from its row alone; only started ones load their steps."""
        rows = self.db.execute(
            "SELECT i.query, i.reference, i.source, t.* FROM trajectories t JOIN items i ON i.id = t.item_id "
            "WHERE t.status NOT IN ('done', 'rejected') ORDER BY i.position, t.rollout"
        ).fetchall()
        return [
            (
                _pair(row),
                self._trajectory(row)
                if row["initial_trace"] is None
                else self.trajectory(row["item_id"], row["rollout"]),
            )
            for row in rows
        ]

    def finished(self, *, logprobs: bool = True) -> Iterator[tuple[Pair, Trajectory]]:
        """The finished trajectories in input order, one at a time; ``logprobs=False`` skips reading the
        per-token log-probabilities (the bulk of a run: exports and filters need only the scores)."""
        keys = self.db.execute(
            "SELECT t.item_id, t.rollout FROM trajectories t JOIN items i ON i.id = t.item_id "
            "WHERE t.status = 'done' ORDER BY i.position, t.rollout"
        ).fetchall()
        for key in keys:
            yield self.pair(key["item_id"]), self.trajectory(key["item_id"], key["rollout"], logprobs=logprobs)

    # -- filter verdicts ----------------------------------------------------------------------------

    def save_filter_drops(self, drops: list[tuple[str, int, str, str]], settings: str, quality: str = "{}") -> None:
        """Replace the previous verdicts and the quality summary of what they keep, all at once: a crash leaves
        either the old set or the new one."""
        with self._transaction() as db:
            db.execute("DELETE FROM filter_drops")
            db.executemany("INSERT INTO filter_drops (item_id, rollout, reason, detail) VALUES (?, ?, ?, ?)", drops)
            db.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [("filters", settings), ("filter_quality", quality)],
            )

    def filter_drops(self) -> dict[tuple[str, int], dict[str, str]]:
        """(item, rollout) → {reason: detail} for every trajectory the last filter dropped."""
        drops: dict[tuple[str, int], dict[str, str]] = {}
        for row in self.db.execute("SELECT * FROM filter_drops ORDER BY item_id, rollout, reason"):
            drops.setdefault((row["item_id"], row["rollout"]), {})[row["reason"]] = row["detail"]
        return drops

    def filter_verdict(self, item_id: str, rollout: int) -> dict[str, str]:
        """{reason: detail} of one trajectory's drop by the last filter; empty when it passed (or none ran)."""
        rows = self.db.execute(
            "SELECT reason, detail FROM filter_drops WHERE item_id = ? AND rollout = ? ORDER BY reason",
            (item_id, rollout),
        )
        return {row["reason"]: row["detail"] for row in rows}

    def pair(self, item_id: str) -> Pair:
        return _pair(
            self.db.execute(
                "SELECT id AS item_id, query, reference, source FROM items WHERE id = ?", (item_id,)
            ).fetchone()
        )

    def has_work(self) -> bool:
        """Whether any search stage has been saved (before that, nothing depends on the configuration)."""
        return (
            self.db.execute("SELECT 1 FROM trajectories WHERE initial_trace IS NOT NULL LIMIT 1").fetchone() is not None
        )

    def status_counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT status, COUNT(*) AS n FROM trajectories GROUP BY status")
        return {r["status"]: r["n"] for r in rows}

    def mean_scores(self) -> tuple[float | None, float | None]:
        """Mean initial and final score over finished trajectories, without loading their records.

        A step's ``best_score`` is the best score after it, so the last step's is the final score."""
        row = self.db.execute(
            "SELECT AVG(initial_score), AVG(COALESCE((SELECT s.best_score FROM steps s WHERE s.item_id = t.item_id "
            "AND s.rollout = t.rollout ORDER BY s.step DESC LIMIT 1), initial_score)) "
            "FROM trajectories t WHERE t.status = 'done'"
        ).fetchone()
        return row[0], row[1]

    def mean_gain(self) -> tuple[int, float | None, float | None]:
        """(trajectories with a gain, mean plain gain, mean clipped gain) over finished trajectories."""
        try:
            row = self.db.execute(
                "SELECT COUNT(*), AVG(empty_nll - thinking_nll), AVG(empty_score - thinking_score) FROM gains"
            ).fetchone()
        except sqlite3.OperationalError:  # a run made before gains, read where it cannot be upgraded
            return 0, None, None
        return row[0], row[1], row[2]

    def retries(self) -> int:
        """Requests server backends sent again, over the whole run."""
        initial = self.db.execute("SELECT COALESCE(SUM(initial_retries), 0) FROM trajectories").fetchone()[0]
        return int(initial + self.db.execute("SELECT COALESCE(SUM(retries), 0) FROM steps").fetchone()[0])

    def overview(self, *, unfinished_only: bool = False, limit: int | None = None) -> list[ItemState]:
        """One line per trajectory, in input order, read in one query without any record (`status`, the report).
        Each trajectory's steps and candidates are summed in one pass each, not once per trajectory."""
        where = "WHERE t.status NOT IN ('done', 'rejected') " if unfinished_only else ""
        rows = self.db.execute(
            "WITH s AS (SELECT item_id, rollout, COUNT(*) AS steps, SUM(chosen IS NOT NULL) AS accepted, "
            "MAX(step) AS last, SUM(generate_seconds + score_seconds) AS seconds "
            "FROM steps GROUP BY item_id, rollout), "
            "c AS (SELECT item_id, rollout, SUM(num_tokens) AS tokens FROM candidates GROUP BY item_id, rollout) "
            "SELECT t.item_id, t.rollout, t.status, t.initial_score, s.steps, s.accepted, "
            "(SELECT b.best_score FROM steps b WHERE b.item_id = t.item_id AND b.rollout = t.rollout "
            "AND b.step = s.last) AS last_best, "
            "COALESCE(t.initial_tokens, 0) + COALESCE(c.tokens, 0) AS tokens, "
            "COALESCE(t.initial_generate_seconds, 0) + COALESCE(t.initial_score_seconds, 0) "
            "+ COALESCE(s.seconds, 0) AS seconds, "
            "LENGTH(COALESCE(t.final_trace, t.initial_trace)) AS thinking_chars, "
            f"SUBSTR(i.query, 1, {QUERY_PREVIEW}) AS query, "
            "COALESCE(t.reject_reason, t.error, t.stop_reason, '') AS note "
            "FROM trajectories t JOIN items i ON i.id = t.item_id "
            "LEFT JOIN s ON s.item_id = t.item_id AND s.rollout = t.rollout "
            "LEFT JOIN c ON c.item_id = t.item_id AND c.rollout = t.rollout "
            f"{where}ORDER BY i.position, t.rollout LIMIT ?",
            (-1 if limit is None else limit,),
        )
        return [
            ItemState(
                r["item_id"],
                r["rollout"],
                r["status"],
                r["initial_score"],
                (r["last_best"] if r["last_best"] is not None else r["initial_score"])
                if r["status"] == "done"
                else None,
                r["steps"] or 0,
                r["note"],
                r["accepted"] or 0,
                r["tokens"],
                r["seconds"],
                r["thinking_chars"],
                r["query"],
            )
            for r in rows
        ]

    def acceptance(self) -> list[tuple[int, int, int]]:
        """(refinement step, trajectories that took it, rewrites kept) for every step index reached."""
        rows = self.db.execute(
            "SELECT step, COUNT(*), SUM(chosen IS NOT NULL) FROM steps GROUP BY step ORDER BY step"
        ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def totals(self) -> dict[str, float]:
        """What the run spent, over every stage saved: generated tokens, scoring calls, model seconds."""
        initial = self.db.execute(
            "SELECT COALESCE(SUM(initial_tokens), 0), COUNT(initial_score), "
            "COALESCE(SUM(initial_generate_seconds), 0), COALESCE(SUM(initial_score_seconds), 0) FROM trajectories"
        ).fetchone()
        steps = self.db.execute(
            "SELECT COALESCE(SUM(generate_seconds), 0), COALESCE(SUM(score_seconds), 0) FROM steps"
        ).fetchone()
        candidates = self.db.execute("SELECT COALESCE(SUM(num_tokens), 0), COUNT(score) FROM candidates").fetchone()
        return {
            "generated_tokens": initial[0] + candidates[0],
            "scoring_calls": initial[1] + candidates[1],
            "generate_seconds": initial[2] + steps[0],
            "score_seconds": initial[3] + steps[1],
        }

    def all_trajectories(self) -> list[Trajectory]:
        keys = self.db.execute(
            "SELECT t.item_id, t.rollout FROM trajectories t JOIN items i ON i.id = t.item_id "
            "ORDER BY i.position, t.rollout"
        ).fetchall()
        return [self.trajectory(k["item_id"], k["rollout"]) for k in keys]

    # -- trajectories (the search's Journal) --------------------------------------------------------

    def trajectory(self, item_id: str, rollout: int, *, logprobs: bool = True) -> Trajectory:
        columns = "*" if logprobs else _WITHOUT_LOGPROBS
        row = self.db.execute(
            f"SELECT {columns} FROM trajectories WHERE item_id = ? AND rollout = ?", (item_id, rollout)
        ).fetchone()
        if row is None:
            raise ReerError(f"this run has no item {item_id!r} with rollout {rollout}")
        steps = self.db.execute(
            "SELECT * FROM steps WHERE item_id = ? AND rollout = ? ORDER BY step", (item_id, rollout)
        ).fetchall()
        trajectory = self._trajectory(row, [self._step(s, logprobs) for s in steps])
        trajectory.gain = self.gain(item_id, rollout) if trajectory.status == "done" else None
        return trajectory

    @staticmethod
    def _trajectory(row: sqlite3.Row, steps: list[Step] | None = None) -> Trajectory:
        return Trajectory(
            item_id=row["item_id"],
            rollout=row["rollout"],
            language=row["language"],
            status=row["status"],
            reject_reason=row["reject_reason"],
            error=row["error"],
            initial=_initial(row),
            steps=steps or [],
            stop_reason=row["stop_reason"],
            final_trace=row["final_trace"],
            scored_tokens=json.loads(row["scored_tokens"] or "[]"),
        )

    def _step(self, row: sqlite3.Row, logprobs: bool = True) -> Step:
        candidates = self.db.execute(
            f"SELECT {'*' if logprobs else _CANDIDATE_WITHOUT_LOGPROBS} FROM candidates "
            "WHERE item_id = ? AND rollout = ? AND step = ? ORDER BY candidate",
            (row["item_id"], row["rollout"], row["step"]),
        ).fetchall()
        return Step(
            step=row["step"],
            segment_index=row["segment_index"],
            original=row["original"],
            chosen=row["chosen"],
            best_score=row["best_score"],
            generate_seconds=row["generate_seconds"],
            score_seconds=row["score_seconds"],
            retries=row["retries"],
            candidates=[
                Candidate(
                    raw=c["raw"],
                    text=c["text"],
                    dropped=c["dropped"],
                    num_tokens=c["num_tokens"],
                    finish_reason=c["finish_reason"],
                    scored=_scored(c["score"], c["logprobs"]),
                )
                for c in candidates
            ],
        )

    def save_initial(self, t: Trajectory) -> None:
        i = t.initial
        assert i is not None
        with self._transaction() as db:
            db.execute(
                "UPDATE trajectories SET status = 'running', opener = ?, initial_raw = ?, initial_trace = ?, "
                "initial_tokens = ?, initial_finish = ?, initial_generate_seconds = ?, initial_score = ?, "
                "initial_logprobs = ?, initial_score_seconds = ?, initial_retries = ?, scored_tokens = ?, "
                "reject_reason = ?, error = NULL, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
                "WHERE item_id = ? AND rollout = ?",
                (
                    i.opener,
                    i.raw,
                    i.trace,
                    i.num_tokens,
                    i.finish_reason,
                    i.generate_seconds,
                    i.scored.score if i.scored else None,
                    _json(i.scored),
                    i.score_seconds,
                    i.retries,
                    json.dumps(t.scored_tokens),
                    t.reject_reason,
                    t.item_id,
                    t.rollout,
                ),
            )

    def save_step(self, t: Trajectory, step: Step) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO steps (item_id, rollout, step, segment_index, original, chosen, best_score, "
                "generate_seconds, score_seconds, retries) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    t.item_id,
                    t.rollout,
                    step.step,
                    step.segment_index,
                    step.original,
                    step.chosen,
                    step.best_score,
                    step.generate_seconds,
                    step.score_seconds,
                    step.retries,
                ),
            )
            db.executemany(
                "INSERT INTO candidates (item_id, rollout, step, candidate, raw, text, dropped, num_tokens, "
                "finish_reason, score, logprobs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        t.item_id,
                        t.rollout,
                        step.step,
                        k,
                        c.raw,
                        c.text,
                        c.dropped,
                        c.num_tokens,
                        c.finish_reason,
                        c.scored.score if c.scored else None,
                        _json(c.scored),
                    )
                    for k, c in enumerate(step.candidates)
                ],
            )
            db.execute(
                "UPDATE trajectories SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
                "WHERE item_id = ? AND rollout = ?",
                (t.item_id, t.rollout),
            )

    def save_finish(self, t: Trajectory) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE trajectories SET status = ?, stop_reason = ?, final_trace = ?, reject_reason = ?, "
                "error = NULL, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
                "WHERE item_id = ? AND rollout = ?",
                (t.status, t.stop_reason, t.final_trace, t.reject_reason, t.item_id, t.rollout),
            )
            if t.gain is not None:
                self.save_gain(t.item_id, t.rollout, t.gain)

    # -- thinking gain ------------------------------------------------------------------------------

    def save_gain(self, item_id: str, rollout: int, gain: Gain) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO gains (item_id, rollout, empty_score, empty_nll, thinking_score, "
                "thinking_nll, seconds) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    item_id,
                    rollout,
                    gain.empty_score,
                    gain.empty_nll,
                    gain.thinking_score,
                    gain.thinking_nll,
                    gain.seconds,
                ),
            )

    def gain(self, item_id: str, rollout: int) -> Gain | None:
        try:
            row = self.db.execute(
                "SELECT * FROM gains WHERE item_id = ? AND rollout = ?", (item_id, rollout)
            ).fetchone()
        except sqlite3.OperationalError:  # a run made before gains, read where it cannot be upgraded
            return None
        return None if row is None else _gain(row)

    def without_gain(self) -> list[tuple[str, int]]:
        """Finished trajectories whose gain is not measured yet (a run made before gains), in input order."""
        rows = self.db.execute(
            "SELECT t.item_id, t.rollout FROM trajectories t JOIN items i ON i.id = t.item_id "
            "LEFT JOIN gains g ON g.item_id = t.item_id AND g.rollout = t.rollout "
            "WHERE t.status = 'done' AND g.item_id IS NULL ORDER BY i.position, t.rollout"
        ).fetchall()
        return [(row["item_id"], row["rollout"]) for row in rows]

    def save_null(self, rows: list[tuple[str, int, str, int, str, float, float]]) -> None:
        """Swapped pairs scored for the null: (item, rollout, other item, other rollout, language, score, nll)."""
        with self._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO gain_null (item_id, rollout, other_item, other_rollout, language, "
                "swapped_score, swapped_nll) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def null_pairs(self) -> dict[tuple[str, int, str, int], tuple[str, float, float]]:
        """(item, rollout, other item, other rollout) → (language, swapped score, swapped NLL)."""
        try:
            rows = self.db.execute("SELECT * FROM gain_null").fetchall()
        except sqlite3.OperationalError:
            return {}
        return {
            (r["item_id"], r["rollout"], r["other_item"], r["other_rollout"]): (
                r["language"],
                r["swapped_score"],
                r["swapped_nll"],
            )
            for r in rows
        }

    def mark_failed(self, t: Trajectory, error: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE trajectories SET status = 'failed', error = ? WHERE item_id = ? AND rollout = ?",
                (error, t.item_id, t.rollout),
            )
            self.log_event("failed", error, t.item_id, t.rollout)


def _read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection. ``mode=ro`` reads beside a live writer; on read-only media, where SQLite cannot
    create the WAL index it needs for that, ``immutable=1`` (no one can be writing there) reads it."""
    problem: Exception | None = None
    wal = path.with_name(path.name + "-wal")
    for mode in ("mode=ro", "immutable=1"):
        if mode == "immutable=1" and wal.exists() and wal.stat().st_size:
            raise ReerError(
                f"cannot read {path} here: its write-ahead log {wal.name} holds committed work that SQLite can "
                f"only read where it can write ({problem}); copy the run directory to writable storage"
            )
        db = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True, check_same_thread=False, timeout=60)
        try:
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError as exc:
            db.close()
            problem = exc
            continue
        db.row_factory = sqlite3.Row
        return db
    raise ReerError(f"cannot read the run database {path}: {problem}")


def _json(scored: Scored | None) -> str | None:
    """Per-token values as JSON text (orjson: encoding thousands of floats is most of a step's commit)."""
    return orjson.dumps(scored.token_logprobs).decode() if scored else None


def _scored(score: float | None, logprobs: str | None) -> Scored | None:
    """None for an unscored candidate; the token values are empty when they were not read."""
    return None if score is None else Scored(score=score, token_logprobs=orjson.loads(logprobs) if logprobs else [])


def _gain(row: sqlite3.Row) -> Gain:
    return Gain(**{name: row[name] for name in Gain.model_fields})


def _pair(row: sqlite3.Row) -> Pair:
    return Pair(id=row["item_id"], query=row["query"], reference=row["reference"], source=json.loads(row["source"]))


# The same rows with the per-token values left unread (see RunStore.finished).
_WITHOUT_LOGPROBS = (
    "item_id, rollout, language, status, reject_reason, error, opener, initial_raw, initial_trace, initial_tokens, "
    "initial_finish, initial_generate_seconds, initial_score, NULL AS initial_logprobs, initial_score_seconds, "
    "initial_retries, NULL AS scored_tokens, stop_reason, final_trace"
)
_CANDIDATE_WITHOUT_LOGPROBS = "raw, text, dropped, num_tokens, finish_reason, score, NULL AS logprobs"


def _initial(row: sqlite3.Row) -> InitialTrace | None:
    if row["initial_trace"] is None:
        return None
    return InitialTrace(
        opener=row["opener"],
        raw=row["initial_raw"],
        trace=row["initial_trace"],
        num_tokens=row["initial_tokens"],
        finish_reason=row["initial_finish"],
        generate_seconds=row["initial_generate_seconds"],
        scored=_scored(row["initial_score"], row["initial_logprobs"]),
        score_seconds=row["initial_score_seconds"],
        retries=row["initial_retries"],
    )
