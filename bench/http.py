"""``python -m bench.http [--nodes N] [--quick]``: the service over HTTP, load generator on the same machine.

For each server configuration (``lineage serve`` with one worker, then with ``--workers 2``), run as
a separate process on a scratch copy of the core benchmark's store:

1. warm-up: 50 clients for a few seconds (each worker thread opens its own SQLite connection);
2. ``GET /v1/trace?kind=api&ref=<service>@v<version>`` for random releases from one client
   (``wrk -c1``): latency;
3. the same from 50 clients (``wrk -c50``): throughput and latency, while a sampler checks answers;
4. ``GET /v1/impact?kind=dataset&ref=<name>:<version>`` for random versions of services' raw
   datasets, from one client and from 50 (``--impact-references 0`` leaves these phases out);
5. ``POST /v1/events`` of distinct synthetic events, one per request, from 50 concurrent senders,
   each 200 meaning "durably recorded" (WAL, ``synchronous=FULL``, group commit): events/s, the
   group commits from ``/metrics``, and the store's events checked against the acknowledged ones.

Needs ``wrk`` (``apt-get install -y wrk``) and the store ``bench/results/bench-<N>-seed<S>.db`` that
``python -m bench.run --nodes N`` builds (the kept store is never written: the copy is). Results go
to ``bench/results/http-<N>.json``; the table to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

import orjson
from prometheus_client.parser import text_string_to_metric_families

from bench import report
from bench.http_clients import Release, Sampler, get, post_events, require_wrk, write_references, wrk
from bench.http_server import Server, free_port
from bench.machine import describe
from bench.run import shown
from bench.synthetic import World
from graph_schema.canonical import display_version
from graph_schema.kinds import NodeKind, canonical_key, node_id

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_NODES, QUICK_NODES = 1_000_000, 20_000
# Events come from services of their own, numbered after those of bench.run's event sample (1,000,000)
# and transaction sweep (2,000,000 on): new nodes, not updates of the world's.
EVENT_SERVICES_FROM = 3_000_000

T = TypeVar("T")

TARGETS = {  # paths inside one server configuration's results
    "trace_1_client_p50_ms": report.Target(("single", "latency_ms", "p50"), False, 3.0),
    "trace_1_client_p99_ms": report.Target(("single", "latency_ms", "p99"), False, 10.0),
    "traces_per_s_50_clients": report.Target(("concurrent", "requests_per_s"), True, 1_000),
    "events_per_s_50_senders": report.Target(("events", "events_per_s"), True, 1_000),
}


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.http", description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, help=f"store size (default {DEFAULT_NODES:,}; --quick {QUICK_NODES:,})")
    parser.add_argument("--quick", action="store_true", help="the small store and short phases: about a minute")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", default="1,2", help="server configurations to measure (default 1,2)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients and senders (default 50)")
    parser.add_argument("--seconds", type=float, help="length of each trace phase (default 20, --quick 5)")
    parser.add_argument("--warmup", type=float, help="seconds of 50-client warm-up (default 10, --quick 3)")
    parser.add_argument("--events", type=int, help="events posted per configuration (default 20,000; --quick 3,000)")
    parser.add_argument("--references", type=int, default=2_000, help="random releases to trace (default 2,000)")
    parser.add_argument("--impact-references", type=int, default=500,
                        help="random service dataset versions for the impact phases (default 500; 0: no impact)")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="directory holding bench.run's store, and the results (default bench/results)")
    parser.add_argument("--out", type=Path, help="results file (default <results>/http-<N>.json)")
    return parser.parse_args(argv)


def _say(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def _copy_store(db: Path, scratch: Path) -> None:
    """A scratch copy for the service to write to, on disk before anything is timed.

    Without the fsync, the kernel would still be writing back ~900 MB of copied pages while the
    event phase waits on its own fsyncs.
    """
    _remove_store(scratch)
    for suffix in ("", "-wal"):
        if Path(f"{db}{suffix}").exists():
            shutil.copyfile(f"{db}{suffix}", f"{scratch}{suffix}")
            with open(f"{scratch}{suffix}", "rb+") as copied:
                os.fsync(copied.fileno())


def _remove_store(db: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-writer.lock"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def _releases(db: Path, seed: int, count: int) -> list[Release]:
    """Random api releases, with the root id and label each answer must carry, computed from the key."""
    with sqlite3.connect(db) as connection:
        keys = [json.loads(key) for (key,) in connection.execute("SELECT key FROM nodes WHERE kind = 'api'")]
    connection.close()
    releases = []
    for key in random.Random(seed).sample(keys, min(count, len(keys))):
        version = display_version(key["version"])
        releases.append(Release(f"{key['service']}@{version}", node_id(NodeKind.API, canonical_key(NodeKind.API, key)),
                                f"{key['service']} {version}"))
    return releases


def _datasets(db: Path, seed: int, count: int) -> list[Release]:
    """Random versions of services' raw datasets (as the in-process impact sample), root id and label from the store."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT id, key, label FROM nodes WHERE kind = 'dataset' "
                                  "AND json_extract(key, '$.name') LIKE '%-raw-%'").fetchall()
    connection.close()
    rows.sort()
    return [Release(f"{key['name']}:{key['version']}", node, label, route="impact", kind="dataset")
            for node, key, label in ((n, json.loads(k), label) for n, k, label in
                                     random.Random(seed).sample(rows, min(count, len(rows))))]


