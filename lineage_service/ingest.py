"""The one ingestion path: validate, record in the event log, apply to the graph.

Every writer (``lineage ingest``, the demo, the HTTP API, CI steps, collectors) goes through
here. An event is first recorded in the durable log (that is what an acknowledgement means),
then applied; applying is idempotent by event id, so a retried delivery changes nothing and a
crash between the two steps is repaired by applying what is still pending.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from graph_schema.events import EventRejected, LineageEvent, parse_event
from lineage_service.store.base import Batch, GraphStore, MissingNode, NewEvent, StoredEvent


@dataclass
class IngestResult:
    accepted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    nodes: int = 0
    edges: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": len(self.accepted), "duplicates": len(self.duplicates), "failed": self.failed,
                "nodes": self.nodes, "edges": self.edges, "event_ids": self.accepted}


class InputError(ValueError):
    """Input that is not JSON events at all; the message says where and what was expected."""


def read_events(text: str, origin: str = "input") -> list[Any]:
    """Raw events from a JSON object, a JSON array of objects, or JSON Lines."""
    stripped = text.strip()
    if not stripped:
        raise InputError(f"{origin}: empty; expected a lineage event as JSON, a JSON array of events, "
                         f"or one event per line (JSON Lines)")
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as whole_error:
        if stripped.startswith("{") and "\n" in stripped:
            return _read_json_lines(stripped, origin)
        raise InputError(f"{origin}: invalid JSON at line {whole_error.lineno} column {whole_error.colno}: "
                         f"{whole_error.msg}") from None
    return data if isinstance(data, list) else [data]


def _read_json_lines(text: str, origin: str) -> list[Any]:
    events = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise InputError(f"{origin}: line {number} is not valid JSON ({exc.msg} at column {exc.colno}); "
                             f"JSON Lines needs one complete event per line") from None
    return events


def validate_all(raw_events: Sequence[Any]) -> list[LineageEvent]:
    """Validate every event; if any is invalid, raise one error listing all invalid events."""
    events, rejected = [], []
    for index, raw in enumerate(raw_events):
        try:
            events.append(parse_event(raw, position=f"#{index + 1}"))
        except EventRejected as exc:
            rejected.append(exc)
    if rejected:
        raise BatchRejected(rejected)
    return events


class BatchRejected(ValueError):
    def __init__(self, rejected: list[EventRejected]) -> None:
        self.rejected = rejected
        super().__init__("\n".join(str(exc) for exc in rejected))


def ingest(store: GraphStore, events: Sequence[LineageEvent]) -> IngestResult:
    """Record events durably, then apply the new ones in one transaction."""
    return ingest_groups(store, [events])[0]


def ingest_groups(store: GraphStore, groups: Sequence[Sequence[LineageEvent]]) -> list[IngestResult]:
    """Record and apply the events of several requests together: group commit.

    The whole group costs one log transaction and one apply transaction (two fsyncs) however many
    requests it holds; each request still gets its own result. An id sent twice, in one request or
    in two, is new once and a duplicate after that.
    """
    flat = [(index, event) for index, events in enumerate(groups) for event in events]
    is_new = store.append_events([NewEvent(e.id, e.source, e.time, e.model_dump_json(by_alias=True))
                                  for _, e in flat])
    results = [IngestResult() for _ in groups]
    fresh: dict[str, tuple[int, LineageEvent]] = {}
    for (index, event), new in zip(flat, is_new, strict=True):
        if new and event.id not in fresh:
            fresh[event.id] = (index, event)
            results[index].accepted.append(event.id)
        else:
            results[index].duplicates.append(event.id)
    batches = _apply(store, [event for _, event in fresh.values()])
    for index, event in fresh.values():
        _count(results[index], event.id, batches)
    return results


def apply_pending(store: GraphStore, limit: int = 10_000,
                  statuses: Sequence[str] = ("pending", "failed"), source: str | None = None) -> IngestResult:
    """Apply events that were recorded but not applied (after a crash, or a fix for a failure).

    ``source`` keeps to the events one source reported: a collector run recovers its own, not
    those a running service has logged and is applying at this moment.
    """
    pending = [e for status in statuses for e in store.list_events(status=status, limit=limit, source=source)]
    # Through apply_logged: a payload that no longer validates is marked failed, not a traceback.
    return apply_logged(store, pending)


def apply_logged(store: GraphStore, logged: Sequence[StoredEvent]) -> IngestResult:
    """Apply events already in the log, in the order given (``lineage events retry``, replay).

    An event whose payload is no longer a valid lineage event (written by an older version, or by
    hand) is marked failed with the reason instead of stopping the others.
    """
    result = IngestResult()
    events = []
    for stored in logged:
        try:
            events.append(LineageEvent.model_validate_json(stored.payload))
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            error = f"the logged payload is not a valid lineage event: {str(exc).splitlines()[0]}"
            store.mark_failed(stored.id, error)
            result.failed[stored.id] = error
    result.accepted = [e.id for e in events]
    batches = _apply(store, events)
    for event in events:
        _count(result, event.id, batches)
    return result


def _batch(event: LineageEvent) -> Batch:
    nodes, edges = event.facts()
    return Batch(nodes, edges, seen_at=event.time, source=event.source, event_ids=(event.id,))


def _apply(store: GraphStore, events: Iterable[LineageEvent]) -> dict[str, Batch | str]:
    """Apply events in one transaction; returns each event's batch, or its error if it failed."""
    batches = {event.id: _batch(event) for event in events}
    if not batches:
        return {}
    outcome: dict[str, Batch | str] = dict(batches)
    try:
        store.apply(list(batches.values()))
    except Exception:
        # Events are validated and self-contained, so this is one event the store refused (a
        # missing node, a value it cannot hold): apply one by one, so the others still land, and
        # keep each refused event in the log with its error for `lineage events apply` after a fix.
        # If the store itself is broken, the first retry or mark_failed raises again.
        for event_id, batch in batches.items():
            try:
                store.apply([batch])
            except Exception as exc:
                error = str(exc) if isinstance(exc, MissingNode) else f"{type(exc).__name__}: {exc}"
                store.mark_failed(event_id, error)
                outcome[event_id] = error
    return outcome


def _count(result: IngestResult, event_id: str, outcome: dict[str, Batch | str]) -> None:
    applied = outcome[event_id]
    if isinstance(applied, str):
        result.failed[event_id] = applied
    else:
        result.nodes += len(applied.nodes)
        result.edges += len(applied.edges)
