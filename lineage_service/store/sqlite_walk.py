"""The SQLite store's walks and neighbour pages, as SQL text (values only as parameters).

The walk is one recursive CTE, as Marquez does it in PostgreSQL. The only SQL that is composed is
the choice between two fixed column names for the direction and between two fixed recursive
steps (plain, or capped per node and edge kind); nothing a caller supplies is formatted in.

Wide nodes (issue 9): a dataset consumed by 100,000 jobs or a person who authored 100,000 commits
would put every neighbour into an impact answer. The capped walk follows, from each node, at most
``:fanout`` links of each edge kind, the first in neighbour order (newest ``first_seen`` first,
then the node at the other end by seq), and reports per capped node and kind how many links exist
and where the followed ones stop, so that ``neighbour_page`` can continue from there.
"""

from __future__ import annotations

from lineage_service.store.base import Direction

# (the column of the node walked from, the column of the node walked to), per direction.
ENDS = {Direction.UPSTREAM: ("src", "dst"), Direction.DOWNSTREAM: ("dst", "src")}


def valid_at(alias: str) -> str:
    """An edge holds from its valid_from, or, without one, from when it was first reported. A
    window reported after the fact (a collector reading rollout history) still counts from its
    valid_from. ``alias`` is one of the fixed table aliases below."""
    return f"""(:at IS NULL OR (coalesce({alias}.valid_from, {alias}.first_seen) <= :at
    AND ({alias}.valid_to IS NULL OR {alias}.valid_to > :at)))"""


_NOT_SKIPPED = "{alias}.kind NOT IN (SELECT value FROM json_each(:skip))"


def _wide(frm: str, node: str) -> str:
    """Whether ``node`` has more than :fanout links this way, counting at most :fanout + 1 index
    entries: a normal node keeps the plain join, and only a wide one pays for ranking its links."""
    return f"(SELECT count(*) FROM (SELECT 1 FROM edges AS c WHERE c.{frm} = {node} LIMIT :fanout + 1)) > :fanout"


_PLAIN_STEP = """
    SELECT e.{to}, walk.depth + 1
    FROM walk JOIN edges AS e ON e.{frm} = walk.seq
    WHERE walk.depth < :depth
      AND {not_skipped}
      AND {valid}"""

# A wide node: per edge kind it has, the first :fanout links in neighbour order. The kinds and the
# kept links come as JSON arrays from correlated subqueries (SQLite has no LATERAL join), so each
# runs once per wide node, and an ORDER BY … LIMIT keeps only :fanout rows while it scans.
_CAPPED_STEPS = """
    SELECT e.{to}, walk.depth + 1
    FROM walk JOIN edges AS e ON e.{frm} = walk.seq
    WHERE walk.depth < :depth AND NOT {wide}
      AND {not_skipped}
      AND {valid}
    UNION
    SELECT kept.value, walk.depth + 1
    FROM walk
    JOIN json_each((SELECT json_group_array(DISTINCT k.kind) FROM edges AS k
                    WHERE k.{frm} = walk.seq AND {k_not_skipped})) AS kinds
    JOIN json_each((SELECT json_group_array(first.{to}) FROM (
        SELECT e.{to} FROM edges AS e
        WHERE e.{frm} = walk.seq AND e.kind = kinds.value AND {valid}
        ORDER BY e.first_seen DESC, e.{to} LIMIT :fanout) AS first)) AS kept
    WHERE walk.depth < :depth AND {wide}"""

# Per capped node (reached, expanded, with more than :fanout links of a kind): the kind and how
# many links of it the walk would follow. Without a time, counted from the index alone.
_MORE = """
UNION ALL
SELECT 3, e.kind, r.seq, count(*), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM reached AS r JOIN edges AS e ON e.{frm} = r.seq
WHERE r.depth < :depth AND {r_wide}
  AND {not_skipped}
  AND {valid}
GROUP BY r.seq, e.kind HAVING count(*) > :fanout"""