def _events(count: int, seed: int, first_service: int) -> list[tuple[str, bytes]]:
    """``count`` distinct lineage events (~5 nodes and ~5 edges each) as request bodies, by id."""
    world = World(count * 4, seed, first_service=first_service)  # ~0.45 events per node: plenty
    events = [report.event() for report in islice(world.reports(), count)]
    if len(events) < count:
        raise RuntimeError(f"the synthetic world gave {len(events)} events, not {count}")
    return [(event["id"], orjson.dumps(event)) for event in events]


def _store_events(db: Path) -> tuple[int, int]:
    """(events in the store, highest event seq), read from the file rather than from the service."""
    with sqlite3.connect(db) as connection:
        count, last = connection.execute("SELECT count(*), coalesce(max(seq), 0) FROM events").fetchone()
    connection.close()
    return count, last


def _check_store(db: Path, before: tuple[int, int], acknowledged: set[str]) -> dict[str, Any]:
    """After the server stopped: the events it recorded are exactly the acknowledged ones, all applied."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT id, status FROM events WHERE seq > ?", (before[1],)).fetchall()
        after = connection.execute("SELECT count(*) FROM events").fetchone()[0]
    connection.close()
    stored = {event_id for event_id, _ in rows}
    statuses: dict[str, int] = {}
    for _, status in rows:
        statuses[status] = statuses.get(status, 0) + 1
    return {"events_before": before[0], "events_after": after, "new_events": len(stored),
            "acknowledged": len(acknowledged), "statuses": statuses,
            "equal": stored == acknowledged and after - before[0] == len(acknowledged),
            "stored_not_acknowledged": sorted(stored - acknowledged)[:5],
            "acknowledged_not_stored": sorted(acknowledged - stored)[:5]}


def _busy_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine, from /proc/stat: what everyone else used too."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def _phase(server: Server, measure: Callable[[], T], cores: int) -> tuple[T, dict[str, Any]]:
    """Run one load phase; returns its result and the CPU the server and the whole machine used meanwhile."""
    cpu, machine, start = server.cpu_by_process(), _busy_jiffies(), time.perf_counter()
    result = measure()
    seconds = time.perf_counter() - start
    used = [now - cpu.get(pid, 0.0) for pid, now in server.cpu_by_process().items()]
    busy, total = (now - then for now, then in zip(_busy_jiffies(), machine, strict=True))
    # By process, the busiest first: with several workers, how evenly the kernel spread the
    # clients' connections (each keeps its connection, so a skew lasts the whole phase).
    by_process = sorted((round(share / seconds, 2) for share in used), reverse=True)[:server.workers]
    return result, {"server_cpu_seconds": round(sum(used), 2), "server_cpu_share": round(sum(used) / seconds, 3),
                    "server_cpu_share_by_worker": by_process,
                    "machine_busy_cores": round(cores * busy / max(1, total), 2),
                    "load_average_at_end": round(os.getloadavg()[0], 2)}


def _metric_pairs(text: str) -> tuple[int, int | None]:
    """(POST /v1/events requests answered, group commits) from one worker's /metrics."""
    posts, groups = 0, None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "lineage_http_requests_total" and sample.labels.get("route") == "/v1/events" \
                    and sample.labels.get("method") == "POST":
                posts += int(sample.value)
            elif sample.name == "lineage_group_commits_total":
                groups = int(sample.value)
    return posts, groups


