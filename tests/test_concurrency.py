"""Readers are not blocked by writers; writer processes neither deadlock nor lose updates; Neo4j retries.

The SQLite tests use real files, real threads and real processes. A write transaction is held
open by the test itself (a second connection that took the write lock and has written, not
committed), so "a read completes while a write is open" is a fact, not a timing. The Neo4j test
runs the real driver's retry loop (``Session._run_transaction``) over a scripted transaction,
since no server can run here: what is checked is that the store's writes are whole transaction
functions the driver may run again, so a transient error on the first try writes everything once.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import neo4j
import pytest
from neo4j import ManagedTransaction
from neo4j._sync.work.session import Session
from neo4j.exceptions import TransientError

from graph_schema.events import parse_event
from lineage_service.ingest import ingest
from lineage_service.query.answers import lineage
from lineage_service.store import cypher
from lineage_service.store import neo4j as backend
from lineage_service.store.base import Direction
from lineage_service.store.sqlite import SQLiteGraphStore
from lineage_service.store.sqlite_lock import lock_path
from tests.events import commit_event
from tests.neo4j_recording import Result, default_answer

ROOT = Path(__file__).resolve().parent.parent
SHARED_PERSON = "shared@example.com"


@contextmanager
def write_held_open(path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection in the middle of a write transaction: lock taken, pages written, no COMMIT."""
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    db.execute("CREATE TABLE IF NOT EXISTS held_by_test (n INTEGER)")
    db.execute("BEGIN IMMEDIATE")
    db.executemany("INSERT INTO held_by_test VALUES (?)", ((n,) for n in range(10_000)))
    try:
        yield db
    finally:
        db.execute("COMMIT")
        db.close()


