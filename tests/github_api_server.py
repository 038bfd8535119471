"""A local stand-in for GitHub's REST API, serving ``tests/fixtures/github-api`` as GitHub would.

What it does as GitHub does (see ``tests/fixtures/github-api/SOURCES.md``):

- one JSON file per resource path (``repos/{owner}/{repo}/commits.json`` answers
  ``GET /repos/{owner}/{repo}/commits``); any other path is ``404 {"message": "Not Found"}``;
- lists are paginated with ``per_page`` (capped at ``page_cap``) and ``page``, and a ``Link`` header
  with ``rel="next"`` and ``rel="last"`` URLs on this server; ``workflow_runs`` lists are wrapped
  in ``{"total_count", "workflow_runs"}``;
- the filters the collector uses: ``sha`` and ``since`` on commits, ``created=>=…`` on runs;
- rate limits: every answer carries ``x-ratelimit-limit/-remaining/-used/-reset/-resource``; a
  request made with nothing remaining is ``403 {"message": "API rate limit exceeded …"}``, until
  ``reset`` passes on ``clock`` (the tests share a fake clock with the collector, so waiting for
  a reset takes no real time);
- ``prefix="/api/v3"`` and ``host`` make it answer as GitHub Enterprise Server at that host would.

Tests change ``data`` (add a run, tag a version) or queue error answers in ``queued``.
"""

from __future__ import annotations

import copy
import json
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.fixture_http import Request, Response

FIXTURES = Path(__file__).parent / "fixtures" / "github-api"


def load(relative: str) -> Any:
    return json.loads((FIXTURES / relative).read_text(encoding="utf-8"))


class FakeClock:
    """Epoch seconds that advance only when someone sleeps."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class FakeGitHub:
    def __init__(self, *, prefix: str = "", host: str | None = None, clock: Callable[[], float] = time.time,
                 page_cap: int = 100) -> None:
        self.prefix, self.clock, self.page_cap = prefix, clock, page_cap
        self.data: dict[str, Any] = {}
        for path in sorted(FIXTURES.rglob("*.json")):
            relative = path.relative_to(FIXTURES).as_posix()
            if not relative.startswith("errors/"):
                self.data["/" + relative.removesuffix(".json")] = json.loads(path.read_text(encoding="utf-8"))
        if host:  # GitHub Enterprise Server names itself in every URL it returns
            text = json.dumps(self.data).replace("https://api.github.com", f"https://{host}/api/v3")
            self.data = json.loads(text.replace("https://github.com", f"https://{host}"))
        self.queued: dict[str, list[Response]] = {}
        self.limit, self.remaining = 5000, 5000
        self.reset = int(self.clock()) + 3600

    def handle(self, request: Request, base: str) -> Response:
        if self.clock() >= self.reset:
            self.remaining, self.reset = self.limit, int(self.clock()) + 3600
        if not request.path.startswith(self.prefix):
            return self._answer(404, load("errors/not-found.json"))
        path = request.path[len(self.prefix):]
        if self.queued.get(path):
            answer = self.queued[path].pop(0)
            return Response(answer.status, answer.body, {**self._rate_headers(), **answer.headers})
        if self.remaining <= 0:
            return self._answer(403, load("errors/rate-limit-exceeded.json"))
        self.remaining -= 1
        if path not in self.data:
            return self._answer(404, load("errors/not-found.json"))
        body = copy.deepcopy(self.data[path])
        if path.endswith("/commits"):
            if request.query.get("sha", "main") != "main":
                return self._answer(404, {"message": "No commit found for SHA: " + request.query["sha"]})
            since = request.query.get("since")
            body = [c for c in body if not since or c["commit"]["committer"]["date"] >= since]
        if path.endswith("/actions/runs"):
            created = request.query.get("created", "").removeprefix(">=")
            runs = [r for r in body["workflow_runs"] if not created or r["created_at"] >= created]
            return self._page(request, base, path, runs, wrap="workflow_runs")
        if isinstance(body, list):
            return self._page(request, base, path, body)
        return self._answer(200, body)

    def _page(self, request: Request, base: str, path: str, items: list[Any], wrap: str | None = None) -> Response:
        per_page = min(int(request.query.get("per_page", "30")), self.page_cap)
        page = int(request.query.get("page", "1"))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        links = []
        for rel, number in (("next", page + 1), ("last", last)):
            if page < last:
                query = urllib.parse.urlencode({**request.query, "per_page": per_page, "page": number})
                links.append(f'<{base}{self.prefix}{path}?{query}>; rel="{rel}"')
        headers = {"Link": ", ".join(links)} if links else {}
        body = {"total_count": len(items), wrap: chunk} if wrap else chunk
        return Response(200, body, {**self._rate_headers(), **headers})

    def _answer(self, status: int, body: Any) -> Response:
        return Response(status, body, self._rate_headers())

    def _rate_headers(self) -> dict[str, str]:
        return {"x-ratelimit-limit": str(self.limit), "x-ratelimit-remaining": str(max(self.remaining, 0)),
                "x-ratelimit-used": str(self.limit - max(self.remaining, 0)), "x-ratelimit-reset": str(self.reset),
                "x-ratelimit-resource": "core"}
