"""Numbered schema migrations; ``PRAGMA user_version`` holds how many have run."""

from __future__ import annotations

import sqlite3

MIGRATIONS: list[str] = [
    # 1: items, their trajectories (one per rollout), search steps, candidates, events, run metadata.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE items (
        id TEXT PRIMARY KEY,
        position INTEGER NOT NULL,
        query TEXT NOT NULL,
        reference TEXT NOT NULL,
        source TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE trajectories (
        item_id TEXT NOT NULL REFERENCES items(id),
        rollout INTEGER NOT NULL,
        language TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        reject_reason TEXT,
        error TEXT,
        opener TEXT,
        initial_raw TEXT,
        initial_trace TEXT,
        initial_tokens INTEGER,
        initial_finish TEXT,
        initial_generate_seconds REAL,
        initial_score REAL,
        initial_logprobs TEXT,
        initial_score_seconds REAL,
        scored_tokens TEXT,
        stop_reason TEXT,
        final_trace TEXT,
        updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (item_id, rollout)
    );
    CREATE TABLE steps (
        item_id TEXT NOT NULL,
        rollout INTEGER NOT NULL,
        step INTEGER NOT NULL,
        segment_index INTEGER NOT NULL,
        original TEXT NOT NULL,
        chosen INTEGER,
        best_score REAL NOT NULL,
        generate_seconds REAL NOT NULL,
        score_seconds REAL NOT NULL,
        PRIMARY KEY (item_id, rollout, step),
        FOREIGN KEY (item_id, rollout) REFERENCES trajectories(item_id, rollout)
    );
    CREATE TABLE candidates (
        item_id TEXT NOT NULL,
        rollout INTEGER NOT NULL,
        step INTEGER NOT NULL,
        candidate INTEGER NOT NULL,
        raw TEXT NOT NULL,
        text TEXT,
        dropped TEXT,
        num_tokens INTEGER NOT NULL,
        finish_reason TEXT NOT NULL,
        score REAL,
        logprobs TEXT,
        PRIMARY KEY (item_id, rollout, step, candidate),
        FOREIGN KEY (item_id, rollout, step) REFERENCES steps(item_id, rollout, step)
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        kind TEXT NOT NULL,
        item_id TEXT,
        rollout INTEGER,
        message TEXT NOT NULL
    );
    """,
    # 2: the verdicts of the last `reer filter` over finished trajectories, one row per failed check.
    """
    CREATE TABLE filter_drops (
        item_id TEXT NOT NULL,
        rollout INTEGER NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        PRIMARY KEY (item_id, rollout, reason),
        FOREIGN KEY (item_id, rollout) REFERENCES trajectories(item_id, rollout)
    );
    """,
    # 3: requests a server backend sent again (connection errors, 429, 5xx), per stage.
    """
    ALTER TABLE trajectories ADD COLUMN initial_retries INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE steps ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
    """,
    # 4: thinking gain per finished trajectory, and the null it is judged against (another item's thinking
    # on this item's reference), so that `reer filter` never scores a pair twice, even across kills.
    """
    CREATE TABLE gains (
        item_id TEXT NOT NULL,
        rollout INTEGER NOT NULL,
        empty_score REAL NOT NULL,
        empty_nll REAL NOT NULL,
        thinking_score REAL NOT NULL,
        thinking_nll REAL NOT NULL,
        seconds REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (item_id, rollout),
        FOREIGN KEY (item_id, rollout) REFERENCES trajectories(item_id, rollout)
    );
    CREATE TABLE gain_null (
        item_id TEXT NOT NULL,
        rollout INTEGER NOT NULL,
        other_item TEXT NOT NULL,
        other_rollout INTEGER NOT NULL,
        language TEXT NOT NULL,
        swapped_score REAL NOT NULL,
        swapped_nll REAL NOT NULL,
        PRIMARY KEY (item_id, rollout, other_item, other_rollout)
    );
    """,
]


def migrate(db: sqlite3.Connection) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise RuntimeError(f"run database schema v{version} is newer than this reer (v{len(MIGRATIONS)}); upgrade reer")
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        # executescript commits first, so the script and its version bump share one explicit transaction.
        db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
