"""The same trace answered by an embedded Cypher engine: ladybug (the maintained fork of Kùzu).

``python -m bench.ladybug_engine --nodes 20000`` builds the synthetic world, loads the edges a
trace follows into a fresh on-disk ladybug database by bulk ``COPY FROM`` CSV, and times the trace
from random API releases against the same walk in networkx (``bench.floor.nx_walk``).

Schema: one ``Node`` table (``id``, ``kind``) and one ``Edge`` table with ``kind`` as a property,
the shape of our own store. Per-kind tables (``Api``, ``Image``…, one rel table per edge kind with
its FROM/TO pairs) gave the same answers 8-30x slower (p50 7.7 ms at 20k nodes, 29 ms at 100k,
against about 1 ms) and took 5x the disk: an unlabelled recursive pattern joins across every rel
table on every hop. A trace is kind-agnostic, and a new node or edge kind would need DDL before it
could be ingested, so the single pair of tables is what a user would pick for this question.

Query: ``* SHORTEST 1..depth`` from the root gives each reached node once with its BFS distance;
``OPTIONAL MATCH`` of each reached node's out-edges in the same query gives the edges, and those
whose target was not reached (only from nodes at the depth limit) are dropped in Python. Tried at
100k nodes, one thread, p50: this 0.6 ms; ``ALL SHORTEST`` + ``DISTINCT`` 0.8 ms; plain
``*1..depth`` with ``min(length(p))`` 0.9 ms (it enumerates every walk: exponential on
diamond-shaped lineage); nodes first, then the edges by ``UNWIND $ids … WHERE b.id IN $ids`` in a
second query, 23 ms (it grows with the graph). ``WSHORTEST`` needs a weight property: with unit
weights it is ``SHORTEST`` done the slow way.

Threads: queries run on one thread (``set_max_threads_for_exec(1)``): on these small traces the
default, all cores, doubled the p50 (1.0 ms against 0.5 ms at 20k nodes); ``COPY`` keeps them all.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import networkx as nx

from bench.floor import nx_walk, traversed_edges
from bench.timings import Timings

if TYPE_CHECKING:
    import ladybug

WARMUP_ROOTS = 20
QUERY_THREADS = 1  # a trace touches tens of nodes: thread hand-offs cost more than they share
MAX_DEPTH = 30  # ladybug's default cap on a recursive pattern's upper bound (var_length_extend_max_depth)
DB_NAME = "lineage.lbug"

SCHEMA = ("CREATE NODE TABLE Node(id STRING PRIMARY KEY, kind STRING)",
          "CREATE REL TABLE Edge(FROM Node TO Node, kind STRING)")

Answer = tuple[dict[str, int], list[tuple[str, str, str]]]


def available() -> str | None:
    """The installed ladybug version, or None when it cannot be imported (it is the ``bench`` extra)."""
    try:
        import ladybug
    except ImportError:
        return None
    return str(ladybug.__version__)


def trace_query(depth: int) -> str:
    """The trace in Cypher, with the root as the ``$root`` parameter.

    The depth is written into the text because the grammar takes only a literal as the bound of a
    recursive pattern; it is checked to be an int in range first, so no outside text gets in.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be an integer from 1 to {MAX_DEPTH}, got {depth!r}")
    # The recursive pattern's lower bound must be 1 for SHORTEST, so the root's own out-edges come
    # from the second branch of the UNION.
    return (f"MATCH (r:Node {{id: $root}})-[p:Edge* SHORTEST 1..{depth}]->(a:Node)\n"
            "OPTIONAL MATCH (a)-[e:Edge]->(b:Node)\n"
            "RETURN a.id AS node, length(p) AS depth, b.id AS target, e.kind AS kind\n"
            "UNION ALL\n"
            "MATCH (r:Node {id: $root})\n"
            "OPTIONAL MATCH (r)-[e:Edge]->(b:Node)\n"
            "RETURN r.id AS node, 0 AS depth, b.id AS target, e.kind AS kind")


