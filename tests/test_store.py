import gc
import sqlite3

import pytest

from reer.config import ReerConfig, load_config
from reer.errors import ConfigError, ReerError
from reer.records.trajectory import Trajectory
from reer.search.runner import open_run, synthesize
from reer.store import RunStore
from reer.store.migrations import MIGRATIONS

FAKE = {"generator.backend": "fake", "search.stop_threshold": 0.0, "search.max_steps": 3}


def test_schema_is_versioned_and_wal(tmp_path):
    store = RunStore(tmp_path)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
    RunStore(tmp_path).close()  # reopening does not re-run migrations


def test_a_version_1_run_is_upgraded_in_place(tmp_path, pair):
    """Runs made by reer 0.2 (schema v1) keep their items and trajectories, and gain the filter-verdict table
    and the retry counts (zero: no server backend existed)."""
    db = sqlite3.connect(tmp_path / "reer.sqlite")
    db.executescript(MIGRATIONS[0] + "\nPRAGMA user_version = 1;")
    db.execute("INSERT INTO items (id, position, query, reference) VALUES ('old', 0, 'Q', 'R')")
    db.execute(
        "INSERT INTO trajectories (item_id, rollout, language, status, opener, initial_raw, initial_trace, "
        "initial_tokens, initial_finish, initial_generate_seconds, initial_score_seconds) "
        "VALUES ('old', 0, 'en', 'running', 'Okay', ' then', 'Okay then', 2, 'eos', 0.5, 0.1)"
    )
    db.commit()
    db.close()
    store = RunStore(tmp_path)
    try:
        assert store.pair("old").query == "Q" and store.filter_drops() == {}
        initial = store.trajectory("old", 0).initial
        assert initial is not None and initial.trace == "Okay then" and initial.retries == 0
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    finally:
        store.close()


def test_a_reader_upgrades_an_old_run_once_then_reads_it(tmp_path):
    db = sqlite3.connect(tmp_path / "reer.sqlite")
    db.executescript(MIGRATIONS[0] + "\nPRAGMA user_version = 1;")
    db.execute("INSERT INTO items (id, position, query, reference) VALUES ('old', 0, 'Q', 'R')")
    db.commit()
    db.close()
    store = RunStore.open_existing(tmp_path, readonly=True)
    try:
        assert store.pair("old").reference == "R"
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    finally:
        store.close()


def test_newer_schema_is_refused(tmp_path):
    RunStore(tmp_path).close()
    db = sqlite3.connect(tmp_path / "reer.sqlite")
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(RuntimeError, match="newer"):
        RunStore(tmp_path)


def test_items_are_added_once_and_conflicts_reported(tmp_path, pair):
    store = RunStore(tmp_path)
    assert store.add_items([pair], rollouts=2) == []
    assert store.add_items([pair], rollouts=2) == []
    changed = pair.model_copy(update={"reference": "different"})
    assert store.add_items([changed], rollouts=2) == [pair.id]
    assert store.status_counts() == {"pending": 2}
    assert store.pair(pair.id).reference == pair.reference


def test_synthesize_resumes_without_redoing_finished_work(tmp_path, pair):
    config = load_config(None, FAKE)
    first = synthesize([pair], tmp_path, config)
    assert first.counts == {"done": 1} and first.searched_now == 1
    second = synthesize([pair], tmp_path, config)
    assert second.searched_now == 0 and second.counts == {"done": 1}
    other = pair.model_copy(update={"id": "second"})
    third = synthesize([pair, other], tmp_path, config)
    assert third.searched_now == 1 and third.counts == {"done": 2}
    assert third.mean_final < third.mean_initial


def test_a_finished_item_is_not_kept_in_memory(tmp_path, pair):
    """Every finished trajectory (with each candidate's log-probabilities: 0.7 MB at the published size) used to
    stay alive until the run ended; at 20,000 items the driver grew by gigabytes and slowed as the collector
    walked them. Only the items in flight may be alive."""
    pairs = [pair.model_copy(update={"id": f"keeper-{k}"}) for k in range(30)]
    alive = []

    def on_event(kind, trajectory):
        if kind == "finish" and int(trajectory.item_id.split("-")[1]) % 5 == 4:
            alive.append(sum(isinstance(o, Trajectory) and o.initial is not None for o in gc.get_objects()))

    summary = synthesize(pairs, tmp_path, load_config(None, {**FAKE, "concurrency": 2}), on_event=on_event)
    assert summary.counts == {"done": 30} and len(alive) == 6
    assert max(alive) <= 3, alive  # two in flight, and the one finishing


def test_changed_config_is_refused_unless_forced(tmp_path, pair):
    synthesize([pair], tmp_path, load_config(None, FAKE))
    changed = load_config(None, {**FAKE, "search.num_expansion": 3})
    with pytest.raises(ConfigError, match=r"search\.num_expansion.*--force"):
        synthesize([pair], tmp_path, changed)
    summary = synthesize([pair], tmp_path, changed, force=True)
    assert summary.counts == {"done": 1}
    store = RunStore(tmp_path)
    assert [e["kind"] for e in store.events("config_changed")] == ["config_changed"]
    assert '"num_expansion":3' in store.get_meta("config")


