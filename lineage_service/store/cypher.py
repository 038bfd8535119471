"""Every Cypher statement the Neo4j store sends, from small pure functions and constants.

Values always travel as parameters. The only text that varies comes from closed sets: node labels
and relationship types from the whitelists below (derived from ``graph_schema``, checked to be
plain identifiers), the walk direction, and the walk depth as a validated integer, because Cypher
has no parameter for a quantifier bound. ``all_statements()`` lists every variant, so that
``make test`` checks each with Neo4j's own parser and semantic analysis (tests/test_cypher_lint.py).

The graph: one ``:Node`` label with a unique ``id`` on every lineage node, plus one label per kind
(``:Api``, ``:Image``…); key fields as ``key_<field>`` properties (``id`` is taken by the node id);
``props`` as a JSON string; relationship types are the edge kinds in upper case. Aliases are
``(:Alias {name})-[:ALIAS_OF]->(:Node)`` so that a lookup by alias is an index seek (Neo4j does not
index list elements). The event log is ``:Event`` nodes numbered by the ``:Counter`` named
``event_seq``; ``:Meta`` holds the store schema version and collector cursors.
"""

from __future__ import annotations

import re
from itertools import product
from typing import Final

from graph_schema.edges import EdgeKind
from graph_schema.kinds import SPECS, NodeKind

_IDENTIFIER = re.compile(r"[A-Z][A-Za-z0-9]*")
_REL_TYPE = re.compile(r"[A-Z][A-Z0-9_]*")
_PROPERTY = re.compile(r"[a-z][a-z0-9_]*")

INTERNAL_LABELS: Final = ("Node", "Alias", "Event", "Counter", "Meta")
ALIAS_OF: Final = "ALIAS_OF"


def _label_for(kind: NodeKind) -> str:
    label = "".join(part.capitalize() for part in re.split(r"[^a-z0-9]+", kind.value))
    if not _IDENTIFIER.fullmatch(label) or label in INTERNAL_LABELS:
        raise AssertionError(f"node kind {kind.value!r} gives the label {label!r}, not a plain unused identifier")
    return label


def _type_for(kind: EdgeKind) -> str:
    rel_type = kind.value.upper()
    if not _REL_TYPE.fullmatch(rel_type) or rel_type == ALIAS_OF:
        raise AssertionError(f"edge kind {kind.value!r} gives the type {rel_type!r}, not a plain unused identifier")
    return rel_type


# The whitelists: the only labels and relationship types a statement can name.
LABELS: Final[dict[str, str]] = {kind.value: _label_for(kind) for kind in NodeKind}
REL_TYPES: Final[dict[str, str]] = {kind.value: _type_for(kind) for kind in EdgeKind}
EDGE_KINDS_BY_TYPE: Final[dict[str, str]] = {rel_type: kind for kind, rel_type in REL_TYPES.items()}
KEY_FIELDS: Final[dict[str, tuple[str, ...]]] = {kind.value: SPECS[kind].key_fields for kind in NodeKind}
assert all(_PROPERTY.fullmatch(f) for fields in KEY_FIELDS.values() for f in fields)

_ANY_EDGE: Final = "|".join(REL_TYPES.values())
MAX_WALK_DEPTH: Final = 1_000  # far above the query layer's 50; any larger int is refused, never formatted
EVENT_SEQ: Final = "event_seq"

# Every parameter name a statement may use; tests check each call binds exactly what it uses.
PARAMETERS: Final = frozenset({"ids", "keys", "rows", "id", "name", "value", "error", "status", "after", "limit",
                               "start", "skip", "at", "alias", "lookup", "prefix", "text",
                               "depth", "fanout", "type", "offset", "source"})


class UnknownName(ValueError):
    """A node kind or edge kind that is not in the graph schema: it can never reach a statement."""


def label_of(kind: str) -> str:
    try:
        return LABELS[kind]
    except KeyError:
        raise UnknownName(f"unknown node kind {kind!r}") from None


def rel_type_of(kind: str) -> str:
    try:
        return REL_TYPES[kind]
    except KeyError:
        raise UnknownName(f"unknown edge kind {kind!r}") from None


def key_property(field: str) -> str:
    return f"key_{field}"


# Schema -----------------------------------------------------------------------------------------

