"""Failed authentication spends the client address's read budget, over real HTTP (issue 10).

Without this, a refused token got its 401 before any budget was spent, so token guessing was never
throttled. The rate windows are a minute long, so every request of a test falls in one window
however slow the machine is: the tests count requests, they never time them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from lineage_service.settings import Settings
from lineage_service.tokens import hash_token, new_token
from tests.events import commit_event
from tests.servers import live_server

READER, REVOKED, EXPIRED = new_token(), new_token(), new_token()
_PAST = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
TOKENS = (f"oncall read {hash_token(READER)}\n"
          f"former-oncall read {hash_token(REVOKED)} revoked\n"
          f"contractor read {hash_token(EXPIRED)} expires={_PAST}")


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(store=f"sqlite:///{tmp_path / 'lineage.db'}", tokens=TOKENS, **values)


def _unauthorized(response: httpx.Response, says: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == 'Bearer realm="lineage"'
    assert says in response.json()["detail"]


def _throttled(response: httpx.Response, caller: str) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert 1 <= int(response.headers["retry-after"]) <= 60
    problem = response.json()
    assert problem["budget"] == "read" and problem["retry_after"] == int(response.headers["retry-after"])
    assert caller in problem["detail"] and "LINEAGE_RATE_LIMIT_READ" in problem["detail"]


def test_wrong_tokens_spend_the_address_budget_and_a_valid_token_keeps_its_own(tmp_path: Path) -> None:
    with live_server(_settings(tmp_path, rate_limit_read="3/minute")) as url, httpx.Client(base_url=url) as http:
        # Valid requests spend the token's budget, not the address's: the guesses below still get 3.
        assert [http.get("/v1/stats", headers=_bearer(READER)).status_code for _ in range(2)] == [200, 200]
        for _ in range(3):
            _unauthorized(http.get("/v1/stats", headers=_bearer(new_token())), "not one this service knows")
        _throttled(http.get("/v1/stats", headers=_bearer(new_token())), "client 127.0.0.1")
        # The address is spent, but the valid token, from that same address, has its third request left.
        assert http.get("/v1/stats", headers=_bearer(READER)).status_code == 200
        _throttled(http.get("/v1/stats", headers=_bearer(READER)), "token 'oncall'")
        metrics = http.get("/metrics", headers=_bearer(READER))
        assert metrics.status_code == 429  # /metrics is a read route too: the token's budget is spent


def test_every_kind_of_refused_token_spends_the_read_budget_on_any_route(tmp_path: Path) -> None:
    with live_server(_settings(tmp_path, rate_limit_read="3/minute")) as url, httpx.Client(base_url=url) as http:
        _unauthorized(http.get("/v1/stats"), "needs a bearer token")
        _unauthorized(http.get("/v1/stats", headers=_bearer(REVOKED)), "'former-oncall' was revoked")
        # An ingest route refuses a bad token with the read budget too: guessing costs the same anywhere.
        _unauthorized(http.post("/v1/events", json=commit_event(1), headers=_bearer(EXPIRED)),
                      "'contractor' expired at")
        _throttled(http.get("/v1/stats", headers=_bearer(new_token())), "client 127.0.0.1")
        _throttled(http.get("/v1/stats"), "client 127.0.0.1")
        _throttled(http.post("/v1/events", json=commit_event(2), headers=_bearer(REVOKED)), "client 127.0.0.1")
        # Health checks need no token and spend nothing.
        assert http.get("/healthz").status_code == 200


def test_with_limits_off_wrong_tokens_are_only_refused(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert settings.rate_limit_read is None
    with live_server(settings) as url, httpx.Client(base_url=url) as http:
        statuses = [http.get("/v1/stats", headers=_bearer(new_token())).status_code for _ in range(20)]
        assert statuses == [401] * 20
        assert http.get("/v1/stats", headers=_bearer(READER)).status_code == 200
