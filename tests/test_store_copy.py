"""``lineage store copy``: a whole graph and its event log into another store, resumable, checked.

The source is the demo history ingested into the ``store`` fixture's backend (SQLite, and Neo4j
where ``LINEAGE_TEST_NEO4J_URI`` is set: then this is the Neo4j → SQLite snapshot); destinations
are SQLite files. The last tests copy SQLite → Neo4j through the recording driver of
tests/test_neo4j_store.py, which checks what is sent, not what a server would do with it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from graph_schema.facts import node_fact
from lineage_service.query.answers import lineage
from lineage_service.store import cypher, open_store
from lineage_service.store.base import Batch, Direction, Edge, GraphStore, MissingNode, NewEvent, Node, StoredEvent
from lineage_service.store.copy import (
    DONE,
    Checkpoint,
    CopyRefused,
    Progress,
    checkpoint_name,
    copy_store,
    store_identity,
)
from tests.neo4j_recording import recording_store

LINEAGE = Path(sys.executable).parent / "lineage"
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


class Interrupted(Exception):
    """Stands for whatever stops a copy half-way: Ctrl-C, a dropped connection, a full disk."""


@pytest.fixture
def source(demo_store: GraphStore) -> GraphStore:
    """The demo history, plus events that are pending and failed, so that every status travels."""
    demo_store.append_events([NewEvent("gha-7004455999-image", "github-actions", T0, '{"pending": true}'),
                              NewEvent("k8s-prod-taxi-api-9", "kubernetes", T0, '{"failed": true}')])
    demo_store.mark_failed("k8s-prod-taxi-api-9", "edges point at nodes that are not stored")
    demo_store.set_cursor("mlops-repo", '{"main": "05ee055698af2171294615a1e423f71f4098628e"}')
    return demo_store


@pytest.fixture
def destination(tmp_path: Path) -> Iterator[GraphStore]:
    store = open_store(f"sqlite:///{tmp_path / 'copy.db'}")
    yield store
    store.close()


def everything(store: GraphStore) -> tuple[list[Node], list[Edge], list[StoredEvent]]:
    """The whole store, in export order (aliases sorted: their order is no backend's promise)."""
    nodes = [Node(n.id, n.kind, n.key, n.label, n.props, sorted(n.aliases), n.sources, n.first_seen, n.last_seen)
             for n in store.export_nodes(None, 100_000)]
    return nodes, store.export_edges(None, 100_000), store.list_events(limit=100_000)


def answers(store: GraphStore) -> list[dict[str, Any]]:
    return [lineage(store, Direction.UPSTREAM, "api", "v1.2.3"),
            lineage(store, Direction.DOWNSTREAM, "dataset", "green-taxi-data:5"),
            lineage(store, Direction.UPSTREAM, "deployment", "prod/taxi-api", at=datetime(2026, 11, 11, 14, 5,
                                                                                          tzinfo=UTC))]


# Copying -------------------------------------------------------------------------------------

def test_a_copy_gives_the_same_answers_log_times_sources_and_evidence(source: GraphStore,
                                                                     destination: GraphStore) -> None:
    pages: list[Progress] = []
    result = copy_store(source, destination, batch=7, on_progress=pages.append)
    assert result.ok and not result.resumed and not result.finished_before
    assert answers(destination) == answers(source)
    nodes, edges, events = everything(destination)
    assert (nodes, edges, events) == everything(source)
    assert result.copied == {"nodes": len(nodes), "edges": len(edges), "events": len(events), "cursors": 1}
    assert destination.get_cursor("mlops-repo") == source.get_cursor("mlops-repo")  # the collector goes on
    # What apply() would have re-stamped came across: times, several sources, validity, evidence, states.
    assert any(n.first_seen < n.last_seen and len(n.sources) > 1 for n in nodes)
    assert any(e.valid_to is not None for e in edges) and {e.evidence for e in edges} == {"observed", "declared"}
    failed = destination.get_event("k8s-prod-taxi-api-9")
    assert failed is not None and (failed.status, failed.error, failed.payload) == (
        "failed", "edges point at nodes that are not stored", '{"failed": true}')
    assert destination.stats()["events"] == source.stats()["events"] == {"applied": 18, "failed": 1, "pending": 1}
    # In pages of 7, each phase reported as it went, ending at its total.
    assert [p for p in pages if p.phase == "events"][-1] == Progress("events", 20, 20)
    assert len([p for p in pages if p.phase == "nodes"]) == 1 + -(-len(nodes) // 7)
    assert all(row.source == row.destination for row in result.counts)
    assert {row.section for row in result.counts} == {"nodes", "edges", "events"}


def stop_after(pages: int, phase: str | None = None) -> Any:
    seen = []

    def on_progress(progress: Progress) -> None:
        if phase is None or progress.phase == phase:
            seen.append(progress)
        if len(seen) > pages:  # the first call of a phase is its start, not a page
            raise Interrupted

    return on_progress


@pytest.mark.parametrize("phase", ["nodes", "edges", "events"])
def test_an_interrupted_copy_resumes_where_it_stopped(source: GraphStore, destination: GraphStore, tmp_path: Path,
                                                      phase: str) -> None:
    with pytest.raises(Interrupted):
        copy_store(source, destination, batch=5, on_progress=stop_after(2, phase))
    saved = Checkpoint.loads(destination.get_cursor(checkpoint_name(source.uri)) or "")
    assert (saved.phase, saved.copied[phase]) == (phase, 10)
    resumed_from: list[Progress] = []
    result = copy_store(source, destination, batch=5, on_progress=resumed_from.append)
    assert result.ok and result.resumed
    assert resumed_from[0] == Progress(phase, 10, sum(source.stats()[phase].values()))  # not from 0
    with open_store(f"sqlite:///{tmp_path / 'whole.db'}") as whole:
        copy_store(source, whole, batch=5)
        assert everything(destination) == everything(whole) == everything(source)
    assert result.copied == {**{p: sum(source.stats()[p].values()) for p in ("nodes", "edges", "events")},
                             "cursors": 1}


# Checkpoints saved with batch=30: 1 the start, 2 nodes 1-30, 3 nodes 31-48 (the last: edges next),
# 4 edges 1-30. A crash before the save of 2 leaves a destination with nodes and only the start.
@pytest.mark.parametrize(("crash_at", "phase"), [(2, "nodes"), (4, "edges")])
def test_a_page_written_but_not_checkpointed_is_written_again_harmlessly(
        source: GraphStore, destination: GraphStore, monkeypatch: pytest.MonkeyPatch, crash_at: int,
        phase: str) -> None:
    saves = 0
    set_cursor = destination.set_cursor

    def crash_between_page_and_checkpoint(name: str, value: str) -> None:
        nonlocal saves
        saves += 1
        if saves == crash_at:
            assert json.loads(value)["phase"] == phase
            raise Interrupted
        set_cursor(name, value)

    monkeypatch.setattr(destination, "set_cursor", crash_between_page_and_checkpoint)
    with pytest.raises(Interrupted):
        copy_store(source, destination, batch=30)
    monkeypatch.undo()
    assert destination.stats()[phase]  # the page is in, its checkpoint is not
    imported: list[tuple[list[Node], list[Edge]]] = []
    import_batch = destination.import_batch
    monkeypatch.setattr(destination, "import_batch",
                        lambda n, e, v: (imported.append((list(n), list(e))), import_batch(n, e, v)))
    result = copy_store(source, destination, batch=30)
    assert result.ok and result.resumed
    first_page = source.export_nodes(None, 30) if phase == "nodes" else source.export_edges(None, 30)
    assert imported[0][0 if phase == "nodes" else 1] == first_page  # written a second time
    assert everything(destination) == everything(source)
    assert result.copied == {**{p: sum(source.stats()[p].values()) for p in ("nodes", "edges", "events")},
                             "cursors": 1}  # each page counted once


def test_killed_cli_copy_resumes_on_the_next_run(source: GraphStore, tmp_path: Path) -> None:
    # Enough extra nodes that the copy is still running when the test has read its first progress line.
    source.apply([Batch([node_fact("dataset", {"name": "bulk", "version": str(v)}) for v in range(3_000)], [],
                        seen_at=T0, source="test")])
    destination_uri = f"sqlite:///{tmp_path / 'killed.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
    copying = subprocess.Popen([str(LINEAGE), "store", "copy", source.uri, destination_uri, "--batch", "1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    assert copying.stderr is not None
    try:
        assert copying.stderr.readline().startswith("copy nodes 0/")
        assert copying.stderr.readline().startswith("copy nodes 1/")  # one page is in
    finally:
        copying.send_signal(signal.SIGKILL)
        copying.wait(timeout=60)
        copying.stderr.close()
    assert copying.returncode == -signal.SIGKILL
    with open_store(destination_uri) as killed:
        saved = Checkpoint.loads(killed.get_cursor(checkpoint_name(source.uri)) or "")
    assert saved.phase != DONE and saved.copied["events"] == 0, "the copy ended before the kill: nothing resumed"
    rerun = subprocess.run([str(LINEAGE), "store", "copy", source.uri, destination_uri, "--batch", "500",
                            "--format", "json"], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    assert report["ok"] and report["resumed"]
    # It went on from the checkpoint (or the page after it, if the kill came between page and save).
    phase, copied = rerun.stderr.splitlines()[0].split()[1:3]
    assert phase == saved.phase and int(copied.partition("/")[0]) == saved.copied[saved.phase] > 0
    assert report["copied"]["nodes"] == sum(source.stats()["nodes"].values())
    with open_store(destination_uri) as copied:
        assert everything(copied) == everything(source)


def test_a_copy_of_a_copy_takes_the_collector_cursors_not_the_checkpoints(source: GraphStore,
                                                                          destination: GraphStore,
                                                                          tmp_path: Path) -> None:
    copy_store(source, destination)
    assert set(destination.list_cursors()) == {"mlops-repo", checkpoint_name(source.uri)}
    with open_store(f"sqlite:///{tmp_path / 'second.db'}") as second:
        assert copy_store(destination, second).ok
        assert second.list_cursors().keys() == {"mlops-repo", checkpoint_name(destination.uri)}
        assert everything(second) == everything(source)


def test_a_source_written_during_the_copy_fails_the_check(source: GraphStore, destination: GraphStore) -> None:
    def meanwhile(progress: Progress) -> None:
        if progress.phase == "edges" and progress.copied == 0:  # nodes are done: this one is missed
            source.apply([Batch([node_fact("model", {"name": "late", "version": "1"})], [], seen_at=T0,
                                source="test")])

    result = copy_store(source, destination, batch=10, on_progress=meanwhile)
    assert not result.ok
    [differing] = [row for row in result.counts if not row.ok]
    assert (differing.section, differing.name, differing.source, differing.destination) == ("nodes", "model", 3, 2)


# Refusals and the check at the end ----------------------------------------------------------

def test_a_store_is_not_copied_onto_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "lineage.db"
    (tmp_path / "link.db").symlink_to(path)
    monkeypatch.chdir(tmp_path)
    with open_store(f"sqlite:///{path}") as store:
        with pytest.raises(CopyRefused, match="same store"):
            copy_store(store, store)
        for spelling in ("lineage.db", "./lineage.db", "sqlite:///lineage.db", f"sqlite:///{path}", "link.db",
                         f"sqlite:///{tmp_path}/sub/../lineage.db"):
            assert store_identity(spelling) == store_identity(store.uri)
            done = run_cli("store", "copy", f"sqlite:///{path}", spelling)
            assert done.returncode == 2 and "are the same store" in done.stderr
        assert store.get_cursor(checkpoint_name(store.uri)) is None
    assert store_identity("neo4j://DB.example.com") == store_identity("bolt+s://db.example.com:7687")
    assert store_identity("neo4j://db.example.com") != store_identity("neo4j://db.example.com:7688")


def test_a_destination_holding_another_graph_is_refused(source: GraphStore, destination: GraphStore) -> None:
    destination.append_events([NewEvent("someone-elses", "ci", T0, "{}")])
    with pytest.raises(CopyRefused, match="copy into an empty store"):
        copy_store(source, destination)
    assert [e.id for e in destination.list_events()] == ["someone-elses"]


def test_a_missing_source_file_is_a_usage_error_not_an_empty_copy(tmp_path: Path) -> None:
    done = run_cli("store", "copy", str(tmp_path / "typo.db"), str(tmp_path / "copy.db"))
    assert done.returncode == 2 and "no store at" in done.stderr
    assert not (tmp_path / "typo.db").exists() and not (tmp_path / "copy.db").exists()


def test_a_tampered_destination_fails_the_check_with_exit_1(source: GraphStore, tmp_path: Path) -> None:
    destination = tmp_path / "copy.db"
    first = run_cli("store", "copy", source.uri, str(destination), "--format", "json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["ok"]
    with sqlite3.connect(destination) as db:  # lose what a broken disk or a manual fix could lose
        db.execute("DELETE FROM edges WHERE kind = 'parent'")
    again = run_cli("store", "copy", source.uri, str(destination), "--format", "json")
    assert again.returncode == 1
    report = json.loads(again.stdout)
    assert report["finished_before"] and not report["ok"]
    assert [r for r in report["counts"] if r["source"] != r["destination"]] == [
        {"section": "edges", "name": "parent", "source": 4, "destination": 0}]
    assert "edges parent: 4 → 0" in again.stderr
    shown = run_cli("store", "copy", source.uri, str(destination), "--format", "tree")
    assert shown.returncode == 1 and "counts differ" in shown.stdout
    assert [line.split() for line in shown.stdout.splitlines() if "differs" in line] == [
        ["edges", "parent", "4", "0", "differs"]]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
    done = subprocess.run([str(LINEAGE), *args], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert "Traceback" not in done.stderr
    return done


# SQLite → Neo4j, through a recording driver -------------------------------------------------

class FakeNeo4j:
    """Answers the statements a copy sends from what it was sent before: just enough of a server.

    Keeps imported rows, the meta values (the checkpoint) and the event counter; counts per label,
    type and status. It checks nothing about Cypher itself (tests/test_cypher_lint.py does).
    """

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.edges: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.events: dict[str, dict[str, Any]] = {}
        self.meta: dict[str, Any] = {}
        self.counter = 0

    def __call__(self, query: str, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        writes = {cypher.import_nodes(kind): kind for kind in cypher.LABELS}
        edge_writes = {cypher.write_edges(kind): kind for kind in cypher.REL_TYPES}
        if query in writes:
            for row in parameters["rows"]:
                self.nodes[row["id"]] = row["fields"]
        elif query in edge_writes:
            for row in parameters["rows"]:
                self.edges[(row["source"], edge_writes[query], row["target"])] = row["fields"]
        elif query == cypher.CREATE_EVENTS:
            self.events.update((row["id"], row) for row in parameters["rows"])
        elif query == cypher.UPDATE_EVENTS:
            for row in parameters["rows"]:
                self.events[row["id"]].update(row)
        elif query == cypher.SET_META:
            self.meta[parameters["name"]] = parameters["value"]
        elif query == cypher.SET_COUNTER:
            self.counter = parameters["value"]
        return self.answer(query, parameters)

    def answer(self, query: str, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        if query == cypher.SCHEMA_VERSION:
            return [{"value": "1"}]
        if query == cypher.LIST_META:
            return [{"name": n, "value": v} for n, v in self.meta.items() if n.startswith(parameters["prefix"])]
        if query == cypher.GET_META:
            return [{"value": self.meta[parameters["name"]]}] if parameters["name"] in self.meta else []
        if query == cypher.LOCK_COUNTER:
            return [{"value": self.counter}]
        if query == cypher.EXISTING_NODES:
            return [{"id": i} for i in parameters["ids"] if i in self.nodes]
        if query == cypher.EXISTING_EVENTS:
            return [{"id": i} for i in parameters["ids"] if i in self.events]
        if query == cypher.count_nodes():
            return counted(node["kind"] for node in self.nodes.values())
        if query == cypher.count_edges():
            return counted(kind for _, kind, _ in self.edges)
        if query == cypher.COUNT_EVENTS:
            return counted((e["status"] for e in self.events.values()), column="status")
        return []


def counted(names: Iterable[str], column: str = "kind") -> list[dict[str, Any]]:
    return [{column: name, "count": count} for name, count in Counter(names).items()]


def test_sqlite_to_neo4j_sends_only_whitelisted_statements_with_the_data(source: GraphStore) -> None:
    if not source.uri.startswith("sqlite"):
        pytest.skip("the recording driver stands in for the destination; the source here is Neo4j")
    server = FakeNeo4j()
    destination, driver = recording_store(server)
    result = copy_store(source, destination, batch=25)
    assert result.ok, [row for row in result.counts if not row.ok]
    listed = {statement for _, statement in cypher.all_statements()}
    for query, parameters in driver.sent:
        assert query in listed
        assert set(re.findall(r"\$(\w+)", query)) <= set(parameters) <= cypher.PARAMETERS
    nodes, edges, events = everything(source)
    # Rows carry each node, edge and event as the source holds it, as native Neo4j values.
    assert len(server.nodes) == len(nodes) and len(server.edges) == len(edges)
    for node in nodes:
        fields = server.nodes[node.id]
        assert (fields["kind"], fields["label"], orjson.loads(fields["props"]), fields["sources"],
                fields["first_seen"], fields["last_seen"]) == (node.kind, node.label, node.props, node.sources,
                                                               node.first_seen, node.last_seen)
        assert {f: fields[cypher.key_property(f)] for f in node.key} == node.key
    for edge in edges:
        fields = server.edges[(edge.source, edge.kind, edge.target)]
        assert (fields["evidence"], orjson.loads(fields["props"]), fields["sources"], fields["first_seen"],
                fields["valid_from"], fields["valid_to"]) == (edge.evidence, edge.props, edge.sources,
                                                              edge.first_seen, edge.valid_from, edge.valid_to)
    assert [(e["id"], e["seq"], e["status"], e["error"], e["payload"], e["received_at"])
            for e in sorted(server.events.values(), key=lambda e: e["seq"])] == [
        (e.id, seq, e.status, e.error, e.payload, e.received_at) for seq, e in enumerate(events, 1)]
    aliases = [row for query, parameters in driver.sent if query == cypher.WRITE_ALIASES
               for row in parameters["rows"]]
    assert sorted((row["id"], row["alias"]) for row in aliases) == sorted(
        (n.id, alias) for n in nodes for alias in n.aliases)
    saved = Checkpoint.loads(server.meta["cursor:" + checkpoint_name(source.uri)])
    assert saved.phase == DONE
    assert server.meta["cursor:mlops-repo"] == source.get_cursor("mlops-repo")


def test_neo4j_import_updates_known_events_and_refuses_edges_to_missing_nodes() -> None:
    server = FakeNeo4j()
    server.events["known"] = {"id": "known", "seq": 7, "status": "pending"}
    server.counter = 7
    store, driver = recording_store(server)
    events = [StoredEvent("known", "ci", T0, T0, "{}", "failed", "why"),
              StoredEvent("new", "ci", T0, T0 + timedelta(seconds=1), "{}", "applied")]
    store.import_batch([], [], events)
    assert server.events["known"] == {"id": "known", "seq": 7, "source": "ci", "time": T0, "received_at": T0,
                                      "payload": "{}", "status": "failed", "error": "why"}
    assert (server.events["new"]["seq"], server.counter) == (8, 8)
    orphan = Edge("image_1", "commit_1", "built_from", "declared", {}, ["ci"], T0, T0)
    sent = len(driver.sent)
    with pytest.raises(MissingNode, match="commit_1, image_1"):
        store.import_batch([], [orphan], [])
    assert cypher.write_edges("built_from") not in [q for q, _ in driver.sent[sent:]]
