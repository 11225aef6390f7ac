"""One writer per run: a second one is refused at once, a killed one leaves no lock behind, and the
reading commands work beside a writing run and on read-only media."""

import os
import shutil
import signal
import sqlite3
import subprocess
import time

import pytest

from reer.store import RunStore
from reer.store.lock import RunLock, writer_pid
from tests.conftest import CI, wait_for
from tests.reliability.faults import REPO, fault_config, reer_command, run_reer, write_pairs


def done(run_dir) -> int:
    try:
        store = RunStore.open_existing(run_dir, readonly=True)
    except Exception:
        return 0
    try:
        return store.status_counts().get("done", 0)
    finally:
        store.close()


@pytest.fixture
def writing(tmp_path):
    """A `reer synthesize` process that finished 5 items and hangs in the sixth."""
    pairs = write_pairs(tmp_path / "pairs.jsonl", *[None] * 5, "hang", n=6)
    config = fault_config(tmp_path / "faulty.yaml")
    run = tmp_path / "run"
    command = ["synthesize", str(pairs), "-o", str(run), "-c", str(config)]
    log = (tmp_path / "writer.log").open("w")  # a pipe nobody reads would fill and stop the writer
    writer = subprocess.Popen(reer_command(*command), cwd=REPO, stdout=log, stderr=log)
    wait_for("the writer to finish 5 items", lambda: done(run) == 5, deadline=120)
    yield writer, run, command
    writer.kill()
    writer.wait()
    log.close()


def test_a_second_writer_is_refused_at_once_and_a_killed_one_leaves_no_lock(writing):
    writer, run, command = writing
    started = time.monotonic()
    second = run_reer(*command)
    assert second.returncode == 1 and time.monotonic() - started < 30
    assert f"is being written by another reer process (pid {writer.pid})" in second.stderr
    assert "Traceback" not in second.stderr and done(run) == 5
    assert writer_pid(run) == writer.pid
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert writer_pid(run) is None
    with RunLock(run):  # free at once: the kernel dropped it with the process
        pass


def test_status_export_and_filter_work_while_a_run_writes(writing, tmp_path):
    _, run, _ = writing
    status = run_reer("status", str(run))
    assert status.returncode == 0 and "done" in status.stdout and "item-5" in status.stdout
    exported = run_reer("export", str(run), "-o", str(tmp_path / "out"), "--no-filter", "--format", "records")
    assert exported.returncode == 0, exported.stderr
    assert "still being written" in exported.stderr
    assert len((tmp_path / "out" / "train.jsonl").read_text().splitlines()) == 5
    filtered = run_reer("filter", str(run))
    assert filtered.returncode == 0, filtered.stderr


