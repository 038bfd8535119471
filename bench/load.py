"""Writing: bulk facts through ``store.apply``, and lineage events through the full ingestion path.

Generation is interleaved with loading (the whole history does not fit comfortably in memory at
the largest scales), so the clock runs only around ``store.apply``: facts/s measures the store, not
the generator.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.synthetic import Report, World
from lineage_service.ingest import ingest, validate_all
from lineage_service.store.base import Batch, GraphStore


@dataclass
class BulkLoad:
    reports: int = 0
    node_facts: int = 0
    edge_facts: int = 0
    aliases: int = 0
    transactions: int = 0
    apply_seconds: float = 0.0
    wall_seconds: float = 0.0
    # facts/s of each transaction, to see whether writes slow down as the store grows
    chunk_rates: list[float] = field(default_factory=list)

    @property
    def facts(self) -> int:
        return self.node_facts + self.edge_facts

    def summary(self) -> dict[str, Any]:
        rates = self.chunk_rates
        tenth = max(1, len(rates) // 10)
        data = {key: value for key, value in asdict(self).items() if key != "chunk_rates"}
        cuts = [len(rates) * i // 10 for i in range(11)]
        tenths = [rates[cuts[i]:cuts[i + 1]] for i in range(10) if cuts[i + 1] > cuts[i]]
        return {**data, "facts": self.facts,
                "facts_per_s": round(self.facts / self.apply_seconds) if self.apply_seconds else None,
                "generate_seconds": round(self.wall_seconds - self.apply_seconds, 1),
                "facts_per_s_by_tenth": [round(sum(part) / len(part)) for part in tenths],
                "facts_per_s_first_tenth": round(sum(rates[:tenth]) / tenth) if rates else None,
                "facts_per_s_last_tenth": round(sum(rates[-tenth:]) / tenth) if rates else None}


def bulk_load(store: GraphStore | None, reports: Iterable[Report], chunk_facts: int,
              on_report: Callable[[Report], None]) -> BulkLoad:
    """Apply reports as batches, about ``chunk_facts`` facts per transaction (``store=None`` only generates)."""
    result = BulkLoad()
    pending: list[Batch] = []
    pending_facts = 0
    started = time.perf_counter()
    for report in reports:
        on_report(report)
        result.reports += 1
        result.node_facts += len(report.nodes)
        result.edge_facts += len(report.edges)
        result.aliases += sum(len(node.aliases) for node in report.nodes)
        pending.append(report.batch())
        pending_facts += report.facts
        if pending_facts >= chunk_facts:
            _apply(store, pending, pending_facts, result)
            pending, pending_facts = [], 0
    if pending:
        _apply(store, pending, pending_facts, result)
    result.wall_seconds = time.perf_counter() - started
    return result


def _apply(store: GraphStore | None, batches: list[Batch], facts: int, result: BulkLoad) -> None:
    if store is None:
        return
    start = time.perf_counter()
    store.apply(batches)
    elapsed = time.perf_counter() - start
    result.apply_seconds += elapsed
    result.transactions += 1
    result.chunk_rates.append(facts / elapsed)


def transaction_sweep(store: GraphStore, seed: int, nodes_each: int, sizes: tuple[int, ...],
                      first_service: int) -> dict[str, Any]:
    """facts/s at the store's current size for several transaction sizes, each on fresh services.

    At a million nodes a transaction's cost is mostly its commit: inserts keyed by hashes (node
    ids, SHAs, digests) dirty pages all over the indexes, and the WAL checkpoint writes each one
    back. Larger transactions share those pages among more facts.
    """
    rates = {}
    for index, size in enumerate(sizes):
        world = World(nodes_each, seed, first_service=first_service + index * 100_000)
        rates[str(size)] = bulk_load(store, world.reports(), size, lambda _report: None).summary()["facts_per_s"]
    return {"nodes_each": nodes_each, "facts_per_s_by_transaction_facts": rates}


def event_ingest(store: GraphStore, reports: list[Report], single: int, batch_size: int) -> dict[str, Any]:
    """Events through validate → log → apply: ``single`` of them one per call (as HTTP posts arrive),
    the rest ``batch_size`` per call (as ``lineage ingest events.jsonl`` sends them)."""
    raw = [report.event() for report in reports]
    facts = sum(report.facts for report in reports)
    start = time.perf_counter()
    events = validate_all(raw)
    validate_seconds = time.perf_counter() - start

    def timed_ingest(chunks: list[list[Any]]) -> tuple[float, int]:
        failed = 0
        begin = time.perf_counter()
        for chunk in chunks:
            failed += len(ingest(store, chunk).failed)
        return time.perf_counter() - begin, failed

    one_by_one = [[event] for event in events[:single]]
    batched = [events[i:i + batch_size] for i in range(single, len(events), batch_size)]
    single_seconds, single_failed = timed_ingest(one_by_one)
    batched_seconds, batched_failed = timed_ingest(batched)
    per_event_validate = validate_seconds / len(events)
    batched_events = len(events) - single
    batched_facts = sum(report.facts for report in reports[single:])
    return {
        "events": len(events),
        "facts": facts,
        "validate_events_per_s": round(len(events) / validate_seconds),
        "single": {"events": single, "failed": single_failed,
                   "events_per_s": round(single / (single_seconds + per_event_validate * single)),
                   "ms_per_event": round(1e3 * single_seconds / single + 1e3 * per_event_validate, 2)},
        "batched": {"events": batched_events, "batch_size": batch_size, "failed": batched_failed,
                    "events_per_s": round(batched_events / (batched_seconds + per_event_validate * batched_events)),
                    "facts_per_s": round(batched_facts / (batched_seconds + per_event_validate * batched_events)),
                    "log_and_apply_events_per_s": round(batched_events / batched_seconds)},
    }
