"""The write lock of the embedded store: one writer at a time, across threads and processes.

SQLite already allows only one writer, but a second process that finds the database locked waits
in SQLite's busy handler, which sleeps (1, 2, 5, 10 … up to 100 ms) and polls rather than waking
when the lock is released. With ``lineage serve --workers N`` every worker has its own group-commit
writer, so commits queued behind each other's sleeps: fewer events per commit and a long tail.
Taking an ``flock`` on a file beside the database before ``BEGIN IMMEDIATE`` lets the next writer
in as soon as the holder lets go: at once if it is free, else by polling every 0.1 ms, doubling to
at most 2 ms (a blocking ``flock`` would wake sooner still, but it cannot time out, and a holder
stuck for good must fail the request, as SQLite's busy timeout did, not hang it). After
``timeout`` seconds (30, the connections' busy timeout) it raises ``sqlite3.OperationalError``.

The order is always thread lock, then ``flock``, then SQLite's own lock, in every writer and in the
checkpointer (``sqlite_checkpoint``), so two holders can never wait on each other in a cycle. A
process that does not take this lock (an older version, the ``sqlite3`` shell) still works: it
meets SQLite's lock and its busy handler, as before. ``flock`` does not exist on Windows; there
the thread lock and SQLite's busy handler are all there is.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time
from pathlib import Path
from types import TracebackType


def lock_path(database: Path) -> Path:
    """``lineage.db`` → ``lineage.db-writer.lock``, beside SQLite's own ``-wal`` and ``-shm``."""
    return database.with_name(database.name + "-writer.lock")


class WriteLock:
    """A context manager held around every write transaction and every blocking checkpoint."""

    def __init__(self, database: Path, timeout: float = 30.0) -> None:
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._path = lock_path(database)
        self.timeout = timeout
        if sys.platform != "win32":
            # One descriptor per store: flock excludes open file descriptions, and the thread lock
            # above makes sure that only one thread of this process uses it at a time.
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def __enter__(self) -> WriteLock:
        self._threads.acquire()
        if self._fd is not None:
            try:
                self._flock(self._fd)
            except BaseException:
                self._threads.release()
                raise
        return self

    def _flock(self, fd: int) -> None:
        import fcntl

        deadline = time.monotonic() + self.timeout
        delay = 0.0001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise sqlite3.OperationalError(
                    f"database is locked: another process has held the write lock for {self.timeout:g} s "
                    f"({self._path})")
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.002)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        try:
            if self._fd is not None:
                import fcntl

                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def close(self) -> None:
        with self._threads:
            if self._fd is not None:
                os.close(self._fd)  # closing the descriptor would release a held lock too
                self._fd = None