def test_failed_items_are_recorded_and_retried(tmp_path, pair):
    config = load_config(None, FAKE)
    store = open_run(tmp_path, config)
    store.add_items([pair], 1)
    t = store.trajectory(pair.id, 0)
    store.mark_failed(t, "RuntimeError: boom")
    assert store.trajectory(pair.id, 0).error == "RuntimeError: boom"
    store.close()
    assert synthesize([pair], tmp_path, config).counts == {"done": 1}


def test_open_existing_needs_a_run(tmp_path):
    with pytest.raises(ReerError, match="not a reer run directory"):
        RunStore.open_existing(tmp_path)


def test_config_is_saved_with_the_run(tmp_path, pair):
    synthesize([pair], tmp_path, load_config(None, FAKE))
    saved = ReerConfig.model_validate_json((tmp_path / "config.json").read_text())
    assert saved.generator.backend == "fake" and saved.search.max_steps == 3


def test_a_stopping_run_ends_running_items_at_their_next_saved_stage(tmp_path, pair):
    """Ctrl-C during item A: A stops after its next saved step, B never starts; a rerun finishes both."""
    import threading

    from reer.search import items

    config = load_config(None, {**FAKE, "search.max_steps": 4})
    other = pair.model_copy(update={"id": "second"})
    original = items.Journal.save_step
    interrupted = threading.Event()

    def save_step_then_interrupt(self, trajectory, step):
        if not interrupted.is_set():
            interrupted.set()
            self.stopping.set()  # what the main thread does on Ctrl-C
        original(self, trajectory, step)

    items.Journal.save_step = save_step_then_interrupt
    try:
        summary = synthesize([pair, other], tmp_path, config)
    finally:
        items.Journal.save_step = original
    assert summary.counts == {"running": 1, "pending": 1}
    store = RunStore(tmp_path)
    assert len(store.trajectory(pair.id, 0).steps) == 1
    store.close()
    assert synthesize([pair, other], tmp_path, config).counts == {"done": 2}


def test_the_overview_and_the_light_records_agree_with_the_full_ones(tmp_path, pair):
    """`status` reads one query; exports read records without their per-token values: same facts."""
    pairs = [pair.model_copy(update={"id": f"item-{k}"}) for k in range(3)]
    synthesize(pairs, tmp_path, ReerConfig.model_validate({"generator": {"backend": "fake"}}))
    store = RunStore(tmp_path)
    try:
        store.add_items([pair.model_copy(update={"id": "later"})], rollouts=1)  # pending: no record yet
        full = store.all_trajectories()
        lines = store.overview()
        assert [(s.item_id, s.status, s.initial_score, s.final_score, s.steps) for s in lines] == [
            (t.item_id, t.status, t.initial_score, t.final_score, len(t.steps)) for t in full
        ]
        assert [s.item_id for s in store.overview(unfinished_only=True)] == ["later"]
        assert len(store.overview(limit=2)) == 2
        light = [t for _, t in store.finished(logprobs=False)]
        assert [t.model_dump(exclude={"initial", "steps", "scored_tokens"}) for t in light] == [
            t.model_dump(exclude={"initial", "steps", "scored_tokens"}) for t in full if t.status == "done"
        ]
        assert all(not t.initial.scored.token_logprobs for t in light) and full[0].initial.scored.token_logprobs
        assert [t.final_score for t in light] == [t.final_score for t in full[:3]]
        assert [[c.scored.score if c.scored else None for s in t.steps for c in s.candidates] for t in light] == [
            [c.scored.score if c.scored else None for s in t.steps for c in s.candidates] for t in full[:3]
        ]
        unfinished = store.unfinished()
        assert [(p.id, t.status, t.initial) for p, t in unfinished] == [("later", "pending", None)]
    finally:
        store.close()


def test_a_group_commit_saves_all_of_its_stages_or_none(tmp_path, pair):
    """``batch()``: the Ray driver commits every stage that arrived together in one transaction."""
    config = load_config(None, FAKE)
    synthesize([pair], tmp_path / "done", config)
    finished = RunStore(tmp_path / "done").trajectory(pair.id, 0)
    assert finished.initial is not None and len(finished.steps) >= 2
    started = finished.model_copy(update={"steps": [], "status": "running"})

    store = open_run(tmp_path / "run", config)
    try:
        store.add_items([pair], rollouts=1)
        with pytest.raises(RuntimeError), store.batch():
            store.save_initial(started)
            store.save_step(started, finished.steps[0])
            raise RuntimeError("the driver dies mid-batch")
        assert store.trajectory(pair.id, 0).initial is None  # none of it
        with store.batch():
            store.save_initial(started)
            store.save_step(started, finished.steps[0])
            store.save_step(started, finished.steps[1])
            assert RunStore(tmp_path / "run", readonly=True).trajectory(pair.id, 0).initial is None  # not yet
        saved = RunStore(tmp_path / "run", readonly=True).trajectory(pair.id, 0)
        assert saved.initial == finished.initial and saved.steps == finished.steps[:2]  # all of it
    finally:
        store.close()