def answer_from_rows(rows: Sequence[Sequence[Any]]) -> Answer:
    """Distances and edges among the reached nodes, in the shape ``nx_walk`` returns."""
    depth_of = {node: depth for node, depth, _, _ in rows}
    edges = [(node, target, kind) for node, _, target, kind in rows if target is not None and target in depth_of]
    return depth_of, edges


def _kind_of(node: str, node_kinds: Mapping[str, str] | None) -> str:
    # Our node ids are "<kind>_<hash>", so the prefix is the kind when no mapping is given.
    return node_kinds[node] if node_kinds and node in node_kinds else node.partition("_")[0]


def write_csv(graph: nx.DiGraph, node_kinds: Mapping[str, str] | None, workdir: Path) -> tuple[Path, Path]:
    """The graph as the two CSV files ``COPY FROM`` reads: nodes (id, kind), edges (source, target, kind)."""
    nodes, edges = workdir / "nodes.csv", workdir / "edges.csv"
    with nodes.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(("id", "kind"))
        writer.writerows((node, _kind_of(node, node_kinds)) for node in graph.nodes)
    with edges.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(("from", "to", "kind"))
        writer.writerows((source, target, data["kind"]) for source, target, data in graph.edges(data=True))
    return nodes, edges


def _literal_path(path: Path) -> str:
    # COPY FROM takes its file only as a literal (a parameter must be a dataframe), so the path is
    # quoted here; it is our own workdir, refused rather than escaped if it could break the quoting.
    text = str(path.resolve())
    if "'" in text or "\\" in text:
        raise ValueError(f"workdir path must not contain quotes or backslashes for COPY FROM: {text!r}")
    return f"'{text}'"


def disk_bytes(workdir: Path) -> int:
    """The database's files (the main file, and its WAL if one is left)."""
    return sum(path.stat().st_size for path in workdir.glob(f"{DB_NAME}*") if path.is_file())


def load(connection: ladybug.Connection, nodes_csv: Path, edges_csv: Path) -> None:
    """Create the schema and bulk-load both files, then checkpoint so the size on disk is the data, not a WAL."""
    for statement in SCHEMA:
        connection.execute(statement)
    connection.execute(f"COPY Node FROM {_literal_path(nodes_csv)} (header=true)")
    connection.execute(f"COPY Edge FROM {_literal_path(edges_csv)} (header=true)")
    connection.execute("CHECKPOINT")


def trace(connection: ladybug.Connection, query: str, root: str) -> Answer:
    """One trace: ``query`` from ``trace_query``, the root as a parameter."""
    result = connection.execute(query, {"root": root})
    if isinstance(result, list):  # only a multi-statement query answers with a list
        raise TypeError("the trace query must be a single statement")
    return answer_from_rows(cast(list[list[Any]], result.get_all()))