def schema_statements() -> list[str]:
    """Idempotent constraints and indexes: every key is unique, every lookup an index seek."""
    statements = [
        "CREATE CONSTRAINT node_id IF NOT EXISTS FOR (n:Node) REQUIRE n.id IS UNIQUE",
        "CREATE INDEX node_lookup IF NOT EXISTS FOR (n:Node) ON (n.lookup)",
        "CREATE CONSTRAINT alias_name IF NOT EXISTS FOR (a:Alias) REQUIRE a.name IS UNIQUE",
        "CREATE CONSTRAINT event_id IF NOT EXISTS FOR (e:Event) REQUIRE e.id IS UNIQUE",
        # Unique, so that a bug in seq allocation fails loudly instead of reordering the log.
        "CREATE CONSTRAINT event_seq IF NOT EXISTS FOR (e:Event) REQUIRE e.seq IS UNIQUE",
        "CREATE INDEX event_status IF NOT EXISTS FOR (e:Event) ON (e.status)",
        "CREATE CONSTRAINT counter_name IF NOT EXISTS FOR (c:Counter) REQUIRE c.name IS UNIQUE",
        "CREATE CONSTRAINT meta_name IF NOT EXISTS FOR (m:Meta) REQUIRE m.name IS UNIQUE",
    ]
    for kind, label in LABELS.items():
        fields = ", ".join(f"n.{key_property(f)}" for f in KEY_FIELDS[kind])
        required = fields if len(KEY_FIELDS[kind]) == 1 else f"({fields})"
        statements.append(f"CREATE CONSTRAINT {kind}_key IF NOT EXISTS FOR (n:{label}) REQUIRE {required} IS UNIQUE")
        statements.append(f"CREATE INDEX {kind}_lookup IF NOT EXISTS FOR (n:{label}) ON (n.lookup)")
    return statements


SCHEMA_VERSION = "MERGE (m:Meta {name: $name}) ON CREATE SET m.value = $value RETURN m.value AS value"
GET_META = "MATCH (m:Meta {name: $name}) RETURN m.value AS value"
SET_META = "MERGE (m:Meta {name: $name}) SET m.value = $value"
LIST_META = "MATCH (m:Meta) WHERE m.name STARTS WITH $prefix RETURN m.name AS name, m.value AS value ORDER BY name"
CLEAR = "MATCH (n) DETACH DELETE n"

# Applying batches (one write transaction) ---------------------------------------------------------

# MERGE takes the unique-constraint lock for a node that does not exist yet and SET the write lock
# on one that does, so concurrent writers touching the same nodes (and hence the edges between
# them) serialize here, before anything is read; ids come sorted to make deadlocks rare (the driver
# retries those). A node that this returns without a kind did not exist: it is either created by
# this call or, as a mere edge endpoint, a MissingNode that rolls the transaction back.
LOCK_NODES = """UNWIND $ids AS id
MERGE (n:Node {id: id})
SET n._lock = true
RETURN n {.*} AS node"""

READ_EDGES = f"""UNWIND $keys AS key
MATCH (s:Node {{id: key.source}})-[r:{_ANY_EDGE}]->(t:Node {{id: key.target}})
WHERE type(r) = key.type
RETURN key.source AS source, key.type AS type, key.target AS target, properties(r) AS fields"""


def write_nodes(kind: str) -> str:
    return f"""UNWIND $rows AS row
MATCH (n:Node {{id: row.id}})
SET n:{label_of(kind)}, n += row.fields"""


WRITE_ALIASES = f"""UNWIND $rows AS row
MATCH (n:Node {{id: row.id}})
MERGE (a:Alias {{name: row.alias}})
MERGE (a)-[:{ALIAS_OF}]->(n)"""


def write_edges(kind: str) -> str:
    # row.fields holds nulls for unset validity, and `+=` removes a property set to null.
    return f"""UNWIND $rows AS row
MATCH (s:Node {{id: row.source}})
MATCH (t:Node {{id: row.target}})
MERGE (s)-[r:{rel_type_of(kind)}]->(t)
SET r += row.fields"""


UNLOCK_NODES = """UNWIND $ids AS id
MATCH (n:Node {id: id})
REMOVE n._lock"""

MARK_APPLIED = """UNWIND $ids AS id
MATCH (e:Event {id: id})
SET e.status = 'applied', e.error = null"""

