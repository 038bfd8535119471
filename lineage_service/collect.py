"""The collector runner: one collector instance, one run, its events through the one ingestion path.

    from collectors import create
    from lineage_service.collect import run_into_store

    collector = create("git", {"path": "/src/mlops-2.0"}, instance="mlops-repo")
    result = run_into_store(collector, store)          # a RunResult
    print(result.as_dict())                             # the report, plus what was recorded

What a run does, and promises:

- reads the instance's cursor (``cursors.get_cursor(collector.instance)``) and iterates
  ``collector.collect(cursor)``;
- validates each event with ``lineage_service.ingest.validate_all`` (the same check as every other
  writer); an invalid event is a failure in the report, naming the event, and the others go on;
- sends valid events in batches of ``batch_size`` (500) to ``send``: ``ingest`` into a store, or a
  POST to a service; each batch is durable once ``send`` returns;
- saves ``collector.cursor`` only when the run finished without an exception **and** every event
  was recorded: after a crash, or an event the store refused, the next run reads the same items
  again (they are duplicates by event id, not copies) instead of skipping them;
- never raises for a collector's problems: a ``CollectorError``, a ``DeliveryError`` from ``send``
  or an unexpected exception ends the run with ``error`` set in the result (events read before it
  are still sent). ``KeyboardInterrupt`` propagates, and the cursor is not saved.

``progress(events_so_far, report)`` is called after each event (the CLI's progress bar).
``run_collector`` takes any ``send`` and any ``CursorStore``; ``run_into_store`` wires both to a
``GraphStore``; ``FileCursors`` keeps cursors in a JSON file when the events go to a remote service.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from collectors.base import Collector, CollectorError, Event, Report

if TYPE_CHECKING:
    from graph_schema.events import LineageEvent
    from lineage_service.store.base import GraphStore

BATCH_SIZE = 500


@dataclass
class Delivered:
    """What a destination said about one batch."""

    accepted: int = 0  # new in the event log
    duplicates: int = 0  # already there (an earlier run read the same thing)
    not_applied: dict[str, str] = field(default_factory=dict)  # recorded, but applying failed: event id -> why


class DeliveryError(RuntimeError):
    """``send`` could not record a batch (a service that refused or cannot be reached); names the fix."""


Send = Callable[[Sequence["LineageEvent"]], Delivered]
Progress = Callable[[int, Report], None]


class CursorStore(Protocol):
    """Where cursors live: a ``GraphStore`` (with the graph), or ``FileCursors``."""

    def get_cursor(self, source: str) -> str | None: ...

    def set_cursor(self, source: str, cursor: str) -> None: ...


@dataclass
class RunResult:
    collector: str
    report: Report
    delivered: Delivered = field(default_factory=Delivered)
    error: str | None = None  # why the run stopped early; None when it ran to the end
    cursor_saved: bool = False
    seconds: float = 0.0

    @property
    def instance(self) -> str:
        return self.report.source

    @property
    def ok(self) -> bool:
        """Everything read was recorded and applied, and nothing failed."""
        return self.error is None and not self.report.failures and not self.delivered.not_applied

    def as_dict(self) -> dict[str, Any]:
        report = self.report.as_dict()
        return {"name": report.pop("source"), "collector": self.collector, "ok": self.ok, "error": self.error,
                **report, "accepted": self.delivered.accepted, "duplicates": self.delivered.duplicates,
                "cursor_saved": self.cursor_saved, "seconds": round(self.seconds, 3)}


def store_sender(store: GraphStore) -> Send:
    """``send`` into a local store through ``lineage_service.ingest.ingest``."""
    from lineage_service.ingest import apply_pending, ingest

    recovered: set[str] = set()

    def send(events: Sequence[LineageEvent]) -> Delivered:
        # A run killed between logging a batch and applying it left that batch pending; the next run
        # reads the same events again, as duplicates, which ingest does not apply. So apply what is
        # pending first, as a restarting service does (found by tests/test_crash_safety.py), but only
        # for the sources of these events: the store may be shared with a service that is applying
        # events it has just logged, and those are its own to apply.
        for source in sorted({event.source for event in events} - recovered):
            apply_pending(store, statuses=("pending",), source=source)
            recovered.add(source)
        result = ingest(store, events)
        return Delivered(len(result.accepted), len(result.duplicates), dict(result.failed))

    return send


def run_into_store(collector: Collector[Any], store: GraphStore, *, batch_size: int = BATCH_SIZE,
                   progress: Progress | None = None) -> RunResult:
    """One run into a local store, with the cursor kept in that store."""
    return run_collector(collector, store_sender(store), store, batch_size=batch_size, progress=progress)


def run_collector(collector: Collector[Any], send: Send, cursors: CursorStore, *, batch_size: int = BATCH_SIZE,
                  progress: Progress | None = None) -> RunResult:
    """Run ``collector`` once: its events to ``send``, its cursor to ``cursors`` if all went in."""
    from lineage_service.ingest import BatchRejected, validate_all

    started = time.monotonic()
    result = RunResult(collector.name, collector.report)
    report, delivered = collector.report, result.delivered
    pending: list[LineageEvent] = []
    rejected = 0

    def flush() -> None:
        if pending:
            got = send(pending)
            delivered.accepted += got.accepted
            delivered.duplicates += got.duplicates
            delivered.not_applied.update(got.not_applied)
            pending.clear()

    try:
        for number, raw in enumerate(collector.collect(cursors.get_cursor(collector.instance)), start=1):
            try:
                pending += validate_all([raw])
            except BatchRejected as exc:
                rejected += 1
                report.fail(_event_name(raw, number), "; ".join(exc.rejected[0].problems))
            if len(pending) >= batch_size:
                flush()
            if progress:
                progress(number, report)
    except (CollectorError, DeliveryError) as exc:
        result.error = str(exc)
    except Exception as exc:  # a collector's bug or a store that went away: this run ends, others go on
        result.error = f"unexpected {type(exc).__name__}: {exc}"
    try:
        # What was read before a collector failed is still true: keep it (the cursor stays put, so
        # the next run reads it again as duplicates).
        flush()
    except DeliveryError as exc:
        result.error = result.error or str(exc)
    except Exception as exc:
        result.error = result.error or f"unexpected {type(exc).__name__}: {exc}"
    for event_id, why in delivered.not_applied.items():
        report.fail(f"event {event_id!r}", f"recorded but not applied: {why} (retry: lineage events apply)")
    if result.error is None and not rejected and collector.cursor is not None:
        # Events that were recorded but not applied are safe in the log (`lineage events apply`),
        # so they do not hold the cursor back; rejected ones were never recorded, so they do.
        cursors.set_cursor(collector.instance, collector.cursor)
        result.cursor_saved = True
    elif rejected:
        report.warnings.append(f"cursor not advanced: {rejected} event(s) rejected; the next run reads them again")
    result.seconds = time.monotonic() - started
    return result


def _event_name(raw: Event, number: int) -> str:
    event_id = raw.get("id") if isinstance(raw, dict) else None
    return f"event {event_id!r} (#{number})" if isinstance(event_id, str) else f"event #{number}"


class FileCursors:
    """Cursors in a small JSON file per destination and instance, for runs that post to a service.

    The service keeps no collector cursors today, so a machine collecting into ``LINEAGE_URL``
    keeps its own: ``<directory>/<hash of URL and instance>.json`` holding the URL (without
    credentials), the instance and the cursor. Losing the file only costs a full read, whose
    events the service's log then counts as duplicates.
    """

    def __init__(self, directory: Path, url: str) -> None:
        self.directory = directory
        self.url = _without_credentials(url.rstrip("/"))

    def path(self, source: str) -> Path:
        name = hashlib.sha256(f"{self.url}\0{source}".encode()).hexdigest()[:24]
        return self.directory / f"{name}.json"

    def get_cursor(self, source: str) -> str | None:
        try:
            data = json.loads(self.path(source).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # unreadable: a full read, which the service deduplicates
        cursor = data.get("cursor") if isinstance(data, dict) else None
        return cursor if isinstance(cursor, str) else None

    def set_cursor(self, source: str, cursor: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"url": self.url, "instance": source, "cursor": cursor}, indent=1)
        # Write then rename, so that a crash leaves the old cursor or the new one, never half of one.
        handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path(source))


def _without_credentials(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme}{sep}{host.rpartition('@')[2]}{slash}{path}" if sep else url
