"""Rebuild a graph from an event log (``lineage events replay``) and retry failed events.

The log is the record; the graph is derived from it. ``replay`` reads a source store's log in its
order and, page by page, writes the events into an empty target store as they were logged (same
ids, sources, times, payloads and ``received_at``, status pending) and then applies them through
the one ingestion path. Events that fail to apply stay in the target's log, failed, with the reason.

What "the same graph" means, and when a replay gives it (compare ``fingerprint``):

- Applying an event is deterministic given what is stored: node and edge times come from the
  event's ``time``, not the clock; first/last seen widen (min/max), evidence keeps the strongest,
  aliases and sources accumulate as sets. These do not depend on the order events are applied.
- Properties merge with "the newer report wins" by event time, and validity ends take the last
  report: where two events about one node or edge carry the *same* time, or a later one deletes a
  property (a JSON null) that an older one, applied after it, fills in again, the order decides.
  The replay applies in log order, which is the order the source applied them, except for: events
  that failed and were retried later (the replay also retries at the end what failed at first,
  as the source's ``lineage events retry`` did), and concurrent requests of the HTTP service whose
  events were logged in one order and applied in another (the group-commit writer keeps one order
  for both, so only two processes writing one SQLite file at once can interleave them).
- Pending events of the source (logged, not yet applied: the service applies them when it next
  starts) are applied by the replay: the replay is then ahead of its source; it says so.
- Every writer goes through the log: collectors (``lineage_service.collect``) send their events
  through ``ingest`` like the HTTP service and ``lineage ingest``. Only ``lineage store copy``
  (``import_batch``) and the benchmark loader (``bench/load.py``, ``apply`` without events) write
  graph rows without log entries of their own; a copy brings the source's log along, the benchmark
  graph cannot be replayed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lineage_service.ingest import IngestResult, apply_logged
from lineage_service.store.base import GraphStore, StoredEvent
from lineage_service.store.copy import is_empty
from lineage_service.store.fingerprint import all_events

PAGE = 500


class ReplayRefused(ValueError):
    """A replay that cannot start (a target that is not empty); the message says what to do."""


@dataclass
class ReplayResult:
    events: int = 0
    applied: int = 0
    # Events that still failed after the final retry, with the target's reason (the source may
    # hold another one for the same event, or have applied it after a fix).
    failed: dict[str, str] = field(default_factory=dict)
    retried: int = 0  # failed on first application, tried again at the end
    source_pending: int = 0  # logged in the source but not applied there yet
    source_failed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"events": self.events, "applied": self.applied, "failed": self.failed, "retried": self.retried,
                "source_pending": self.source_pending, "source_failed": self.source_failed}


def replay(source: GraphStore, target: GraphStore, *, page: int = PAGE,
           on_page: Callable[[int], None] | None = None) -> ReplayResult:
    """Re-apply ``source``'s whole log into the empty ``target``, in log order; see the module doc."""
    if source.uri == target.uri:
        raise ReplayRefused(f"the source and the target are the same store ({source.uri}); replay into a new, "
                            f"empty store, e.g. sqlite:///rebuilt.db")
    empty, counts = is_empty(target)
    if not empty:
        raise ReplayRefused(f"the target {target.uri} is not empty ({counts}); a replay builds a graph from the "
                            f"log alone, so it needs a new store (an interrupted replay: delete it and start again)")
    result = ReplayResult()
    chunk: list[StoredEvent] = []
    for stored in all_events(source, page):
        result.events += 1
        result.source_pending += stored.status == "pending"
        result.source_failed += stored.status == "failed"
        chunk.append(stored)
        if len(chunk) >= page:
            _replay_chunk(target, chunk)
            chunk = []
            if on_page:
                on_page(result.events)
    if chunk:
        _replay_chunk(target, chunk)
        if on_page:
            on_page(result.events)
    # Every event declares both ends of its edges, so what fails here is a value the store refuses
    # or a payload an older version wrote that no longer validates. The source may have applied
    # such an event later, after a fix, by `lineage events retry`: failed events then went in after
    # the others. Retry once at the end, in log order, to keep that order (and to get past an error
    # that was transient, a busy or briefly full disk); what fails again is reported.
    first_failures = list(all_events(target, page, status="failed"))
    result.retried = len(first_failures)
    if first_failures:
        apply_logged(target, first_failures)
    result.failed = {e.id: e.error or "" for e in all_events(target, page, status="failed")}
    result.applied = sum(1 for _ in all_events(target, page, status="applied"))
    return result


def _replay_chunk(target: GraphStore, chunk: Sequence[StoredEvent]) -> None:
    # Logged first, as received (received_at kept), then applied: the same two steps as ingestion.
    target.import_batch([], [], [replace(e, status="pending", error=None) for e in chunk])
    apply_logged(target, chunk)


@dataclass
class RetryResult:
    outcome: IngestResult
    unknown: list[str] = field(default_factory=list)
    already_applied: list[str] = field(default_factory=list)


def retry(store: GraphStore, event_ids: Sequence[str] = (), *, page: int = PAGE) -> RetryResult:
    """Apply failed events again after whatever was fixed: all, in log order, or those named, in that order.

    Named events that are unknown or already applied are reported, not retried. Pending events
    named explicitly are applied too (the same operation).
    """
    if not event_ids:
        failed = list(all_events(store, page, status="failed"))
        outcome = IngestResult()
        for start in range(0, len(failed), page):
            _merge(outcome, apply_logged(store, failed[start:start + page]))
        return RetryResult(outcome)
    result = RetryResult(IngestResult())
    chosen: list[StoredEvent] = []
    for event_id in dict.fromkeys(event_ids):  # once each, in the order given
        stored = store.get_event(event_id)
        if stored is None:
            result.unknown.append(event_id)
        elif stored.status == "applied":
            result.already_applied.append(event_id)
        else:
            chosen.append(stored)
    if chosen:
        result.outcome = apply_logged(store, chosen)
    return result


def _merge(into: IngestResult, more: IngestResult) -> None:
    into.accepted += more.accepted
    into.failed.update(more.failed)
    into.nodes += more.nodes
    into.edges += more.edges