def _group_commits(port: int, workers: int, requests: int, attempts: int = 40) -> dict[str, Any]:
    """Group commits summed over the workers, read from /metrics.

    Each worker has its own writer and its own metrics, and a scrape reaches whichever worker
    accepts the connection. After the load every worker's (requests, commits) pair is frozen, so
    distinct pairs are distinct workers; when their requests add up to all that were sent, every
    worker has been counted.
    """
    seen: set[tuple[int, int | None]] = set()
    for _ in range(attempts):
        status, body = get(port, "/metrics")
        if status == 200:
            seen.add(_metric_pairs(body.decode()))
        if sum(posts for posts, _ in seen) == requests:
            break
    pairs = list(seen)
    if len(pairs) == 1 and workers > 1 and pairs[0][0] * workers == requests:
        pairs *= workers  # every worker answered as many requests in as many commits: one pair for all
    commits = [groups for _, groups in pairs if groups is not None]
    counted = sum(posts for posts, _ in pairs)
    if counted != requests or len(commits) != len(pairs):
        return {"group_commits": None, "note": f"/metrics accounted for {counted} of {requests} requests"}
    total = sum(commits)
    return {"group_commits": total, "group_commits_by_worker": sorted(commits, reverse=True),
            "requests_per_group_commit": round(requests / total, 1) if total else None}


def _configuration(db: Path, workers: int, releases: list[Release], references: Path,
                   events: list[tuple[str, bytes]], args: argparse.Namespace, log: Path,
                   datasets: tuple[list[Release], Path] | None = None) -> dict[str, Any]:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    port = free_port()
    with Server(f"sqlite:///{db}", port, workers, log) as server:
        run: dict[str, Any] = {"workers": workers, "command": " ".join(Path(server.command[0]).name.split()
                                                                       + server.command[1:]),
                               "startup_seconds": round(server.startup_seconds or 0, 2)}
        _say(f"{workers} worker(s) ready in {run['startup_seconds']} s; warm-up, {args.clients} clients, "
             f"{args.warmup:g} s")
        run["warmup"] = wrk(port, references, args.clients, args.warmup, args.seed)
        _say(f"trace, 1 client, {args.seconds:g} s")
        single, cpu = _phase(server, lambda: wrk(port, references, 1, args.seconds, args.seed), cores)
        run["single"] = {**single, **cpu}
        _say(f"trace, {args.clients} clients, {args.seconds:g} s, answers sampled meanwhile")
        sampler = Sampler(port, releases, args.seed)
        sampler.start()
        try:
            concurrent, cpu = _phase(server, lambda: wrk(port, references, args.clients, args.seconds, args.seed),
                                     cores)
        finally:
            sampler.stopping.set()
            sampler.join()
        run["concurrent"] = {**concurrent, **cpu, "sampled": sampler.summary()}
        if datasets and datasets[0]:
            run.update(_impact_phases(server, port, datasets, args, cores))
        before = _store_events(db)
        _say(f"events, {len(events):,} from {args.clients} senders, one per request")
        (posted, acknowledged), cpu = _phase(server, lambda: post_events(port, events, args.clients), cores)
        run["events"] = {**posted, **cpu, **_group_commits(port, workers, posted["requests"])}
        run["memory"] = server.memory()
    run["events"]["store_check"] = _check_store(db, before, acknowledged)
    run["targets"] = {name: target.met(run) for name, target in TARGETS.items()}
    return run


