"""A node's links in one direction, page by page, newest first (``lineage neighbours``).

The answer is ``{node, direction, edge_kind, total, links, next}``: ``links`` as in ``lineage show``
(each edge with the node at its other end), ``next`` the token of the following page or null.
"""

from __future__ import annotations

from datetime import datetime

from lineage_service.query.cursors import PageRequest, check_page_size, encode
from lineage_service.query.trace import Json, edge_json, node_json
from lineage_service.store.base import Direction, GraphStore, Node

DEFAULT_PAGE = 100


def page(store: GraphStore, node: Node, request: PageRequest, limit: int = DEFAULT_PAGE,
         at: datetime | None = None) -> Json:
    """One page of ``node``'s links, newest first, with the total and the token of the next page.
    ``at`` (or else the request's own, from a cursor) limits them to the links valid then."""
    at = at if at is not None else request.at
    found = store.neighbour_page(node.id, request.direction, edge_kind=request.edge_kind, after=request.after,
                                 skip=request.skip, limit=check_page_size(limit), at=at)
    upstream = request.direction is Direction.UPSTREAM
    others = {n.id: n for n in store.get_nodes({e.target if upstream else e.source for e in found.edges})}
    links = []
    for edge in found.edges:
        other = others.get(edge.target if upstream else edge.source)
        links.append({**edge_json(edge), "node": node_json(other) if other else None})
    following = (encode(PageRequest(node.id, request.direction, request.edge_kind, found.next, at=at))
                 if found.next else None)
    return {"node": node_json(node), "direction": request.direction.value, "edge_kind": request.edge_kind,
            "total": found.total, "links": links, "next": following}
