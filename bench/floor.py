"""The in-memory floor: the store's walk done by networkx on a DiGraph of the same edges."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import networkx as nx

from bench.timings import Timings
from graph_schema.edges import UNTRAVERSED


def traversed_edges(graph: nx.DiGraph) -> Callable[[str, str, str], None]:
    """A recorder that adds the edges a trace follows to ``graph`` (commit parents are never followed)."""
    def record(source: str, target: str, kind: str) -> None:
        if kind not in UNTRAVERSED:
            graph.add_edge(source, target, kind=kind)

    return record


def nx_walk(graph: nx.DiGraph, root: str, depth: int) -> tuple[dict[str, int], list[tuple[str, str, str]]]:
    """Nodes within ``depth`` hops with their distance, and the edges among them: what ``store.walk`` returns."""
    depth_of: dict[str, int] = nx.single_source_shortest_path_length(graph, root, cutoff=depth)
    edges = [(u, v, data["kind"]) for u in depth_of for v, data in graph.succ[u].items() if v in depth_of]
    return depth_of, edges


def floor(graph: nx.DiGraph, roots: Sequence[str], store_counts: Sequence[Sequence[int]],
          depth: int) -> dict[str, Any]:
    """Time the walk from each root, and check its node and edge counts against the store's."""
    timings, mismatches = Timings(), 0
    for root, (store_nodes, store_edges) in zip(roots, store_counts, strict=True):
        start = time.perf_counter()
        depth_of, edges = nx_walk(graph, root, depth)
        timings.add(time.perf_counter() - start)
        mismatches += (len(depth_of), len(edges)) != (store_nodes, store_edges)
    return {"networkx_ms": timings.summary(), "walk_vs_networkx_mismatches": mismatches}