# The event log -----------------------------------------------------------------------------------

# Writers append under the counter's write lock (taken by SET, held to commit), so seq numbers are
# allocated one transaction at a time, without gaps, in commit order.
LOCK_COUNTER = """MERGE (c:Counter {name: $name})
ON CREATE SET c.value = 0
SET c._lock = true
RETURN c.value AS value"""

EXISTING_EVENTS = """UNWIND $ids AS id
MATCH (e:Event {id: id})
RETURN e.id AS id"""

CREATE_EVENTS = """UNWIND $rows AS row
CREATE (e:Event)
SET e = row"""

SET_COUNTER = """MATCH (c:Counter {name: $name})
SET c.value = $value
REMOVE c._lock"""

MARK_FAILED = "MATCH (e:Event {id: $id}) SET e.status = 'failed', e.error = $error"

_EVENT_FIELDS = "e.id AS id, e.source AS source, e.time AS time, e.received_at AS received_at, " \
    "e.payload AS payload, e.status AS status, e.error AS error"

GET_EVENT = f"MATCH (e:Event {{id: $id}}) RETURN {_EVENT_FIELDS}"

LIST_EVENTS = f"""OPTIONAL MATCH (a:Event {{id: $after}})
WITH coalesce(a.seq, 0) AS after
MATCH (e:Event)
WHERE e.seq > after AND ($status IS NULL OR e.status = $status) AND ($source IS NULL OR e.source = $source)
RETURN {_EVENT_FIELDS}
ORDER BY e.seq
LIMIT $limit"""

# Reading -----------------------------------------------------------------------------------------

_NODE = f"n {{.*, aliases: [(a:Alias)-[:{ALIAS_OF}]->(n) | a.name]}}"

GET_NODES = f"""UNWIND $ids AS id
MATCH (n:Node {{id: id}})
RETURN {_NODE} AS node"""


FIND_ENTRIES: Final = ("alias", "lookup", "prefix", "scan")

_TEXT = ("toLower(n.label) CONTAINS toLower($text) OR toLower(n.lookup) CONTAINS toLower($text) OR "
         f"EXISTS {{ MATCH (t:Alias)-[:{ALIAS_OF}]->(n) WHERE toLower(t.name) CONTAINS toLower($text) }}")


def find_nodes(kind: str | None, entry: str) -> str:
    """Nodes of a kind (or any) by exact lookup, lookup prefix, alias and text, each optional.

    Every filter is a parameter that may be null; ``entry`` names the one that starts the match as
    an index seek (``alias``, ``lookup`` or ``prefix``, in that order of preference, or ``scan``),
    the others only filter what it found. The kind is a label, so that a lookup or ``STARTS WITH``
    seeks that label's lookup index. Text compares lower case, as SQLite's LIKE does for ASCII.
    """
    label = "Node" if kind is None else label_of(kind)
    if entry not in FIND_ENTRIES:
        raise UnknownName(f"unknown find entry {entry!r}")
    match = f"MATCH (n:{label})"
    if entry == "alias":
        match = f"MATCH (:Alias {{name: $alias}})-[:{ALIAS_OF}]->(n:{label})"
    lookup = "n.lookup = $lookup"
    prefix = "n.lookup STARTS WITH $prefix"
    where = [lookup if entry == "lookup" else f"($lookup IS NULL OR {lookup})",
             prefix if entry == "prefix" else f"($prefix IS NULL OR {prefix})",
             f"($text IS NULL OR {_TEXT})"]
    return f"""{match}
WHERE {' AND '.join(where)}
RETURN {_NODE} AS node
ORDER BY n.kind, n.lookup, n.label
LIMIT $limit"""


NEIGHBOURS = f"""MATCH (n:Node {{id: $id}})-[r:{_ANY_EDGE}]->(m:Node)
RETURN 'upstream' AS side, n.id AS source, type(r) AS type, m.id AS target, properties(r) AS fields
UNION ALL
MATCH (n:Node {{id: $id}})<-[r:{_ANY_EDGE}]-(m:Node)
RETURN 'downstream' AS side, m.id AS source, type(r) AS type, n.id AS target, properties(r) AS fields"""

