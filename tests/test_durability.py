"""An acknowledged event survives the process being killed, and concurrent writers lose nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from graph_schema.events import parse_event
from lineage_service.ingest import apply_pending, ingest
from lineage_service.store.base import Direction
from lineage_service.store.sqlite import SQLiteGraphStore
from tests.events import commit_event

SHA = "05ee055698af2171294615a1e423f71f4098628e"


WRITER = textwrap.dedent("""
    import sys
    from graph_schema.events import parse_event
    from lineage_service.ingest import ingest
    from lineage_service.store.sqlite import SQLiteGraphStore
    from tests.events import commit_event

    store = SQLiteGraphStore(sys.argv[1])
    for number in range(100_000):
        ingest(store, [parse_event(commit_event(number))])
        print(f"git-{number}", flush=True)  # the acknowledgement: only after ingest returned
""")


def test_acknowledged_events_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "lineage.db"
    root = Path(__file__).resolve().parent.parent
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=root, stdout=subprocess.PIPE,
                              text=True)
    assert writer.stdout is not None
    acknowledged = [writer.stdout.readline().strip() for _ in range(60)]
    writer.send_signal(signal.SIGKILL)  # mid-stream: it is busy writing the next events
    writer.wait()
    assert writer.returncode == -signal.SIGKILL

    with SQLiteGraphStore(path) as store:
        apply_pending(store)  # what a restarted service does first
        logged = {event.id for event in store.list_events(limit=100_000)}
        assert set(acknowledged) <= logged
        assert all(event.status == "applied" for event in store.list_events(limit=100_000))
        commits = store.stats()["nodes"]["commit"]
        assert commits == len(logged)  # every logged event applied exactly once
        assert store.stats()["edges"]["authored_by"] == len(logged)


def test_concurrent_writers_and_readers_lose_nothing(tmp_path: Path) -> None:
    store = SQLiteGraphStore(tmp_path / "lineage.db")
    writers, per_writer = 4, 40
    errors: list[BaseException] = []
    reads = 0
    done = threading.Event()

    def write(worker: int) -> None:
        try:
            for number in range(per_writer):
                ingest(store, [parse_event(commit_event(worker * 1000 + number, source=f"w{worker}"))])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def read() -> None:
        nonlocal reads
        try:
            while not done.is_set():
                for person in store.find_nodes("person", limit=10):
                    graph = store.walk([person.id], Direction.DOWNSTREAM, 2)
                    # A walk is one snapshot: every edge joins two nodes of the same answer.
                    ids = {node.id for node in graph.nodes}
                    assert all(edge.source in ids and edge.target in ids for edge in graph.edges)
                reads += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    reader.join()

    assert not errors
    assert reads > 0
    stats = store.stats()
    assert stats["events"] == {"applied": writers * per_writer}
    assert stats["nodes"]["commit"] == writers * per_writer
    assert stats["edges"]["authored_by"] == writers * per_writer
    store.close()