def lock_held(database: Path) -> bool:
    """Whether some writer holds the store's cross-process lock: a non-blocking flock on a descriptor
    of our own (flock excludes other open file descriptions, in this process too)."""
    fd = os.open(lock_path(database), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def test_reads_complete_while_a_write_transaction_is_open_and_writers_wait(tmp_path: Path) -> None:
    path = tmp_path / "lineage.db"
    store = SQLiteGraphStore(path)
    ingest(store, [parse_event(commit_event(n)) for n in range(20)])
    before = lineage(store, Direction.UPSTREAM, "commit", f"{1:040x}")
    other_writer = SQLiteGraphStore(path)  # as another process would: its own connections
    pool = ThreadPoolExecutor(2)
    with write_held_open(path):
        queued = pool.submit(ingest, other_writer, [parse_event(commit_event(100))])
        # Reads from another thread, and from this one, return the committed state meanwhile.
        assert pool.submit(lineage, store, Direction.UPSTREAM, "commit", f"{1:040x}").result(timeout=60) == before
        stats = store.stats()
        assert (stats["events"], stats["nodes"]["commit"]) == ({"applied": 20}, 20)
        # The queued write has started: it took the store's cross-process lock (taken before SQLite's
        # own) and now waits on SQLite's, which this test holds. So it cannot have committed: it
        # waits, it does not fail.
        deadline = time.monotonic() + 60
        while not lock_held(path):
            assert not queued.done(), f"the queued write ended while the lock was held: {queued.exception()}"
            assert time.monotonic() < deadline, "the queued write never took the store's lock"
            time.sleep(0.01)  # polling the lock file's state; the interval only spares the CPU
        assert not queued.done()
    queued.result(timeout=60)  # went through once the lock was released
    pool.shutdown()
    assert store.stats()["events"] == {"applied": 21}
    other_writer.close()
    store.close()


def test_read_latency_under_long_write_transactions(tmp_path: Path) -> None:
    """Figures for the reliability report: the slowest read while writers commit big transactions."""
    store = SQLiteGraphStore(tmp_path / "lineage.db")
    ingest(store, [parse_event(commit_event(n)) for n in range(200)])
    stop = threading.Event()
    latencies: list[float] = []
    errors: list[BaseException] = []  # an assert in the thread would otherwise only be printed

    def read() -> None:
        try:
            while not stop.is_set():
                started = time.perf_counter()
                answer = lineage(store, Direction.UPSTREAM, "commit", f"{7:040x}")
                latencies.append(time.perf_counter() - started)
                assert answer["root"]["key"]["sha"] == f"{7:040x}"
        except BaseException as exc:  # reported after the join
            errors.append(exc)
            stop.set()

    reader = threading.Thread(target=read)
    reader.start()
    written = 0
    try:
        for group in range(5):  # each a transaction of 1,000 events (about 3,000 rows)
            first = 1_000 + group * 1_000
            ingest(store, [parse_event(commit_event(n)) for n in range(first, first + 1_000)])
            written += 1_000
    finally:
        stop.set()
        reader.join()
    assert not errors, errors
    assert store.stats()["events"] == {"applied": 200 + written}
    assert latencies, "the reader never completed a query"
    latencies.sort()
    print(f"\nread latency under writes: {len(latencies)} reads, median {latencies[len(latencies) // 2] * 1e3:.1f} ms, "
          f"max {latencies[-1] * 1e3:.1f} ms (loaded shared machine; figures only, not asserted)")
    store.close()


WRITER = textwrap.dedent("""
    import sys
    from graph_schema.events import parse_event
    from lineage_service.ingest import ingest
    from lineage_service.store.sqlite import SQLiteGraphStore
    from tests.test_concurrency import writer_events

    worker, count = int(sys.argv[2]), int(sys.argv[3])
    store = SQLiteGraphStore(sys.argv[1])
    sys.stdin.readline()  # all writers start together
    accepted = duplicates = 0
    for raw in writer_events(worker, count):
        result = ingest(store, [parse_event(raw)])
        accepted += len(result.accepted)
        duplicates += len(result.duplicates)
        assert not result.failed, result.failed
    print(accepted, duplicates, flush=True)
""")


def writer_events(worker: int, count: int) -> Iterator[dict[str, Any]]:
    """Per writer: its own events, events every writer sends (same ids), and updates to one shared node."""
    for number in range(count):
        own: dict[str, Any] = commit_event(worker * 10_000 + number, source=f"w{worker}")
        if number % 3 == 0:
            # The same event id from every writer: recorded and applied once, whoever is first.
            yield commit_event(900_000 + number, source="shared")
        # Every writer enriches the same person with its own property and source: a lost update
        # (a merge computed from a stale read) would drop another writer's key or source.
        own["nodes"].append({"kind": "person", "key": {"id": SHARED_PERSON}, "props": {f"w{worker}": number}})
        yield own


def test_writer_processes_on_one_file_neither_deadlock_nor_lose_updates(tmp_path: Path) -> None:
    path, writers, count = tmp_path / "lineage.db", 4, 30
    SQLiteGraphStore(path).close()  # the schema exists before the race
    processes = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(worker), str(count)], cwd=ROOT,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for worker in range(writers)]
    outputs = []
    try:
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        for process in processes:
            out, err = process.communicate(timeout=240)  # a deadlock would hit this, not hang the suite
            assert process.returncode == 0, err
            outputs.append(tuple(map(int, out.split())))
    finally:  # a failure or a timeout leaves no writer behind
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=60)
    shared = len(range(0, count, 3))
    accepted = sum(a for a, _ in outputs)
    duplicates = sum(d for _, d in outputs)
    assert accepted == writers * count + shared  # each id accepted by exactly one writer
    assert duplicates == (writers - 1) * shared
    with SQLiteGraphStore(path) as store:
        stats = store.stats()
        assert stats["events"] == {"applied": writers * count + shared}
        assert stats["nodes"]["commit"] == writers * count + shared
        [person] = store.find_nodes("person", lookup=SHARED_PERSON)
        assert {f"w{w}" for w in range(writers)} <= set(person.props)  # no writer's update lost
        assert {f"w{w}" for w in range(writers)} <= set(person.sources)
        assert store.integrity_check() == ["ok"]


