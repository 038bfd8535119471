"""``python -m bench.run [--nodes N] [--quick]``: load a synthetic history and time what users wait for.

1. bulk ingest: facts through ``store.apply`` in transactions of ~20k facts, then a sample of lineage
   events through ``lineage_service.ingest`` (validate, log, apply), one per call and batched;
2. ``trace api <service>@<version>`` at depth 12 in process (resolve + trace) for random releases,
   with the store walk, ``json.dumps`` and the same walk in networkx (the in-memory floor) timed alone;
3. ``impact dataset <name>:<version>`` for service datasets and shared platform datasets;
4. ``lineage trace api … --format json`` as a new process, the way an on-call engineer runs it;
5. when ``bench/ladybug_engine.py`` and ladybug are installed, the same walk in ladybug (an embedded
   graph database) on the networkx graph, else ``"ladybug": {"status": "not installed"}``.

The store is the shipped embedded SQLite store (WAL, ``synchronous=FULL``) in ``bench/results/``;
results go to ``bench/results/latest.json`` and ``bench/results/nodes-<N>.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import networkx as nx

from bench import ladybug_hook, report
from bench.cold_cli import cold_cli
from bench.floor import floor, traversed_edges
from bench.load import BulkLoad, bulk_load, event_ingest, transaction_sweep
from bench.machine import describe, peak_rss_mib
from bench.queries import measure
from bench.synthetic import Census, Report, World
from lineage_service.query.trace import DEFAULT_DEPTH
from lineage_service.store import open_store
from lineage_service.store.base import GraphStore

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_NODES, QUICK_NODES = 1_000_000, 20_000
# The event sample and the transaction-size sweep get services of their own, named after the bulk world's.
EVENT_SERVICES_FROM, SWEEP_SERVICES_FROM = 1_000_000, 2_000_000
SWEEP_SIZES = (5_000, 20_000, 100_000)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, help=f"graph size (default {DEFAULT_NODES:,}; --quick {QUICK_NODES:,})")
    parser.add_argument("--quick", action="store_true", help="a small graph and fewer samples: seconds, not minutes")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--traces", type=int, help="random releases to trace (default 2000, --quick 1000)")
    parser.add_argument("--cli-runs", type=int, help="cold CLI runs (default 15, --quick 10)")
    parser.add_argument("--chunk-facts", type=int, default=20_000, help="facts per store.apply transaction")
    parser.add_argument("--reuse", action="store_true",
                        help="keep an existing store of this size and seed: re-measure the queries only, and carry "
                             "the ingest numbers over from its last results")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="directory of the store and the result files (default bench/results)")
    parser.add_argument("--out", type=Path, help="results file (default <results>/latest.json)")
    return parser.parse_args(argv)


def shown(path: Path) -> str:
    """A path as the results show it: relative to the repository when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _say(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def _remove_store(db: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-writer.lock"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def _world_summary(world: World) -> dict[str, Any]:
    census: Census = world.census
    return {"nodes": census.nodes, "by_kind": dict(sorted(census.by_kind.items())), "services": census.services,
            "releases": len(census.releases), "raw_dataset_versions": len(census.datasets),
            "largest_version_share": census.largest_version_share, "people": world.people,
            "shared_datasets": world.shared, "wide_nodes": dict(census.wide), "seed": world.seed,
            "shape": asdict(world.shape)}


def _load(store: GraphStore, world: World, graph: nx.DiGraph, chunk_facts: int, reuse: bool,
          node_kinds: dict[str, str] | None) -> BulkLoad:
    record = traversed_edges(graph)

    def on_report(item: Report) -> None:
        for edge in item.edges:
            record(edge.source, edge.target, edge.kind.value)
        if node_kinds is not None:  # only for the ladybug comparison: ~100 MB at a million nodes
            for node in item.nodes:
                node_kinds[node.id] = node.kind.value

    _say(("regenerating the world of the kept store" if reuse else "generating and loading") +
         f" ({world.target_nodes:,} nodes)")
    return bulk_load(None if reuse else store, world.reports(), chunk_facts, on_report)


def _events(store: GraphStore, nodes: int, seed: int, quick: bool) -> dict[str, Any]:
    sample = list(World(max(2_000, nodes // 50), seed, first_service=EVENT_SERVICES_FROM).reports())
    _say(f"ingesting {len(sample):,} lineage events through validate → log → apply")
    return event_ingest(store, sample, single=50 if quick else 200, batch_size=500)


def _queries(graph: nx.DiGraph, census: Census, args: argparse.Namespace, store_uri: str,
             node_kinds: dict[str, str] | None) -> dict[str, Any]:
    rng = random.Random(args.seed)
    releases = rng.sample(census.releases, min(args.traces, len(census.releases)))
    local = [f"{n}:{v}" for n, v, shared in census.datasets if not shared]
    shared = [f"{n}:{v}" for n, v, shared in census.datasets if shared]
    samples = (200, 30) if args.quick else (500, 100)
    _say(f"tracing {len(releases):,} random releases (depth {DEFAULT_DEPTH}), then impact of dataset versions, "
         "in a process that only opens the store")
    results = measure(store_uri, releases, rng.sample(local, min(samples[0], len(local))),
                      rng.sample(shared, min(samples[1], len(shared))), DEFAULT_DEPTH, warmup=min(100, len(releases)))
    traced = results["trace"]
    roots, counts = traced.pop("roots"), [tuple(pair) for pair in traced.pop("walk_counts")]
    traced.update(floor(graph, roots, counts, DEFAULT_DEPTH))
    _say("ladybug comparison" if node_kinds is not None else "ladybug comparison: not installed, skipped")
    results["ladybug"] = ladybug_hook.compare(graph, roots, DEFAULT_DEPTH, node_kinds, counts, args.results)
    resolved = traced.pop("resolved")
    _say(f"cold CLI, {args.cli_runs} runs")
    results["cli"] = cold_cli(store_uri, rng.sample(resolved, len(resolved)), args.cli_runs)
    return results


def _store_summary(store: GraphStore, db: Path, nodes: int) -> dict[str, Any]:
    stats = store.stats()
    size = db.stat().st_size
    wal = Path(f"{db}-wal")
    return {"path": shown(db), "nodes": sum(stats["nodes"].values()),
            "edges": sum(stats["edges"].values()), "edges_by_kind": stats["edges"], "events": stats["events"],
            "file_mb": round(size / 1e6, 1), "wal_mb": round(wal.stat().st_size / 1e6, 1) if wal.exists() else 0,
            "bytes_per_node": round(size / max(1, nodes))}


def _ratio(traced: dict[str, Any], name: str) -> float | None:
    networkx = traced["networkx_ms"].get("p50")
    value = traced[name].get("p50")
    return round(value / networkx, 1) if networkx and value else None


def _writes_on_a_copy(db: Path, nodes: int, args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The event sample and the transaction-size sweep, on a copy of the loaded store.

    They write at full size without changing the kept store, so that it holds exactly the synthetic
    world and a ``--reuse`` run queries the same graph as the run that loaded it.
    """
    scratch = db.with_name(f"{db.stem}-scratch.db")
    _remove_store(scratch)
    for suffix in ("", "-wal"):
        if Path(f"{db}{suffix}").exists():
            shutil.copyfile(f"{db}{suffix}", f"{scratch}{suffix}")
    try:
        with open_store(f"sqlite:///{scratch}") as store:
            events = _events(store, nodes, args.seed, args.quick)
            _say(f"bulk ingest at full size, transactions of {', '.join(f'{n:,}' for n in SWEEP_SIZES)} facts")
            sweep = transaction_sweep(store, args.seed, max(2_000, nodes // 20), SWEEP_SIZES, SWEEP_SERVICES_FROM)
    finally:
        _remove_store(scratch)
    return events, sweep


def _carried_over(results_dir: Path, nodes: int, seed: int) -> dict[str, Any]:
    previous = results_dir / f"nodes-{nodes}.json"
    if not previous.exists():
        return {}
    data = json.loads(previous.read_text())
    if data.get("params", {}).get("seed") != seed:
        return {}
    carried = {key: data[key] for key in ("ingest", "events") if key in data}
    for value in carried.values():
        value["carried_over_from"] = data.get("finished_at")
    return carried


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    nodes = args.nodes or (QUICK_NODES if args.quick else DEFAULT_NODES)
    args.traces = args.traces or (1000 if args.quick else 2000)
    args.cli_runs = args.cli_runs or (10 if args.quick else 15)
    args.results.mkdir(parents=True, exist_ok=True)
    args.out = args.out or args.results / "latest.json"
    db = args.results / f"bench-{nodes}-seed{args.seed}.db"
    reuse = args.reuse and db.exists()
    if not reuse:
        _remove_store(db)
    started = time.perf_counter()
    results: dict[str, Any] = {"machine": describe(args.results, ROOT), "started_at": datetime.now(UTC).isoformat(),
                               "params": {"nodes": nodes, "seed": args.seed, "traces": args.traces,
                                          "cli_runs": args.cli_runs, "chunk_facts": args.chunk_facts,
                                          "reused_store": reuse}}
    machine = results["machine"]
    _say(f"{machine['cpu']}, {machine['usable_cores']} cores, {machine['memory_gib']} GiB, Python {machine['python']}, "
         f"SQLite {machine['sqlite']}, store {shown(db)}")
    graph: nx.DiGraph = nx.DiGraph()
    world = World(nodes, args.seed)
    with open_store(f"sqlite:///{db}") as store:
        # The cyclic GC would rescan the growing networkx graph (millions of objects, kept only as the
        # floor) during the load and the timed queries; a lineage process holds no such heap. Nothing
        # here builds reference cycles, so the load runs without it, and then the graph is frozen out
        # of its sight.
        gc.disable()
        node_kinds: dict[str, str] | None = {} if ladybug_hook.engine()[0] is not None else None
        load = _load(store, world, graph, args.chunk_facts, reuse, node_kinds)
        if reuse and sum(store.stats()["nodes"].values()) != world.census.nodes:
            raise SystemExit(f"--reuse: {shown(db)} does not hold the world the generator makes now "
                             f"({world.census.nodes:,} nodes): it was built by another version of "
                             "bench/synthetic.py; run without --reuse to rebuild it")
        gc.collect()
        gc.freeze()
        gc.enable()
    results["world"] = _world_summary(world)
    results["ingest"] = load.summary()
    if reuse:
        results.update(_carried_over(args.results, nodes, args.seed))
    else:
        results["events"], results["ingest"]["at_full_size"] = _writes_on_a_copy(db, nodes, args)
    results["memory"] = {"bench_peak_rss_after_load_mib": peak_rss_mib()}
    results.update(_queries(graph, world.census, args, f"sqlite:///{db}", node_kinds))
    with open_store(f"sqlite:///{db}") as store:
        results["store"] = _store_summary(store, db, world.census.nodes)
    results["networkx_ratio"] = {"walk_p50": _ratio(results["trace"], "store_walk_ms"),
                                 "trace_p50": _ratio(results["trace"], "resolve_and_trace_ms")}
    results["memory"].update(bench_peak_rss_mib=peak_rss_mib(), query_process_peak_rss_mib=results.pop("peak_rss_mib"),
                             cli_peak_rss_mib=results["cli"]["peak_rss_mib"])
    results["targets"] = report.verdicts(results)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["elapsed_seconds"] = round(time.perf_counter() - started, 1)
    results["finished_at"] = datetime.now(UTC).isoformat()
    text = json.dumps(results, indent=2, default=str)
    for path in {args.out, args.results / f"nodes-{nodes}.json"}:
        path.write_text(text + "\n")
    report.table(results)
    print(f"\nresults: {args.out} and {args.results / f'nodes-{nodes}.json'} "
          f"({results['elapsed_seconds']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
