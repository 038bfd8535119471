"""Recovery on the store side: pending events per source, payloads that no longer validate, the
SQLite checkpointer and write lock when something goes wrong, a refused store that lets go of its
files, a replay that stops, and a neighbour page past the last link (both backends)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from graph_schema.events import LineageEvent
from lineage_service.collect import store_sender
from lineage_service.ingest import apply_pending, validate_all
from lineage_service.store import cypher
from lineage_service.store.base import Direction, GraphStore, NewerStoreSchema, NewEvent
from lineage_service.store.sqlite import SQLiteGraphStore
from lineage_service.store.sqlite_checkpoint import Checkpointer, CheckpointPolicy
from lineage_service.store.sqlite_lock import WriteLock, lock_path
from tests.events import commit_event
from tests.neo4j_recording import default_answer, recording_store

T0 = datetime(2026, 11, 10, 13, 27, tzinfo=UTC)


def events(*raw: dict[str, Any]) -> list[LineageEvent]:
    return validate_all(list(raw))


def record_only(store: GraphStore, *raw: dict[str, Any]) -> None:
    """What a crash right after the log write leaves behind: recorded, not applied."""
    store.append_events([NewEvent(e.id, e.source, e.time, e.model_dump_json(by_alias=True)) for e in events(*raw)])


def statuses(store: GraphStore) -> dict[str, str]:
    return {e.id: e.status for e in store.list_events(limit=1000)}


# Pending events, per source ---------------------------------------------------------------------
def test_list_events_keeps_to_one_source(store: GraphStore) -> None:
    record_only(store, commit_event(1, "git"), commit_event(2, "svc"), commit_event(3, "git"))
    assert [e.id for e in store.list_events(source="git")] == ["git-1", "git-3"]
    assert [e.id for e in store.list_events(source="git", status="pending", after="git-1")] == ["git-3"]
    assert store.list_events(source="nobody") == []


def test_a_collector_run_applies_only_its_own_sources_pending_events(store: GraphStore) -> None:
    # A killed git run left git-1 pending; the service beside it logged svc-2 and is applying it.
    record_only(store, commit_event(1, "git"), commit_event(2, "svc"))
    send = store_sender(store)
    assert statuses(store) == {"git-1": "pending", "svc-2": "pending"}  # nothing applied before a send
    delivered = send(events(commit_event(1, "git"), commit_event(3, "git")))
    assert (delivered.accepted, delivered.duplicates) == (1, 1)
    assert statuses(store) == {"git-1": "applied", "svc-2": "pending", "git-3": "applied"}


def test_apply_pending_marks_a_payload_that_no_longer_validates_failed(store: GraphStore) -> None:
    record_only(store, commit_event(1))
    store.append_events([NewEvent("old-format", "git", T0, '{"id": "old-format", "nodes": "not a list"}')])
    result = apply_pending(store)  # no ValidationError escapes
    assert result.accepted == ["git-1"]
    assert list(result.failed) == ["old-format"]
    stored = store.get_event("old-format")
    assert stored is not None and stored.status == "failed"
    assert stored.error is not None and stored.error.startswith("the logged payload is not a valid lineage event")
    assert statuses(store)["git-1"] == "applied"


# A neighbour page past the last link -------------------------------------------------------------
def test_a_page_past_the_last_link_still_counts_them_all(store: GraphStore) -> None:
    # Commits 1 and 8 have the same author (number % 7): two links into one person node.
    for number in (1, 8):
        record_only(store, commit_event(number))
    apply_pending(store)
    [person] = store.find_nodes("person")
    counts = {d: store.neighbour_page(person.id, d).total for d in Direction}
    direction = max(counts, key=counts.__getitem__)
    assert counts[direction] == 2
    past = store.neighbour_page(person.id, direction, skip=5, limit=3)
    assert (past.edges, past.total, past.next) == ([], 2, None)


def test_neo4j_reads_the_total_of_an_emptied_page_from_the_count_statement() -> None:
    def answer(query: str, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        if query == cypher.neighbour_count("downstream"):
            return [{"total": 7}]
        return default_answer(query, parameters)  # the page itself: no rows

    store, driver = recording_store(answer)
    page = store.neighbour_page("dataset_1", Direction.DOWNSTREAM, edge_kind="consumed", skip=100, limit=2)
    assert (page.edges, page.total, page.next) == ([], 7, None)
    query, parameters = driver.sent[-1]
    assert query == cypher.neighbour_count("downstream")
    assert parameters == {"id": "dataset_1", "type": "CONSUMED", "skip": [], "at": None}
    assert ("neighbour_count[downstream]", query) in cypher.all_statements()


def test_neo4j_list_events_binds_the_source_as_a_parameter() -> None:
    store, driver = recording_store()
    store.list_events(source="git') DETACH DELETE n //", status="pending")
    query, parameters = driver.sent[-1]
    assert query == cypher.LIST_EVENTS and "DETACH" not in query
    assert parameters["source"] == "git') DETACH DELETE n //"


# The checkpointer ---------------------------------------------------------------------------------
class Watched(Checkpointer):
    """A real checkpointer whose first round fails as given: ``failed`` is set as it fails (after the
    round consumed its wake-up), ``done`` after a real round."""

    def __init__(self, database: Path, write_lock: WriteLock, failure: BaseException | None) -> None:
        super().__init__(database, write_lock, CheckpointPolicy(passive_bytes=0))
        self.failure = failure
        self.failed = threading.Event()
        self.done = threading.Event()
        self.threads: list[threading.Thread] = []

    def checkpoint(self, connection: sqlite3.Connection) -> None:
        self.threads.append(threading.current_thread())
        if self.failure is not None:
            failure, self.failure = self.failure, None
            self.failed.set()
            raise failure
        super().checkpoint(connection)
        self.done.set()


def rows_in_the_database_file(path: Path) -> int:
    """Events in the main database file alone, the WAL left aside: what checkpoints copied back."""
    with closing(sqlite3.connect(f"file:{path}?immutable=1", uri=True)) as db:
        return int(db.execute("SELECT count(*) FROM events").fetchone()[0])


@pytest.fixture
def wal_store(tmp_path: Path) -> Iterator[SQLiteGraphStore]:
    with closing(SQLiteGraphStore(tmp_path / "lineage.db")) as store:
        yield store


@pytest.mark.parametrize("failure", [
    pytest.param(OSError(5, "Input/output error"), id="oserror"),
    pytest.param(sqlite3.OperationalError("disk I/O error"), id="sqlite"),
    # The thread's end is the point here, and pytest reports it as an unhandled thread exception.
    pytest.param(SystemExit(1), id="thread-ends",
                 marks=pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")),
])
def test_a_failed_checkpoint_is_retried_after_the_next_commit(wal_store: SQLiteGraphStore,
                                                              failure: BaseException) -> None:
    checkpointer = wal_store.checkpointer = Watched(wal_store.path, wal_store._write_lock, failure)
    wal_store.append_events([NewEvent("a", "test", T0, "{}")])  # the commit notifies: the round fails
    first = checkpointer._thread
    assert first is not None
    if isinstance(failure, Exception):
        # Logged and counted; the thread lives on and takes the next wake-up.
        assert checkpointer.failed.wait(60)
        wal_store.append_events([NewEvent("b", "test", T0, "{}")])
    else:
        # Something that ends the thread: it clears itself, and the next commit starts a new one.
        first.join()
        assert checkpointer._thread is None
        wal_store.append_events([NewEvent("b", "test", T0, "{}")])
    assert checkpointer.done.wait(60)
    assert checkpointer.failures == (1 if isinstance(failure, Exception) else 0)
    assert (checkpointer.threads[-1] is first) == isinstance(failure, Exception)
    assert rows_in_the_database_file(wal_store.path) == 2


def test_a_checkpoint_connection_that_cannot_open_is_retried(wal_store: SQLiteGraphStore,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    checkpointer = wal_store.checkpointer = Watched(wal_store.path, wal_store._write_lock, None)
    real_connect, calls, failed = checkpointer._connect, [], threading.Event()

    def connect_once_failing() -> sqlite3.Connection:
        calls.append(1)
        if len(calls) == 1:
            failed.set()
            raise sqlite3.OperationalError("unable to open database file")
        return real_connect()

    monkeypatch.setattr(checkpointer, "_connect", connect_once_failing)
    wal_store.append_events([NewEvent("a", "test", T0, "{}")])
    assert failed.wait(60)  # outside the old try: this killed the thread for good
    wal_store.append_events([NewEvent("b", "test", T0, "{}")])
    assert checkpointer.done.wait(60)
    assert (checkpointer.failures, len(calls)) == (1, 2)
    assert rows_in_the_database_file(wal_store.path) == 2


# The write lock -----------------------------------------------------------------------------------
HOLDER = textwrap.dedent("""
    import fcntl, os, sys
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("held", flush=True)
    sys.stdin.read()  # until the test closes our stdin
