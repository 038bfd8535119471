"""The embedded store: one SQLite file in WAL mode.

Why SQLite: it ships with Python, a committed transaction survives a crash (WAL with
``synchronous=FULL``), readers are not blocked by the writer, and a recursive CTE walks the
graph inside the database, as Marquez does in PostgreSQL. All values go in as parameters; the
only SQL that is composed is the choice between two fixed column names for the walk direction.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from graph_schema.edges import Evidence
from graph_schema.kinds import lookup_value
from lineage_service.store.base import (
    Batch,
    Direction,
    Edge,
    EdgeCursor,
    GraphStore,
    MissingNode,
    MoreLinks,
    NeighbourCursor,
    NeighbourPage,
    NewerStoreSchema,
    NewEvent,
    Node,
    StoredEvent,
    StoredTime,
    Subgraph,
)
from lineage_service.store.sqlite_checkpoint import Checkpointer, CheckpointPolicy
from lineage_service.store.sqlite_lock import WriteLock
from lineage_service.store.sqlite_walk import NEIGHBOUR_COUNT, NEIGHBOUR_PAGE, WALK, WALK_CAPPED, skip_list

# 2: edges_by_target_newest (dst, kind, first_seen DESC, src, ...) replaces edges_by_target (dst, kind, src).
SCHEMA_VERSION = 2
# How long a writer waits for another one (SQLite's busy handler, and the write lock's flock) before
# the request fails with "database is locked".
BUSY_TIMEOUT_S = 30.0

_DDL = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
-- A rowid table with a unique id, not WITHOUT ROWID: node rows carry JSON properties, and big
-- rows keyed by random hashes split pages on insert (measured 37k vs 90k rows/s).
CREATE TABLE IF NOT EXISTS nodes (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    lookup TEXT NOT NULL,
    label TEXT NOT NULL,
    props TEXT NOT NULL,
    sources TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS nodes_by_lookup ON nodes (kind, lookup);
-- Edges and aliases refer to nodes by their integer seq: small keys, rowid joins in the walk,
-- and NOT NULL turns an edge to an unknown node into a constraint error.
CREATE TABLE IF NOT EXISTS aliases (
    alias TEXT NOT NULL,
    node INTEGER NOT NULL,
    PRIMARY KEY (alias, node)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS aliases_by_node ON aliases (node);
CREATE TABLE IF NOT EXISTS edges (
    src INTEGER NOT NULL,
    dst INTEGER NOT NULL,
    kind TEXT NOT NULL,
    evidence INTEGER NOT NULL,
    props TEXT NOT NULL,
    sources TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    valid_from TEXT,
    valid_to TEXT,
    PRIMARY KEY (src, kind, dst)
) WITHOUT ROWID;
-- Links by their target, per kind in neighbour order (newest first, then the other end): a wide
-- node's first :fanout links of a kind, and a page after a cursor, are a range of it, not a sort of
-- all its 100,000 links. It also serves every join by dst. valid_from and valid_to (NULL for most
-- links, a byte each) let a walk or a count at a time skip reading the rows. Upstream the primary
-- key serves: a node is made from few things, so ranking its links of a kind sorts a handful.
CREATE INDEX IF NOT EXISTS edges_by_target_newest ON edges (dst, kind, first_seen DESC, src, valid_from, valid_to);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    time TEXT NOT NULL,
    received_at TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    error TEXT
);
CREATE INDEX IF NOT EXISTS events_by_status ON events (status, seq);
"""

# Properties merge as a JSON merge patch where the newer report wins; an older report only
# fills in what is missing. The outer json_patch('{}', …) drops nulls, which mean "delete".
# ``{raw}`` is the bound props parameter itself: excluded.props has had its nulls dropped
# already (so that a first insert stores none), and a newer report's null must still delete.
_MERGE_PROPS = """CASE WHEN excluded.last_seen >= {t}.last_seen
    THEN json_patch({t}.props, {raw})
    ELSE json_patch('{{}}', json_patch({raw}, {t}.props)) END"""
