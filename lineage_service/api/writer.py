"""Group commit: one writer thread turns many concurrent requests into one transaction.

With ``synchronous=FULL`` each transaction costs an fsync, a few milliseconds on most disks; one
per request would cap ingestion at a few hundred events per second. Requests queue their events
here; the writer takes everything waiting (up to a bound), records and applies it together, and
only then resolves each request's future. So a 2xx still means "durably recorded", and the cost
of an fsync is shared by every request that arrived while the previous one was running.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from graph_schema.events import LineageEvent
from lineage_service.ingest import IngestResult, ingest_groups
from lineage_service.store.base import GraphStore

log = logging.getLogger(__name__)


@dataclass
class _Request:
    events: Sequence[LineageEvent]
    future: Future[IngestResult]


class WriterClosed(RuntimeError):
    pass


class GroupCommitWriter:
    def __init__(self, store: GraphStore, max_group_events: int = 2_000) -> None:
        self._store = store
        self._max = max_group_events
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="lineage-group-commit", daemon=True)
        self._thread.start()
        self.groups = 0  # transactions committed, for /metrics

    def submit(self, events: Sequence[LineageEvent]) -> Future[IngestResult]:
        future: Future[IngestResult] = Future()
        if self._closed:
            future.set_exception(WriterClosed("the service is shutting down"))
        else:
            self._queue.put(_Request(events, future))
        return future

    def close(self) -> None:
        """Finish what was queued, then stop."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group, size, stop = [first], len(first.events), False
            while size < self._max:
                try:
                    following = self._queue.get_nowait()
                except queue.Empty:
                    break
                if following is None:
                    stop = True
                    break
                group.append(following)
                size += len(following.events)
            self._commit(group)
            if stop:
                return

    def _commit(self, group: list[_Request]) -> None:
        try:
            results = ingest_groups(self._store, [request.events for request in group])
        except Exception as exc:
            if len(group) > 1:
                # One request's events may be what the store refused: retry each alone, so a
                # bad request fails by itself instead of failing everyone it was grouped with.
                for request in group:
                    self._commit([request])
                return
            log.exception("recording %d events failed", len(group[0].events))
            group[0].future.set_exception(exc)
            return
        self.groups += 1
        for request, result in zip(group, results, strict=True):
            request.future.set_result(result)
