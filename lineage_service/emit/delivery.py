"""Retries for calls to the lineage service, and which failures are worth retrying or keeping.

Transient failures (not reached, 408, 425, 429, 5xx) are retried with exponential backoff and
"equal jitter" (half the delay fixed, half random, so parallel pipeline steps do not retry in
step), waiting at least what ``Retry-After`` asks, bounded in attempts and in total time. The
clock, the sleep and the randomness are parameters so that tests run the real loop without
waiting.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

T = TypeVar("T")

# The request itself is wrong: sending it again, now or later, gets the same answer.
REJECTED = frozenset({400, 413, 415, 422})


class DeliveryError(Exception):
    """A call that failed; ``status`` 0 means the service was not reached."""

    def __init__(self, status: int, detail: str, problem: dict[str, Any] | None = None,
                 retry_after: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.problem, self.retry_after = status, detail, problem or {}, retry_after


class GaveUp(Exception):
    """No more attempts: ``error`` is the last failure, after ``attempts`` tries."""

    def __init__(self, error: DeliveryError, attempts: int) -> None:
        super().__init__(error.detail)
        self.error, self.attempts = error, attempts


def problem_lines(error: DeliveryError) -> list[str]:
    """The service's per-event problems (``errors`` of a 422 problem), one line each."""
    return [f"{item.get('event')}: {'; '.join(map(str, item.get('problems', [])))}" if isinstance(item, dict)
            else str(item) for item in error.problem.get("errors", [])]


def is_transient(error: DeliveryError) -> bool:
    return error.status in (0, 408, 425, 429) or error.status >= 500


def is_rejection(error: DeliveryError) -> bool:
    """The service refused the content (validation): keeping it for later cannot help."""
    return error.status in REJECTED


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    timeout: float = 30.0  # seconds for all attempts and waits together
    backoff: float = 0.5  # the first wait; doubles on each retry
    max_delay: float = 10.0  # the longest wait our own backoff chooses (Retry-After may ask for more)
    request_timeout: float = 10.0  # the longest one request may take

    def delay(self, attempt: int, jitter: float) -> float:
        """The wait after failed attempt number ``attempt`` (1-based), ``jitter`` in [0, 1)."""
        ceiling = min(self.max_delay, self.backoff * 2.0 ** (attempt - 1))
        return ceiling / 2 + ceiling / 2 * jitter


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None  # unreadable: fall back to our own backoff
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def call_with_retries(
    call: Callable[[float], T], policy: RetryPolicy, *,
    sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
    jitter: Callable[[], float] = random.random,
    on_retry: Callable[[DeliveryError, int, float], None] | None = None,
) -> T:
    """``call(request_timeout)`` until it returns; raises ``GaveUp`` with the last ``DeliveryError``.

    Only transient failures are retried. No wait runs past the time bound: when the next wait would,
    the loop gives up at once instead of sleeping for nothing.
    """
    deadline = clock() + policy.timeout
    attempt = 0
    while True:
        attempt += 1
        remaining = deadline - clock()
        try:
            return call(max(1.0, min(policy.request_timeout, remaining)))
        except DeliveryError as error:
            if not is_transient(error) or attempt >= policy.attempts:
                raise GaveUp(error, attempt) from None
            wait = policy.delay(attempt, jitter())
            asked = retry_after_seconds(error.retry_after)
            if asked is not None:
                wait = max(wait, asked)
            if clock() + wait > deadline:
                raise GaveUp(error, attempt) from None
            if on_retry is not None:
                on_retry(error, attempt, wait)
            sleep(wait)