# One statement per walk: the recursive CTE, then the nodes reached (the `limit` nearest, with
# their shortest distance), the edges among them and the number of distinct nodes walked (to
# tell a truncated answer), as one UNION ALL; a capped walk adds its "more" rows. The walk holds
# one row per (node, distance), so a node in a cycle or a diamond comes back at several distances:
# the row cap is (limit + 1) * (depth + 1), which still reaches more than `limit` nodes whenever
# there are.
_WALK = """
WITH RECURSIVE walk (seq, depth) AS (
    SELECT seq, 0 FROM nodes WHERE id IN (SELECT value FROM json_each(:start))
    UNION{steps}
    LIMIT :rows
),
reached (seq, depth) AS MATERIALIZED (
    SELECT seq, min(depth) FROM walk GROUP BY seq ORDER BY 2, 1 LIMIT :limit)
SELECT 0, reached.depth, n.id, n.kind, n.key, n.label, n.props, n.sources, n.first_seen, n.last_seen,
       (SELECT json_group_array(alias) FROM aliases WHERE node = n.seq), n.seq
FROM reached JOIN nodes AS n ON n.seq = reached.seq
UNION ALL
SELECT 1, e.evidence, e.src, e.dst, e.kind, NULL, e.props, e.sources, e.first_seen, e.last_seen,
       e.valid_from, e.valid_to
FROM reached JOIN edges AS e ON e.{frm} = reached.seq
WHERE e.{to} IN (SELECT seq FROM reached)
  AND {not_skipped}
  AND {valid}
UNION ALL
SELECT 2, count(DISTINCT seq), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM walk{more}
"""


# Without a time the validity test is left out of the statement (``:at IS NULL`` stays, bound to
# NULL): it is the only term that reads an edge's row, so a wide node's links are then counted and
# scanned from the index alone (100,000 links: some 3 ms instead of 50).
_ANY_TIME = "(:at IS NULL)"


def _walk(direction: Direction, capped: bool, timed: bool = True) -> str:
    frm, to = ENDS[direction]
    names = {"frm": frm, "to": to, "not_skipped": _NOT_SKIPPED.format(alias="e"),
             "valid": valid_at("e") if timed else _ANY_TIME,
             "k_not_skipped": _NOT_SKIPPED.format(alias="k"),
             "wide": _wide(frm, "walk.seq"), "r_wide": _wide(frm, "r.seq")}
    steps = (_CAPPED_STEPS if capped else _PLAIN_STEP).format(**names)
    more = _MORE.format(**names) if capped else ""
    return _WALK.format(steps=steps, more=more, **names)


WALK = {direction: _walk(direction, capped=False) for direction in Direction}
# By (direction, whether the walk is at a time).
WALK_CAPPED = {(direction, timed): _walk(direction, capped=True, timed=timed)
               for direction in Direction for timed in (False, True)}

# Neighbour order, and a page of it after a cursor (:after_time, :after_kind, :after_node: the
# position of the last link of the previous page, its other node by id). Without a cursor,
# :after_time is NULL and the page starts at the newest link.
_AFTER = """(:after_time IS NULL OR e.first_seen < :after_time OR (e.first_seen = :after_time
    AND (e.kind > :after_kind OR (e.kind = :after_kind
         AND e.{to} > coalesce((SELECT seq FROM nodes WHERE id = :after_node), -1)))))"""
_OF_NODE = """e.{frm} = (SELECT seq FROM nodes WHERE id = :node)
  AND (:edge_kind IS NULL OR e.kind = :edge_kind)
  AND {valid}"""

NEIGHBOUR_PAGE = {
    direction: f"""
SELECT s.id, d.id, e.kind, e.evidence, e.props, e.sources, e.first_seen, e.last_seen, e.valid_from, e.valid_to
FROM edges AS e JOIN nodes AS s ON s.seq = e.src JOIN nodes AS d ON d.seq = e.dst
WHERE {_OF_NODE.format(frm=frm, valid=valid_at("e"))}
  AND {_AFTER.format(to=to)}
ORDER BY e.first_seen DESC, e.kind, e.{to}
LIMIT :limit OFFSET :skip
"""
    for direction, (frm, to) in ENDS.items()
}
# Counted from the (src, kind, dst) key or the (dst, kind, src) index; only `at` reads the rows.
NEIGHBOUR_COUNT = {
    direction: f"SELECT count(*) FROM edges AS e WHERE {_OF_NODE.format(frm=frm, valid=valid_at('e'))}"
    for direction, (frm, _) in ENDS.items()
}