_MERGE_SOURCES = """CASE WHEN EXISTS (SELECT 1 FROM json_each({t}.sources) WHERE value = excluded.sources ->> '$[0]')
    THEN {t}.sources ELSE json_insert({t}.sources, '$[#]', excluded.sources ->> '$[0]') END"""

_UPSERT_NODE = f"""
INSERT INTO nodes (id, kind, key, lookup, label, props, sources, first_seen, last_seen)
VALUES (?, ?, ?, ?, ?, json_patch('{{}}', ?), ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    props = {_MERGE_PROPS.format(t="nodes", raw="?6")},
    sources = {_MERGE_SOURCES.format(t="nodes")},
    first_seen = min(nodes.first_seen, excluded.first_seen),
    last_seen = max(nodes.last_seen, excluded.last_seen)
"""

_UPSERT_EDGE = f"""
INSERT INTO edges (src, dst, kind, evidence, props, sources, first_seen, last_seen, valid_from, valid_to)
VALUES ((SELECT seq FROM nodes WHERE id = ?), (SELECT seq FROM nodes WHERE id = ?),
        ?, ?, json_patch('{{}}', ?), ?, ?, ?, ?, ?)
ON CONFLICT (src, kind, dst) DO UPDATE SET
    evidence = max(edges.evidence, excluded.evidence),
    props = {_MERGE_PROPS.format(t="edges", raw="?5")},
    sources = {_MERGE_SOURCES.format(t="edges")},
    first_seen = min(edges.first_seen, excluded.first_seen),
    last_seen = max(edges.last_seen, excluded.last_seen),
    valid_from = coalesce(min(edges.valid_from, excluded.valid_from), edges.valid_from, excluded.valid_from),
    valid_to = coalesce(excluded.valid_to, edges.valid_to)
"""

# Copying between stores (import_batch): rows are written as exported, replacing what a resumed
# copy wrote before; nodes and events keep their seq, so edges, aliases and the log order stay.
_IMPORT_NODE = """
INSERT INTO nodes (id, kind, key, lookup, label, props, sources, first_seen, last_seen)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, key = excluded.key, lookup = excluded.lookup,
    label = excluded.label, props = excluded.props, sources = excluded.sources,
    first_seen = excluded.first_seen, last_seen = excluded.last_seen
"""
_IMPORT_EDGE = """
INSERT INTO edges (src, dst, kind, evidence, props, sources, first_seen, last_seen, valid_from, valid_to)
VALUES ((SELECT seq FROM nodes WHERE id = ?), (SELECT seq FROM nodes WHERE id = ?), ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (src, kind, dst) DO UPDATE SET evidence = excluded.evidence, props = excluded.props,
    sources = excluded.sources, first_seen = excluded.first_seen, last_seen = excluded.last_seen,
    valid_from = excluded.valid_from, valid_to = excluded.valid_to
"""
_IMPORT_EVENT = """
INSERT INTO events (id, source, time, received_at, payload, status, error) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET source = excluded.source, time = excluded.time, received_at = excluded.received_at,
    payload = excluded.payload, status = excluded.status, error = excluded.error
"""
# Export order is by node ids, not seq: ids are the same in every store, so is the order. The
# s.id range lets the unique index on nodes.id drive the scan, sorting only each node's own edges.
_EXPORT_EDGES = """
SELECT s.id, d.id, e.kind, e.evidence, e.props, e.sources, e.first_seen, e.last_seen, e.valid_from, e.valid_to
FROM nodes AS s JOIN edges AS e ON e.src = s.seq JOIN nodes AS d ON d.seq = e.dst
WHERE s.id >= :source AND (s.id, e.kind, d.id) > (:source, :kind, :target)
ORDER BY s.id, e.kind, d.id LIMIT :limit
"""

# The walk statements live in sqlite_walk (plain, and capped per node for wide nodes).