def compare(graph: nx.DiGraph, roots: Sequence[str], depth: int, workdir: Path,
            node_kinds: Mapping[str, str] | None = None,
            store_counts: Sequence[tuple[int, int]] | None = None) -> dict[str, Any]:
    """Load ``graph`` into a fresh ladybug database in ``workdir``, trace from each root, check and time it.

    ``mismatches`` counts roots whose answer differs from ``nx_walk`` (distances and edges, not only
    their counts) or, when ``store_counts`` is given, whose (nodes, edges) counts differ from the store's.
    """
    import ladybug  # the bench extra; imported here so the bench suite runs without it

    query = trace_query(depth)
    missing = [root for root in roots if root not in graph]
    if missing:
        raise ValueError(f"{len(missing)} root(s) are not nodes of the graph, e.g. {missing[0]!r}")
    if store_counts is not None and len(store_counts) != len(roots):
        raise ValueError(f"store_counts has {len(store_counts)} entries for {len(roots)} roots; expected one per root")
    workdir.mkdir(parents=True, exist_ok=True)
    if disk_bytes(workdir):
        raise ValueError(f"{workdir} already holds a ladybug database ({DB_NAME}); give an empty workdir")

    started = time.perf_counter()
    nodes_csv, edges_csv = write_csv(graph, node_kinds, workdir)
    export_seconds = time.perf_counter() - started
    with ladybug.Database(str(workdir / DB_NAME)) as database, ladybug.Connection(database) as connection:
        started = time.perf_counter()
        load(connection, nodes_csv, edges_csv)
        load_seconds = time.perf_counter() - started
        connection.set_max_threads_for_exec(QUERY_THREADS)
        for root in roots[:WARMUP_ROOTS]:
            trace(connection, query, root)
        timings, floor = Timings(), Timings()
        vs_networkx = vs_store = either = 0
        for index, root in enumerate(roots):
            start = time.perf_counter()
            depth_of, edges = trace(connection, query, root)
            timings.add(time.perf_counter() - start)
            start = time.perf_counter()
            expected_depths, expected_edges = nx_walk(graph, root, depth)
            floor.add(time.perf_counter() - start)
            differs = (depth_of, sorted(edges)) != (expected_depths, sorted(expected_edges))
            differs_from_store = store_counts is not None and (len(depth_of), len(edges)) != tuple(store_counts[index])
            vs_networkx += differs
            vs_store += differs_from_store
            either += differs or differs_from_store
    disk = disk_bytes(workdir)
    return {"version": available(), "schema": "one Node table, one Edge table (kind as a property)",
            "query_threads": QUERY_THREADS,
            "nodes": graph.number_of_nodes(), "edges": graph.number_of_edges(),
            "export_csv_seconds": round(export_seconds, 3), "load_seconds": round(load_seconds, 3),
            "disk_mb": round(disk / 1e6, 2), "bytes_per_node": round(disk / max(1, graph.number_of_nodes())),
            "trace_ms": timings.summary(), "networkx_ms": floor.summary(), "mismatches": either,
            "mismatches_vs_networkx": vs_networkx,
            "mismatches_vs_store": vs_store if store_counts is not None else None,
            "query": query}


def synthetic_graph(nodes: int, seed: int) -> tuple[nx.DiGraph, dict[str, str], list[str]]:
    """The traced edges of the synthetic world, recorded as ``bench.run`` does, its node kinds and API releases."""
    from bench.synthetic import World  # pulls in the store modules: only the entry point needs it

    graph: nx.DiGraph = nx.DiGraph()
    record = traversed_edges(graph)
    kinds: dict[str, str] = {}
    for report in World(nodes, seed).reports():
        for fact in report.nodes:
            kinds[fact.id] = fact.kind.value
        for edge in report.edges:
            record(edge.source, edge.target, edge.kind.value)
    releases = [node for node, kind in kinds.items() if kind == "api" and node in graph]
    return graph, kinds, releases


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ladybug_engine", description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=20_000, help="synthetic graph size (default 20,000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--roots", type=int, default=500, help="random API releases to trace (default 500)")
    parser.add_argument("--depth", type=int, default=12, help="trace depth (default 12, the CLI's)")
    parser.add_argument("--workdir", type=Path, help="where the database goes (default: a temporary directory)")
    args = parser.parse_args(argv)
    if args.nodes < 1 or args.roots < 1:
        parser.error("--nodes and --roots must be positive")
    if not 1 <= args.depth <= MAX_DEPTH:
        parser.error(f"--depth must be from 1 to {MAX_DEPTH}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if available() is None:
        print("ladybug is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    print(f"building the synthetic world ({args.nodes:,} nodes, seed {args.seed})", file=sys.stderr)
    graph, kinds, releases = synthetic_graph(args.nodes, args.seed)
    roots = random.Random(args.seed).sample(releases, min(args.roots, len(releases)))
    with tempfile.TemporaryDirectory(prefix="ladybug-bench-") as scratch:
        workdir = args.workdir or Path(scratch)
        result = compare(graph, roots, args.depth, workdir, node_kinds=kinds)
    print(json.dumps(result, indent=2))
    ladybug_p50, networkx_p50 = result["trace_ms"].get("p50"), result["networkx_ms"].get("p50")
    if ladybug_p50 and networkx_p50:
        print(f"trace p50: ladybug {ladybug_p50} ms, networkx {networkx_p50} ms "
              f"({ladybug_p50 / networkx_p50:.1f}x); {result['mismatches']} mismatching roots", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
