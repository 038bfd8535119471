"""The graph can be rebuilt from the log: ``lineage events replay``, ``events retry``, ``store check``.

Sources are real stores (the ``demo_store`` fixture: SQLite, and Neo4j where
``LINEAGE_TEST_NEO4J_URI`` is set); targets are SQLite files. A failure to apply is made real by a
SQLite trigger that refuses some rows (as a policy or a full disk would), and "the fix" drops it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from graph_schema.events import parse_event
from lineage_service.ingest import apply_logged, ingest
from lineage_service.query.answers import lineage
from lineage_service.replay import ReplayRefused, replay, retry
from lineage_service.store import open_store
from lineage_service.store.base import Direction, GraphStore, NewEvent
from lineage_service.store.fingerprint import fingerprint
from lineage_service.store.sqlite import SQLiteGraphStore
from tests.events import commit_event

ENV = {"LINEAGE_URL": "", "LINEAGE_STORE": ""}
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
REFUSE = ("CREATE TRIGGER refuse BEFORE INSERT ON nodes WHEN NEW.props LIKE '%poison%' "
          "BEGIN SELECT RAISE(ABORT, 'refused by the test policy'); END")


def poisoned(number: int) -> dict[str, object]:
    event = commit_event(number)
    event["nodes"][0]["props"] = {"message": "poison"}  # type: ignore[index]
    return event


def refuse_poison(path: Path, on: bool = True) -> None:
    with closing(sqlite3.connect(path)) as db:  # sqlite3's own context manager commits but never closes
        db.execute(REFUSE if on else "DROP TRIGGER refuse")
        db.commit()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=ENV)
    return result.exit_code, result.output


@pytest.fixture
def target(tmp_path: Path) -> Iterator[SQLiteGraphStore]:
    with closing(SQLiteGraphStore(tmp_path / "rebuilt.db")) as store:  # closed even when the test fails
        yield store


def test_a_replay_of_the_demo_log_rebuilds_the_same_graph(demo_store: GraphStore, target: SQLiteGraphStore) -> None:
    result = replay(demo_store, target, page=4)  # several pages, so order across pages counts
    assert (result.events, result.applied, result.failed, result.source_pending) == (18, 18, {}, 0)
    rebuilt, original = fingerprint(target), fingerprint(demo_store)
    assert rebuilt.differences(original) == []
    assert rebuilt.integrity == ["ok"]
    assert lineage(target, Direction.UPSTREAM, "api", "v1.2.3") == lineage(demo_store, Direction.UPSTREAM, "api",
                                                                           "v1.2.3")
    # The rebuilt log is the original one, received_at included (it was logged, not received, again).
    assert target.list_events(limit=100) == demo_store.list_events(limit=100)


def test_the_hashes_see_facts_and_ignore_what_legitimately_differs(tmp_path: Path) -> None:
    stores = [SQLiteGraphStore(tmp_path / f"{name}.db") for name in ("a", "b", "c")]
    first, second = parse_event(commit_event(1, source="git")), parse_event(commit_event(1, source="ci"))
    ingest(stores[0], [first])
    ingest(stores[0], [second])
    ingest(stores[1], [first])  # ... received a moment later in another store
    ingest(stores[1], [second])
    a, b = fingerprint(stores[0]), fingerprint(stores[1])
    assert a.differences(b) == []  # only received_at differs
    # The same two reports applied in the other order: sources accumulate as a set, the log differs.
    ingest(stores[2], [second])
    ingest(stores[2], [first])
    c = fingerprint(stores[2])
    assert (c.graph_sha256, c.facts_sha256) == (a.graph_sha256, a.facts_sha256)
    assert c.events_sha256 != a.events_sha256
    # One changed property, or a later sighting, is a different graph; the later sighting is the same facts.
    ingest(stores[1], [parse_event({**commit_event(1), "id": "again", "time": "2026-11-11T00:00:00Z"})])
    later = fingerprint(stores[1])
    assert later.graph_sha256 != a.graph_sha256 and later.facts_sha256 == a.facts_sha256
    changed = commit_event(1)
    changed["nodes"][0]["props"] = {"message": "rewritten"}  # type: ignore[index]
    ingest(stores[0], [parse_event({**changed, "id": "changed"})])
    assert fingerprint(stores[0]).facts_sha256 != a.facts_sha256
    for store in stores:
        store.close()


def test_a_failed_event_keeps_its_error_is_retried_after_the_fix_and_replays_in_log_order(tmp_path: Path) -> None:
    path = tmp_path / "source.db"
    source = SQLiteGraphStore(path)
    refuse_poison(path)
    result = ingest(source, [parse_event(e) for e in (commit_event(1), poisoned(2), commit_event(3))])
    assert list(result.failed) == ["git-2"] and "refused by the test policy" in result.failed["git-2"]
    code, output = run("events", "list", "--status", "failed", "--store", source.uri, "--format", "json")
    assert code == 0 and [(e["id"], e["status"]) for e in json.loads(output)] == [("git-2", "failed")]
    assert "refused by the test policy" in json.loads(output)[0]["error"]
    code, output = run("events", "retry", "--store", source.uri, "--format", "json")  # not fixed yet
    assert code == 1 and "git-2" in json.loads(output)["failed"]
    refuse_poison(path, on=False)  # the fix
    code, output = run("events", "retry", "git-2", "git-1", "--store", source.uri, "--format", "json")
    assert code == 0, output
    assert json.loads(output) == {"applied": ["git-2"], "failed": {}, "unknown": [], "already_applied": ["git-1"]}
    assert source.stats()["events"] == {"applied": 3} and source.stats()["nodes"]["commit"] == 3
    # The source applied 1, 3, then 2; a replay applies 1, 2, 3, and holds the same graph.
    rebuilt_uri = f"sqlite:///{tmp_path / 'rebuilt.db'}"
    code, output = run("events", "replay", "--from", source.uri, "--store", rebuilt_uri, "--format", "json")
    assert code == 0, output
    assert json.loads(output)["applied"] == 3
    code, output = run("store", "check", "--store", rebuilt_uri, "--compare", source.uri, "--format", "json")
    assert code == 0, output
    assert json.loads(output)["same"] is True
    source.close()


def test_what_still_fails_in_a_replay_stays_in_its_log_with_the_error(demo_store: GraphStore,
                                                                     tmp_path: Path) -> None:
    ingest(demo_store, [parse_event(poisoned(7))])
    path = tmp_path / "rebuilt.db"
    SQLiteGraphStore(path).close()
    refuse_poison(path)  # the target refuses what the source took: the replay reports, and goes on
    with SQLiteGraphStore(path) as target:
        result = replay(demo_store, target)
        assert list(result.failed) == ["git-7"] and result.retried == 1
        assert "refused by the test policy" in result.failed["git-7"]
        assert result.applied == 18
        failed = target.get_event("git-7")
        assert failed is not None and failed.status == "failed"
        assert fingerprint(target).differences(fingerprint(demo_store)) != []
        refuse_poison(path, on=False)
        assert not retry(target).outcome.failed
        assert fingerprint(target).differences(fingerprint(demo_store)) == []


def test_a_logged_payload_that_is_no_event_is_marked_failed_not_raised(tmp_path: Path) -> None:
    with SQLiteGraphStore(tmp_path / "lineage.db") as store:
        store.append_events([NewEvent("hand-written", "ops", T0, '{"not": "an event"}')])
        result = apply_logged(store, store.list_events())
        assert list(result.failed) == ["hand-written"]
        stored = store.get_event("hand-written")
        assert stored is not None and stored.status == "failed"
        assert stored.error is not None and stored.error.startswith("the logged payload is not a valid lineage event")


def test_replay_refuses_a_target_that_is_not_empty_or_the_source_itself(demo_store: GraphStore,
                                                                        target: SQLiteGraphStore,
                                                                        tmp_path: Path) -> None:
    ingest(target, [parse_event(commit_event(1))])
    with pytest.raises(ReplayRefused, match=r"not empty \(2 nodes, 1 edges, 1 events\)"):
        replay(demo_store, target)
    with pytest.raises(ReplayRefused, match="same store"):
        replay(demo_store, demo_store)
    code, output = run("events", "replay", "--from", target.uri, "--store", target.uri)
    assert code == 2 and "same store" in output
    code, output = run("events", "replay", "--from", f"sqlite:///{tmp_path / 'typo.db'}", "--store",
                       f"sqlite:///{tmp_path / 'new.db'}")
    assert code == 2 and "no store at" in output and not (tmp_path / "typo.db").exists()


def test_store_check_reports_a_difference_and_a_corrupt_file(tmp_path: Path) -> None:
    paths = [tmp_path / "a.db", tmp_path / "b.db"]
    for number, path in enumerate(paths):
        with open_store(f"sqlite:///{path}") as store:
            ingest(store, [parse_event(commit_event(number))])
    code, output = run("store", "check", "--store", f"sqlite:///{paths[0]}", "--compare", f"sqlite:///{paths[1]}",
                       "--format", "tree")
    assert code == 1 and "differs" in output and "graph_sha256" in output
    # Flip bytes inside the node table's pages: the integrity check finds it.
    with closing(sqlite3.connect(paths[0])) as db:  # closed before the file is rewritten below
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'nodes_by_lookup'").fetchone()[0]
    data = bytearray(paths[0].read_bytes())
    start = (root - 1) * page_size
    data[start + 8:start + 40] = b"\xff" * 32  # the index page's cell pointers
    paths[0].write_bytes(bytes(data))
    code, output = run("store", "check", "--store", f"sqlite:///{paths[0]}", "--format", "tree")
    assert code == 1 and "integrity check failed" in output


def test_the_fingerprint_ignores_received_at_only(tmp_path: Path) -> None:
    with SQLiteGraphStore(tmp_path / "a.db") as a, SQLiteGraphStore(tmp_path / "b.db") as b:
        ingest(a, [parse_event(commit_event(1))])
        [event] = a.list_events()
        b.import_batch(a.export_nodes(None, 10), a.export_edges(None, 10),
                       [replace(event, received_at=event.received_at + timedelta(days=1))])
        assert fingerprint(a).differences(fingerprint(b)) == []
        b.import_batch([], [], [replace(event, payload=event.payload.replace("change 1", "change one"))])
        assert [line.split(":")[0] for line in fingerprint(a).differences(fingerprint(b))] == ["events_sha256"]