def _impact_phases(server: Server, port: int, datasets: tuple[list[Release], Path], args: argparse.Namespace,
                   cores: int) -> dict[str, Any]:
    """Impact of dataset versions from 1 client and from ``args.clients``; wrk checks status and root label."""
    path = datasets[0][0].path()
    _say(f"impact, 1 client then {args.clients} clients, {args.seconds:g} s each")
    single, cpu = _phase(server, lambda: wrk(port, datasets[1], 1, args.seconds, args.seed, path=path), cores)
    many, many_cpu = _phase(server, lambda: wrk(port, datasets[1], args.clients, args.seconds, args.seed, path=path),
                            cores)
    return {"impact_single": {**single, **cpu}, "impact_concurrent": {**many, **many_cpu}}


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    nodes = args.nodes or (QUICK_NODES if args.quick else DEFAULT_NODES)
    args.seconds = args.seconds or (5.0 if args.quick else 20.0)
    args.warmup = args.warmup or (3.0 if args.quick else 10.0)
    args.events = args.events or (3_000 if args.quick else 20_000)
    configurations = [int(n) for n in args.workers.split(",")]
    require_wrk()
    db = args.results / f"bench-{nodes}-seed{args.seed}.db"
    if not db.exists():
        raise SystemExit(f"no store at {shown(db)}: build it with `python -m bench.run --nodes {nodes}`")
    out = args.out or args.results / f"http-{nodes}.json"
    results: dict[str, Any] = {"machine": describe(args.results, ROOT), "started_at": datetime.now(UTC).isoformat(),
                               "params": {"nodes": nodes, "seed": args.seed, "workers": configurations,
                                          "clients": args.clients, "seconds": args.seconds, "warmup": args.warmup,
                                          "events": args.events, "references": args.references,
                                          "impact_references": args.impact_references},
                               "runs": {}}
    machine = results["machine"]
    _say(f"{machine['cpu']}, {machine['usable_cores']} cores, load average {machine['load_average_at_start'][0]}; "
         f"copying {shown(db)} to a scratch store")
    scratch = args.results / f"http-{nodes}-seed{args.seed}-scratch.db"
    started = time.perf_counter()
    try:
        _copy_store(db, scratch)
        releases = _releases(scratch, args.seed, args.references)
        with sqlite3.connect(scratch) as connection:
            results["store"] = {"source": shown(db), "file_mb": round(db.stat().st_size / 1e6),
                                "nodes": connection.execute("SELECT count(*) FROM nodes").fetchone()[0]}
        connection.close()
        with tempfile.TemporaryDirectory(prefix="bench-http-") as temporary:
            references = Path(temporary) / "references.tsv"
            write_references(releases, references)
            impact_sample = _datasets(scratch, args.seed, args.impact_references) if args.impact_references else []
            impact_references = Path(temporary) / "datasets.tsv"
            write_references(impact_sample, impact_references)
            for index, workers in enumerate(configurations):
                events = _events(args.events, args.seed, EVENT_SERVICES_FROM + index * 100_000)
                log = Path(temporary) / f"serve-{workers}.log"
                results["runs"][str(workers)] = _configuration(scratch, workers, releases, references, events,
                                                               args, log, (impact_sample, impact_references))
    finally:
        _remove_store(scratch)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["elapsed_seconds"] = round(time.perf_counter() - started, 1)
    results["finished_at"] = datetime.now(UTC).isoformat()
    out.write_text(json.dumps(results, indent=2) + "\n")
    write_table(results)
    print(f"\nresults: {out} ({results['elapsed_seconds']:.0f} s in all)")
    return 0


def _ms(stats: dict[str, Any], *keys: str) -> str:
    def value(ms: float | None) -> str:
        return "-" if ms is None else f"{ms:.2f}" if ms < 10 else f"{ms:.1f}" if ms < 100 else f"{ms:,.0f}"

    return " / ".join(f"{key} {value(stats.get(key))}" for key in keys) + " ms"


