"""One writer per run: the synthesis process holds an exclusive ``flock`` on ``RUN_DIR/writer.lock``.

The kernel drops the lock when its process ends in any way (``kill -9`` included), so a killed run never
leaves it stuck. Readers (``status``, ``export``, ``filter``) never take it; they only ask whether a
writer is there, to say that what they read is still growing.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from reer.errors import ReerError

LOCK_NAME = "writer.lock"


class RunLockedError(ReerError):
    """Another process is writing the run."""


class RunLock:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._fd: int | None = None

    def acquire(self) -> None:
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise ReerError(f"{self.run_dir} is a file, not a run directory; choose another output directory")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        if not _exclusive(fd):
            pid = _pid(fd)
            os.close(fd)
            raise RunLockedError(
                f"{self.run_dir} is being written by another reer process{f' (pid {pid})' if pid else ''}: wait "
                "for it to finish or stop it, or choose another output directory. `reer status`, `reer export` "
                "and `reer filter` work on it meanwhile."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock; the file stays (removing it would race a new writer)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def writer_pid(run_dir: Path) -> int | None:
    """The pid of the process writing ``run_dir`` now (0 when it cannot be read), or None when none is."""
    try:
        fd = os.open(run_dir / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _pid(fd) or 0
    except OSError:
        return None
    finally:
        os.close(fd)
    return None


def _exclusive(fd: int, patience: float = 0.25) -> bool:
    """The exclusive lock, waiting ``patience`` seconds out for a reader's momentary look (:func:`writer_pid`)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)


def _pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
        return int(text) if text.isdigit() else None
    except (OSError, UnicodeDecodeError):
        return None
