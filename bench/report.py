"""The results table printed at the end of a run, with the targets beside the measured values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Results = dict[str, Any]


@dataclass(frozen=True)
class Target:
    path: tuple[str, ...]
    at_least: bool  # True: higher is better
    value: float

    def met(self, results: Results) -> bool | None:
        measured = dig(results, self.path)
        if not isinstance(measured, int | float):
            return None
        return measured >= self.value if self.at_least else measured <= self.value

    def describe(self) -> str:
        return f"{'≥' if self.at_least else '≤'} {self.value:,g}"


TARGETS = {
    "bulk_facts_per_s": Target(("ingest", "facts_per_s"), True, 50_000),
    "trace_p50_ms": Target(("trace", "resolve_and_trace_ms", "p50"), False, 1.0),
    "trace_p99_ms": Target(("trace", "resolve_and_trace_ms", "p99"), False, 5.0),
    "cli_median_ms": Target(("cli", "trace_ms", "p50"), False, 300.0),
    # Issue 9: "within 2x of the in-memory floor for trace while durable" (the walk against networkx).
    "walk_vs_floor": Target(("networkx_ratio", "walk_p50"), False, 2.0),
}


def dig(results: Results, path: tuple[str, ...]) -> Any:
    value: Any = results
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def verdicts(results: Results) -> dict[str, bool | None]:
    return {name: target.met(results) for name, target in TARGETS.items()}


def _number(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value < 100:
        text = f"{value:.2f}" if value < 10 else f"{value:.1f}"
    else:
        text = f"{round(value):,}"
    return f"{text} {unit}".strip()


def _percentiles(results: Results, *path: str) -> str:
    stats = dig(results, path) or {}
    if not stats.get("n"):
        return "-"
    return f"p50 {_number(stats['p50'])} / p99 {_number(stats['p99'])} ms (n={stats['n']})"


def _rows(r: Results) -> list[tuple[str, str, str]]:
    world, load, events, store = r["world"], r["ingest"], r.get("events", {}), r["store"]

    def target(name: str, metric: str, value: str) -> tuple[str, str, str]:
        met = TARGETS[name].met(r)
        mark = "" if met is None else (" ok" if met else " MISSED")
        return metric, value, TARGETS[name].describe() + mark

    ratio = r.get("networkx_ratio", {})
    return [
        ("graph", f"{world['nodes']:,} nodes, {store['edges']:,} edges, {world['services']:,} services, "
                  f"{world['releases']:,} releases", ""),
        ("generate + load (wall)", f"{load['wall_seconds']:.0f} s ({load['apply_seconds']:.0f} s in store.apply, "
                                   f"{load['transactions']} transactions)", ""),
        target("bulk_facts_per_s", "bulk ingest, store.apply", _number(load["facts_per_s"], "facts/s")),
        ("  first / last tenth of the load", f"{_number(load['facts_per_s_first_tenth'])} / "
                                             f"{_number(load['facts_per_s_last_tenth'])} facts/s", ""),
        ("  at full size, by transaction", _sweep(load), ""),
        ("events: validate only", _number(events.get("validate_events_per_s"), "events/s"), ""),
        ("events: 1 per ingest call", f"{_number(dig(events, ('single', 'events_per_s')), 'events/s')} "
                                      f"({_number(dig(events, ('single', 'ms_per_event')), 'ms')} each)", ""),
        ("events: batched ingest", f"{_number(dig(events, ('batched', 'events_per_s')), 'events/s')}, "
                                   f"{_number(dig(events, ('batched', 'facts_per_s')), 'facts/s')}; log + apply "
                                   f"alone {_number(dig(events, ('batched', 'log_and_apply_events_per_s')))} events/s",
         ""),
        target("trace_p50_ms", "trace api, resolve + trace, p50", _number(dig(r, TARGETS["trace_p50_ms"].path), "ms")),
        target("trace_p99_ms", "trace api, resolve + trace, p99", _number(dig(r, TARGETS["trace_p99_ms"].path), "ms")),
        ("  resolve only", _percentiles(r, "trace", "resolve_ms"), ""),
        ("  trace() only", _percentiles(r, "trace", "trace_ms"), ""),
        ("  store.walk only", _percentiles(r, "trace", "store_walk_ms"), ""),
        ("  resolve + trace, CPU time", _percentiles(r, "trace", "resolve_and_trace_cpu_ms"), ""),
        ("  JSON of the answer (orjson, as the CLI)", _percentiles(r, "trace", "json_dumps_ms"), ""),
        ("  get_nodes by id + trace()", _percentiles(r, "trace", "by_node_id_ms"), ""),
        ("  answer size (median/max)", f"{dig(r, ('trace', 'answer_nodes', 'median'))}/"
                                       f"{dig(r, ('trace', 'answer_nodes', 'max'))} nodes", ""),
        ("  references that failed to resolve", f"{r['trace']['resolve_failures']} of {r['trace']['references']}"
                                                f" ({_percentiles(r, 'trace', 'failed_resolve_ms')})", ""),
        ("networkx BFS (floor)", _percentiles(r, "trace", "networkx_ms"), ""),
        ("  store.walk / networkx, p50", f"{ratio.get('walk_p50', '-')}x", ""),
        ("  resolve + trace / networkx, p50", f"{ratio.get('trace_p50', '-')}x", ""),
        ("impact, service dataset", _impact(r, "impact_service"), ""),
        ("impact, shared dataset", _impact(r, "impact_shared"), ""),
        target("cli_median_ms", "cold `lineage trace api … --format json`", _percentiles(r, "cli", "trace_ms")),
        ("  python startup / import cli.main", f"{_number(dig(r, ('cli', 'python_startup_ms', 'p50')), 'ms')} / "
                                               f"{_number(dig(r, ('cli', 'import_cli_ms', 'p50')), 'ms')}", ""),
        ("store file", f"{store['file_mb']:,.0f} MB ({store['bytes_per_node']:,.0f} B/node), "
                       f"WAL {store['wal_mb']:,.0f} MB", ""),
        ("peak RSS", f"bench {_number(r['memory']['bench_peak_rss_mib'], 'MiB')} (with the networkx graph), "
                     f"query process {_number(r['memory'].get('query_process_peak_rss_mib'), 'MiB')}, "
                     f"CLI trace {_number(r['memory']['cli_peak_rss_mib'], 'MiB')}", ""),
    ]


def _sweep(load: Results) -> str:
    rates = dig(load, ("at_full_size", "facts_per_s_by_transaction_facts")) or {}
    return ", ".join(f"{int(size):,} facts: {_number(rate)}/s" for size, rate in rates.items()) or "-"


def _impact(r: Results, name: str) -> str:
    data = r.get(name) or {}
    stats = data.get("resolve_and_impact_ms") or {}
    if not stats.get("n"):
        return "-"
    return (f"p50 {_number(stats['p50'])} / p99 {_number(stats['p99'])} ms (n={stats['n']}, "
            f"median {data['answer_nodes']['median']} nodes, {data['truncated_at_limit']} truncated)")


def machine_line(machine: Results) -> str:
    disk = machine["disk"]
    return (f"machine: {machine['cpu']}, {machine['usable_cores']} cores, {machine['memory_gib']} GiB RAM, "
            f"{machine['os']}, Python {machine['python']}, SQLite {machine['sqlite']}; disk {disk['device']} "
            f"{disk['type']} (fsync {disk['fsync_ms_median']} ms); load average {machine['load_average_at_start'][0]} "
            f"at start, {machine.get('load_average_at_end', ['-'])[0]} at end")


def table(results: Results, write: Callable[[str], None] = print) -> None:
    write(machine_line(results["machine"]))
    print_rows(_rows(results), write)


def print_rows(rows: list[tuple[str, str, str]], write: Callable[[str], None] = print) -> None:
    """``metric  measured  target`` rows in aligned columns (bench.http prints its table with it too)."""
    width = max(len(metric) for metric, _, _ in rows)
    value_width = min(80, max(len(value) for _, value, _ in rows))
    write(f"{'metric':<{width}}  {'measured':<{value_width}}  target")
    for metric, value, target in rows:
        write(f"{metric:<{width}}  {value:<{value_width}}  {target}".rstrip())
