"""The CLI's client for a running service (``LINEAGE_URL``), so incident laptops need no store.

Standard library only (urllib): ``lineage trace`` starts on every keystroke of an incident, and
an HTTP client library would add its import time to each start. Answers are the same JSON the
local store gives; problems (RFC 9457) become ``RemoteProblem`` with the service's own detail.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

TIMEOUT_SECONDS = 30


class RemoteProblem(Exception):
    """The service answered with an error; ``status`` 0 means it could not be reached.

    ``retry_after`` is the answer's ``Retry-After`` header, for callers that retry (``lineage emit``).
    """

    def __init__(self, status: int, detail: str, problem: dict[str, Any] | None = None,
                 retry_after: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.problem = status, detail, problem or {}
        self.retry_after = retry_after


class Client:
    def __init__(self, url: str, token: str | None = None, timeout: float = TIMEOUT_SECONDS) -> None:
        self.base = url.rstrip("/")
        self.timeout = timeout
        self.headers = {"accept": "application/json", "user-agent": "lineage-cli"}
        if token:
            self.headers["authorization"] = f"Bearer {token}"

    def get(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        return self._send(urllib.request.Request(f"{self.base}{path}?{query}", headers=self.headers))

    def post(self, path: str, body: bytes, content_type: str = "application/json") -> Any:
        return self._send(urllib.request.Request(f"{self.base}{path}", data=body, method="POST",
                                                 headers={**self.headers, "content-type": content_type}))

    def _send(self, request: urllib.request.Request) -> Any:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise _problem(exc) from None
        # HTTPException: the connection broke mid-answer (IncompleteRead, BadStatusLine).
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise RemoteProblem(0, f"cannot reach the lineage service at {self.base}: {reason}; is `lineage "
                                   f"serve` running there, and is LINEAGE_URL right?") from None


def _problem(error: urllib.error.HTTPError) -> RemoteProblem:
    body = error.read()
    retry_after = error.headers.get("Retry-After") if error.headers else None
    try:
        problem = json.loads(body)
    except ValueError:
        problem = None
    if isinstance(problem, dict) and "detail" in problem:
        return RemoteProblem(error.code, str(problem["detail"]), problem, retry_after)
    return RemoteProblem(error.code, f"the service answered {error.code} {error.reason}", retry_after=retry_after)
