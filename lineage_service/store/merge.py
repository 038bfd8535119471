"""How reported facts merge into what a store holds, as plain Python.

The SQLite backend computes these rules inside its upsert statements (``json_patch`` in SQL). A
backend without JSON functions (Neo4j: properties cannot be nested maps, and APOC is not assumed)
reads the stored state inside its write transaction, merges here and writes the result back. The
rules, per report of a node or edge seen at ``seen`` from ``source``:

- properties merge as a JSON merge patch (RFC 7396): a report at least as new as the stored
  ``last_seen`` wins and its nulls delete; an older report only fills in what is missing;
- first/last seen widen, sources accumulate in the order first reported, evidence keeps the
  strongest, ``valid_from`` keeps the earliest given, ``valid_to`` takes the latest report's if any;
- an edge must point at nodes stored before the call or reported by this or an earlier batch of
  the call, else ``MissingNode`` and nothing of the call is kept.

``tests/test_merge_semantics.py`` checks this module against the SQLite backend on random reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graph_schema.edges import Evidence
from graph_schema.facts import EdgeFact, NodeFact
from lineage_service.store.base import Batch, MissingNode

# (source node id, edge kind, target node id): at most one edge of a kind between two nodes.
EdgeKey = tuple[str, str, str]


@dataclass(frozen=True)
class NodeState:
    kind: str
    key: dict[str, str]
    lookup: str
    label: str
    props: dict[str, Any]
    sources: tuple[str, ...]
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class EdgeState:
    evidence: Evidence
    props: dict[str, Any]
    sources: tuple[str, ...]
    first_seen: datetime
    last_seen: datetime
    valid_from: datetime | None = None
    valid_to: datetime | None = None


@dataclass
class ApplyPlan:
    """The final state of everything one ``apply`` call touches, to be written in its transaction."""

    nodes: dict[str, NodeState] = field(default_factory=dict)
    aliases: dict[tuple[str, str], None] = field(default_factory=dict)  # (node id, alias), ordered set
    edges: dict[EdgeKey, EdgeState] = field(default_factory=dict)
    event_ids: list[str] = field(default_factory=list)


def utc(moment: datetime) -> datetime:
    """UTC, as the SQLite backend stores times (a naive time is taken as local, like ``astimezone``)."""
    return moment.astimezone(UTC)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: ``patch`` applied to ``target``; a null in an object patch deletes the member."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result


def merge_props(stored: Mapping[str, Any] | None, reported: Mapping[str, Any], newer: bool) -> dict[str, Any]:
    if stored is None:  # a first report: store it without its nulls
        return merge_patch({}, dict(reported))  # type: ignore[no-any-return]
    if newer:
        return merge_patch(dict(stored), dict(reported))  # type: ignore[no-any-return]
    # An older report only fills gaps: the stored values patched over it, then its leftover nulls dropped.
    return merge_patch({}, merge_patch(dict(reported), dict(stored)))  # type: ignore[no-any-return]


def _sources(stored: tuple[str, ...], source: str) -> tuple[str, ...]:
    return stored if source in stored else (*stored, source)


def merge_node(stored: NodeState | None, fact: NodeFact, seen: datetime, source: str) -> NodeState:
    seen = utc(seen)
    if stored is None:
        return NodeState(fact.kind.value, dict(fact.key), fact.lookup, fact.label, merge_props(None, fact.props, True),
                         (source,), seen, seen)
    return NodeState(stored.kind, stored.key, stored.lookup, stored.label,
                     merge_props(stored.props, fact.props, seen >= stored.last_seen),
                     _sources(stored.sources, source), min(stored.first_seen, seen), max(stored.last_seen, seen))


def merge_edge(stored: EdgeState | None, fact: EdgeFact, seen: datetime, source: str) -> EdgeState:
    seen = utc(seen)
    valid_from = utc(fact.valid_from) if fact.valid_from else None
    valid_to = utc(fact.valid_to) if fact.valid_to else None
    if stored is None:
        return EdgeState(fact.evidence, merge_props(None, fact.props, True), (source,), seen, seen,
                         valid_from, valid_to)
    if stored.valid_from and valid_from:
        valid_from = min(stored.valid_from, valid_from)
    return EdgeState(max(stored.evidence, fact.evidence),
                     merge_props(stored.props, fact.props, seen >= stored.last_seen),
                     _sources(stored.sources, source), min(stored.first_seen, seen), max(stored.last_seen, seen),
                     valid_from or stored.valid_from, valid_to or stored.valid_to)


def plan_apply(batches: Sequence[Batch], stored_nodes: Mapping[str, NodeState],
               stored_edges: Mapping[EdgeKey, EdgeState]) -> ApplyPlan:
    """Merge every batch, in order, into the stored state of the nodes and edges they touch.

    ``stored_nodes`` must hold every stored node the batches name, as nodes or as edge endpoints;
    ``stored_edges`` every stored edge they report. Raises ``MissingNode`` like the SQLite backend:
    an edge may point at a node stored earlier or reported in this batch or an earlier one.
    """
    plan = ApplyPlan()
    for batch in batches:
        for fact in batch.nodes:
            plan.nodes[fact.id] = merge_node(plan.nodes.get(fact.id) or stored_nodes.get(fact.id), fact,
                                             batch.seen_at, batch.source)
            for alias in fact.aliases:
                plan.aliases[(fact.id, alias)] = None
        missing = sorted({end for edge in batch.edges for end in (edge.source, edge.target)
                          if end not in plan.nodes and end not in stored_nodes})
        if missing:
            raise MissingNode(f"edges point at nodes that are not stored: {', '.join(missing[:5])}")
        for edge in batch.edges:
            key = (edge.source, edge.kind.value, edge.target)
            plan.edges[key] = merge_edge(plan.edges.get(key) or stored_edges.get(key), edge, batch.seen_at,
                                         batch.source)
        plan.event_ids.extend(batch.event_ids)
    return plan
