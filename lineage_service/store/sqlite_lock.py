"""The write lock of the embedded store: one writer at a time, across threads and processes.

SQLite already allows only one writer, but a second process that finds the database locked waits
in SQLite's busy handler, which sleeps (1, 2, 5, 10 … up to 100 ms) and polls rather than waking
when the lock is released. With ``lineage serve --workers N`` every worker has its own group-commit
writer, so commits queued behind each other's sleeps: fewer events per commit and a long tail.
Taking a blocking ``flock`` on a file beside the database before ``BEGIN IMMEDIATE`` queues the
writers in the kernel instead, which wakes the next one as soon as the holder lets go.

The order is always thread lock, then ``flock``, then SQLite's own lock, in every writer and in the
checkpointer (``sqlite_checkpoint``), so two holders can never wait on each other in a cycle. A
process that does not take this lock (an older version, the ``sqlite3`` shell) still works: it
meets SQLite's lock and its busy handler, as before. ``flock`` does not exist on Windows; there
the thread lock and SQLite's busy handler are all there is.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from types import TracebackType


def lock_path(database: Path) -> Path:
    """``lineage.db`` → ``lineage.db-writer.lock``, beside SQLite's own ``-wal`` and ``-shm``."""
    return database.with_name(database.name + "-writer.lock")


class WriteLock:
    """A context manager held around every write transaction and every blocking checkpoint."""

    def __init__(self, database: Path) -> None:
        self._threads = threading.Lock()
        self._fd: int | None = None
        if sys.platform != "win32":
            # One descriptor per store: flock excludes open file descriptions, and the thread lock
            # above makes sure that only one thread of this process uses it at a time.
            self._fd = os.open(lock_path(database), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def __enter__(self) -> WriteLock:
        self._threads.acquire()
        if self._fd is not None:
            import fcntl

            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            except BaseException:
                self._threads.release()
                raise
        return self

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
