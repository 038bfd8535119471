"""The Neo4j backend without a server: URIs and credentials, the whitelist, parameters only.

What Cypher does on a server is the contract suite's job (tests/test_store_contract.py with
LINEAGE_TEST_NEO4J_URI, in .github/workflows/neo4j-contract.yml). Here a recording driver stands in
for ``neo4j.Driver``: it keeps every statement and its parameters and answers with scripted rows,
which checks what the Python side sends and how it reads answers back, never what Cypher would do.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import neo4j
import orjson
import pytest
from neo4j.time import DateTime

from graph_schema.edges import EdgeKind, Evidence
from graph_schema.facts import EdgeFact, NodeFact, edge_fact, node_fact
from graph_schema.kinds import NodeKind
from lineage_service.store import StoreUnavailable, cypher, open_store
from lineage_service.store import neo4j as backend
from lineage_service.store.base import (
    Batch,
    Direction,
    Edge,
    MissingNode,
    NeighbourCursor,
    NewEvent,
    Node,
    StoredEvent,
)
from tests.neo4j_recording import RecordingDriver, default_answer, recording_store

T0 = datetime(2026, 11, 10, 14, 50, tzinfo=UTC)
HOSTILE = ["HOSTILE') DETACH DELETE n //", "HOSTILE` MATCH (m) DELETE m //", "HOSTILE\" }) RETURN 1 //",
           "HOSTILE\\' OR 1=1", "HOSTILE{id: 1}", "HOSTILE$limit"]

def exercise(store: backend.Neo4jGraphStore, text: str) -> None:
    """Every method of the store, with ``text`` in every value a caller controls.

    Facts are built directly, not with ``node_fact``: a store never validates, so it must be safe
    with whatever a collector hands it.
    """
    dataset = NodeFact(text, NodeKind.DATASET, {"name": text, "version": text}, text, text,
                       {text: text, "env": {text: None}}, (text,))
    job = NodeFact(text + "job", NodeKind.JOB, {"system": text, "id": text}, text, text)
    edge = EdgeFact(job.id, dataset.id, EdgeKind.CONSUMED, Evidence.OBSERVED, {text: [text]}, T0)
    store.apply([Batch([dataset, job], [edge], seen_at=T0, source=text, event_ids=[text])])
    store.append_events([NewEvent(text, text, T0, text), NewEvent(text, text, T0, text)])
    store.mark_failed(text, text)
    store.get_event(text)
    store.list_events(status=text, after=text, limit=3)
    store.get_nodes([text, dataset.id])
    for kind in ("dataset", None):
        store.find_nodes(kind, lookup=text)
        store.find_nodes(kind, lookup_prefix=text)
        store.find_nodes(kind, alias=text, lookup=text, lookup_prefix=text, text=text)
        store.find_nodes(kind, text=text)
        store.find_nodes(kind)
    store.neighbours(text)
    for direction in Direction:
        for depth in (0, 1, 12):
            store.walk([text, dataset.id], direction, depth, skip_edge_kinds={text, "parent"}, at=T0, limit=5)
            store.walk([text, dataset.id], direction, depth, skip_edge_kinds={text, "parent"}, at=T0, limit=5,
                       fanout=2)
        store.neighbour_page(text, direction, edge_kind="consumed", after=NeighbourCursor(T0, "consumed", text),
                             skip=2, limit=3, at=T0)
        store.neighbour_page(text, direction)
    exported_node = Node(dataset.id, "dataset", {"name": text, "version": text}, text, {text: [text]}, [text],
                         [text], T0, T0)
    exported_edge = Edge(job.id, dataset.id, "consumed", "observed", {text: text}, [text], T0, T0, T0, None)
    store.import_batch([exported_node], [exported_edge],
                       [StoredEvent(text, text, T0, T0, text, "failed", text)])
    store.export_nodes(None, 3)
    store.export_nodes(text, 3)
    store.export_edges(None, 3)
    store.export_edges((text, "consumed", text), 3)
    store.set_cursor(text, text)
    store.get_cursor(text)
    store.list_cursors()
    store.stats()
    store.clear()


def test_every_statement_sent_is_enumerated_and_binds_only_known_parameters() -> None:
    store, driver = recording_store()
    exercise(store, "taxi")
    listed = {statement for _, statement in cypher.all_statements()}
    assert {query for query, _ in driver.sent} <= listed
    for query, parameters in driver.sent:
        used = set(re.findall(r"\$(\w+)", query))
        assert used <= set(parameters) <= cypher.PARAMETERS, query


@pytest.mark.parametrize("hostile", HOSTILE)
def test_values_travel_as_parameters_never_in_the_cypher_text(hostile: str) -> None:
    store, driver = recording_store()
    exercise(store, hostile)
    assert not [query for query, _ in driver.sent if "HOSTILE" in query]
    # …and they did reach the server, as parameter values.
    assert hostile in {leaf for _, parameters in driver.sent for leaf in strings(parameters)}


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in strings(item)]
    if isinstance(value, list | tuple):
        return [leaf for item in value for leaf in strings(item)]
    return []


@pytest.mark.parametrize("name", ["bogus", "api` DETACH DELETE n //", "Api", "API", "", "served_by|PARENT"])
def test_a_name_outside_the_schema_never_reaches_a_statement(name: str) -> None:
    for build in (cypher.label_of, cypher.rel_type_of, cypher.write_nodes, cypher.write_edges,
                  lambda n: cypher.find_nodes(n, "scan"), lambda n: cypher.walk(n, 1)):
        with pytest.raises(cypher.UnknownName):
            build(name)
    store, driver = recording_store()
    sent_before = len(driver.sent)
    assert store.find_nodes(name) == []
    assert len(driver.sent) == sent_before  # nothing asked: no node of an unknown kind exists
    store.walk(["dataset_1"], Direction.UPSTREAM, 2, skip_edge_kinds={name, "parent"})
    assert driver.sent[-1][1]["skip"] == ["PARENT"]


@pytest.mark.parametrize("depth", [-1, cypher.MAX_WALK_DEPTH + 1, True, 1.5, "3", "1}]-(x) DETACH DELETE x //"])
def test_the_walk_depth_is_a_validated_int(depth: Any) -> None:
    with pytest.raises(ValueError):
        cypher.walk("upstream", depth)


def test_whitelists_come_from_the_schema_and_are_plain_identifiers() -> None:
    assert cypher.LABELS["api"] == "Api" and cypher.REL_TYPES["served_by"] == "SERVED_BY"
    assert len(set(cypher.LABELS.values()) | set(cypher.INTERNAL_LABELS)) == len(cypher.LABELS) + 5
    for name in [*cypher.LABELS.values(), *cypher.REL_TYPES.values()]:
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name)


def test_a_missing_endpoint_raises_before_anything_is_written() -> None:
    store, driver = recording_store()
    image = node_fact("image", {"digest": "sha256:" + "3f" * 32})
    commit = node_fact("commit", {"repo": "https://github.com/org/repo", "sha": "05ee055" + "0" * 33})
    with pytest.raises(MissingNode, match=commit.id):
        store.apply([Batch([image], [edge_fact(image, commit)], seen_at=T0, source="ci", event_ids=["e1"])])
    # Only the lock-and-read statements went out; the transaction function raised, so the driver rolls back.
    assert [query for query, _ in driver.sent][-2:] == [cypher.LOCK_NODES, cypher.READ_EDGES]


def test_apply_reads_the_stored_state_and_writes_the_merge() -> None:
    model = node_fact("model", {"name": "taxi-model", "version": "3"}, {"stage": None, "metrics": {"r2": 0.83}})
    job = node_fact("job", {"system": "azureml", "id": "train"})
    stored_at = DateTime(2026, 11, 10, 15, 0, 0, tzinfo=UTC)  # newer than this report

    def answer(query: str, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        if query == cypher.LOCK_NODES:
            return [{"node": {"id": model.id, "kind": "model", "key_name": "taxi-model", "key_version": "3",
                              "lookup": "taxi-model", "label": "taxi-model:3", "sources": ["registry"],
                              "props": '{"stage":"prod","metrics":{"rmse":3.6}}', "first_seen": stored_at,
                              "last_seen": stored_at}},
                    {"node": {"id": job.id}}]
        if query == cypher.READ_EDGES:
            return [{"source": model.id, "type": "PRODUCED_BY", "target": job.id,
                     "fields": {"evidence": "observed", "props": "{}", "sources": ["registry"],
                                "first_seen": stored_at, "last_seen": stored_at, "valid_from": None}}]
        return default_answer(query, parameters)

    store, driver = recording_store(answer)
    store.apply([Batch([model, job], [edge_fact(model, job, evidence=Evidence.DECLARED)], seen_at=T0, source="ci")])
    writes = {query: parameters["rows"] for query, parameters in driver.sent if "rows" in parameters}
    [model_row] = writes[cypher.write_nodes("model")]
    fields = model_row["fields"]
    # An older report only fills gaps: its null does not delete the newer stage, its r2 is added.
    assert orjson.loads(fields["props"]) == {"stage": "prod", "metrics": {"rmse": 3.6, "r2": 0.83}}
    assert (fields["sources"], fields["first_seen"], fields["last_seen"]) == (["registry", "ci"], T0,
                                                                              datetime(2026, 11, 10, 15, tzinfo=UTC))
    assert (fields["key_name"], fields["key_version"], fields["lookup"]) == ("taxi-model", "3", "taxi-model")
    [job_row] = writes[cypher.write_nodes("job")]
    assert job_row["fields"]["first_seen"] == T0 and job_row["fields"]["sources"] == ["ci"]
    [edge_row] = writes[cypher.write_edges("produced_by")]
    assert edge_row["fields"]["evidence"] == "observed" and edge_row["fields"]["sources"] == ["registry", "ci"]


def test_walk_reads_nodes_distances_edges_and_truncation() -> None:
    seen = DateTime(2026, 11, 10, 14, 50, 0, tzinfo=UTC)
    node_fields = {"kind": "dataset", "lookup": "taxi", "sources": ["azureml"], "props": "{}",
                   "first_seen": seen, "last_seen": seen, "aliases": ["b", "a"]}
    edge = {"source": "dataset_2", "type": "DERIVED_FROM", "target": "dataset_1",
            "fields": {"evidence": "declared", "props": '{"step":"prep"}', "sources": ["azureml"],
                       "first_seen": seen, "last_seen": seen, "valid_from": seen}}

    def answer(query: str, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        if query.startswith("UNWIND $start"):
            return [{"node": {**node_fields, "id": f"dataset_{v}", "key_name": "taxi", "key_version": str(v),
                              "label": f"taxi:{v}"}, "distance": 2 - v, "walked": 3,
                     "edges": [edge] if v == 2 else []} for v in (2, 1)]
        return default_answer(query, parameters)

    store, _ = recording_store(answer)
    graph = store.walk(["dataset_2"], Direction.UPSTREAM, 5, limit=2)
    assert graph.depth_of == {"dataset_2": 0, "dataset_1": 1} and graph.truncated
    assert graph.nodes[0].key == {"name": "taxi", "version": "2"} and graph.nodes[0].aliases == ["a", "b"]
    assert graph.nodes[0].first_seen == datetime(2026, 11, 10, 14, 50, tzinfo=UTC)
    [walked_edge] = graph.edges
    assert (walked_edge.kind, walked_edge.props, walked_edge.valid_from, walked_edge.valid_to) == (
        "derived_from", {"step": "prep"}, datetime(2026, 11, 10, 14, 50, tzinfo=UTC), None)
    assert not store.walk(["dataset_2"], Direction.UPSTREAM, 5, limit=3).truncated


def test_a_capped_walk_reads_its_more_entries_and_a_page_continues_from_a_cursor() -> None:
    seen = DateTime(2026, 11, 10, 14, 50, 0, tzinfo=UTC)
    fields = {"evidence": "declared", "props": "{}", "sources": ["azureml"], "first_seen": seen, "last_seen": seen}
    dataset_node = {"id": "dataset_1", "kind": "dataset", "lookup": "taxi", "sources": ["azureml"], "props": "{}",
                    "first_seen": seen, "last_seen": seen, "key_name": "taxi", "key_version": "1", "label": "taxi:1"}

    def answer(query: str, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        if query == cypher.walk_capped("downstream"):
            return [{"node": dataset_node, "distance": 0, "walked": 1, "edges": [],
                     "more": [{"type": "CONSUMED", "total": 100_000}]}]
        if query == cypher.neighbour_page("downstream"):
            return [{"total": 100_000, "other": f"job_{n}", "type": "CONSUMED", "fields": fields} for n in (8, 7, 6)]
        return default_answer(query, parameters)

    store, driver = recording_store(answer)
    graph = store.walk(["dataset_1"], Direction.DOWNSTREAM, 12, fanout=100)
    assert driver.sent[-1][1] == {"start": ["dataset_1"], "skip": [], "at": None, "limit": 10_000, "depth": 12,
                                  "fanout": 100}
    [more] = graph.more
    assert (more.node, more.kind, more.shown, more.total) == ("dataset_1", "consumed", 100, 100_000)
    page = store.neighbour_page("dataset_1", Direction.DOWNSTREAM, edge_kind="consumed", skip=more.shown, limit=2)
    assert {k: driver.sent[-1][1][k] for k in ("after", "offset", "limit", "type")} == {
        "after": None, "offset": 100, "limit": 3, "type": "CONSUMED"}  # limit: one more, to tell a next page
    cursor = NeighbourCursor(datetime(2026, 11, 10, 14, 50, tzinfo=UTC), "consumed", "job_9")
    store.neighbour_page("dataset_1", Direction.DOWNSTREAM, after=cursor)
    assert driver.sent[-1][1]["after"] == {"first_seen": cursor.first_seen, "type": "CONSUMED", "id": "job_9"}
    assert [(e.source, e.kind, e.target) for e in page.edges] == [("job_8", "consumed", "dataset_1"),
                                                                   ("job_7", "consumed", "dataset_1")]
    assert page.total == 100_000 and page.next == NeighbourCursor(page.edges[-1].first_seen, "consumed", "job_7")


def test_append_events_numbers_new_events_after_the_counter() -> None:
    def answer(query: str, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        if query == cypher.LOCK_COUNTER:
            return [{"value": 41}]
        if query == cypher.EXISTING_EVENTS:
            return [{"id": "old"}]
        return default_answer(query, parameters)

    store, driver = recording_store(answer)
    events = [NewEvent(i, "ci", T0 + timedelta(minutes=n), "{}") for n, i in enumerate(["a", "old", "b", "a"])]
    assert store.append_events(events) == [True, False, True, False]
    [rows] = [p["rows"] for q, p in driver.sent if q == cypher.CREATE_EVENTS]
    assert [(r["id"], r["seq"], r["status"], r["time"]) for r in rows] == [
        ("a", 42, "pending", T0), ("b", 43, "pending", T0 + timedelta(minutes=2))]
    assert [p["value"] for q, p in driver.sent if q == cypher.SET_COUNTER] == [43]
    queries = [q for q, _ in driver.sent]
    assert queries.index(cypher.LOCK_COUNTER) < queries.index(cypher.EXISTING_EVENTS)  # lock first, then look


# URIs, credentials, connecting ------------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["neo4j", "neo4j+s", "neo4j+ssc", "bolt", "bolt+s", "bolt+ssc"])
def test_credentials_come_from_the_environment_not_the_uri(scheme: str) -> None:
    settings = backend.connection_settings(f"{scheme}://db.example.com:7687",
                                           {"NEO4J_USERNAME": "lineage", "NEO4J_PASSWORD": "s3cret",
                                            "NEO4J_DATABASE": "lineage"})
    assert settings == backend.ConnectionSettings(f"{scheme}://db.example.com:7687", ("lineage", "s3cret"), "lineage")


@pytest.mark.parametrize(("uri", "environ", "expected"), [
    ("bolt://localhost", {"NEO4J_USER": "old-style", "NEO4J_PASSWORD": "pw"},
     backend.ConnectionSettings("bolt://localhost", ("old-style", "pw"), None)),
    ("bolt://localhost:7687/", {"NEO4J_USERNAME": "new", "NEO4J_USER": "old", "NEO4J_PASSWORD": "pw"},
     backend.ConnectionSettings("bolt://localhost:7687", ("new", "pw"), None)),
    ("neo4j://reader@db:7687?region=eu", {"NEO4J_USERNAME": "ignored", "NEO4J_PASSWORD": "pw"},
     backend.ConnectionSettings("neo4j://db:7687?region=eu", ("reader", "pw"), None)),
    ("BOLT://[::1]:7687", {"NEO4J_PASSWORD": "pw", "NEO4J_DATABASE": ""},
     backend.ConnectionSettings("bolt://[::1]:7687", ("neo4j", "pw"), None)),
    ("bolt://localhost", {}, backend.ConnectionSettings("bolt://localhost", None, None)),  # auth disabled
])
def test_connection_settings(uri: str, environ: dict[str, str], expected: backend.ConnectionSettings) -> None:
    assert backend.connection_settings(uri, environ) == expected


@pytest.mark.parametrize(("uri", "message"), [
    ("bolt://neo4j:s3cret@localhost:7687", "must not contain a password"),
    ("neo4j://localhost:7687/lineage", "NEO4J_DATABASE"),
    ("bolt://:7687", "no host"),
    ("bolt://localhost:port", "malformed"),
])
def test_bad_uris_are_refused_without_echoing_a_password(uri: str, message: str) -> None:
    with pytest.raises(StoreUnavailable, match=message) as refused:
        backend.connection_settings(uri, {"NEO4J_PASSWORD": "env-s3cret"})
    assert "s3cret" not in str(refused.value)


def test_an_unreachable_server_is_a_clear_store_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEO4J_PASSWORD", "never-shown-s3cret")
    with pytest.raises(StoreUnavailable) as refused:
        open_store("bolt://localhost:1")
    message = str(refused.value)
    assert message.startswith("cannot connect to Neo4j at bolt://localhost:1") and "refused" in message.lower()
    assert "s3cret" not in message


def test_a_missing_driver_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "lineage_service.store.neo4j", raising=False)
    monkeypatch.setitem(sys.modules, "neo4j", None)  # what `import neo4j` sees when it is not installed
    with pytest.raises(StoreUnavailable, match=re.escape("pip install 'lineage-service[neo4j]'")):
        open_store("neo4j://localhost:7687")


class ServerDriver(RecordingDriver):
    def __init__(self, agent: str) -> None:
        super().__init__()
        self.agent = agent

    def verify_connectivity(self) -> None:
        return None

    def get_server_info(self) -> SimpleNamespace:
        return SimpleNamespace(agent=self.agent)


def test_the_builder_checks_the_server_and_sets_the_schema_up(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[tuple[str, Any]] = []
    drivers = iter([ServerDriver("Neo4j/5.26.3"), ServerDriver("Neo4j/5.20.0")])

    def driver(uri: str, *, auth: Any, **config: Any) -> ServerDriver:
        built.append((uri, auth))
        return next(drivers)

    monkeypatch.setattr(neo4j.GraphDatabase, "driver", driver)
    monkeypatch.setenv("NEO4J_PASSWORD", "s3cret")
    monkeypatch.setenv("NEO4J_DATABASE", "lineage")
    store = open_store("neo4j+s://db.example.com")
    assert isinstance(store, backend.Neo4jGraphStore)
    assert (store.uri, store.database, built[0]) == ("neo4j+s://db.example.com", "lineage",
                                                     ("neo4j+s://db.example.com", ("neo4j", "s3cret")))
    recorded = store._driver.sent  # type: ignore[attr-defined]
    assert {query for query, _ in recorded} >= set(cypher.schema_statements())
    assert store.stats()["store"] == "neo4j+s://db.example.com"
    store.close()
    assert store._driver.closed  # type: ignore[attr-defined]  # the builder's driver belongs to the store
    with pytest.raises(StoreUnavailable, match=r"5\.20; lineage-service needs 5\.21"):
        open_store("bolt://old.example.com")