""")


def test_a_write_lock_held_by_a_stuck_process_fails_with_a_clear_error(tmp_path: Path) -> None:
    database = tmp_path / "lineage.db"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock_path(database))],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lock = WriteLock(database, timeout=0.5)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(sqlite3.OperationalError) as refused, lock:
            pass
        assert str(refused.value) == (f"database is locked: another process has held the write lock for 0.5 s "
                                      f"({lock_path(database)})")
        assert holder.stdin is not None
        holder.stdin.close()
        assert holder.wait(30) == 0  # its exit released the lock
        with lock:  # and the thread lock was not left held by the failed attempt
            pass
    finally:
        lock.close()
        holder.kill()
        holder.wait()


# A refused store ----------------------------------------------------------------------------------
def open_files() -> set[str]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # the descriptor listdir itself used, closed by now
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to list open descriptors")
def test_a_newer_store_is_refused_without_keeping_its_files_open(tmp_path: Path) -> None:
    database = tmp_path / "lineage.db"
    SQLiteGraphStore(database).close()
    with closing(sqlite3.connect(database)) as db, db:
        db.execute("UPDATE meta SET value = '999' WHERE name = 'schema_version'")
    with pytest.raises(NewerStoreSchema):
        SQLiteGraphStore(database)
    left_open = {name for name in open_files() if name.startswith(str(tmp_path))}
    assert left_open == set()


# A replay that stops ------------------------------------------------------------------------------
def test_a_replay_that_fails_midway_says_to_delete_the_target(tmp_path: Path) -> None:
    source, target = tmp_path / "source.db", tmp_path / "target.db"
    with closing(SQLiteGraphStore(source)) as store:
        record_only(store, commit_event(1))
    SQLiteGraphStore(target).close()
    with closing(sqlite3.connect(target)) as db:  # a store that refuses writes: a disk gone read-only
        db.execute("CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk gone'); END")
    result = CliRunner().invoke(app, ["events", "replay", "--from", f"sqlite:///{source}",
                                      "--store", f"sqlite:///{target}"], env={"LINEAGE_URL": "", "LINEAGE_STORE": ""})
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "the replay stopped" in result.output and "disk gone" in result.output
    assert "delete the target and run again" in result.output
    assert "Traceback" not in result.output
