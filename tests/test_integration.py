"""The whole search on the real embedded SmolLM2, including a kill -9 in the middle of an item."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys

import pytest

from reer.config import SearchConfig
from reer.records import clipped_score
from reer.search.reer import Searcher, new_trajectory
from reer.search.scoring import score_request
from tests.conftest import Memory, needs_eval_framework, wait_for

# Small enough for a 2-core CPU; the 135M model needs its analysis capped to produce <refine> at all.
SMALL = {
    "max_steps": 2,
    "max_new_tokens_initial": 200,
    "max_new_tokens_refine": 128,
    "analysis_tokens": 32,
    "min_initial_tokens": 50,
    "min_segment_chars": 60,
}


@pytest.fixture(scope="module")
def real_pairs():
    from reer.demo import demo_pairs

    return demo_pairs(6, reference_words=120)


@needs_eval_framework
def test_full_search_on_the_real_model(smollm, real_pairs):
    config = SearchConfig(**SMALL)
    searcher = Searcher(smollm, smollm, config, seed=0)
    # The tiny model sometimes stops thinking at once (REER rejects the item) or copies enough of the reference
    # that the initial score is already below the threshold (nothing to search): take the first searched item.
    for pair in real_pairs:
        t = searcher.run(pair, new_trajectory(pair), Memory())
        if t.status == "done" and t.steps:
            break
    assert t.status == "done" and t.steps, "no item of six was searched"
    assert t.final_score <= t.initial_score
    assert 0 <= t.final_score <= config.clip
    assert len(t.steps) == min(2, len(searcher.current_segments(t))) or t.stop_reason == "below_threshold"
    n_tokens = len(t.scored_tokens)
    assert n_tokens > 10 and len(t.initial.scored.token_logprobs) == n_tokens
    for step in t.steps:
        assert len(step.candidates) == 2 and step.generate_seconds > 0
        for c in step.candidates:
            assert c.raw and c.num_tokens > 0
            if c.scored:
                assert len(c.scored.token_logprobs) == n_tokens
    assert t.best().score == t.final_score and len(t.best().token_logprobs) == n_tokens
    # The recorded final score is the score of the final trace, recomputed from scratch.
    again = smollm.score([score_request("en", pair.query, t.final_trace, pair.reference, min_chars=60)])[0]
    assert clipped_score(again.token_logprobs, config.clip) == pytest.approx(t.final_score, abs=1e-5)


def _saved_steps(db_path):
    """Steps saved so far, read without ever creating the database (the run creates it)."""
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    except sqlite3.OperationalError:
        return 0
    try:
        return db.execute("SELECT COUNT(*) FROM steps").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet, or its schema not yet written
        return 0
    finally:
        db.close()


@needs_eval_framework
def test_kill_during_an_item_then_resume(tmp_path, real_pairs, embedded_dir):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(p.model_dump_json() + "\n" for p in real_pairs[2:4]))
    run_dir = tmp_path / "run"
    sets = [arg for key, value in {**SMALL, "max_steps": 3}.items() for arg in ("--set", f"search.{key}={value}")]
    command = [sys.executable, "-m", "reer", "synthesize", str(pairs), "-o", str(run_dir), *sets]

    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for("a saved step", lambda: _saved_steps(run_dir / "reer.sqlite") >= 1 or process.poll() is not None, 400)
    process.send_signal(signal.SIGKILL)
    process.wait()
    db = sqlite3.connect(run_dir / "reer.sqlite")
    before = db.execute(
        "SELECT item_id, step, original, chosen, best_score FROM steps ORDER BY item_id, step"
    ).fetchall()
    cands_before = db.execute("SELECT item_id, step, candidate, raw, score FROM candidates ORDER BY 1, 2, 3").fetchall()
    statuses = dict(db.execute("SELECT item_id, status FROM trajectories").fetchall())
    db.close()
    assert before, "the run was killed before its first step was saved"
    assert "running" in statuses.values()  # killed in the middle of an item

    # Ctrl-C during the resumed run: it stops after its next saved step, says how to resume, exits 130.
    interrupted = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    saved = len(before)
    wait_for(
        "a step saved by the resumed run",
        lambda: _saved_steps(run_dir / "reer.sqlite") > saved or interrupted.poll() is not None,
        400,
    )
    interrupted.send_signal(signal.SIGINT)
    _, stderr = interrupted.communicate(timeout=300)
    if interrupted.returncode != 0:  # 0 only if the run happened to finish before the signal arrived
        assert interrupted.returncode == 130 and "rerun the same command to resume" in stderr

    finished = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    assert finished.returncode == 0, finished.stderr
    db = sqlite3.connect(run_dir / "reer.sqlite")
    after = db.execute(
        "SELECT item_id, step, original, chosen, best_score FROM steps ORDER BY item_id, step"
    ).fetchall()
    assert after[: len(before)] == before  # finished steps were kept as they were, not redone
    cands_after = db.execute("SELECT item_id, step, candidate, raw, score FROM candidates ORDER BY 1, 2, 3").fetchall()
    assert cands_after[: len(cands_before)] == cands_before
    keys = [(r[0], r[1]) for r in after]
    assert len(keys) == len(set(keys))
    per_step = db.execute("SELECT COUNT(*) FROM candidates GROUP BY item_id, step").fetchall()
    assert {n for (n,) in per_step} == {2}
    statuses = dict(db.execute("SELECT item_id, status FROM trajectories").fetchall())
    assert set(statuses.values()) <= {"done", "rejected"} and "done" in statuses.values()
    for item_id, steps in db.execute("SELECT item_id, COUNT(*) FROM steps GROUP BY item_id"):
        assert steps <= 3, item_id

    out = tmp_path / "records"
    exported = subprocess.run(
        [sys.executable, "-m", "reer", "export", str(run_dir), "-o", str(out), "-f", "records", "--no-filter"],
        capture_output=True,
        text=True,
    )
    assert exported.returncode == 0, exported.stderr
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert len(rows) == list(statuses.values()).count("done")
