"""GitHub's REST API through PyGithub, as the GitHub collector reads it: JSON in, rate limits honoured.

Imported only inside ``GitHubCollector.collect``: this module imports PyGithub.

PyGithub does the HTTP work (authentication, ``base_url`` for GitHub Enterprise, retries of 5xx
answers, ``Link``-header pagination, reading the ``x-ratelimit-*`` headers of every answer), but the
collector reads the JSON GitHub sent rather than PyGithub's objects: an object built from a list
item *completes itself* with one more GET when code touches an attribute the list left out (a
hidden request per commit or run, against the rate limit), and PyGithub has no API for container
package versions. ``_Raw`` is a list item that keeps its JSON and never completes.

**Rate limits.** PyGithub's own ``GithubRetry`` would sleep through a rate limit inside urllib3 for
as long as GitHub says, unbounded and unobservable; here urllib3 retries 5xx only, and a rate limit
is handled where it can be reported. Before a request, ``x-ratelimit-remaining: 0`` from the last
answer means waiting until ``x-ratelimit-reset``; a 403/429 rate-limit answer means waiting for
``retry-after`` (or the reset, or a minute for a secondary limit, as GitHub's troubleshooting guide
says) and trying that request again. A wait longer than ``max_wait`` is not made: ``RateLimited``
stops the run's reading, and the collector reports what it did not read. ``sleep`` and ``clock`` are
injectable, so tests never sleep.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import requests
from github import Auth, Github, GithubException, RateLimitExceededException
from github.GithubObject import NonCompletableGithubObject
from github.PaginatedList import PaginatedList
from urllib3.util.retry import Retry

Json = dict[str, Any]
_ATTEMPTS = 3  # tries of one request across rate-limit waits
_SECONDARY_WAIT = 60.0  # GitHub: "wait for at least one minute" when no header says how long


class GitHubError(Exception):
    """An answer that is not the data: ``status`` (None when GitHub was not reached) and GitHub's message."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(f"{status} {message}" if status else message)
        self.status, self.message = status, message


class RateLimited(Exception):
    """The rate limit would need a longer wait than allowed; the message says until when."""


class _Raw(NonCompletableGithubObject):
    """A list item as GitHub sent it (``raw_data``); it has no attributes, so nothing completes it."""

    def _initAttributes(self) -> None:
        pass

    def _useAttributes(self, attributes: dict[str, Any]) -> None:
        pass


class GitHubClient:
    """GET requests and paginated lists under one base URL, waiting for rate limits up to ``max_wait``."""

    def __init__(self, base_url: str, token: str | None, *, timeout: int, retries: int, request_interval: float,
                 max_wait: float, sleep: Callable[[float], None], clock: Callable[[], float]) -> None:
        retry = Retry(total=retries, backoff_factor=0.5, status_forcelist=(500, 502, 503, 504),
                      allowed_methods=frozenset({"GET"}), raise_on_status=False)
        self._github = Github(auth=Auth.Token(token) if token else None, base_url=base_url, timeout=timeout,
                              per_page=100, retry=retry, seconds_between_requests=request_interval or None,
                              user_agent="lineage-service-collector")
        self._requester = self._github.requester
        self.base_url = base_url
        self.max_wait, self.sleep, self.clock = max_wait, sleep, clock
        self.waited = 0.0  # seconds spent waiting for rate limits in this run

    def close(self) -> None:
        self._github.close()

    def get(self, path: str, params: Json | None = None) -> Json:
        """The JSON object at ``path`` (``/repos/org/api``)."""
        for attempt in range(1, _ATTEMPTS + 1):
            self._before_request()
            try:
                _, data = self._requester.requestJsonAndCheck("GET", path, parameters=params)
                if not isinstance(data, dict):
                    raise GitHubError(None, f"expected a JSON object from {path}, got {type(data).__name__}")
                return data
            except GithubException as exc:
                self._after_error(exc, path, attempt)
            except requests.RequestException as exc:
                raise self._unreachable(exc) from None
        raise AssertionError("unreachable: _after_error raises on the last attempt")

    def pages(self, path: str, params: Json | None = None, list_item: str = "items") -> Iterator[Json]:
        """Every item of a paginated list, newest first as GitHub lists them; ``list_item`` names the
        array in a wrapped answer (``workflow_runs``).

        After a rate-limit wait the page that failed is asked again: PyGithub's list keeps the items
        and the next-page URL it already has, so iteration resumes where it stopped.
        """
        listing = PaginatedList(_Raw, self._requester, path, dict(params or {}), list_item=list_item)
        consumed, attempt = 0, 1
        while True:
            self._before_request()
            try:
                for item in itertools.islice(listing, consumed, None):
                    consumed += 1
                    attempt = 1
                    yield item.raw_data
                return
            except GithubException as exc:
                self._after_error(exc, path, attempt)
                attempt += 1
            except requests.RequestException as exc:
                raise self._unreachable(exc) from None

    def _before_request(self) -> None:
        remaining, _ = self._requester.rate_limiting
        reset = self._requester.rate_limiting_resettime
        if remaining == 0 and reset + 1 > self.clock():
            self._wait(reset + 1 - self.clock(), "x-ratelimit-remaining is 0", reset)

    def _after_error(self, exc: GithubException, path: str, attempt: int) -> None:
        """Wait and return when the request may be tried again; raise otherwise."""
        headers = {str(name).lower(): str(value) for name, value in (exc.headers or {}).items()}
        message = _message(exc)
        limited = isinstance(exc, RateLimitExceededException) or (
            exc.status in (403, 429) and (headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers))
        if not limited:
            raise GitHubError(exc.status, message) from None
        reset = _number(headers.get("x-ratelimit-reset"))
        if (after := _number(headers.get("retry-after"))) is not None:
            wait, why = after, f"retry-after {after:g}s"
        elif headers.get("x-ratelimit-remaining") == "0" and reset is not None:
            wait, why = reset + 1 - self.clock(), "x-ratelimit-remaining is 0"
        else:
            wait, why = _SECONDARY_WAIT, "a secondary rate limit"
        if attempt >= _ATTEMPTS:
            raise RateLimited(f"GitHub still answers {exc.status} ({message}) for {path} after {attempt} tries")
        self._wait(max(wait, 0.0), f"{exc.status} {message}: {why}", reset)

    def _wait(self, seconds: float, why: str, reset: float | None) -> None:
        until = f" (resets at {_iso(reset)})" if reset else ""
        if seconds > self.max_wait:
            raise RateLimited(f"GitHub rate limit reached: {why}{until}; waiting {seconds:.0f}s is more than "
                              f"max_rate_limit_wait ({self.max_wait:g}s), so the rest is read by the next run")
        self.waited += seconds
        self.sleep(seconds)

    def _unreachable(self, exc: requests.RequestException) -> GitHubError:
        # requests names the host and path, never the Authorization header.
        return GitHubError(None, f"cannot reach GitHub at {self.base_url}: {type(exc).__name__}: {exc}")


def _message(exc: GithubException) -> str:
    data = exc.data
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])[:300]
    return exc.message or "no message"


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _iso(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch or 0, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
