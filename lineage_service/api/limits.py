"""Request-rate limits that protect the store: a budget per caller for reads and one for ingestion.

The budgets come from ``LINEAGE_RATE_LIMIT_READ`` and ``LINEAGE_RATE_LIMIT_INGEST`` in the notation
of the ``limits`` library (``50/second``, ``3000 per minute``, ``10/second;200/minute``) and are
counted in a moving window, in memory: exact, with no burst at a window's edge. A caller is the
token's name when tokens are configured, else the client address (behind a proxy, every client
shares the proxy's address: give callers tokens there). Each worker process counts on its own, so
``lineage serve --workers 4`` admits up to four times a budget.

Both are off by default (see ``Settings``): one CI runner or the benchmark rightly sends 1,000+
requests a second from one client, and what a store sustains depends on its disk and backend.

A refused request is a 429 ``application/problem+json`` with ``Retry-After`` (seconds until the
window admits the caller again), before the route reads a body or touches the store, and counts in
``lineage_rate_limited_total{budget}`` on ``/metrics`` (and as ``status="429"`` in the request
counts).
"""

from __future__ import annotations

import math
import threading
import time
from enum import StrEnum
from typing import Any

from fastapi import Depends, Request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from prometheus_client import CollectorRegistry, Counter

from lineage_service.api.problems import Problem
from lineage_service.settings import Settings


class Budget(StrEnum):
    READ = "read"
    INGEST = "ingest"


_VARIABLES = {Budget.READ: "LINEAGE_RATE_LIMIT_READ", Budget.INGEST: "LINEAGE_RATE_LIMIT_INGEST"}


class RateLimits:
    """The budgets of one app and what each caller has spent of them."""

    def __init__(self, settings: Settings, registry: CollectorRegistry) -> None:
        configured = {Budget.READ: settings.rate_limit_read, Budget.INGEST: settings.rate_limit_ingest}
        self._items: dict[Budget, list[RateLimitItem]] = {
            budget: parse_many(text) for budget, text in configured.items() if text}
        self._text = configured
        self._lock = threading.Lock()
        # Only a configured budget starts the storage (and its expiry timer thread).
        self._limiter = MovingWindowRateLimiter(MemoryStorage()) if self._items else None
        self.refused = Counter("lineage_rate_limited", "Requests refused with 429 because their caller spent "
                               "its request-rate budget.", ["budget"], registry=registry)

    def check(self, budget: Budget, caller: str) -> None:
        """Spend one request of ``caller``'s budget, or raise a 429 problem when it is spent."""
        items = self._items.get(budget)
        if not items or self._limiter is None:
            return
        with self._lock:
            # Test every item before spending any: a request refused by its second item
            # ("10/second;200/minute") must not have spent the first. The lock keeps test and hit
            # one step for requests of one caller served at once on the worker's threads.
            refused = next((item for item in items if not self._limiter.test(item, budget.value, caller)), None)
            if refused is None:
                for item in items:
                    self._limiter.hit(item, budget.value, caller)
                return
            reset = self._limiter.get_window_stats(refused, budget.value, caller).reset_time
        retry = max(1, math.ceil(reset - time.time()))
        self.refused.labels(budget.value).inc()
        raise Problem(429, "Too many requests",
                      f"{caller} spent its {budget.value} budget of {refused}; retry after {retry} s "
                      f"(set by {_VARIABLES[budget]}={self._text[budget]})",
                      slug="rate-limited", headers={"Retry-After": str(retry)},
                      budget=budget.value, limit=str(refused), retry_after=retry)


def caller_key(request: Request, token_name: str | None) -> str:
    """Whose budget a request spends: its token's, else its client address's."""
    if token_name is not None:
        return f"token {token_name!r}"
    return f"client {request.client.host if request.client else 'unknown'}"


def limit(request: Request, budget: Budget, token_name: str | None) -> None:
    limits: RateLimits = request.app.state.rate_limits
    limits.check(budget, caller_key(request, token_name))


async def _webhook_budget(request: Request) -> None:
    # Webhooks authenticate by signature, not token: their budget is the sender's address.
    limit(request, Budget.INGEST, None)


WEBHOOK_LIMIT: Any = Depends(_webhook_budget)  # a fastapi.params.Depends for the webhooks router