# An edge is followed unless its kind is skipped, and with $at only while valid: from valid_from
# (or, without one, from when it was first reported) up to, not including, valid_to.
_FOLLOWED = """NOT type(r) IN $skip AND ($at IS NULL OR (coalesce(r.valid_from, r.first_seen) <= $at
    AND (r.valid_to IS NULL OR r.valid_to > $at)))"""

# The nearest $limit nodes, each with its shortest distance, the number of nodes reached (more
# than $limit: truncated), and per node the followed edges to other kept nodes.
_KEEP_NEAREST = f"""ORDER BY distance, n.id
WITH collect({{node: n, distance: distance}}) AS found
WITH size(found) AS walked, found[..$limit] AS kept
WITH walked, kept, [k IN kept | k.node] AS reached
UNWIND kept AS k
WITH walked, reached, k.node AS n, k.distance AS distance
RETURN {_NODE} AS node, distance, walked,
    [(n)-[r:{_ANY_EDGE}]->(m:Node) WHERE m IN reached AND {_FOLLOWED}
        | {{source: n.id, type: type(r), target: m.id, fields: properties(r)}}] AS edges"""


def walk(direction: str, depth: int) -> str:
    """One statement per walk: ``ANY SHORTEST`` over a quantified relationship, a BFS per start.

    A plain variable-length pattern enumerates every path (exponential in a graph of diamonds,
    which lineage is: a deployment reaches its model directly and through its image); a shortest
    path per reached node is all the answer needs, its length being the node's distance.
    ``direction`` is ``upstream`` or ``downstream``; ``depth`` an int from 0 to ``MAX_WALK_DEPTH``.
    """
    left, right = _arrows(direction)
    if isinstance(depth, bool) or not isinstance(depth, int) or not 0 <= depth <= MAX_WALK_DEPTH:
        raise ValueError(f"walk depth must be an int from 0 to {MAX_WALK_DEPTH}, got {depth!r}")
    if depth == 0:  # Cypher refuses a quantifier {0,0}
        return f"""UNWIND $start AS start_id
MATCH (n:Node {{id: start_id}})
WITH DISTINCT n, 0 AS distance
{_KEEP_NEAREST}"""
    return f"""UNWIND $start AS start_id
MATCH (s:Node {{id: start_id}})
MATCH p = ANY SHORTEST (s){left}-[r:{_ANY_EDGE} WHERE {_FOLLOWED}]-{right}{{0,{int(depth)}}}(n:Node)
WITH n, min(length(p)) AS distance
{_KEEP_NEAREST}"""


# Wide nodes (issue 9): from each node, at most $fanout links of each type, the first in neighbour
# order (newest first_seen first, then the node at the other end by id), so that an impact through
# a dataset consumed by 100,000 jobs stays bounded. Cypher has no per-node LIMIT inside a path
# pattern, so this walk is a breadth-first search by levels: reduce over range(1, $depth), each
# level's links from a COLLECT subquery that sorts and cuts per type. A level starts only while
# the nodes found are at most $limit, so the answer still tells a truncated walk.
# No index for this order (unlike SQLite's edges_by_target_newest): Neo4j expands a node's links from
# the node itself, by type on a dense node, and a relationship property index spans every link of a
# type in the graph, so it could not give one node's links newest first; it would only cost writes.
_CAPPED_LEVELS = """UNWIND $start AS start_id
MATCH (s:Node {{id: start_id}})
WITH collect(DISTINCT s) AS starts
WITH reduce(state = {{frontier: starts, seen: [x IN starts | x.id], found: [x IN starts | {{node: x, distance: 0}}]}},
            level IN range(1, $depth) |
    CASE WHEN size(state.found) > $limit THEN state ELSE
    reduce(next = {{frontier: [], seen: state.seen, found: state.found}},
           m IN reduce(links = [], f IN state.frontier | links + COLLECT {{
               MATCH (f){left}-[r:{types}]-{right}(y:Node)
               WHERE {followed}
               WITH type(r) AS rel_type, r, y ORDER BY r.first_seen DESC, y.id
               WITH rel_type, collect(y)[..$fanout] AS first
               UNWIND first AS y
               RETURN y
           }}) |
        CASE WHEN m.id IN next.seen THEN next
        ELSE {{frontier: next.frontier + [m], seen: next.seen + [m.id],
              found: next.found + [{{node: m, distance: level}}]}} END)
    END) AS state
UNWIND state.found AS found
WITH found.node AS n, found.distance AS distance
"""
# Per kept node that was expanded, the link types it has more of than $fanout: the "more" markers.
_CAPPED_MORE = """,
    CASE WHEN distance < $depth THEN COLLECT {{
        MATCH (n){left}-[r:{types}]-{right}(:Node)
        WHERE {followed}
        WITH type(r) AS rel_type, count(r) AS total
        WHERE total > $fanout
        RETURN {{type: rel_type, total: total}}
    }} ELSE [] END AS more"""


