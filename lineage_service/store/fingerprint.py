"""A canonical fingerprint of a store: counts, SHA-256 hashes and an integrity check.

Two stores hold the same graph when their fingerprints' hashes are equal, whatever backend each
uses (``lineage store check --compare``, the replay and crash-safety tests). Everything is read
through ``GraphStore`` export pages, so SQLite and Neo4j are hashed alike.

What is hashed, one line of sorted-key JSON per row, in the export order (ids are the same in
every store, so the order is too):

- ``graph_sha256``: nodes (id, kind, key, label, props, aliases, sources, first/last seen) and
  edges (source, kind, target, evidence, props, sources, first/last seen, validity). Aliases and
  sources are sorted: they are sets, and the order they accumulated in depends on which report
  was applied first, which a replay or a concurrent delivery may change without changing a fact.
- ``facts_sha256``: the same without first/last seen, for the same facts read at another time
  (a collector run interrupted and re-run, compared with an uninterrupted run: each event carries
  the time it was collected).
- ``events_sha256``: the log in its order, each event's id, source, time, payload and status.
  Not ``received_at`` (a replay or a copy receives at another time) nor the error text (a retry
  may word it differently).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from lineage_service.store.base import Edge, GraphStore, Node, StoredEvent

PAGE = 5_000


@dataclass(frozen=True)
class Fingerprint:
    store: str
    nodes: dict[str, int]
    edges: dict[str, int]
    events: dict[str, int]
    graph_sha256: str
    facts_sha256: str
    events_sha256: str
    # "ok", the problems the backend found, or None where it has no check of its own (Neo4j).
    integrity: list[str] | None

    @property
    def intact(self) -> bool:
        return self.integrity is None or self.integrity == ["ok"]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def differences(self, other: Fingerprint) -> list[str]:
        """What differs from ``other``, one line each; empty when both hold the same graph and log."""
        return [f"{name}: {getattr(self, name)} here, {getattr(other, name)} there"
                for name in ("nodes", "edges", "events", "graph_sha256", "facts_sha256", "events_sha256")
                if getattr(self, name) != getattr(other, name)]


def _time(moment: datetime | None) -> str | None:
    # Fixed width UTC, microseconds: Neo4j returns nanosecond DateTimes cut to microseconds by the driver.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if moment else None


def _line(row: dict[str, Any]) -> bytes:
    return orjson.dumps(row, option=orjson.OPT_SORT_KEYS) + b"\n"


def node_row(node: Node, *, times: bool = True) -> dict[str, Any]:
    row: dict[str, Any] = {"id": node.id, "kind": node.kind, "key": node.key, "label": node.label, "props": node.props,
           "aliases": sorted(node.aliases), "sources": sorted(node.sources)}
    if times:
        row |= {"first_seen": _time(node.first_seen), "last_seen": _time(node.last_seen)}
    return row


def edge_row(edge: Edge, *, times: bool = True) -> dict[str, Any]:
    row: dict[str, Any] = {"source": edge.source, "kind": edge.kind, "target": edge.target, "evidence": edge.evidence,
           "props": edge.props, "sources": sorted(edge.sources), "valid_from": _time(edge.valid_from),
           "valid_to": _time(edge.valid_to)}
    if times:
        row |= {"first_seen": _time(edge.first_seen), "last_seen": _time(edge.last_seen)}
    return row


def event_row(event: StoredEvent) -> dict[str, Any]:
    return {"id": event.id, "source": event.source, "time": _time(event.time), "payload": event.payload,
            "status": event.status}


def all_nodes(store: GraphStore, page: int = PAGE) -> Iterator[Node]:
    after: str | None = None
    while batch := store.export_nodes(after, page):
        yield from batch
        after = batch[-1].id


def all_edges(store: GraphStore, page: int = PAGE) -> Iterator[Edge]:
    after: tuple[str, str, str] | None = None
    while batch := store.export_edges(after, page):
        yield from batch
        last = batch[-1]
        after = (last.source, last.kind, last.target)


def all_events(store: GraphStore, page: int = PAGE, status: str | None = None) -> Iterator[StoredEvent]:
    after: str | None = None
    while batch := store.list_events(status=status, limit=page, after=after):
        yield from batch
        after = batch[-1].id


def fingerprint(store: GraphStore) -> Fingerprint:
    """Read the whole store once (in pages) and hash it; see the module docstring for what counts."""
    graph, facts, log = hashlib.sha256(), hashlib.sha256(), hashlib.sha256()
    # A marker between the sections, so that no node line can be read as an edge line.
    for section, rows in (("nodes", all_nodes(store)), ("edges", all_edges(store))):
        graph.update(f"#{section}\n".encode())
        facts.update(f"#{section}\n".encode())
        for row in rows:
            full = node_row(row) if isinstance(row, Node) else edge_row(row)
            bare = node_row(row, times=False) if isinstance(row, Node) else edge_row(row, times=False)
            graph.update(_line(full))
            facts.update(_line(bare))
    for event in all_events(store):
        log.update(_line(event_row(event)))
    stats = store.stats()
    return Fingerprint(store.uri, dict(stats["nodes"]), dict(stats["edges"]), dict(stats["events"]),
                       graph.hexdigest(), facts.hexdigest(), log.hexdigest(), store.integrity_check())
