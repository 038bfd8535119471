"""Prometheus metrics: request counts and latencies by route, events ingested, store size, group commits.

A registry per app (not the global one), so tests and several apps in one process stay apart.
The request middleware is plain ASGI: it sits on every trace request, where Starlette's
``BaseHTTPMiddleware`` would add a task and a copy of the response.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lineage_service.store.base import GraphStore

if TYPE_CHECKING:
    from lineage_service.api.writer import GroupCommitWriter


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("lineage_http_requests", "HTTP requests answered.",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("lineage_http_request_duration_seconds", "Time to answer an HTTP request.",
                                 ["method", "route"], registry=self.registry,
                                 buckets=(.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10))
        self.events = Counter("lineage_events", "Lineage events received, by outcome.",
                              ["outcome"], registry=self.registry)

    def watch_store(self, store: GraphStore) -> None:
        self.registry.register(_StoreCollector(store))

    def watch_writer(self, writer: GroupCommitWriter) -> None:
        self.registry.register(_WriterCollector(writer))


class _WriterCollector(Collector):
    """Transactions of the group-commit writer, read from the writer itself at scrape time.

    Beside ``lineage_http_requests_total{route="/v1/events"}`` it shows how many requests shared
    each commit (and fsync): the point of group commit, invisible in request counts alone.
    """

    def __init__(self, writer: GroupCommitWriter) -> None:
        self._writer = writer

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily("lineage_group_commits", "Groups committed by the group-commit writer: each "
                                  "records the events of one or more requests in the log and applies them, in "
                                  "two transactions however many requests it holds.", value=self._writer.groups)


class _StoreCollector(Collector):
    def __init__(self, store: GraphStore) -> None:
        self._store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        stats = self._store.stats()
        yield GaugeMetricFamily("lineage_store_bytes", "Size of the store.", value=stats["bytes"])
        for name, label in (("nodes", "kind"), ("edges", "kind"), ("events", "status")):
            family = GaugeMetricFamily(f"lineage_store_{name}", f"{name.capitalize()} in the store.", labels=[label])
            for key, count in stats[name].items():
                family.add_metric([key], count)
            yield family


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route: Any = scope.get("route")
            # The route template, never the raw path: paths would make one series per reference.
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], template, str(status)).inc()
            self.metrics.latency.labels(scope["method"], template).observe(time.perf_counter() - started)
