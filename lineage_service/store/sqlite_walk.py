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

from collections.abc import Iterable

from lineage_service.store.base import Direction

# (the column of the node walked from, the column of the node walked to), per direction.
ENDS = {Direction.UPSTREAM: ("src", "dst"), Direction.DOWNSTREAM: ("dst", "src")}


def valid_at(alias: str) -> str:
    """An edge holds from its valid_from, or, without one, from when it was first reported. A
    window reported after the fact (a collector reading rollout history) still counts from its
    valid_from. ``alias`` is one of the fixed table aliases below."""
    return f"""(:at IS NULL OR (coalesce({alias}.valid_from, {alias}.first_seen) <= :at
    AND ({alias}.valid_to IS NULL OR {alias}.valid_to > :at)))"""


# The skipped edge kinds come as one parameter, ",parent,": a substring test per link, no list built
# from json_each for each of the statement's four filters.
_NOT_SKIPPED = "instr(:skip_list, ',' || {alias}.kind || ',') = 0"


def skip_list(kinds: Iterable[str]) -> str:
    """The :skip_list parameter: the kinds between commas, or "" to skip none.

    Edge kinds are snake_case words (``EdgeKind``), never with a comma. A name with one cannot be
    the kind of a stored link, so skipping it changes nothing; it is left out, since in the list its
    parts would match kinds ("x,consumed" would skip consumed).
    """
    names = sorted({kind for kind in kinds if "," not in kind})
    return f",{','.join(names)}," if names else ""


def _wide(frm: str, node: str) -> str:
    """Whether ``node`` has more than :fanout links this way: whether a link follows the first
    :fanout index entries. A normal node keeps the plain join; only a wide one pays for ranking its
    links. (A scalar subquery with OFFSET, not count() over a LIMIT: no co-routine per node.)"""
    return f"((SELECT 1 FROM edges AS c WHERE c.{frm} = {node} LIMIT 1 OFFSET :fanout) IS NOT NULL)"


def _expanded_and_wide(frm: str, node: str) -> str:
    """The wide flag of a row the walk makes: tested only if the walk goes on from there."""
    return f"CASE WHEN walk.depth + 1 < :depth THEN {_wide(frm, node)} ELSE 0 END"


_PLAIN_STEP = """
    SELECT e.{to}, walk.depth + 1
    FROM walk JOIN edges AS e ON e.{frm} = walk.seq
    WHERE walk.depth < :depth
      AND {not_skipped}
      AND {valid}"""

# The edge kinds a wide node has this way, as a JSON array: one index seek per kind (the next kind
# after the last), where a DISTINCT would read every one of its 100,000 index entries.
_KINDS = """(WITH RECURSIVE kinds_of (kind) AS (
        SELECT min(k.kind) FROM edges AS k WHERE k.{frm} = {node}
        UNION ALL
        SELECT (SELECT min(k.kind) FROM edges AS k WHERE k.{frm} = {node} AND k.kind > kinds_of.kind)
        FROM kinds_of WHERE kinds_of.kind IS NOT NULL)
    SELECT json_group_array(kind) FROM kinds_of WHERE kind IS NOT NULL AND {not_skipped})"""

# A wide node: per edge kind it has, the first :fanout links in neighbour order. The kinds and the
# kept links come as JSON arrays from correlated subqueries (SQLite has no LATERAL join), so each
# runs once per wide node, and an ORDER BY … LIMIT keeps only :fanout rows while it scans.
_CAPPED_STEPS = """
    SELECT e.{to}, walk.depth + 1, {to_wide}
    FROM walk JOIN edges AS e ON e.{frm} = walk.seq
    WHERE walk.depth < :depth AND NOT walk.wide
      AND {not_skipped}
      AND {valid}
    UNION
    SELECT kept.value, walk.depth + 1, {kept_wide}
    FROM walk
    JOIN json_each({kinds}) AS kinds
    JOIN json_each((SELECT json_group_array(first.{to}) FROM (
        SELECT e.{to} FROM edges AS e
        WHERE e.{frm} = walk.seq AND e.kind = kinds.value AND {valid}
        ORDER BY e.first_seen DESC, e.{to} LIMIT :fanout) AS first)) AS kept
    WHERE walk.depth < :depth AND walk.wide"""

# Per capped node (reached, expanded, with more than :fanout links of a kind): the kind and how
# many links of it the walk would follow, counted per kind on the index (a range of it per node and
# kind; a GROUP BY over the node's links sorted all 100,000 of them in a temporary B-tree).
_MORE = """
UNION ALL
SELECT 3, kind, seq, links, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM (
    SELECT kinds.value AS kind, r.seq AS seq,
           (SELECT count(*) FROM edges AS e WHERE e.{frm} = r.seq AND e.kind = kinds.value AND {valid}) AS links
    FROM reached AS r JOIN json_each({r_kinds}) AS kinds
    WHERE r.depth < :depth AND r.wide)
WHERE links > :fanout"""