def _cpu(phase: dict[str, Any], generator: str, requests: int) -> str:
    workers = phase["server_cpu_share_by_worker"]
    split = f" ({' + '.join(f'{share:.2f}' for share in workers)})" if len(workers) > 1 else ""
    per_request = 1e3 * phase["server_cpu_seconds"] / max(1, requests)
    return (f"server {phase['server_cpu_share']:.2f}{split} = {per_request:.2f} ms per request, {generator} "
            f"{phase['generator_cpu_share']:.2f}, whole machine {phase['machine_busy_cores']:.2f} (load average "
            f"{phase['load_average_at_start']} → {phase['load_average_at_end']})")


def _rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = [("store", f"{results['store']['nodes']:,} nodes, {results['store']['file_mb']:,} MB "
                      f"(scratch copy of {results['store']['source']})", "")]
    for workers, run in results["runs"].items():
        def target(name: str, metric: str, value: str, run: dict[str, Any] = run) -> tuple[str, str, str]:
            met = TARGETS[name].met(run)
            return metric, value, TARGETS[name].describe() + ("" if met is None else " ok" if met else " MISSED")

        single, many, events = run["single"], run["concurrent"], run["events"]
        check = events["store_check"]
        rows += [
            (f"-- lineage serve --workers {workers}", f"ready in {run['startup_seconds']} s", ""),
            target("trace_1_client_p50_ms", "trace, 1 client, p50", f"{single['latency_ms']['p50']:.2f} ms "
                   f"({single['requests_per_s']:,} traces/s, n={single['requests']:,})"),
            target("trace_1_client_p99_ms", "trace, 1 client, p99", _ms(single["latency_ms"], "p99", "p999", "max")),
            ("  CPU in cores", _cpu(single, "wrk", single["requests"]), ""),
            target("traces_per_s_50_clients", f"trace, {many['connections']} clients",
                   f"{many['requests_per_s']:,} traces/s (n={many['requests']:,})"),
            ("  latency", _ms(many["latency_ms"], "p50", "p90", "p99", "max"), ""),
            ("  CPU in cores", _cpu(many, "wrk", many["requests"]), ""),
            *_impact_rows(run),
            ("  answers checked", f"{many['wrong_status'] + single['wrong_status']} not 200 and "
                                  f"{many['wrong_root'] + single['wrong_root']} wrong roots of "
                                  f"{many['answered'] + single['answered']:,}; sampled exactly: "
                                  f"{many['sampled']['problems']} wrong of {many['sampled']['checked']}", ""),
            target("events_per_s_50_senders", f"events, {events['senders']} senders",
                   f"{events['events_per_s']:,} events/s ({events['accepted']:,} in {events['seconds']} s)"),
            ("  latency", _ms(events["latency_ms"], "p50", "p90", "p99", "max"), ""),
            ("  group commits", f"{events.get('group_commits')} for {events['requests']:,} requests "
                                f"({events.get('requests_per_group_commit')} requests each)", ""),
            ("  CPU in cores", _cpu(events, "client", events["requests"]), ""),
            ("  store check", f"{check['new_events']:,} new events in the store, {check['acknowledged']:,} "
                              f"acknowledged: {'equal' if check['equal'] else 'DIFFERENT'}; {check['statuses']}", ""),
            ("  memory per worker", f"RSS {run['memory']['rss_mib']} MiB (peak {run['memory']['peak_rss_mib']}, "
                                    f"anonymous {run['memory']['anon_rss_mib']})", ""),
        ]
    return rows


def _impact_rows(run: dict[str, Any]) -> list[tuple[str, str, str]]:
    if "impact_single" not in run:
        return []
    single, many = run["impact_single"], run["impact_concurrent"]
    return [("impact, 1 client", f"{_ms(single['latency_ms'], 'p50', 'p99')} ({single['requests_per_s']:,}/s)", ""),
            (f"impact, {many['connections']} clients",
             f"{many['requests_per_s']:,}/s, {_ms(many['latency_ms'], 'p50', 'p99')}; "
             f"{many['wrong_status'] + single['wrong_status']} not 200, "
             f"{many['wrong_root'] + single['wrong_root']} wrong roots", "")]


def write_table(results: dict[str, Any]) -> None:
    print(report.machine_line(results["machine"]))
    report.print_rows(_rows(results))


if __name__ == "__main__":
    sys.exit(main())
