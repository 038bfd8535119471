"""The questions people ask, from a kind and a reference to a JSON answer.

Shared by the CLI and the HTTP API so that both give the same answer to the same question;
errors are the reference errors of ``references`` and ``InvalidValue`` for malformed input.
"""

from __future__ import annotations

from datetime import UTC, datetime

from graph_schema.canonical import InvalidValue
from graph_schema.kinds import parse_kind
from lineage_service.query.cursors import (
    DEFAULT_FANOUT,
    PageRequest,
    decode,
    parse_direction,
    parse_edge_kind_filter,
)
from lineage_service.query.neighbours import DEFAULT_PAGE, page
from lineage_service.query.references import NotFound, resolve
from lineage_service.query.timeline import resolve_at
from lineage_service.query.trace import DEFAULT_DEPTH, DEFAULT_LIMIT, Json, neighbourhood, node_json, trace
from lineage_service.store.base import Direction, GraphStore

MAX_DEPTH = 50


def parse_moment(text: str) -> datetime:
    """An ISO 8601 time; without a zone it is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidValue(f"{text!r} is not a time; expected ISO 8601 like 2026-11-11T14:05:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _moment_text(moment: datetime | None) -> str:
    return moment.isoformat().replace("+00:00", "Z") if moment else "now (all links, no --at)"


def lineage(store: GraphStore, direction: Direction, kind: str, reference: str, *, depth: int = DEFAULT_DEPTH,
            at: datetime | None = None, limit: int = DEFAULT_LIMIT, fanout: int = DEFAULT_FANOUT) -> Json:
    """Trace (upstream) or impact (downstream) of the node a reference names."""
    if not 1 <= depth <= MAX_DEPTH:
        raise InvalidValue(f"depth {depth}: expected 1 to {MAX_DEPTH}")
    # The fanout is checked by ``trace`` (a direct caller needs that check too), so not here.
    # As of a time, `prod/taxi-api` is the revision active then and a tag the digest it named then.
    resolved = resolve_at(store, kind, reference, at) if at else resolve(store, kind, reference)
    return trace(store, resolved.node, direction, depth=depth, at=at, limit=limit,
                 notes=[resolved.note] if resolved.note else [], fanout=fanout)


def show(store: GraphStore, kind: str, reference: str) -> Json:
    """One node with its direct links in both directions."""
    resolved = resolve(store, kind, reference)
    answer = neighbourhood(store, resolved.node)
    answer["notes"] = [resolved.note] if resolved.note else []
    return answer


def neighbours(store: GraphStore, kind: str | None, reference: str | None, *, direction: str | None = None,
               edge_kind: str | None = None, after: str | None = None, limit: int = DEFAULT_PAGE,
               at: datetime | None = None) -> Json:
    """A page of a node's links in one direction: the node by reference, or the cursor ``after``
    alone (it names the node, direction and edge kind it was given out for)."""
    # The page size is checked by ``page`` (a direct caller needs that check too), so not here.
    if after:
        request = decode(after)
        if direction is not None and parse_direction(direction) is not request.direction:
            raise InvalidValue(f"the cursor pages {request.direction.value} links, not {direction}: "
                               f"leave --direction out when giving a cursor")
        if edge_kind is not None and parse_edge_kind_filter(edge_kind) != request.edge_kind:
            raise InvalidValue(f"the cursor pages {request.edge_kind or 'all'} links, not {edge_kind}: "
                               f"leave the edge kind out when giving a cursor")
        if at is not None and request.at != at:
            # The cursor's position (its skip) counts among the links valid at its own time.
            raise InvalidValue(f"the cursor pages links as of {_moment_text(request.at)}, not as of "
                               f"{_moment_text(at)}: leave --at (the `at` parameter) out when giving a cursor")
        found = store.get_nodes([request.node])
        if not found:
            raise NotFound(f"the node of this cursor ({request.node}) is not in the store")
        node = found[0]
        if kind is not None and reference is not None and resolve(store, kind, reference).node.id != node.id:
            raise InvalidValue(f"the cursor belongs to {node.kind} {node.label}, not to {kind} {reference}")
        return {**page(store, node, request, limit, request.at), "notes": []}
    if kind is None or reference is None:
        raise InvalidValue("name the node (kind and reference) or give a cursor (after) from an earlier answer")
    resolved = resolve(store, kind, reference)
    request = PageRequest(resolved.node.id, parse_direction(direction or "downstream"),
                          parse_edge_kind_filter(edge_kind), None)
    answer = page(store, resolved.node, request, limit, at)
    answer["notes"] = [resolved.note] if resolved.note else []
    return answer


def search(store: GraphStore, text: str, kind: str | None = None, limit: int = 20) -> Json:
    kind_value = parse_kind(kind).value if kind else None
    found = store.find_nodes(kind_value, text=text.strip(), limit=limit)
    return {"query": text, "results": [node_json(node) for node in found]}