# Neo4j: transient errors are retried by the driver, and the retry writes once ---------------------

class ScriptedTransaction(ManagedTransaction):
    """Stands in for a server transaction: statements are kept, and count only once committed."""

    def __init__(self, server: ScriptedServer, on_closed: Any) -> None:  # no connection: nothing to pass up
        self.server, self.on_closed = server, on_closed
        self.statements: list[tuple[str, dict[str, Any]]] = []

    def run(self, query: str, parameters: dict[str, Any] | None = None,  # type: ignore[override]
            **more: Any) -> ScriptedResult:
        parameters = {**(parameters or {}), **more}
        self.server.attempted.append(query)
        if query in self.server.fail_on and not self.server.failed.get(query):
            self.server.failed[query] = True  # once: the retry goes through
            raise TransientError("Neo.TransientError.Transaction.DeadlockDetected: scripted deadlock")
        self.statements.append((query, parameters))
        return ScriptedResult(default_answer(query, parameters))

    def _commit(self) -> None:
        self.server.committed += self.statements
        self.on_closed()

    def _close(self) -> None:  # rolled back: nothing of this attempt counts
        self.on_closed()

    def _closed(self) -> bool:
        return True


class ScriptedResult(Result):
    def keys(self) -> list[str]:
        return list(self[0]) if self else []

    def _buffer_all(self) -> None:
        return None


class ScriptedServer:
    def __init__(self, fail_on: set[str]) -> None:
        self.fail_on = fail_on
        self.failed: dict[str, bool] = {}
        self.attempted: list[str] = []
        self.committed: list[tuple[str, dict[str, Any]]] = []


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[backend.Neo4jGraphStore, ScriptedServer]]:
    server = ScriptedServer(set())

    def open_transaction(session: Session, **config: Any) -> None:
        def closed() -> None:
            session._transaction = None

        session._transaction = ScriptedTransaction(server, closed)

    monkeypatch.setattr(Session, "_open_transaction", open_transaction)
    # The driver waits about a second before a retry; its backoff is not under test.
    monkeypatch.setattr("neo4j._sync.work.session.sleep", lambda seconds: None)
    driver = neo4j.GraphDatabase.driver("bolt://127.0.0.1:9", auth=("neo4j", "unused"))
    store = backend.Neo4jGraphStore(driver, "lineage", uri="bolt://127.0.0.1:9")
    yield store, server
    driver.close()


def test_neo4j_transient_errors_are_retried_and_each_write_lands_once(
        scripted: tuple[backend.Neo4jGraphStore, ScriptedServer]) -> None:
    store, server = scripted
    event = parse_event(commit_event(1))
    write_commit = cypher.write_nodes("commit")
    # Fail the first try half-way through each kind of write: after the log append's counter read,
    # after apply's node writes, and the single-statement mark_failed (driver.execute_query).
    server.fail_on |= {cypher.CREATE_EVENTS, cypher.write_nodes("person"), cypher.MARK_FAILED}
    server.committed.clear()
    result = ingest(store, [event])
    store.mark_failed("git-1", "scripted")
    assert not result.failed and result.accepted == ["git-1"]
    assert set(server.failed) == server.fail_on  # each failed once, then went through
    committed = [query for query, _ in server.committed]
    for query in (cypher.CREATE_EVENTS, write_commit, cypher.write_nodes("person"), cypher.MARK_APPLIED,
                  cypher.MARK_FAILED):
        assert committed.count(query) == 1, query  # written once, though attempted twice where it failed
    assert server.attempted.count(cypher.CREATE_EVENTS) == 2
    [created] = [params for query, params in server.committed if query == cypher.CREATE_EVENTS]
    assert [row["id"] for row in created["rows"]] == ["git-1"]