def _arrows(direction: str) -> tuple[str, str]:
    if direction not in ("upstream", "downstream"):
        raise UnknownName(f"unknown walk direction {direction!r}")
    return ("", ">") if direction == "upstream" else ("<", "")


def walk_capped(direction: str) -> str:
    """The walk with a per-node fan-out cap: one statement per direction, the depth a parameter."""
    left, right = _arrows(direction)
    names = {"left": left, "right": right, "types": _ANY_EDGE, "followed": _FOLLOWED}
    return _CAPPED_LEVELS.format(**names) + _KEEP_NEAREST + _CAPPED_MORE.format(**names)


# The count of a node's links, every page's total; inlined into the page statement below.
_NEIGHBOUR_TOTAL = """COUNT {{ (n){left}-[r:{types}]-{right}(:Node)
    WHERE ($type IS NULL OR type(r) = $type) AND {followed} }}"""

# One page of a node's links in neighbour order after $after ({first_seen, type, id}: the last link
# of the previous page, or null for the first page) and $offset more, with the count of all of
# them. The same order as the capped walk, so $offset = the links it followed continues after them.
# Each row carries the total; a page that SKIP left empty has no row to carry it, so then the
# backend asks neighbour_count for it.
_NEIGHBOUR_PAGE = """MATCH (n:Node {{id: $id}})
WITH n, """ + _NEIGHBOUR_TOTAL + """ AS total
OPTIONAL MATCH (n){left}-[r:{types}]-{right}(y:Node)
WHERE ($type IS NULL OR type(r) = $type) AND {followed}
  AND ($after IS NULL OR r.first_seen < $after.first_seen OR (r.first_seen = $after.first_seen
       AND (type(r) > $after.type OR (type(r) = $after.type AND y.id > $after.id))))
WITH total, r, y ORDER BY r.first_seen DESC, type(r), y.id
SKIP $offset
LIMIT $limit
RETURN total, y.id AS other, type(r) AS type, properties(r) AS fields"""


def neighbour_page(direction: str) -> str:
    left, right = _arrows(direction)
    return _NEIGHBOUR_PAGE.format(left=left, right=right, types=_ANY_EDGE, followed=_FOLLOWED)


def neighbour_count(direction: str) -> str:
    """The total of ``neighbour_page`` alone, for a page past the last link."""
    left, right = _arrows(direction)
    return ("MATCH (n:Node {{id: $id}})\nRETURN " + _NEIGHBOUR_TOTAL + " AS total").format(
        left=left, right=right, types=_ANY_EDGE, followed=_FOLLOWED)


def count_nodes() -> str:
    """Counts per kind label: each branch is a count-store lookup, not a scan."""
    return "\nUNION ALL\n".join(f"MATCH (n:{label}) RETURN '{kind}' AS kind, count(n) AS count"
                                for kind, label in LABELS.items())


def count_edges() -> str:
    return "\nUNION ALL\n".join(f"MATCH ()-[r:{rel_type}]->() RETURN '{kind}' AS kind, count(r) AS count"
                                for kind, rel_type in REL_TYPES.items())


COUNT_EVENTS = "MATCH (e:Event) RETURN e.status AS status, count(e) AS count"

# Copying between stores ----------------------------------------------------------------------------

# import_batch writes what another store exported: MERGE on the id and overwrite, nothing merged,
# so a page written twice by a resumed copy ends the same. Aliases reuse WRITE_ALIASES, edges
# write_edges, new events CREATE_EVENTS after LOCK_COUNTER and EXISTING_EVENTS.
def import_nodes(kind: str) -> str:
    return f"""UNWIND $rows AS row
MERGE (n:Node {{id: row.id}})
SET n:{label_of(kind)}, n += row.fields"""


