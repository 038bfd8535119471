"""Facts: canonical nodes and edges, ready for a store.

Plain dataclasses, no validation library: events (``graph_schema.events``) validate input and
turn it into facts; collectors may build facts directly with ``node_fact``/``edge_fact``, which
apply the same canonical forms. Stores only ever see facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from graph_schema import canonical
from graph_schema.edges import EdgeKind, Evidence, check_edge
from graph_schema.kinds import NodeKind, canonical_key, label, lookup_value, node_id, parse_kind


@dataclass(frozen=True)
class NodeFact:
    """A node; build it with ``node_fact``, which derives the id, label and lookup from the key."""

    id: str
    kind: NodeKind
    key: dict[str, str]
    label: str
    lookup: str
    props: dict[str, Any] = field(default_factory=dict)
    # Other names people use for this node, e.g. every image reference that pointed at a digest.
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class EdgeFact:
    source: str
    target: str
    kind: EdgeKind
    evidence: Evidence = Evidence.DECLARED
    props: dict[str, Any] = field(default_factory=dict)
    # When the link held, where it can change (a tag moving, a deployment switching images).
    valid_from: datetime | None = None
    valid_to: datetime | None = None


def canonical_aliases(kind: NodeKind, aliases: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Aliases in canonical form; image aliases are normalised image references."""
    if kind is NodeKind.IMAGE:
        return tuple(dict.fromkeys(str(canonical.image_reference(alias)) for alias in aliases))
    return tuple(dict.fromkeys(alias.strip() for alias in aliases if alias.strip()))


def node_fact(kind: NodeKind | str, key: Mapping[str, object], props: Mapping[str, Any] | None = None,
              aliases: list[str] | tuple[str, ...] = ()) -> NodeFact:
    node_kind = parse_kind(kind) if isinstance(kind, str) else kind
    return node_fact_from_canonical(node_kind, canonical_key(node_kind, key), props, aliases)


def node_fact_from_canonical(kind: NodeKind, canon: dict[str, str], props: Mapping[str, Any] | None = None,
                             aliases: list[str] | tuple[str, ...] = (), known_id: str | None = None) -> NodeFact:
    """A node from a key already in canonical form (``canonical_key``'s output), e.g. a validated event's.

    Skips canonicalising the key again, which ingest pays for on every node; ``known_id`` skips
    hashing it too when the caller has ``node_id(kind, canon)`` already.
    """
    return NodeFact(known_id or node_id(kind, canon), kind, canon, label(kind, canon), lookup_value(kind, canon),
                    dict(props or {}), canonical_aliases(kind, aliases))


def edge_fact(source: NodeFact, target: NodeFact, kind: EdgeKind | str | None = None,
              evidence: Evidence = Evidence.DECLARED, props: Mapping[str, Any] | None = None,
              valid_from: datetime | None = None, valid_to: datetime | None = None) -> EdgeFact:
    edge_kind = check_edge(EdgeKind(kind) if kind else None, source.kind, target.kind)
    return EdgeFact(source.id, target.id, edge_kind, evidence, dict(props or {}), valid_from, valid_to)