_NODE_COLUMNS = "n.id, n.kind, n.key, n.label, n.props, n.sources, n.first_seen, n.last_seen, " \
    "(SELECT json_group_array(alias) FROM aliases WHERE node = n.seq)"
_EDGES_WITH_IDS = """
SELECT s.id, d.id, e.kind, e.evidence, e.props, e.sources, e.first_seen, e.last_seen, e.valid_from, e.valid_to
FROM edges AS e JOIN nodes AS s ON s.seq = e.src JOIN nodes AS d ON d.seq = e.dst
WHERE e.{end} = (SELECT seq FROM nodes WHERE id = ?)
"""


def timestamp(moment: datetime) -> str:
    """UTC with fixed width, so that text order is time order inside SQLite."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# Decoding rows is most of a trace's time, and the same few values repeat (an event's time on
# every fact it reported, the handful of source names): cache the immutable ones, skip empty JSON.
@lru_cache(maxsize=4096)
def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = StoredTime.fromisoformat(text)
    # Written by ``timestamp``: fixed width with microseconds, which isoformat() leaves out when zero.
    # Text in any other form keeps no ``iso``, and is formatted from the datetime when printed.
    if len(text) == 27 and text[-1] == "Z":
        moment.iso = text[:19] + "Z" if text.endswith(".000000Z") else text
    return moment


@lru_cache(maxsize=1024)
def _names(text: str) -> tuple[str, ...]:
    return tuple(orjson.loads(text))


def _dumps(value: Any) -> str:
    # Text, not bytes: SQLite's JSON functions refuse BLOBs.
    return orjson.dumps(value).decode()


def _object(text: str) -> dict[str, Any]:
    return {} if text == "{}" else orjson.loads(text)


_EVIDENCE_LABELS = {int(level): level.label for level in Evidence}


def _node(row: tuple[Any, ...]) -> Node:
    return Node(row[0], row[1], orjson.loads(row[2]), row[3], _object(row[4]), orjson.loads(row[8]),
                list(_names(row[5])), _time(row[6]), _time(row[7]))  # type: ignore[arg-type]


def _edge(row: tuple[Any, ...]) -> Edge:
    return Edge(row[0], row[1], row[2], _EVIDENCE_LABELS[row[3]], _object(row[4]), list(_names(row[5])),
                _time(row[6]), _time(row[7]), _time(row[8]), _time(row[9]))  # type: ignore[arg-type]


def _event(row: tuple[Any, ...]) -> StoredEvent:
    return StoredEvent(row[0], row[1], _time(row[2]), _time(row[3]), row[4], row[5], row[6])  # type: ignore[arg-type]


def _self_contained(batch: Batch) -> bool:
    """Whether every edge of the batch joins nodes of the same batch (as every lineage event's do)."""
    if not batch.edges:
        return True
    declared = {node.id for node in batch.nodes}
    return all(edge.source in declared and edge.target in declared for edge in batch.edges)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class SQLiteGraphStore(GraphStore):
    """A store in one SQLite file; safe to share between threads of one process.

    Writes go through one connection under a lock (shared with other processes writing the same
    file, see ``sqlite_lock``); each reading thread has its own connection, so WAL lets reads
    proceed while a write is in progress. A background checkpointer (``sqlite_checkpoint``) copies
    the WAL back into the database so that commits never do.
    """

    def __init__(self, path: str | Path, checkpoint: CheckpointPolicy | None = None) -> None:
        self.path = Path(path).expanduser()
        self.uri = f"sqlite:///{self.path}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = WriteLock(self.path, timeout=BUSY_TIMEOUT_S)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        policy = checkpoint or CheckpointPolicy()
        self.checkpointer = Checkpointer(self.path, self._write_lock, policy)
        try:
            self._writer = self._connect()
            # Checkpoints run on the checkpointer's thread, never inside this connection's COMMIT;
            # when the WAL starts over, the commit that restarts it truncates the file back to this size.
            self._writer.execute("PRAGMA wal_autocheckpoint = 0")
            self._writer.execute(f"PRAGMA journal_size_limit = {int(policy.passive_bytes)}")
            with self._transaction() as db:
                self._create_or_migrate(db)
        except BaseException:
            # A newer schema, a locked or unreadable file: nobody gets this store to close, so
            # let go of the lock file, the connections and the checkpointer here.
            self.close()
            raise

    def _create_or_migrate(self, db: sqlite3.Connection) -> None:
        """Create the schema, or bring an older store's up to this version, in one write transaction:
        a crash leaves the store as it was. A newer store is refused before anything is changed."""
        db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID")
        row = db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        if row is not None and int(row[0]) > SCHEMA_VERSION:
            raise NewerStoreSchema(f"{self.path} was written by a newer lineage-service (store schema {row[0]}); "
                                   f"upgrade lineage-service to open it")
        # Not executescript: it would commit outside this transaction. On a store of schema 1 this
        # builds edges_by_target_newest before the old index goes (2.2M links: 2.2 s, and 110 MiB
        # for the index instead of 49).
        for statement in filter(str.strip, _DDL.split(";")):
            db.execute(statement)
        # Every time, not only from schema 1: a lineage-service of schema 1 that was refused this
        # store had created its index again before it read the version.
        db.execute("DROP INDEX IF EXISTS edges_by_target")
        db.execute("INSERT INTO meta VALUES ('schema_version', ?) "
                   "ON CONFLICT (name) DO UPDATE SET value = excluded.value", (str(SCHEMA_VERSION),))

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                     timeout=BUSY_TIMEOUT_S)
        self._connections.append(connection)  # first: a failing PRAGMA still leaves it for close()
        connection.execute("PRAGMA journal_mode = WAL")
        # FULL: a transaction that returned is on disk, so an acknowledged event survives power loss.
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute("PRAGMA foreign_keys = OFF")
        connection.execute("PRAGMA cache_size = -65536")
        connection.execute("PRAGMA mmap_size = 268435456")
        return connection

    @property
    def _reader(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            connection.execute("PRAGMA query_only = ON")
            self._local.connection = connection
        return connection

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            self._writer.execute("COMMIT")
        self.checkpointer.notify()

    # Writing -----------------------------------------------------------------------------
    def apply(self, batches: Sequence[Batch]) -> None:
        with self._transaction() as db:
            if all(_self_contained(batch) for batch in batches):
                # A group commit applies one batch per event, each self-contained: one executemany
                # per table for all of them, not three statements per batch. Every edge's nodes are
                # in its own batch, so writing all nodes before all edges changes nothing.
                self._apply_rows(db, batches)
            else:
                # An edge may point at a node of a later batch: that must fail as it would alone.
                for batch in batches:
                    self._apply_rows(db, [batch])
            event_ids = [event_id for batch in batches for event_id in batch.event_ids]
            if event_ids:
                db.execute("UPDATE events SET status = 'applied', error = NULL "
                           "WHERE id IN (SELECT value FROM json_each(?))", (_dumps(event_ids),))

    @staticmethod
    def _apply_rows(db: sqlite3.Connection, batches: Sequence[Batch]) -> None:
        stamps = [(timestamp(batch.seen_at), _dumps([batch.source])) for batch in batches]
        db.executemany(_UPSERT_NODE, (
            (n.id, n.kind.value, _dumps(n.key), n.lookup, n.label, _dumps(n.props), sources, seen, seen)
            for batch, (seen, sources) in zip(batches, stamps, strict=True) for n in batch.nodes
        ))
        db.executemany("INSERT OR IGNORE INTO aliases (alias, node) SELECT ?, seq FROM nodes WHERE id = ?",
                       ((alias, n.id) for batch in batches for n in batch.nodes for alias in n.aliases))
        try:
            db.executemany(_UPSERT_EDGE, (
                (e.source, e.target, e.kind.value, int(e.evidence), _dumps(e.props), sources, seen, seen,
                 timestamp(e.valid_from) if e.valid_from else None,
                 timestamp(e.valid_to) if e.valid_to else None)
                for batch, (seen, sources) in zip(batches, stamps, strict=True) for e in batch.edges
            ))
        except sqlite3.IntegrityError:
            ends = _dumps(sorted({end for batch in batches for e in batch.edges for end in (e.source, e.target)}))
            missing = [row[0] for row in db.execute(
                "SELECT value FROM json_each(?) WHERE value NOT IN (SELECT id FROM nodes)", (ends,))]
            raise MissingNode(f"edges point at nodes that are not stored: {', '.join(missing[:5])}") from None

    def append_events(self, events: Sequence[NewEvent]) -> list[bool]:
        received = timestamp(datetime.now(UTC))
        with self._transaction() as db:
            # New rows get a seq above every existing one (AUTOINCREMENT), and this transaction is
            # the only writer: the rows past the old maximum are exactly the ids that were new.
            last = db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
            db.executemany(
                "INSERT INTO events (id, source, time, received_at, payload) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO NOTHING",
                ((event.id, event.source, timestamp(event.time), received, event.payload) for event in events))
            inserted = {row[0] for row in db.execute("SELECT id FROM events WHERE seq > ?", (last,))}
        # In order; an id sent twice in one call was inserted by its first occurrence only.
        is_new = []
        for event in events:
            is_new.append(event.id in inserted)
            inserted.discard(event.id)
        return is_new

    def mark_failed(self, event_id: str, error: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE events SET status = 'failed', error = ? WHERE id = ?", (error, event_id))

    def import_batch(self, nodes: Sequence[Node], edges: Sequence[Edge], events: Sequence[StoredEvent]) -> None:
        with self._transaction() as db:
            db.executemany(_IMPORT_NODE, (
                (n.id, n.kind, _dumps(n.key), lookup_value(n.kind, n.key), n.label, _dumps(n.props),
                 _dumps(n.sources), timestamp(n.first_seen), timestamp(n.last_seen)) for n in nodes))
            db.executemany("INSERT OR IGNORE INTO aliases (alias, node) SELECT ?, seq FROM nodes WHERE id = ?",
                           ((alias, n.id) for n in nodes for alias in n.aliases))
            try:
                db.executemany(_IMPORT_EDGE, (
                    (e.source, e.target, e.kind, int(Evidence.parse(e.evidence)), _dumps(e.props), _dumps(e.sources),
                     timestamp(e.first_seen), timestamp(e.last_seen),
                     timestamp(e.valid_from) if e.valid_from else None, timestamp(e.valid_to) if e.valid_to else None)
                    for e in edges))
            except sqlite3.IntegrityError:
                ends = _dumps(sorted({end for e in edges for end in (e.source, e.target)}))
                missing = [row[0] for row in db.execute(
                    "SELECT value FROM json_each(?) WHERE value NOT IN (SELECT id FROM nodes)", (ends,))]
                raise MissingNode(f"edges point at nodes that are not stored: {', '.join(missing[:5])}") from None
            db.executemany(_IMPORT_EVENT, (
                (e.id, e.source, timestamp(e.time), timestamp(e.received_at), e.payload, e.status, e.error)
                for e in events))

    # Reading -----------------------------------------------------------------------------
    def get_nodes(self, ids: Iterable[str]) -> list[Node]:
        rows = self._reader.execute(
            f"SELECT {_NODE_COLUMNS} FROM nodes AS n WHERE n.id IN (SELECT value FROM json_each(?))",
            (_dumps(list(ids)),))
        return [_node(row) for row in rows]

    def find_nodes(self, kind: str | None = None, *, lookup: str | None = None,
                   lookup_prefix: str | None = None, alias: str | None = None,
                   text: str | None = None, limit: int = 50) -> list[Node]:
        where, params = ["1 = 1"], []  # type: list[str], list[Any]
        if kind is not None:
            # With an alias, the few nodes it names are read by seq; without the unary +, SQLite
            # (no ANALYZE statistics) walked the kind's whole lookup index instead: 40 ms at 1M nodes.
            where.append("+n.kind = ?" if alias is not None and lookup is None and lookup_prefix is None
                         else "n.kind = ?")
            params.append(kind)
        if lookup is not None:
            where.append("n.lookup = ?")
            params.append(lookup)
        if lookup_prefix is not None:
            # A range instead of LIKE so the (kind, lookup) index serves the prefix search.
            where.append("n.lookup >= ? AND n.lookup < ?")
            params += [lookup_prefix, lookup_prefix + "\U0010ffff"]
        if alias is not None:
            where.append("n.seq IN (SELECT node FROM aliases WHERE alias = ?)")
            params.append(alias)
        if text is not None:
            pattern = f"%{_escape_like(text)}%"
            where.append("(n.label LIKE ? ESCAPE '\\' OR n.lookup LIKE ? ESCAPE '\\' OR n.seq IN "
                         "(SELECT node FROM aliases WHERE alias LIKE ? ESCAPE '\\'))")
            params += [pattern, pattern, pattern]
        params.append(limit)
        rows = self._reader.execute(
            f"SELECT {_NODE_COLUMNS} FROM nodes AS n WHERE {' AND '.join(where)} ORDER BY n.kind, n.lookup, n.label "
            f"LIMIT ?", params)
        return [_node(row) for row in rows]

    def neighbours(self, node_id: str) -> tuple[list[Edge], list[Edge]]:
        upstream = [_edge(row) for row in self._reader.execute(_EDGES_WITH_IDS.format(end="src"), (node_id,))]
        downstream = [_edge(row) for row in self._reader.execute(_EDGES_WITH_IDS.format(end="dst"), (node_id,))]
        return upstream, downstream

    def walk(self, start: Sequence[str], direction: Direction, depth: int, *,
             skip_edge_kinds: Iterable[str] = (), at: datetime | None = None,
             limit: int = 10_000, fanout: int | None = None) -> Subgraph:
        params = {"start": _dumps(list(start)), "depth": depth, "skip_list": skip_list(skip_edge_kinds),
                  "at": timestamp(at) if at else None, "limit": limit,
                  "rows": (limit + 1) * (max(depth, 0) + 1)}
        cap = max(fanout, 1) if fanout is not None else 0
        if fanout is not None:
            params["fanout"] = cap
        nodes, depth_of, walked = [], {}, 0
        ids: dict[int, str] = {}
        edge_rows, more_rows = [], []
        statement = WALK[direction] if fanout is None else WALK_CAPPED[direction, at is not None]
        for row in self._reader.execute(statement, params):
            if row[0] == 0:
                node = _node(row[2:11])
                nodes.append(node)
                depth_of[node.id] = row[1]
                ids[row[11]] = node.id
            elif row[0] == 1:
                edge_rows.append(row)
            elif row[0] == 2:
                walked = row[1]
            else:
                more_rows.append(row)
        # Node rows and edge rows come in one result; edges name nodes by seq, mapped back here.
        edges = [_edge((ids[row[2]], ids[row[3]], row[4], row[1], *row[6:12])) for row in edge_rows]
        more = []
        for row in sorted(more_rows, key=lambda r: (ids[r[2]], r[1])):
            more.append(MoreLinks(ids[row[2]], direction, row[1], cap, row[3]))
        return Subgraph(nodes, edges, depth_of, truncated=walked > limit, more=tuple(more))

    def neighbour_page(self, node_id: str, direction: Direction, *, edge_kind: str | None = None,
                       after: NeighbourCursor | None = None, skip: int = 0, limit: int = 100,
                       at: datetime | None = None) -> NeighbourPage:
        params = {"node": node_id, "skip": max(skip, 0), "edge_kind": edge_kind, "at": timestamp(at) if at else None,
                  "after_time": timestamp(after.first_seen) if after else None,
                  "after_kind": after.kind if after else None, "after_node": after.node if after else None,
                  "limit": max(limit, 0) + 1}  # one more than asked: whether there is a next page
        kinded = edge_kind is not None
        rows = self._reader.execute(NEIGHBOUR_PAGE[direction, kinded, after is not None], params).fetchall()
        edges = [_edge(row) for row in rows[:max(limit, 0)]]
        total = self._reader.execute(NEIGHBOUR_COUNT[direction, kinded], params).fetchone()[0]
        last = edges[-1] if edges and len(rows) > len(edges) else None
        following = None
        if last is not None:
            other = last.target if direction is Direction.UPSTREAM else last.source
            following = NeighbourCursor(last.first_seen, last.kind, other)
        return NeighbourPage(edges, total, following)

    def export_nodes(self, after: str | None, limit: int) -> list[Node]:
        rows = self._reader.execute(f"SELECT {_NODE_COLUMNS} FROM nodes AS n WHERE n.id > ? ORDER BY n.id LIMIT ?",
                                    (after or "", max(limit, 0)))
        return [_node(row) for row in rows]

    def export_edges(self, after: EdgeCursor | None, limit: int) -> list[Edge]:
        source, kind, target = after or ("", "", "")
        rows = self._reader.execute(_EXPORT_EDGES, {"source": source, "kind": kind, "target": target,
                                                    "limit": max(limit, 0)})
        return [_edge(row) for row in rows]

    def get_event(self, event_id: str) -> StoredEvent | None:
        row = self._reader.execute(
            "SELECT id, source, time, received_at, payload, status, error FROM events WHERE id = ?",
            (event_id,)).fetchone()
        return _event(row) if row else None

    def list_events(self, *, status: str | None = None, limit: int = 100,
                    after: str | None = None, source: str | None = None) -> list[StoredEvent]:
        rows = self._reader.execute(
            "SELECT id, source, time, received_at, payload, status, error FROM events "
            "WHERE (:status IS NULL OR status = :status) AND (:source IS NULL OR source = :source) "
            "AND seq > coalesce((SELECT seq FROM events WHERE id = :after), 0) ORDER BY seq LIMIT :limit",
            {"status": status, "source": source, "after": after, "limit": limit})
        return [_event(row) for row in rows]

    def get_cursor(self, source: str) -> str | None:
        row = self._reader.execute("SELECT value FROM meta WHERE name = ?", ("cursor:" + source,)).fetchone()
        return row[0] if row else None

    def set_cursor(self, source: str, cursor: str) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                       ("cursor:" + source, cursor))

    def list_cursors(self) -> dict[str, str]:
        rows = self._reader.execute("SELECT substr(name, 8), value FROM meta WHERE substr(name, 1, 7) = 'cursor:' "
                                    "ORDER BY name")
        return dict(rows.fetchall())

    def stats(self) -> dict[str, Any]:
        db = self._reader
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        return {
            "store": self.uri,
            "nodes": dict(db.execute("SELECT kind, count(*) FROM nodes GROUP BY kind ORDER BY kind").fetchall()),
            "edges": dict(db.execute("SELECT kind, count(*) FROM edges GROUP BY kind ORDER BY kind").fetchall()),
            "events": dict(db.execute("SELECT status, count(*) FROM events GROUP BY status ORDER BY status")
                           .fetchall()),
            "bytes": page_size * pages,
        }

    def integrity_check(self) -> list[str]:
        # The whole file, pages and indexes; ["ok"] when sound. Reads a snapshot, so writers go on.
        return [row[0] for row in self._reader.execute("PRAGMA integrity_check")]

    def close(self) -> None:
        # The checkpointer first: it may be copying pages, and it takes the write lock to restart.
        self.checkpointer.close()
        for connection in self._connections:
            connection.close()
        self._connections.clear()
        self._write_lock.close()
