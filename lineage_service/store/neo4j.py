"""The production store: Neo4j 5 (5.21 or later) through the official driver.

``Neo4jGraphStore`` takes an already built ``neo4j.Driver`` (as neo4j-graphrag does), so an
application can share its driver, auth and TLS settings; ``open_neo4j_store`` builds one from a
``neo4j://``/``bolt://`` URI and credentials from the environment, for ``open_store``. Cypher comes
from ``lineage_service.store.cypher``; every value is a parameter.

Writes: one ``apply`` is one managed write transaction (``execute_write`` retries deadlocks and
other transient errors by running the whole function again). Inside it, the nodes and edge ends
the call touches are locked, their stored state read, the merge computed in Python by
``lineage_service.store.merge`` (the same rules the SQLite backend computes in SQL; Neo4j cannot
patch a JSON document without APOC) and written back with ``UNWIND $rows … MERGE`` per label and
relationship type. ``import_batch`` (``lineage store copy``) writes exported rows as they are, in
one transaction, merging nothing.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import neo4j
import orjson
from neo4j.exceptions import AuthError, ClientError, DriverError, Neo4jError, ServiceUnavailable

from graph_schema.edges import Evidence
from graph_schema.kinds import lookup_value
from lineage_service.store import NEO4J_SCHEMES, StoreUnavailable, cypher
from lineage_service.store.base import (
    Batch,
    Direction,
    Edge,
    EdgeCursor,
    GraphStore,
    MissingNode,
    MoreLinks,
    NeighbourCursor,
    NeighbourPage,
    NewerStoreSchema,
    NewEvent,
    Node,
    StoredEvent,
    Subgraph,
)
from lineage_service.store.merge import EdgeKey, EdgeState, NodeState, plan_apply, utc

SCHEMA_VERSION = 1
MINIMUM_SERVER = (5, 21)  # ANY SHORTEST path selectors
ROWS_PER_STATEMENT = 5_000  # UNWIND chunks, to keep each statement's parameters a few MB at most
_IGNORED_SCHEMA_RACES = {"Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists",
                         "Neo.ClientError.Schema.ConstraintAlreadyExists", "Neo.ClientError.Schema.IndexAlreadyExists"}

T = TypeVar("T")


# Values in and out -------------------------------------------------------------------------------

def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _time(value: Any) -> datetime:
    """A stored DateTime as an aware UTC ``datetime`` (the driver returns its own temporal type)."""
    native = value.to_native() if hasattr(value, "to_native") else value
    if not isinstance(native, datetime):
        raise TypeError(f"expected a stored DateTime, got {value!r}")
    return native.astimezone(UTC)


def _optional_time(value: Any) -> datetime | None:
    return None if value is None else _time(value)


def _key(kind: str, fields: Mapping[str, Any]) -> dict[str, str]:
    return {f: fields[cypher.key_property(f)] for f in cypher.KEY_FIELDS[kind]}


def _node(fields: Mapping[str, Any]) -> Node:
    kind = fields["kind"]
    return Node(fields["id"], kind, _key(kind, fields), fields["label"], orjson.loads(fields["props"]),
                sorted(fields.get("aliases") or ()), list(fields["sources"]), _time(fields["first_seen"]),
                _time(fields["last_seen"]))


def _node_state(fields: Mapping[str, Any]) -> NodeState:
    kind = fields["kind"]
    return NodeState(kind, _key(kind, fields), fields["lookup"], fields["label"], orjson.loads(fields["props"]),
                     tuple(fields["sources"]), _time(fields["first_seen"]), _time(fields["last_seen"]))


def _node_fields(state: NodeState) -> dict[str, Any]:
    fields = {"kind": state.kind, "lookup": state.lookup, "label": state.label, "props": _dumps(state.props),
              "sources": list(state.sources), "first_seen": state.first_seen, "last_seen": state.last_seen}
    fields.update({cypher.key_property(f): value for f, value in state.key.items()})
    return fields


def _edge_state(fields: Mapping[str, Any]) -> EdgeState:
    return EdgeState(Evidence.parse(fields["evidence"]), orjson.loads(fields["props"]), tuple(fields["sources"]),
                     _time(fields["first_seen"]), _time(fields["last_seen"]),
                     _optional_time(fields.get("valid_from")), _optional_time(fields.get("valid_to")))


def _edge_fields(state: EdgeState) -> dict[str, Any]:
    return {"evidence": state.evidence.label, "props": _dumps(state.props), "sources": list(state.sources),
            "first_seen": state.first_seen, "last_seen": state.last_seen,
            "valid_from": state.valid_from, "valid_to": state.valid_to}


def _edge(source: str, rel_type: str, target: str, fields: Mapping[str, Any]) -> Edge:
    state = _edge_state(fields)
    return Edge(source, target, cypher.EDGE_KINDS_BY_TYPE[rel_type], state.evidence.label, state.props,
                list(state.sources), state.first_seen, state.last_seen, state.valid_from, state.valid_to)


def _event(record: Mapping[str, Any]) -> StoredEvent:
    return StoredEvent(record["id"], record["source"], _time(record["time"]), _time(record["received_at"]),
                       record["payload"], record["status"], record["error"])


def _chunks(rows: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        yield rows[start:start + ROWS_PER_STATEMENT]


class Neo4jGraphStore(GraphStore):
    """The lineage graph in a Neo4j database; safe to share between threads (the driver is)."""

    def __init__(self, driver: neo4j.Driver, database: str | None = None, *, uri: str = "neo4j://",
                 owns_driver: bool = False, setup_schema: bool = True) -> None:
        self._driver = driver
        self.database = database
        self.uri = uri
        self._owns_driver = owns_driver
        if setup_schema:
            self.ensure_schema()

    # Plumbing ------------------------------------------------------------------------------------
    def _read(self, query: str, **parameters: Any) -> list[neo4j.Record]:
        result = self._driver.execute_query(query, parameters, routing_=neo4j.RoutingControl.READ,
                                            database_=self.database)
        return list(result.records)

    def _write_one(self, query: str, **parameters: Any) -> list[neo4j.Record]:
        return list(self._driver.execute_query(query, parameters, database_=self.database).records)

    def _write(self, work: Callable[[neo4j.ManagedTransaction], T]) -> T:
        # The execute_query bookmark manager: reads after this write see it, even on a cluster.
        with self._driver.session(database=self.database,
                                  bookmark_manager=self._driver.execute_query_bookmark_manager) as session:
            return session.execute_write(work)

    def ensure_schema(self) -> None:
        """Create the constraints and indexes if missing, and refuse a store of a newer schema."""
        for statement in cypher.schema_statements():
            try:
                self._write_one(statement)
            except ClientError as exc:  # another process created the same rule at the same moment
                if exc.code not in _IGNORED_SCHEMA_RACES:
                    raise
        [record] = self._write_one(cypher.SCHEMA_VERSION, name="schema_version", value=str(SCHEMA_VERSION))
        if int(record["value"]) > SCHEMA_VERSION:
            raise NewerStoreSchema(f"{self.uri} was written by a newer lineage-service (store schema "
                                   f"{record['value']}); upgrade lineage-service to open it")

    def clear(self) -> None:
        """Delete every node and relationship of the database (tests); constraints and indexes stay."""
        self._write_one(cypher.CLEAR)

    # Writing -------------------------------------------------------------------------------------
    def apply(self, batches: Sequence[Batch]) -> None:
        if any(b.nodes or b.edges or b.event_ids for b in batches):
            self._write(lambda tx: self._apply(tx, batches))

    def _apply(self, tx: neo4j.ManagedTransaction, batches: Sequence[Batch]) -> None:
        ids = sorted({n.id for b in batches for n in b.nodes} | {end for b in batches for e in b.edges
                                                                   for end in (e.source, e.target)})
        stored_nodes: dict[str, NodeState] = {}
        for chunk in _chunks(ids):
            for record in tx.run(cypher.LOCK_NODES, {"ids": list(chunk)}):
                if record["node"].get("kind") is not None:  # else created just now by MERGE
                    stored_nodes[record["node"]["id"]] = _node_state(record["node"])
        keys = sorted({(e.source, e.kind.value, e.target) for b in batches for e in b.edges})
        stored_edges: dict[EdgeKey, EdgeState] = {}
        for key_chunk in _chunks(keys):
            rows = [{"source": s, "type": cypher.rel_type_of(kind), "target": t} for s, kind, t in key_chunk]
            for record in tx.run(cypher.READ_EDGES, {"keys": rows}):
                kind = cypher.EDGE_KINDS_BY_TYPE[record["type"]]
                stored_edges[(record["source"], kind, record["target"])] = _edge_state(record["fields"])
        plan = plan_apply(batches, stored_nodes, stored_edges)  # MissingNode here rolls everything back

        nodes_by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for node_id, node_state in plan.nodes.items():
            nodes_by_kind[node_state.kind].append({"id": node_id, "fields": _node_fields(node_state)})
        for kind, node_rows in nodes_by_kind.items():
            for chunk_rows in _chunks(node_rows):
                tx.run(cypher.write_nodes(kind), {"rows": list(chunk_rows)}).consume()
        alias_rows = [{"id": node_id, "alias": alias} for node_id, alias in plan.aliases]
        for chunk_rows in _chunks(alias_rows):
            tx.run(cypher.WRITE_ALIASES, {"rows": list(chunk_rows)}).consume()
        edges_by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for (source, kind, target), edge_state in plan.edges.items():
            edges_by_kind[kind].append({"source": source, "target": target, "fields": _edge_fields(edge_state)})
        for kind, edge_rows in edges_by_kind.items():
            for chunk_rows in _chunks(edge_rows):
                tx.run(cypher.write_edges(kind), {"rows": list(chunk_rows)}).consume()
        for chunk in _chunks(ids):
            tx.run(cypher.UNLOCK_NODES, {"ids": list(chunk)}).consume()
        for chunk in _chunks(plan.event_ids):
            tx.run(cypher.MARK_APPLIED, {"ids": list(chunk)}).consume()

    def append_events(self, events: Sequence[NewEvent]) -> list[bool]:
        if not events:
            return []
        first = {event.id: event for event in reversed(events)}  # the first report of an id wins
        received = datetime.now(UTC)

        def work(tx: neo4j.ManagedTransaction) -> set[str]:
            [counter] = list(tx.run(cypher.LOCK_COUNTER, {"name": cypher.EVENT_SEQ}))
            existing = {r["id"] for r in tx.run(cypher.EXISTING_EVENTS, {"ids": list(first)})}
            new = [event for event in dict.fromkeys(e.id for e in events) if event not in existing]
            seq = int(counter["value"])
            rows = [{"id": event_id, "seq": seq + i, "source": first[event_id].source,
                     "time": utc(first[event_id].time), "received_at": received,
                     "payload": first[event_id].payload, "status": "pending"} for i, event_id in enumerate(new, 1)]
            for chunk in _chunks(rows):
                tx.run(cypher.CREATE_EVENTS, {"rows": list(chunk)}).consume()
            tx.run(cypher.SET_COUNTER, {"name": cypher.EVENT_SEQ, "value": seq + len(rows)}).consume()
            return set(new)

        created = self._write(work)
        answers = []
        for event in events:
            answers.append(event.id in created)
            created.discard(event.id)  # a repeated id within the call is not new the second time
        return answers

    def mark_failed(self, event_id: str, error: str) -> None:
        self._write_one(cypher.MARK_FAILED, id=event_id, error=error)

    def import_batch(self, nodes: Sequence[Node], edges: Sequence[Edge], events: Sequence[StoredEvent]) -> None:
        if nodes or edges or events:
            self._write(lambda tx: self._import(tx, nodes, edges, events))

    def _import(self, tx: neo4j.ManagedTransaction, nodes: Sequence[Node], edges: Sequence[Edge],
                events: Sequence[StoredEvent]) -> None:
        nodes_by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for node in nodes:
            state = NodeState(node.kind, node.key, lookup_value(node.kind, node.key), node.label, node.props,
                              tuple(node.sources), utc(node.first_seen), utc(node.last_seen))
            nodes_by_kind[node.kind].append({"id": node.id, "fields": _node_fields(state)})
        for kind, node_rows in nodes_by_kind.items():
            for chunk_rows in _chunks(node_rows):
                tx.run(cypher.import_nodes(kind), {"rows": list(chunk_rows)}).consume()
        alias_rows = [{"id": node.id, "alias": alias} for node in nodes for alias in node.aliases]
        for chunk_rows in _chunks(alias_rows):
            tx.run(cypher.WRITE_ALIASES, {"rows": list(chunk_rows)}).consume()
        # write_edges MATCHes both ends and would skip an edge to a missing node without a word.
        ends = sorted({end for edge in edges for end in (edge.source, edge.target)})
        found: set[str] = set()
        for chunk in _chunks(ends):
            found.update(record["id"] for record in tx.run(cypher.EXISTING_NODES, {"ids": list(chunk)}))
        missing = [end for end in ends if end not in found]
        if missing:  # raising inside the transaction function rolls the nodes back too
            raise MissingNode(f"edges point at nodes that are not stored: {', '.join(missing[:5])}")
        edges_by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for edge in edges:
            edge_state = EdgeState(Evidence.parse(edge.evidence), edge.props, tuple(edge.sources), utc(edge.first_seen),
                                   utc(edge.last_seen), utc(edge.valid_from) if edge.valid_from else None,
                                   utc(edge.valid_to) if edge.valid_to else None)
            edges_by_kind[edge.kind].append({"source": edge.source, "target": edge.target,
                                             "fields": _edge_fields(edge_state)})
        for kind, edge_rows in edges_by_kind.items():
            for chunk_rows in _chunks(edge_rows):
                tx.run(cypher.write_edges(kind), {"rows": list(chunk_rows)}).consume()
        if events:
            self._import_events(tx, events)

    @staticmethod
    def _import_events(tx: neo4j.ManagedTransaction, events: Sequence[StoredEvent]) -> None:
        # As append_events: under the counter's lock, new events numbered after the log's end.
        [counter] = list(tx.run(cypher.LOCK_COUNTER, {"name": cypher.EVENT_SEQ}))
        by_id = {event.id: event for event in events}  # the last version of an id given wins
        existing = {r["id"] for r in tx.run(cypher.EXISTING_EVENTS, {"ids": list(by_id)})}
        rows: list[dict[str, Any]] = [
            {"id": e.id, "source": e.source, "time": utc(e.time), "received_at": utc(e.received_at),
             "payload": e.payload, "status": e.status, "error": e.error} for e in by_id.values()]
        seq = int(counter["value"])
        new = [{**row, "seq": seq + i} for i, row in enumerate((r for r in rows if r["id"] not in existing), 1)]
        for chunk in _chunks(new):
            tx.run(cypher.CREATE_EVENTS, {"rows": list(chunk)}).consume()
        for chunk in _chunks([row for row in rows if row["id"] in existing]):
            tx.run(cypher.UPDATE_EVENTS, {"rows": list(chunk)}).consume()
        tx.run(cypher.SET_COUNTER, {"name": cypher.EVENT_SEQ, "value": seq + len(new)}).consume()

    # Reading -------------------------------------------------------------------------------------
    def get_nodes(self, ids: Iterable[str]) -> list[Node]:
        wanted = list(dict.fromkeys(ids))
        return [_node(r["node"]) for r in self._read(cypher.GET_NODES, ids=wanted)] if wanted else []

    def find_nodes(self, kind: str | None = None, *, lookup: str | None = None,
                   lookup_prefix: str | None = None, alias: str | None = None,
                   text: str | None = None, limit: int = 50) -> list[Node]:
        if kind is not None and kind not in cypher.LABELS:
            return []  # no node of an unknown kind can exist
        entry = "alias" if alias is not None else "lookup" if lookup is not None else (
            "prefix" if lookup_prefix is not None else "scan")
        records = self._read(cypher.find_nodes(kind, entry), alias=alias, lookup=lookup, prefix=lookup_prefix,
                             text=text, limit=max(limit, 0))
        return [_node(r["node"]) for r in records]

    def neighbours(self, node_id: str) -> tuple[list[Edge], list[Edge]]:
        upstream: list[Edge] = []
        downstream: list[Edge] = []
        for r in self._read(cypher.NEIGHBOURS, id=node_id):
            side = upstream if r["side"] == "upstream" else downstream
            side.append(_edge(r["source"], r["type"], r["target"], r["fields"]))
        # Adjacency order is the server's business: give callers a stable one.
        return (sorted(upstream, key=lambda e: (e.kind, e.target)),
                sorted(downstream, key=lambda e: (e.kind, e.source)))

    def walk(self, start: Sequence[str], direction: Direction, depth: int, *,
             skip_edge_kinds: Iterable[str] = (), at: datetime | None = None,
             limit: int = 10_000, fanout: int | None = None) -> Subgraph:
        # Unknown kinds to skip cannot match any edge: leave them out rather than reject them.
        skip = sorted(cypher.REL_TYPES[kind] for kind in set(skip_edge_kinds) if kind in cypher.REL_TYPES)
        direction = Direction(direction)
        parameters: dict[str, Any] = {"start": list(dict.fromkeys(start)), "skip": skip,
                                      "at": utc(at) if at else None, "limit": max(limit, 0)}
        if fanout is None:
            query = cypher.walk(direction.value, max(depth, 0))
        else:
            query = cypher.walk_capped(direction.value)
            parameters.update(depth=max(depth, 0), fanout=max(fanout, 1))
        records = self._read(query, **parameters)
        nodes, depth_of, edges, more = [], {}, [], []
        for record in records:
            node = _node(record["node"])
            nodes.append(node)
            depth_of[node.id] = int(record["distance"])
            edges += [_edge(e["source"], e["type"], e["target"], e["fields"]) for e in record["edges"]]
            for capped in record.get("more") or ():
                kind = cypher.EDGE_KINDS_BY_TYPE[capped["type"]]
                more.append(MoreLinks(node.id, direction, kind, parameters["fanout"], int(capped["total"])))
        walked = int(records[0]["walked"]) if records else 0
        return Subgraph(nodes, edges, depth_of, truncated=walked > limit,
                        more=tuple(sorted(more, key=lambda m: (m.node, m.kind))))

    def neighbour_page(self, node_id: str, direction: Direction, *, edge_kind: str | None = None,
                       after: NeighbourCursor | None = None, skip: int = 0, limit: int = 100,
                       at: datetime | None = None) -> NeighbourPage:
        direction = Direction(direction)
        if edge_kind is not None and edge_kind not in cypher.REL_TYPES:
            return NeighbourPage([], 0, None)  # no link of an unknown kind can exist
        cursor = None if after is None else {"first_seen": utc(after.first_seen),
                                             "type": cypher.rel_type_of(after.kind), "id": after.node}
        link_filter: dict[str, Any] = {"id": node_id, "skip": [], "at": utc(at) if at else None,
                                       "type": cypher.rel_type_of(edge_kind) if edge_kind else None}
        records = self._read(cypher.neighbour_page(direction.value), **link_filter, after=cursor,
                             offset=max(skip, 0), limit=max(limit, 0) + 1)
        if records:
            total = int(records[0]["total"])
        else:
            # SKIP $offset dropped every row, and with them the total they carry.
            counted = self._read(cypher.neighbour_count(direction.value), **link_filter)
            total = int(counted[0]["total"]) if counted else 0  # no row: no such node
        edges = []
        for record in records[:max(limit, 0)]:
            if record["other"] is None:  # OPTIONAL MATCH: a node without such links gives one empty row
                continue
            source, target = (node_id, record["other"]) if direction is Direction.UPSTREAM else (record["other"],
                                                                                                  node_id)
            edges.append(_edge(source, record["type"], target, record["fields"]))
        following = None
        if edges and len(records) > len(edges):
            last = edges[-1]
            following = NeighbourCursor(last.first_seen, last.kind,
                                        last.target if direction is Direction.UPSTREAM else last.source)
        return NeighbourPage(edges, total, following)

    def export_nodes(self, after: str | None, limit: int) -> list[Node]:
        return [_node(r["node"]) for r in self._read(cypher.EXPORT_NODES, after=after or "", limit=max(limit, 0))]

    def export_edges(self, after: EdgeCursor | None, limit: int) -> list[Edge]:
        source, kind, target = after or ("", "", "")
        # The cursor names an edge kind; the statement compares relationship types, which sort alike.
        cursor = {"source": source, "type": cypher.rel_type_of(kind) if kind else "", "target": target}
        records = self._read(cypher.EXPORT_EDGES, after=cursor, limit=max(limit, 0))
        return [_edge(r["source"], r["type"], r["target"], r["fields"]) for r in records]

    def get_event(self, event_id: str) -> StoredEvent | None:
        records = self._read(cypher.GET_EVENT, id=event_id)
        return _event(records[0]) if records else None

    def list_events(self, *, status: str | None = None, limit: int = 100,
                    after: str | None = None, source: str | None = None) -> list[StoredEvent]:
        records = self._read(cypher.LIST_EVENTS, status=status, source=source, after=after, limit=max(limit, 0))
        return [_event(r) for r in records]

    def get_cursor(self, source: str) -> str | None:
        records = self._read(cypher.GET_META, name="cursor:" + source)
        return str(records[0]["value"]) if records else None

    def set_cursor(self, source: str, cursor: str) -> None:
        self._write_one(cypher.SET_META, name="cursor:" + source, value=cursor)

    def list_cursors(self) -> dict[str, str]:
        records = self._read(cypher.LIST_META, prefix="cursor:")
        return {str(r["name"]).removeprefix("cursor:"): str(r["value"]) for r in records}

    def stats(self) -> dict[str, Any]:
        def counts(query: str, column: str) -> dict[str, int]:
            return {r[column]: r["count"] for r in sorted(self._read(query), key=lambda r: r[column]) if r["count"]}

        return {"store": self.uri, "nodes": counts(cypher.count_nodes(), "kind"),
                "edges": counts(cypher.count_edges(), "kind"), "events": counts(cypher.COUNT_EVENTS, "status"),
                # Neo4j reports no database size to Cypher without APOC or JMX: unknown, not zero.
                "bytes": None}

    def close(self) -> None:
        if self._owns_driver:
            self._driver.close()


# Building from a URI ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ConnectionSettings:
    uri: str  # what the driver connects to and what the store reports: never a credential in it
    auth: tuple[str, str] | None
    database: str | None


def connection_settings(uri: str, environ: Mapping[str, str]) -> ConnectionSettings:
    """The driver URI, credentials and database for a store URI.

    Credentials come from ``NEO4J_USERNAME`` (or ``NEO4J_USER``, default ``neo4j``) and
    ``NEO4J_PASSWORD``, the database from ``NEO4J_DATABASE`` (default: the server's). A URI may name
    the user (``bolt://reader@host``) but not a password: URIs end up in logs, shell history and
    ``lineage store stats``.
    """
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as exc:
        raise StoreUnavailable(f"malformed Neo4j URI: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in NEO4J_SCHEMES:
        raise StoreUnavailable(f"not a Neo4j URI scheme: {scheme!r}; expected one of {', '.join(NEO4J_SCHEMES)}")
    if parts.password is not None:
        raise StoreUnavailable("the Neo4j store URI must not contain a password (URIs end up in logs and output); "
                               "set NEO4J_PASSWORD instead")
    if not parts.hostname:
        raise StoreUnavailable(f"the Neo4j store URI names no host; expected {scheme}://host:7687")
    if parts.path not in ("", "/") or parts.fragment:
        raise StoreUnavailable("the Neo4j store URI takes no path: choose the database with NEO4J_DATABASE")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    location = f"{scheme}://{host}" + (f":{port}" if port is not None else "") + (f"?{parts.query}" if parts.query
                                                                                   else "")
    user = unquote(parts.username) if parts.username else (
        environ.get("NEO4J_USERNAME") or environ.get("NEO4J_USER") or "neo4j")
    password = environ.get("NEO4J_PASSWORD")
    return ConnectionSettings(location, (user, password) if password is not None else None,
                              environ.get("NEO4J_DATABASE") or None)


def _server_version(agent: str) -> tuple[int, int] | None:
    found = re.search(r"Neo4j/(\d+)\.(\d+)", agent)
    return (int(found[1]), int(found[2])) if found else None


def open_neo4j_store(uri: str, environ: Mapping[str, str] | None = None) -> Neo4jGraphStore:
    """Connect, check the server, set the schema up; any failure is a ``StoreUnavailable`` that says why."""
    settings = connection_settings(uri, os.environ if environ is None else environ)
    try:
        driver = neo4j.GraphDatabase.driver(settings.uri, auth=settings.auth, connection_timeout=10.0)
    except (DriverError, ValueError) as exc:  # a routing query on bolt://, a bad TLS option
        raise StoreUnavailable(f"cannot use the Neo4j URI {settings.uri}: {exc}") from None
    try:
        driver.verify_connectivity()  # the driver connects lazily: fail here, not in the first query
        version = _server_version(driver.get_server_info().agent)
        if version is not None and version < MINIMUM_SERVER:
            raise StoreUnavailable(f"Neo4j at {settings.uri} is {version[0]}.{version[1]}; lineage-service needs "
                                   f"{MINIMUM_SERVER[0]}.{MINIMUM_SERVER[1]} or later (5.26 LTS recommended)")
        return Neo4jGraphStore(driver, settings.database, uri=settings.uri, owns_driver=True)
    except BaseException as exc:
        driver.close()
        if isinstance(exc, AuthError):
            raise StoreUnavailable(f"Neo4j at {settings.uri} refused the credentials of user "
                                   f"{settings.auth[0] if settings.auth else '(none)'}: set NEO4J_USERNAME and "
                                   f"NEO4J_PASSWORD") from None
        if isinstance(exc, ServiceUnavailable):
            reason = str(exc).strip().replace("\n", " ")
            raise StoreUnavailable(f"cannot connect to Neo4j at {settings.uri}: {reason}") from None
        if isinstance(exc, Neo4jError | DriverError):
            raise StoreUnavailable(f"Neo4j at {settings.uri}: {exc}") from None
        if isinstance(exc, NewerStoreSchema):
            raise StoreUnavailable(str(exc)) from None
        raise
