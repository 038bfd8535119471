"""The embedded store's write path: the event log insert, the background checkpointer, and the
cross-process write lock (several ``lineage serve`` workers, or a CLI beside a service)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from graph_schema.canonical import InvalidValue
from graph_schema.events import parse_event
from graph_schema.facts import edge_fact, node_fact
from graph_schema.kinds import NodeKind, canonical_key, node_id
from lineage_service.ingest import ingest
from lineage_service.store.base import NewEvent
from lineage_service.store.sqlite import SQLiteGraphStore
from lineage_service.store.sqlite_checkpoint import CheckpointPolicy
from lineage_service.store.sqlite_lock import lock_path
from tests.events import commit_event

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 10, 13, 27, tzinfo=UTC)
# Small thresholds, so that a few megabytes of writes cross them many times over.
SMALL = CheckpointPolicy(passive_bytes=64 * 1024, restart_bytes=256 * 1024, restart_wait_s=2.0)


def _new(event_id: str) -> NewEvent:
    return NewEvent(event_id, "test", T0, "{}")


def _wal(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


def _bulky_event(number: int) -> dict[str, object]:
    """A commit event carrying ~8 KB of properties: a few WAL pages per event."""
    event = commit_event(number)
    event["nodes"][0]["props"]["notes"] = f"{number:08d}" * 1000  # type: ignore[index]
    return event


# The event log ---------------------------------------------------------------------------
def test_append_events_says_which_were_new_in_order(tmp_path: Path) -> None:
    with closing(SQLiteGraphStore(tmp_path / "lineage.db")) as store:
        assert store.append_events([_new("a"), _new("b"), _new("a"), _new("c")]) == [True, True, False, True]
        # Across calls: only the unseen ones, in the order given, and an id twice in one call once.
        assert store.append_events([_new("c"), _new("d"), _new("a"), _new("d"), _new("e")]) == \
            [False, True, False, False, True]
        assert store.append_events([]) == []
        logged = [event.id for event in store.list_events(limit=100)]
        assert logged == ["a", "b", "c", "d", "e"]  # each stored once, in arrival order


# Checkpointing ---------------------------------------------------------------------------
def test_commits_leave_checkpointing_to_the_checkpointer(tmp_path: Path) -> None:
    path = tmp_path / "lineage.db"
    never = CheckpointPolicy(passive_bytes=2**40, restart_bytes=2**41)
    with closing(SQLiteGraphStore(path, checkpoint=never)) as store:
        for first in range(0, 300, 30):  # 20 commits, some 5 MB of WAL: past SQLite's own 1,000 pages
            ingest(store, [parse_event(_bulky_event(number)) for number in range(first, first + 30)])
        # With the threshold out of reach, nothing copied the WAL back: not the commits either.
        assert _wal(path) > 4 * 1024 * 1024
        assert store.checkpointer.passive == 0
        assert store.stats()["nodes"]["commit"] == 300


def test_wal_stays_bounded_under_sustained_writes_and_reads(tmp_path: Path) -> None:
    path = tmp_path / "lineage.db"
    store = SQLiteGraphStore(path, checkpoint=SMALL)
    writes, largest_wal = 400, 0
    acknowledged: list[str] = []
    errors: list[BaseException] = []
    done = threading.Event()
    reads = 0

    def read() -> None:
        # Readers keep taking snapshots, which holds PASSIVE back: the RESTART path has to work.
        nonlocal reads
        try:
            while not done.is_set():
                seen = list(acknowledged)
                if seen:  # acknowledged events are visible, the first and the latest
                    assert store.get_event(seen[0]) is not None
                    assert store.get_event(seen[-1]) is not None
                reads += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        for first in range(0, writes, 4):  # 200 commits
            ingest(store, [parse_event(_bulky_event(number)) for number in range(first, first + 4)])
            acknowledged.extend(f"git-{number}" for number in range(first, first + 4))
            largest_wal = max(largest_wal, _wal(path))
        # The writes woke the background checkpointer (the WAL passed passive_bytes many times over).
        # How far it lags behind the writer depends on the machine's load, so the bound below is
        # checked after a checkpoint round this test drives itself, as the thread would, while
        # the readers still take snapshots: RESTART has to get past them.
        assert store.checkpointer._thread is not None
        deadline = time.monotonic() + 60
        with closing(sqlite3.connect(path, isolation_level=None, timeout=SMALL.restart_wait_s)) as checkpointing:
            while store.checkpointer.restarts == 0:  # the thread's RESTART counts as well as ours
                assert time.monotonic() < deadline, "no RESTART checkpoint got past the readers in 60 s"
                with contextlib.suppress(sqlite3.OperationalError):  # the thread was checkpointing at that moment
                    store.checkpointer.checkpoint(checkpointing)
    finally:
        done.set()
        for reader in readers:
            reader.join()
    assert not errors
    assert reads > 0
    # The next commit starts the WAL over, and journal_size_limit cuts the file back.
    ingest(store, [parse_event(_bulky_event(writes))])
    final_wal = _wal(path)
    written = store.stats()["bytes"]
    print(f"\nWAL under load: largest {largest_wal / 1024:.0f} KiB while writing (background checkpointer, "
          f"loaded machine: a figure, not asserted), {final_wal / 1024:.0f} KiB after a RESTART")
    # Some 3 MB of pages, and more of WAL; without checkpoints the WAL would hold all of it (the test
    # above). After the RESTART it holds the last commit only (one bulky event: some 70 pages).
    assert written > 3 * 1024 * 1024
    assert final_wal < 4 * SMALL.restart_bytes
    assert store.checkpointer.passive > 0 and store.checkpointer.restarts > 0
    assert store.stats()["events"] == {"applied": writes + 1}
    thread = store.checkpointer._thread
    store.close()
    assert thread is not None and not thread.is_alive()  # close stopped it


def test_restart_waits_for_readers_then_the_wal_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "lineage.db"
    # Thresholds out of reach for the thread, so that this test drives the checkpoints itself.
    policy = CheckpointPolicy(passive_bytes=2**40, restart_bytes=256 * 1024, restart_wait_s=0.2)
    with closing(SQLiteGraphStore(path, checkpoint=policy)) as store:
        ingest(store, [parse_event(_bulky_event(0))])
        # A reader holding a snapshot from before the next writes: PASSIVE cannot pass it.
        reader = sqlite3.connect(path, isolation_level=None)
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM events").fetchone() == (1,)
        for number in range(1, 100):
            ingest(store, [parse_event(_bulky_event(number))])
        grown = _wal(path)
        assert grown > policy.restart_bytes

        checkpointing = sqlite3.connect(path, isolation_level=None, timeout=policy.restart_wait_s)
        store.checkpointer.checkpoint(checkpointing)  # RESTART times out: the reader is still there
        assert store.checkpointer.restarts == 0
        assert reader.execute("SELECT count(*) FROM events").fetchone() == (1,)  # its snapshot held
        reader.execute("COMMIT")
        store.checkpointer.checkpoint(checkpointing)
        assert store.checkpointer.restarts == 1
        # The next commit starts the WAL over from its first frame.
        ingest(store, [parse_event(_bulky_event(100))])
        _, frames, _ = checkpointing.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert 0 < frames * 4096 < grown / 10
        checkpointing.close()
        reader.close()
        assert store.stats()["events"] == {"applied": 101}


def test_close_stops_a_checkpointer_that_never_started(tmp_path: Path) -> None:
    store = SQLiteGraphStore(tmp_path / "lineage.db")
    ingest(store, [parse_event(commit_event(1))])
    assert store.checkpointer._thread is None  # a small WAL: no thread for a short-lived CLI
    store.close()
    store.checkpointer.notify()  # after close: does not start one
    assert store.checkpointer._thread is None


# Several processes -----------------------------------------------------------------------
LOCK_PROBE = textwrap.dedent("""
    import fcntl, os, sys
    fd = os.open(sys.argv[1], os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("held")
    else:
        print("free")
""")


def test_a_write_transaction_holds_the_lock_other_processes_wait_on(tmp_path: Path) -> None:
    path = tmp_path / "lineage.db"

    def probe() -> str:
        return subprocess.run([sys.executable, "-c", LOCK_PROBE, str(lock_path(path))], capture_output=True,
                              text=True, check=True, timeout=60).stdout.strip()

    with closing(SQLiteGraphStore(path)) as store:
        assert probe() == "free"
        with store._transaction():
            assert probe() == "held"
        assert probe() == "free"


WRITER = textwrap.dedent("""
    import sys
    from graph_schema.events import parse_event
    from lineage_service.api.writer import GroupCommitWriter
    from lineage_service.store.sqlite import SQLiteGraphStore
    from lineage_service.store.sqlite_checkpoint import CheckpointPolicy
    from tests.test_sqlite_write_path import writer_events

    worker, workers, count = map(int, sys.argv[2:5])
    store = SQLiteGraphStore(sys.argv[1], checkpoint=CheckpointPolicy(passive_bytes=32 * 1024,
                                                                    restart_bytes=256 * 1024))
    writer = GroupCommitWriter(store, max_group_events=20)
    # Requests of one event each, as HTTP posts arrive, many in flight: group commits.
    futures = [writer.submit([parse_event(event)]) for event in writer_events(worker, workers, count)]
    accepted = sum(len(future.result(timeout=120).accepted) for future in futures)
    writer.close()
    store.close()
    print(accepted)
""")


def writer_events(worker: int, workers: int, count: int) -> list[dict[str, object]]:
    """Every writer sends its own events and half of its neighbour's: duplicates across processes."""
    own = [commit_event(worker * count + number, source=f"w{worker}") for number in range(count)]
    neighbour = (worker + 1) % workers
    shared = [commit_event(neighbour * count + number, source=f"w{neighbour}") for number in range(0, count, 2)]
    return [event for pair in zip(own, shared + own[len(shared):], strict=True) for event in pair]


def test_processes_writing_at_once_store_every_event_once(tmp_path: Path) -> None:
    path = tmp_path / "lineage.db"
    SQLiteGraphStore(path).close()  # the schema, so that the writers race on events, not on DDL
    workers, count = 4, 150
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(worker), str(workers), str(count)],
                                  cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for worker in range(workers)]
    accepted = []
    try:
        for process in processes:
            out, err = process.communicate(timeout=180)  # a deadlock fails here instead of hanging
            assert process.returncode == 0, err
            accepted.append(int(out))
    finally:  # a failure or a timeout leaves no writer behind
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=60)

    distinct = workers * count
    # Every id was accepted by exactly one process; the others saw it as a duplicate.
    assert sum(accepted) == distinct
    with closing(SQLiteGraphStore(path)) as store:
        assert store.stats()["events"] == {"applied": distinct}
        assert store.stats()["nodes"]["commit"] == distinct
        assert store.stats()["edges"]["authored_by"] == distinct
        logged = [event.id for event in store.list_events(limit=10 * distinct)]
        assert len(logged) == len(set(logged)) == distinct


