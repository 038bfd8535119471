"""The measures the suite publishes: one name, where it sits in a size's record, its unit and target.

``bench.suite`` reads each measure out of the per-size record into ``summary`` (so suite.json names
every published number), and ``bench.docs`` lays them out one table per group with a column per
size. The targets are the ones ``bench.run`` and ``bench.http`` already judge against, not copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench import http, report

Record = dict[str, Any]


@dataclass(frozen=True)
class Measure:
    name: str
    title: str
    unit: str
    path: tuple[str, ...]  # inside one size's record: core (bench.run), http (bench.http), temporal, derived
    target: report.Target | None = None

    def value(self, record: Record) -> Any:
        return report.dig(record, self.path)

    def met(self, value: Any) -> bool | None:
        if self.target is None or not isinstance(value, int | float) or isinstance(value, bool):
            return None
        return value >= self.target.value if self.target.at_least else value <= self.target.value


def _http(workers: str, *path: str) -> tuple[str, ...]:
    return ("http", "runs", workers, *path)


def _http_target(name: str) -> report.Target:
    return http.TARGETS[name]


GROUPS: dict[str, list[Measure]] = {
    "graph": [
        Measure("nodes", "nodes", "", ("core", "store", "nodes")),
        Measure("edges", "edges", "", ("core", "store", "edges")),
        Measure("releases", "api releases", "", ("core", "world", "releases")),
        Measure("trace_answer_nodes", "trace answer, median nodes", "", ("core", "trace", "answer_nodes", "median")),
        Measure("reference_dataset_consumers", "jobs reading the reference dataset (wide node)", "",
                ("core", "world", "wide_nodes", "dataset platform-reference:1")),
        Measure("bot_commits", "commits by the bot (wide node)", "",
                ("core", "world", "wide_nodes", "person deps-bot@example.com")),
    ],
    "ingest": [
        Measure("bulk_facts_per_s", "bulk ingest, `store.apply`, whole load", "facts/s",
                ("core", "ingest", "facts_per_s"), report.TARGETS["bulk_facts_per_s"]),
        Measure("bulk_facts_per_s_full_20k", "bulk ingest at full size, 20,000-fact transactions", "facts/s",
                ("core", "ingest", "at_full_size", "facts_per_s_by_transaction_facts", "20000")),
        Measure("events_batched_per_s", "events in process, 500 per `ingest` call", "events/s",
                ("core", "events", "batched", "events_per_s")),
        Measure("events_http_per_s", "events over HTTP, durable ack, 50 senders, 1 worker", "events/s",
                _http("1", "events", "events_per_s"), _http_target("events_per_s_50_senders")),
        Measure("events_http_per_s_w2", "events over HTTP, durable ack, 50 senders, 2 workers", "events/s",
                _http("2", "events", "events_per_s"), _http_target("events_per_s_50_senders")),
        Measure("events_http_p99_ms", "— latency p99, 1 worker", "ms", _http("1", "events", "latency_ms", "p99")),
    ],
    "trace": [
        Measure("trace_p50_ms", "in process, resolve + trace, p50", "ms",
                ("core", "trace", "resolve_and_trace_ms", "p50"), report.TARGETS["trace_p50_ms"]),
        Measure("trace_p99_ms", "in process, resolve + trace, p99", "ms",
                ("core", "trace", "resolve_and_trace_ms", "p99"), report.TARGETS["trace_p99_ms"]),
        Measure("store_walk_p50_ms", "— `store.walk` alone, p50", "ms", ("core", "trace", "store_walk_ms", "p50")),
        Measure("http_trace_1_p50_ms", "HTTP, 1 client, p50", "ms", _http("1", "single", "latency_ms", "p50"),
                _http_target("trace_1_client_p50_ms")),
        Measure("http_trace_1_p99_ms", "HTTP, 1 client, p99", "ms", _http("1", "single", "latency_ms", "p99"),
                _http_target("trace_1_client_p99_ms")),
        Measure("http_trace_50_per_s", "HTTP, 50 clients, 1 worker", "traces/s",
                _http("1", "concurrent", "requests_per_s"), _http_target("traces_per_s_50_clients")),
        Measure("http_trace_50_per_s_w2", "HTTP, 50 clients, 2 workers", "traces/s",
                _http("2", "concurrent", "requests_per_s"), _http_target("traces_per_s_50_clients")),
        Measure("http_trace_50_p50_ms", "— p50, 1 worker", "ms", _http("1", "concurrent", "latency_ms", "p50")),
        Measure("http_trace_50_p99_ms", "— p99, 1 worker", "ms", _http("1", "concurrent", "latency_ms", "p99")),
    ],
    "impact": [
        Measure("impact_service_p50_ms", "in process, a service's raw dataset, p50", "ms",
                ("core", "impact_service", "resolve_and_impact_ms", "p50")),
        Measure("impact_service_p99_ms", "— p99", "ms", ("core", "impact_service", "resolve_and_impact_ms", "p99")),
        Measure("impact_shared_p50_ms", "in process, a shared platform dataset, p50", "ms",
                ("core", "impact_shared", "resolve_and_impact_ms", "p50")),
        Measure("impact_shared_p99_ms", "— p99", "ms", ("core", "impact_shared", "resolve_and_impact_ms", "p99")),
        Measure("http_impact_1_p50_ms", "HTTP, service dataset, 1 client, p50", "ms",
                _http("1", "impact_single", "latency_ms", "p50")),
        Measure("http_impact_1_p99_ms", "— p99", "ms", _http("1", "impact_single", "latency_ms", "p99")),
        Measure("http_impact_50_per_s", "HTTP, 50 clients, 1 worker", "impacts/s",
                _http("1", "impact_concurrent", "requests_per_s")),
        Measure("http_impact_50_p99_ms", "— p99", "ms", _http("1", "impact_concurrent", "latency_ms", "p99")),
        Measure("wide_dataset_impact_ms", "wide node: impact of the reference dataset, no fan-out cap, p50", "ms",
                ("temporal", "wide", "dataset", "impact", "ms", "p50")),
        Measure("wide_dataset_impact_nodes", "— answer nodes", "",
                ("temporal", "wide", "dataset", "impact", "answer_nodes")),
        Measure("wide_dataset_impact_truncated", "— stopped at the walk's limit", "",
                ("temporal", "wide", "dataset", "impact", "truncated")),
        Measure("wide_dataset_fanout_ms", "— with the default fan-out cap, p50", "ms",
                ("temporal", "wide", "dataset", "impact_with_fanout", "ms", "p50")),
        Measure("wide_dataset_fanout_nodes", "— with the default fan-out cap, answer nodes", "",
                ("temporal", "wide", "dataset", "impact_with_fanout", "answer_nodes")),
        Measure("wide_bot_impact_ms", "wide node: impact of the bot author, no fan-out cap, p50", "ms",
                ("temporal", "wide", "person", "impact", "ms", "p50")),
        Measure("wide_bot_impact_nodes", "— answer nodes", "",
                ("temporal", "wide", "person", "impact", "answer_nodes")),
        Measure("wide_bot_fanout_ms", "— with the default fan-out cap, p50", "ms",
                ("temporal", "wide", "person", "impact_with_fanout", "ms", "p50")),
        Measure("wide_bot_fanout_nodes", "— with the default fan-out cap, answer nodes", "",
                ("temporal", "wide", "person", "impact_with_fanout", "answer_nodes")),
    ],
    "history": [
        Measure("diff_p50_ms", "diff of two consecutive releases, p50", "ms", ("temporal", "diff", "diff_ms", "p50")),
        Measure("diff_p99_ms", "— p99", "ms", ("temporal", "diff", "diff_ms", "p99")),
        Measure("as_of_p50_ms", "trace `at=` a past time, p50", "ms", ("temporal", "as_of", "trace_at_ms", "p50")),
        Measure("as_of_p99_ms", "— p99", "ms", ("temporal", "as_of", "trace_at_ms", "p99")),
    ],
    "cli": [
        Measure("cli_p50_ms", "cold `lineage trace api … --format json`, median", "ms",
                ("core", "cli", "trace_ms", "p50"), report.TARGETS["cli_median_ms"]),
        Measure("cli_max_ms", "— slowest run", "ms", ("core", "cli", "trace_ms", "max")),
        Measure("python_startup_ms", "— `python -c pass`, median", "ms", ("core", "cli", "python_startup_ms", "p50")),
        Measure("import_cli_ms", "— `python -c 'import cli.main'`, median", "ms",
                ("core", "cli", "import_cli_ms", "p50")),
    ],
    "resources": [
        Measure("bytes_per_node", "store file per node", "B", ("core", "store", "bytes_per_node")),
        Measure("store_mb", "store file", "MB", ("core", "store", "file_mb")),
        Measure("server_peak_rss_mib", "server peak RSS, 1 worker, after all phases", "MiB",
                ("derived", "server_peak_rss_mib")),
        Measure("query_peak_rss_mib", "query process peak RSS (in-process traces and impacts)", "MiB",
                ("core", "memory", "query_process_peak_rss_mib")),
        Measure("cli_peak_rss_mib", "CLI trace peak RSS", "MiB", ("core", "memory", "cli_peak_rss_mib")),
    ],
    "comparisons": [
        Measure("networkx_p50_ms", "networkx BFS of the same walk, p50", "ms", ("core", "trace", "networkx_ms", "p50")),
        Measure("walk_vs_networkx", "`store.walk` ÷ networkx, p50", "×", ("core", "networkx_ratio", "walk_p50"),
                report.TARGETS["walk_vs_floor"]),
        Measure("trace_vs_networkx", "resolve + trace ÷ networkx, p50", "×", ("core", "networkx_ratio", "trace_p50")),
        Measure("ladybug_p50_ms", "ladybug, the same walk in Cypher, p50", "ms",
                ("core", "ladybug", "trace_ms", "p50")),
        Measure("walk_vs_ladybug", "`store.walk` ÷ ladybug, p50", "×", ("derived", "walk_vs_ladybug")),
        Measure("ladybug_load_s", "ladybug bulk load", "s", ("core", "ladybug", "load_seconds")),
        Measure("ladybug_disk_mb", "ladybug database on disk", "MB", ("core", "ladybug", "disk_mb")),
        Measure("ladybug_mismatches", "ladybug answers that differ from networkx", "",
                ("core", "ladybug", "mismatches")),
    ],
}

MEASURES = {measure.name: measure for group in GROUPS.values() for measure in group}


def derived(record: Record) -> Record:
    """Numbers computed from two others, so that the published ratio comes from the JSON as well."""
    walk = report.dig(record, ("core", "trace", "store_walk_ms", "p50"))
    ladybug = report.dig(record, ("core", "ladybug", "trace_ms", "p50"))
    ratio = round(walk / ladybug, 2) if isinstance(walk, int | float) and isinstance(ladybug, int | float) \
        and ladybug else None
    server = report.dig(record, ("http", "runs", "1", "memory", "peak_rss_mib")) or []
    return {"walk_vs_ladybug": ratio, "server_peak_rss_mib": max(server) if server else None}


def summary(record: Record) -> Record:
    return {name: measure.value(record) for name, measure in MEASURES.items()}
