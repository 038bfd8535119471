"""Trace and impact in process, timed in a lean child process that holds only the store.

The benchmark process holds the networkx graph and what is left of generating a million nodes
(over a gigabyte of Python objects); an API worker holds only the store. So ``measure`` runs this
module as ``python -m bench.queries`` with the samples on stdin and reads the results from stdout,
and the worker's own peak RSS comes back with them.

Timings go through the functions the CLI and the HTTP API call (``references.resolve`` then
``trace.trace``), so they include decoding rows and building the answer; ``store.walk``,
the JSON the CLI prints (orjson) and a resolve-free ``get_nodes`` + ``trace`` are timed alone too.
The CPU time of resolve + trace is kept beside the wall time: on a shared machine, the wall time
also counts waiting for a core.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench.timings import Timings, in_child, own_peak_rss_mib, sizes
from graph_schema.edges import UNTRAVERSED
from graph_schema.kinds import NodeKind, canonical_key, node_id
from lineage_service.query.references import ReferenceProblem, resolve
from lineage_service.query.trace import DEFAULT_LIMIT, trace
from lineage_service.store import open_store
from lineage_service.store.base import Direction, GraphStore


def measure(store_uri: str, releases: Sequence[tuple[str, str]], service_datasets: Sequence[str],
            shared_datasets: Sequence[str], depth: int, warmup: int) -> dict[str, Any]:
    """Run the in-process measurements in a fresh interpreter; see the module docstring."""
    request = {"store": store_uri, "releases": list(releases), "service_datasets": list(service_datasets),
               "shared_datasets": list(shared_datasets), "depth": depth, "warmup": warmup}
    return in_child("bench.queries", request, "query")


def _serve(request: dict[str, Any]) -> dict[str, Any]:
    depth = request["depth"]
    releases = [tuple(release) for release in request["releases"]]
    with open_store(request["store"]) as store:
        traced = trace_releases(store, releases, depth, request["warmup"])
        return {"trace": traced,
                "impact_service": impact_datasets(store, request["service_datasets"], depth),
                "impact_shared": impact_datasets(store, request["shared_datasets"], depth),
                "peak_rss_mib": own_peak_rss_mib()}


def trace_releases(store: GraphStore, releases: Sequence[tuple[str, ...]], depth: int,
                   warmup: int) -> dict[str, Any]:
    """``trace api <service>@<version>`` for each release, then its parts alone.

    Besides the summary, returns under ``roots``/``walk_counts``/``resolved`` what the caller needs
    for the networkx comparison and for picking cold CLI references.
    """
    references = [f"{service}@{version}" for service, version in releases]
    for reference in references[:warmup]:
        with contextlib.suppress(ReferenceProblem):
            trace(store, resolve(store, "api", reference).node, depth=depth)
    timed = _TracedReleases()
    for reference in references:
        timed.run(store, reference, depth)
    walking, counts = _walk_alone(store, timed.roots, depth)
    return {
        "references": len(references), "traced": len(timed.roots), "resolve_failures": len(timed.failures),
        "failure_examples": timed.failures[:5], "failed_resolve_ms": timed.failing.summary(), "depth": depth,
        "resolve_and_trace_ms": timed.total.summary(), "resolve_ms": timed.resolving.summary(),
        "trace_ms": timed.tracing.summary(), "resolve_and_trace_cpu_ms": timed.cpu.summary(),
        "store_walk_ms": walking.summary(),
        "json_dumps_ms": timed.dumping.summary(), "by_node_id_ms": _trace_by_id(store, releases, depth).summary(),
        "answer_nodes": sizes([n for n, _ in timed.sizes]), "answer_edges": sizes([e for _, e in timed.sizes]),
        "roots": timed.roots, "walk_counts": counts, "resolved": timed.resolved,
    }


@dataclass
class _TracedReleases:
    total: Timings = field(default_factory=Timings)
    resolving: Timings = field(default_factory=Timings)
    tracing: Timings = field(default_factory=Timings)
    dumping: Timings = field(default_factory=Timings)
    failing: Timings = field(default_factory=Timings)
    cpu: Timings = field(default_factory=Timings)
    roots: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)

    def run(self, store: GraphStore, reference: str, depth: int) -> None:
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            node = resolve(store, "api", reference).node
        except ReferenceProblem as exc:
            self.failing.add(time.perf_counter() - start)
            self.failures.append({"reference": reference, "error": str(exc)[:300]})
            return
        resolved = time.perf_counter()
        answer = trace(store, node, depth=depth)
        done = time.perf_counter()
        self.cpu.add(time.thread_time() - cpu)
        orjson.dumps(answer, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str)  # as the CLI prints it
        self.dumping.add(time.perf_counter() - done)
        self.total.add(done - start)
        self.resolving.add(resolved - start)
        self.tracing.add(done - resolved)
        self.roots.append(node.id)
        self.resolved.append(reference)
        self.sizes.append((len(answer["nodes"]), len(answer["edges"])))


def _walk_alone(store: GraphStore, roots: list[str], depth: int) -> tuple[Timings, list[tuple[int, int]]]:
    walking, counts = Timings(), []
    for root in roots:
        start = time.perf_counter()
        walked = store.walk([root], Direction.UPSTREAM, depth, skip_edge_kinds=UNTRAVERSED, limit=DEFAULT_LIMIT)
        walking.add(time.perf_counter() - start)
        counts.append((len(walked.nodes), len(walked.edges)))
    return walking, counts


def _trace_by_id(store: GraphStore, releases: Sequence[tuple[str, ...]], depth: int) -> Timings:
    """The trace with the release read by its id (a primary-key lookup) instead of resolved from text."""
    timings = Timings()
    for service, version in releases:
        start = time.perf_counter()
        key = canonical_key(NodeKind.API, {"service": service, "version": version})
        trace(store, store.get_nodes([node_id(NodeKind.API, key)])[0], depth=depth)
        timings.add(time.perf_counter() - start)
    return timings


def impact_datasets(store: GraphStore, references: Sequence[str], depth: int) -> dict[str, Any]:
    """``impact dataset <name:version>``: what was built on a dataset version."""
    total, nodes, apis, truncated, failures = Timings(), [], [], 0, 0
    for reference in references:
        start = time.perf_counter()
        try:
            node = resolve(store, "dataset", reference).node
        except ReferenceProblem:
            failures += 1
            continue
        answer = trace(store, node, Direction.DOWNSTREAM, depth=depth)
        total.add(time.perf_counter() - start)
        nodes.append(len(answer["nodes"]))
        apis.append(len(answer["summary"]["apis"]))
        truncated += bool(answer["truncated"])
    return {"references": len(references), "resolve_failures": failures, "resolve_and_impact_ms": total.summary(),
            "answer_nodes": sizes(nodes), "affected_apis": sizes(apis), "truncated_at_limit": truncated,
            "limit": DEFAULT_LIMIT}


if __name__ == "__main__":
    json.dump(_serve(json.load(sys.stdin)), sys.stdout)