# Edges may only join stored nodes: the ids found here tell the backend which ends are missing.
EXISTING_NODES = """UNWIND $ids AS id
MATCH (n:Node {id: id})
RETURN n.id AS id"""

UPDATE_EVENTS = """UNWIND $rows AS row
MATCH (e:Event {id: row.id})
SET e += row"""

# Pages in id order, so that a page can start with a range seek on the node_id constraint's index,
# which yields ids in order and lets LIMIT stop early instead of sorting the store per page ("" is
# below every id; the plan is expected, not measured: docs/neo4j.md). Edges continue after $after
# {source, type, target}; relationship types sort as their edge kinds do (checked below), so both
# backends page edges in the same order.
EXPORT_NODES = f"""MATCH (n:Node)
WHERE n.id > $after
RETURN {_NODE} AS node
ORDER BY n.id
LIMIT $limit"""

EXPORT_EDGES = f"""MATCH (s:Node)-[r:{_ANY_EDGE}]->(t:Node)
WHERE s.id >= $after.source
  AND (s.id > $after.source OR type(r) > $after.type OR (type(r) = $after.type AND t.id > $after.target))
RETURN s.id AS source, type(r) AS type, t.id AS target, properties(r) AS fields
ORDER BY source, type, target
LIMIT $limit"""

assert sorted(REL_TYPES) == sorted(REL_TYPES, key=REL_TYPES.__getitem__), "edge kinds and types sort apart"

# Enumeration -------------------------------------------------------------------------------------

WALK_DEPTH_CLASSES: Final = (0, 1, 12, MAX_WALK_DEPTH)


def all_statements() -> list[tuple[str, str]]:
    """(name, cypher) for every statement the backend can send, every variant class included.

    Walks are listed for both directions and the depths 0 (its own statement), 1, the default 12 and
    ``MAX_WALK_DEPTH``; any other depth gives the same text with another integer in ``{0,depth}``.
    """
    statements = [(f"schema[{i}]", statement) for i, statement in enumerate(schema_statements())]
    statements += [("schema_version", SCHEMA_VERSION), ("get_meta", GET_META), ("set_meta", SET_META),
                   ("list_meta", LIST_META), ("clear", CLEAR), ("lock_nodes", LOCK_NODES), ("read_edges", READ_EDGES),
                   ("write_aliases", WRITE_ALIASES), ("unlock_nodes", UNLOCK_NODES), ("mark_applied", MARK_APPLIED),
                   ("lock_counter", LOCK_COUNTER), ("existing_events", EXISTING_EVENTS),
                   ("create_events", CREATE_EVENTS), ("set_counter", SET_COUNTER), ("mark_failed", MARK_FAILED),
                   ("get_event", GET_EVENT), ("list_events", LIST_EVENTS), ("get_nodes", GET_NODES),
                   ("neighbours", NEIGHBOURS), ("count_nodes", count_nodes()), ("count_edges", count_edges()),
                   ("count_events", COUNT_EVENTS), ("existing_nodes", EXISTING_NODES),
                   ("update_events", UPDATE_EVENTS), ("export_nodes", EXPORT_NODES), ("export_edges", EXPORT_EDGES)]
    statements += [(f"write_nodes[{kind}]", write_nodes(kind)) for kind in LABELS]
    statements += [(f"import_nodes[{kind}]", import_nodes(kind)) for kind in LABELS]
    statements += [(f"write_edges[{kind}]", write_edges(kind)) for kind in REL_TYPES]
    statements += [(f"find_nodes[{kind or '*'},{entry}]", find_nodes(kind, entry))
                   for kind, entry in product([None, *LABELS], FIND_ENTRIES)]
    statements += [(f"walk[{direction},{depth}]", walk(direction, depth))
                   for direction in ("upstream", "downstream") for depth in WALK_DEPTH_CLASSES]
    statements += [(f"walk_capped[{direction}]", walk_capped(direction)) for direction in ("upstream", "downstream")]
    statements += [(f"neighbour_page[{direction}]", neighbour_page(direction))
                   for direction in ("upstream", "downstream")]
    statements += [(f"neighbour_count[{direction}]", neighbour_count(direction))
                   for direction in ("upstream", "downstream")]
    return statements