# Event ids -------------------------------------------------------------------------------
def test_event_facts_keep_the_ids_of_node_fact() -> None:
    event = parse_event({
        "id": "e1", "time": "2026-11-10T13:27:00Z", "source": "ci",
        "nodes": [
            {"kind": "image", "key": {"digest": "sha256:" + "ab" * 32}, "aliases": ["ghcr.io/org/api:v1.2.3"]},
            {"kind": "commit", "key": {"repo": "https://github.com/Org/API.git",
                                       "sha": "05EE055698af2171294615a1e423f71f4098628e"}, "props": {"message": "one"}},
            {"kind": "image", "key": {"digest": "sha256:" + "ab" * 32}, "aliases": ["ghcr.io/org/api:latest"],
             "props": {"size": 3}},
        ],
        "edges": [{"source": {"kind": "image", "key": {"digest": "sha256:" + "ab" * 32}},
                   "target": {"kind": "commit", "key": {"repo": "https://github.com/org/api",
                                                        "sha": "05ee055698af2171294615a1e423f71f4098628e"}}}],
    })
    image = node_fact("image", {"digest": "sha256:" + "ab" * 32}, {"size": 3},
                      ["ghcr.io/org/api:v1.2.3", "ghcr.io/org/api:latest"])
    commit = node_fact("commit", {"repo": "https://github.com/org/api",
                                  "sha": "05ee055698af2171294615a1e423f71f4098628e"}, {"message": "one"})
    nodes, edges = event.facts()
    assert nodes == [image, commit]
    assert edges == [edge_fact(image, commit)]
    ref = event.edges[0].target
    assert ref.id == node_id(NodeKind.COMMIT, canonical_key(NodeKind.COMMIT, ref.key)) == commit.id


def test_remembered_keys_still_refuse_what_they_refused() -> None:
    # 1 and True are equal and hash alike: the cache of canonical keys must not mix them up.
    assert canonical_key(NodeKind.MODEL, {"name": "taxi-model", "version": 1}) == {"name": "taxi-model", "version": "1"}
    for wrong in (True, 1.0, ["1"]):
        with pytest.raises(InvalidValue, match=r"key\.version: expected a string"):
            canonical_key(NodeKind.MODEL, {"name": "taxi-model", "version": wrong})
    first = canonical_key(NodeKind.MODEL, {"name": "taxi-model", "version": "1"})
    first["version"] = "changed"  # each caller gets its own dict
    assert canonical_key(NodeKind.MODEL, {"name": "taxi-model", "version": "1"})["version"] == "1"
