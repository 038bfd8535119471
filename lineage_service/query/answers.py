"""The questions people ask, from a kind and a reference to a JSON answer.

Shared by the CLI and the HTTP API so that both give the same answer to the same question;
errors are the reference errors of ``references`` and ``InvalidValue`` for malformed input.
"""

from __future__ import annotations

from datetime import UTC, datetime

from graph_schema.canonical import InvalidValue
from graph_schema.kinds import parse_kind
from lineage_service.query.references import resolve
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


def lineage(store: GraphStore, direction: Direction, kind: str, reference: str, *, depth: int = DEFAULT_DEPTH,
            at: datetime | None = None, limit: int = DEFAULT_LIMIT) -> Json:
    """Trace (upstream) or impact (downstream) of the node a reference names."""
    if not 1 <= depth <= MAX_DEPTH:
        raise InvalidValue(f"depth {depth}: expected 1 to {MAX_DEPTH}")
    # As of a time, `prod/taxi-api` is the revision active then and a tag the digest it named then.
    resolved = resolve_at(store, kind, reference, at) if at else resolve(store, kind, reference)
    return trace(store, resolved.node, direction, depth=depth, at=at, limit=limit,
                 notes=[resolved.note] if resolved.note else [])


def show(store: GraphStore, kind: str, reference: str) -> Json:
    """One node with its direct links in both directions."""
    resolved = resolve(store, kind, reference)
    answer = neighbourhood(store, resolved.node)
    answer["notes"] = [resolved.note] if resolved.note else []
    return answer


def search(store: GraphStore, text: str, kind: str | None = None, limit: int = 20) -> Json:
    kind_value = parse_kind(kind).value if kind else None
    found = store.find_nodes(kind_value, text=text.strip(), limit=limit)
    return {"query": text, "results": [node_json(node) for node in found]}