@pytest.mark.parametrize("ending", ["killed", "finished"])
def test_reading_commands_work_on_read_only_media(tmp_path, ending):
    """A run on a read-only mount: after kill -9 (its write-ahead log still holds work) and after a clean end."""
    if shutil.which("unshare") is None or (os.geteuid() != 0 and not CI):
        pytest.skip("needs unshare and root for a read-only bind mount")
    pairs = write_pairs(tmp_path / "pairs.jsonl", None, None, None, "hang" if ending == "killed" else None, n=4)
    config = fault_config(tmp_path / "faulty.yaml")
    run = tmp_path / "run"
    writer = subprocess.Popen(reer_command("synthesize", str(pairs), "-o", str(run), "-c", str(config)), cwd=REPO)
    if ending == "killed":
        wait_for("3 finished items", lambda: done(run) == 3, deadline=120)
        writer.kill()
    assert writer.wait(timeout=120) in (0, -signal.SIGKILL)
    expected = 3 if ending == "killed" else 4
    wal = run / "reer.sqlite-wal"
    assert wal.exists() == (ending == "killed")
    mount = tmp_path / "ro"
    mount.mkdir()
    out = tmp_path / "out"
    script = (
        f"mount --bind {run} {mount} && mount -o remount,bind,ro {mount} && "
        f"{{ touch {mount}/probe 2>/dev/null && exit 9; true; }} && "
        f"{_shell(reer_command('status', str(mount)))} && "
        f"{_shell(reer_command('export', str(mount), '-o', str(out), '--no-filter', '--format', 'records'))} && "
        f"{_shell(reer_command('filter', str(mount)))} && "
        f"{{ {_shell(reer_command('synthesize', str(pairs), '-o', str(mount / 'new'), '-c', str(config)))} "
        f"2> {tmp_path}/write.err; echo $? > {tmp_path}/write.rc; }}"
    )
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert f"{expected} finished trajectories" in result.stdout  # filter's count
    assert len((out / "train.jsonl").read_text().splitlines()) == expected
    assert "verdicts were not stored" in result.stderr
    write_error = (tmp_path / "write.err").read_text()  # a new run cannot be written there: one line
    assert (tmp_path / "write.rc").read_text().strip() == "1" and write_error.count("\n") == 1
    assert write_error.startswith("error: Read-only file system")
    db = sqlite3.connect(run / "reer.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


def _shell(command: list[str]) -> str:
    import shlex

    return " ".join(shlex.quote(part) for part in command)


def test_a_full_disk_stops_the_run_in_one_line_and_a_rerun_with_room_finishes_it(tmp_path):
    """The run's disk fills mid-run: one line, exit 1, the finished items intact; given room, the same
    command finishes the rest. The export to a full disk fails the same way and leaves no partial folder."""
    if shutil.which("unshare") is None or (os.geteuid() != 0 and not CI):
        pytest.skip("needs unshare and root for a small tmpfs")
    pairs = write_pairs(tmp_path / "pairs.jsonl", n=200)
    config = fault_config(tmp_path / "faulty.yaml")
    disk, logs = tmp_path / "disk", tmp_path / "logs"
    disk.mkdir()
    logs.mkdir()
    synthesize = _shell(reer_command("synthesize", str(pairs), "-o", f"{disk}/run", "-c", str(config)))
    export = _shell(reer_command("export", f"{disk}/run", "-o", f"{disk}/out", "--no-filter"))
    script = (
        f"mount -t tmpfs -o size=640k tmpfs {disk} && "
        f"{{ {synthesize} > {logs}/full.out 2> {logs}/full.err; echo $? > {logs}/full.rc; }}; "
        f"cp {disk}/run/reer.sqlite* {logs}/ ; "
        f"mount -o remount,size=64m {disk} && "
        f"{{ {synthesize} > /dev/null 2> {logs}/room.err; echo $? > {logs}/room.rc; }}; "
        f"cp {disk}/run/reer.sqlite {logs}/room.sqlite; "
        f"dd if=/dev/zero of={disk}/filler bs=64k 2>/dev/null; "  # until the disk is full
        f"{{ {export} > /dev/null 2> {logs}/export.err; echo $? > {logs}/export.rc; }}; "
        f"ls -a {disk} > {logs}/after-export.txt"
    )
    subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=REPO, timeout=600, check=True)
    full_error = (logs / "full.err").read_text()
    assert (logs / "full.rc").read_text().strip() == "1", full_error
    assert full_error.startswith("error: ") and full_error.count("\n") == 1 and "full" in full_error
    db = sqlite3.connect(logs / "reer.sqlite")  # the copy taken while the disk was full
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finished_before = db.execute("SELECT COUNT(*) FROM trajectories WHERE status = 'done'").fetchone()[0]
    db.close()
    assert 0 < finished_before < 200
    assert (logs / "room.rc").read_text().strip() == "0", (logs / "room.err").read_text()
    db = sqlite3.connect(logs / "room.sqlite")
    assert db.execute("SELECT COUNT(*) FROM trajectories WHERE status = 'done'").fetchone()[0] == 200
    db.close()
    export_error = (logs / "export.err").read_text()
    assert (
        (logs / "export.rc").read_text().strip() == "1"
        and export_error.startswith("error: ")
        and "Traceback" not in export_error
    )
    assert "out" not in (logs / "after-export.txt").read_text().split()