# One statement per walk: the recursive CTE, then the nodes reached (the `limit` nearest, with
# their shortest distance), the edges among them and the number of distinct nodes walked (to
# tell a truncated answer), as one UNION ALL; a capped walk adds its "more" rows. The walk holds
# one row per (node, distance), so a node in a cycle or a diamond comes back at several distances:
# the row cap is (limit + 1) * (depth + 1), which still reaches more than `limit` nodes whenever
# there are.
_WALK = """
WITH RECURSIVE walk (seq, depth{wide_column}) AS (
    SELECT seq, 0{start_wide} FROM nodes WHERE id IN (SELECT value FROM json_each(:start))
    UNION{steps}
    LIMIT :rows
),
walked (seq, depth{wide_column}) AS MATERIALIZED (
    SELECT seq, min(depth){reached_wide} FROM walk GROUP BY seq),
reached (seq, depth{wide_column}) AS MATERIALIZED (
    SELECT * FROM walked ORDER BY 2, 1 LIMIT :limit)
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
SELECT 2, count(*), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM walked{more}
"""


# Without a time the validity test is left out of the statement (``:at IS NULL`` stays, bound to
# NULL): nothing to test per link. (With one, downstream still reads only edges_by_target_newest,
# which holds valid_from and valid_to: a 100,000-link node at a time, 15 ms instead of 95.)
_ANY_TIME = "(:at IS NULL)"


def _walk(direction: Direction, capped: bool, timed: bool = True) -> str:
    frm, to = ENDS[direction]
    names = {"frm": frm, "to": to, "not_skipped": _NOT_SKIPPED.format(alias="e"),
             "valid": valid_at("e") if timed else _ANY_TIME,
             "kinds": _KINDS.format(frm=frm, node="walk.seq", not_skipped=_NOT_SKIPPED.format(alias="kinds_of")),
             "r_kinds": _KINDS.format(frm=frm, node="r.seq", not_skipped=_NOT_SKIPPED.format(alias="kinds_of")),
             "to_wide": _expanded_and_wide(frm, f"e.{to}"), "kept_wide": _expanded_and_wide(frm, "kept.value")}
    steps = (_CAPPED_STEPS if capped else _PLAIN_STEP).format(**names)
    more = _MORE.format(**names) if capped else ""
    # A capped walk carries whether each node is wide, tested once where a row is made, not again
    # by each recursive branch and by the "more" rows.
    wide = {"wide_column": ", wide", "start_wide": f", {_wide(frm, 'seq')}", "reached_wide": ", max(wide)"} \
        if capped else {"wide_column": "", "start_wide": "", "reached_wide": ""}
    return _WALK.format(steps=steps, more=more, **wide, **names)


WALK = {direction: _walk(direction, capped=False) for direction in Direction}
# By (direction, whether the walk is at a time).
WALK_CAPPED = {(direction, timed): _walk(direction, capped=True, timed=timed)
               for direction in Direction for timed in (False, True)}

# Neighbour order, and a page of it after a cursor (:after_time, :after_kind, :after_node: the
# position of the last link of the previous page, its other node by id); without a cursor the page
# starts at the newest link. The cursor's `first_seen <=` is implied by the test after it, and is
# there for the index: with one edge kind, edges_by_target_newest (dst, kind, first_seen DESC, src) starts the
# scan at the cursor instead of reading every link before it.
_AFTER = """e.first_seen <= :after_time AND (e.first_seen < :after_time OR (e.first_seen = :after_time
    AND (e.kind > :after_kind OR (e.kind = :after_kind
         AND e.{to} > coalesce((SELECT seq FROM nodes WHERE id = :after_node), -1)))))"""
_OF_NODE = """e.{frm} = (SELECT seq FROM nodes WHERE id = :node)
  AND {of_kind}
  AND {valid}"""
# With :edge_kind an equality, not `:edge_kind IS NULL OR …`, which no index can serve.
_OF_KIND = {True: "e.kind = :edge_kind", False: "(:edge_kind IS NULL)"}

# The page's links are picked from the index (their keys and order), and only the page's rows are
# read: a node's 100,000 links are not read in full to sort them. (Without an edge kind the order,
# newest first across kinds, is not the index's: its keys are sorted, still without reading rows.)
_PAGE = """
SELECT s.id, d.id, e.kind, e.evidence, e.props, e.sources, e.first_seen, e.last_seen, e.valid_from, e.valid_to
FROM (SELECT e.src, e.kind, e.dst, e.first_seen FROM edges AS e
      WHERE {of_node}
        AND {after}
      ORDER BY e.first_seen DESC, e.kind, e.{to}
      LIMIT :limit OFFSET :skip) AS page
JOIN edges AS e ON e.src = page.src AND e.kind = page.kind AND e.dst = page.dst
JOIN nodes AS s ON s.seq = e.src JOIN nodes AS d ON d.seq = e.dst
ORDER BY page.first_seen DESC, page.kind, page.{to}
"""

# By (direction, whether one edge kind is asked for, whether after a cursor).
NEIGHBOUR_PAGE = {
    (direction, kinded, after): _PAGE.format(
        to=to, of_node=_OF_NODE.format(frm=frm, of_kind=_OF_KIND[kinded], valid=valid_at("e")),
        after=_AFTER.format(to=to) if after else "(:after_time IS NULL)")
    for direction, (frm, to) in ENDS.items() for kinded in (False, True) for after in (False, True)
}
# Counted from an index alone, `at` too (edges_by_target_newest holds valid_from and valid_to; upstream
# the key is the table). By (direction, whether one edge kind).
NEIGHBOUR_COUNT = {
    (direction, kinded): "SELECT count(*) FROM edges AS e WHERE "
                         + _OF_NODE.format(frm=frm, of_kind=_OF_KIND[kinded], valid=valid_at("e"))
    for direction, (frm, _) in ENDS.items() for kinded in (False, True)
}
