"""Checkpointing the embedded store's WAL on a thread of its own, off the commit path.

SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold (1,000 pages): the
committing thread copies WAL pages into the database file and fsyncs it. In a bulk load of a
million nodes that was 5.7 s of the last 9.9 s, and the commits of an HTTP group commit waited
for it too. So the writer connection turns it off (``wal_autocheckpoint=0``) and this checkpointer,
with its own connection, copies the WAL back whenever it has grown past ``passive_bytes``:

* ``PASSIVE`` first: it never blocks a writer or a reader, but it cannot copy frames newer than
  the oldest reader's snapshot, and the WAL only starts over from its beginning when a checkpoint
  has caught up and no reader still uses it. Under a steady stream of reads and writes that may
  never happen, and a WAL that only grows makes every page lookup slower.
* so once the WAL holds more than ``restart_bytes``, ``RESTART`` under the store's write lock: it
  waits (at most ``restart_wait_s``) for the readers to move on to the newest snapshot, copies the
  rest, and makes the next writer start the WAL from the beginning. The writer connection's
  ``journal_size_limit`` then truncates the file back to ``passive_bytes``.

Durability is unchanged: a COMMIT still appends to the WAL and fsyncs it (``synchronous=FULL``)
before it returns; a checkpoint only copies what is already durable, and one interrupted by a
crash is redone from the WAL on the next open.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# Each WAL frame is a page plus its 24-byte header.
_FRAME_HEADER = 24


@dataclass(frozen=True)
class CheckpointPolicy:
    # 32 MiB is 8,000 frames of 4 KiB: a few of SQLite's 4,096-frame WAL-index blocks to search
    # per page a reader looks up, and enough for one bulk transaction of 20,000 facts.
    passive_bytes: int = 32 * 2**20
    restart_bytes: int = 256 * 2**20
    # How long a RESTART may hold back writers waiting for readers; it is retried after the next
    # commit if readers were still busy.
    restart_wait_s: float = 2.0


class Checkpointer:
    """Runs checkpoints for one store; ``notify`` after each commit, ``close`` before the store's."""

    def __init__(self, database: Path, write_lock: contextlib.AbstractContextManager[object],
                 policy: CheckpointPolicy) -> None:
        self._database = database
        self._wal = database.with_name(database.name + "-wal")
        self._write_lock = write_lock
        self.policy = policy
        self._wake = threading.Event()
        self._closing = False
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # Counters for tests and /metrics-style diagnostics.
        self.passive = 0
        self.restarts = 0
        self.failures = 0

    def wal_bytes(self) -> int:
        try:
            return os.stat(self._wal).st_size
        except FileNotFoundError:
            return 0

    def notify(self) -> None:
        """After a commit: one ``stat``, and a wake-up only when the WAL has outgrown the threshold.

        The file, not its content, is measured; ``journal_size_limit`` cuts it back to the
        threshold whenever the WAL starts over, so past the threshold means new frames past it.
        """
        if self._closing or self.wal_bytes() <= self.policy.passive_bytes:
            return
        if self._thread is None:
            # Started on first need: a short-lived CLI that only reads never pays for a thread.
            with self._start_lock:
                if self._thread is None and not self._closing:
                    self._thread = threading.Thread(target=self._run, name="lineage-sqlite-checkpoint",
                                                    daemon=True)
                    self._thread.start()
        self._wake.set()

    def close(self) -> None:
        """Stop the thread; a checkpoint in progress finishes first (it is safe to interrupt,
        but closing the store under it would not be)."""
        with self._start_lock:
            self._closing = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join()

    def _connect(self) -> sqlite3.Connection:
        # The busy timeout bounds how long RESTART waits for readers while it holds writers back.
        connection = sqlite3.connect(self._database, isolation_level=None, check_same_thread=False,
                                     timeout=self.policy.restart_wait_s)
        connection.execute("PRAGMA synchronous = FULL")
        return connection

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._closing:
                    return
                try:
                    # Opened here, inside the try: a store on a full or vanished disk fails this
                    # round, not the thread.
                    connection = connection or self._connect()
                    self.checkpoint(connection)
                except Exception:
                    # A full disk, an I/O error, a failed flock (OSError): the WAL is still intact
                    # and commits still durable; log it and try again after the next commit. Any
                    # exception, not only sqlite3.Error: a thread that died here would leave the
                    # WAL growing without bound (the writer never checkpoints itself). The message
                    # carries the path and the error only, nothing from the data.
                    self.failures += 1
                    log.exception("checkpointing %s failed; retried after the next commit", self._database)
                    if connection is not None:  # a connection that failed once is opened afresh
                        with contextlib.suppress(sqlite3.Error):
                            connection.close()
                        connection = None
        finally:
            if connection is not None:
                connection.close()
            # Should the loop itself fail, the next notify() starts a new thread instead of waking
            # a dead one.
            with self._start_lock:
                if self._thread is threading.current_thread():
                    self._thread = None

    def checkpoint(self, connection: sqlite3.Connection) -> None:
        """One round: PASSIVE, then RESTART under the write lock if the WAL is still far too long."""
        _, frames, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.passive += 1
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        if frames * (page_size + _FRAME_HEADER) < self.policy.restart_bytes:
            return
        with self._write_lock:
            busy, _, _ = connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        if busy:
            log.info("WAL of %s: readers held their snapshots for %.1f s; restart retried after the next commit",
                     self._database, self.policy.restart_wait_s)
        else:
            self.restarts += 1
