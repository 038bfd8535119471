"""Cursors over a node's links, and the "more" markers of a walk capped per node (issue 9).

A trace or impact through a wide node (a dataset consumed by 100,000 jobs) follows only the
first ``fanout`` links of each kind from any node and says, per capped node and kind, how many
exist and where to continue: a cursor. A cursor is an opaque token that carries the node, the
direction, the edge kind, the position and the time of an as-of answer, so ``lineage neighbours --after TOKEN`` (or
``GET /v1/neighbours?after=TOKEN``) alone fetches the next page; each page hands out the next one.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from graph_schema.canonical import InvalidValue
from graph_schema.edges import parse_edge_kind
from lineage_service.store.base import Direction, MoreLinks, NeighbourCursor, Node

Json = dict[str, Any]

# Links of one kind followed from any node. 100: a wide node shows its newest hundred (a readable
# tree, a small answer), while the nodes of a normal MLOps graph have far fewer links of one kind
# (a model a few versions, a job a handful of datasets), so their answers do not change.
DEFAULT_FANOUT = 100
MAX_FANOUT = 10_000
MAX_PAGE = 10_000
_TOKEN_VERSION = 1


@dataclass(frozen=True)
class PageRequest:
    """Which links to page: a node, a direction, optionally one edge kind, and where to start:
    after a position, and past ``skip`` more links (the ones a capped walk followed). ``at`` is the
    time of an as-of answer: its links are the ones valid then, so ``skip`` counts among those."""

    node: str
    direction: Direction
    edge_kind: str | None
    after: NeighbourCursor | None
    skip: int = 0
    at: datetime | None = None


def check_fanout(fanout: int) -> int:
    if isinstance(fanout, bool) or not isinstance(fanout, int) or not 1 <= fanout <= MAX_FANOUT:
        raise InvalidValue(f"fanout {fanout!r}: expected a whole number from 1 to {MAX_FANOUT} "
                           f"(links of one kind followed from any node; default {DEFAULT_FANOUT})")
    return fanout


def check_page_size(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidValue(f"limit {limit!r}: expected a whole number from 1 to {MAX_PAGE} links per page")
    return limit


def parse_direction(text: str) -> Direction:
    try:
        return Direction(text.strip().lower())
    except ValueError:
        raise InvalidValue(f"direction {text!r}: expected upstream (what it was made from) or downstream "
                           f"(what was made from it)") from None


def parse_edge_kind_filter(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    try:
        return parse_edge_kind(text).value
    except (ValueError, InvalidValue):
        raise InvalidValue(f"edge kind {text!r} is not an edge kind of the lineage graph, e.g. consumed, "
                           f"authored_by, built_from") from None


def encode(request: PageRequest) -> str:
    """The URL-safe token for a position: what to page and where to continue."""
    payload: dict[str, Any] = {"v": _TOKEN_VERSION, "n": request.node, "d": request.direction.value,
                               "e": request.edge_kind, "s": request.skip}
    if request.after is not None:
        payload.update(t=request.after.first_seen.isoformat(), k=request.after.kind, o=request.after.node)
    if request.at is not None:
        # Without it, paging an as-of answer would skip among all links, not the ones valid then.
        payload["a"] = request.at.isoformat()
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


def decode(token: str) -> PageRequest:
    """A token from ``encode``; anything else is an ``InvalidValue`` that says where tokens come from."""
    problem = InvalidValue(f"cursor {token[:40]!r} is not one lineage gave out: pass the `next` of a neighbours "
                           f"answer or the `after` of a trace's `more` entry, unchanged")
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(token.strip() + "=" * (-len(token.strip()) % 4)))
        if not isinstance(payload, dict) or payload.get("v") != _TOKEN_VERSION:
            raise problem
        skip, edge_kind = payload["s"], payload["e"]
        if not isinstance(payload["n"], str) or not payload["n"] or isinstance(skip, bool) or \
                not isinstance(skip, int) or not 0 <= skip <= MAX_FANOUT or \
                (edge_kind is not None and not isinstance(edge_kind, str)):
            raise problem
        after = None
        if "t" in payload:
            first_seen = datetime.fromisoformat(payload["t"])
            if first_seen.tzinfo is None or not all(isinstance(payload[f], str) and payload[f] for f in "ko"):
                raise problem
            after = NeighbourCursor(first_seen, parse_edge_kind_filter(payload["k"]) or "", payload["o"])
        at = None
        if "a" in payload:
            at = datetime.fromisoformat(payload["a"])
            if at.tzinfo is None:
                raise problem
        return PageRequest(payload["n"], Direction(payload["d"]), parse_edge_kind_filter(edge_kind), after, skip, at)
    except (ValueError, KeyError, TypeError, binascii.Error, orjson.JSONDecodeError, InvalidValue):
        raise problem from None


def more_json(more: MoreLinks, node: Node | None, at: datetime | None = None) -> Json:
    """One capped node and kind in a trace answer: how many links, how many shown, how to see the rest.
    ``at`` is the answer's as-of time: the cursor keeps it, so the rest are the links valid then."""
    token = encode(PageRequest(more.node, more.direction, more.kind, None, skip=more.shown, at=at))
    return {"node": more.node, "kind": node.kind if node else None, "label": node.label if node else None,
            "direction": more.direction.value, "edge_kind": more.kind, "shown": more.shown, "total": more.total,
            "after": token, "see": f"lineage neighbours --after {token}"}


def more_warning(entry: Json) -> str:
    who = f"{entry['kind']} {entry['label']}" if entry["label"] else entry["node"]
    return (f"{who} has {entry['total']:,} {entry['edge_kind']} links {entry['direction']}; the walk followed the "
            f"newest {entry['shown']}: page through the rest with `{entry['see']}`")
