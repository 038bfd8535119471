"""Limits that protect the store, over real HTTP: request-rate budgets (429) and body sizes (413).

The rate windows are a minute long, so every request of a test falls in one window however slow
the machine is: the tests count requests, they never time them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from lineage_service.settings import Settings
from lineage_service.tokens import hash_token, new_token
from tests.events import commit_event
from tests.routes import route_table
from tests.servers import live_server

READER, WRITER, OPS = new_token(), new_token(), new_token()
TOKENS = f"oncall read {hash_token(READER)}\nci ingest,read {hash_token(WRITER)}\nops admin {hash_token(OPS)}"


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(store=f"sqlite:///{tmp_path / 'lineage.db'}", **values)


def _refused(response: httpx.Response, budget: str, caller: str) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert 1 <= int(response.headers["retry-after"]) <= 60
    problem = response.json()
    assert problem["budget"] == budget and problem["retry_after"] == int(response.headers["retry-after"])
    assert caller in problem["detail"] and f"LINEAGE_RATE_LIMIT_{budget.upper()}" in problem["detail"]


def test_each_token_has_its_own_read_and_ingest_budgets(tmp_path: Path) -> None:
    settings = _settings(tmp_path, tokens=TOKENS, rate_limit_read="3/minute", rate_limit_ingest="2 per minute")
    with live_server(settings) as url, httpx.Client(base_url=url) as http:
        assert [http.get("/v1/stats", headers=_bearer(READER)).status_code for _ in range(3)] == [200] * 3
        _refused(http.get("/v1/stats", headers=_bearer(READER)), "read", "token 'oncall'")
        # Another caller is not held back by the first one's spending.
        assert http.get("/v1/stats", headers=_bearer(WRITER)).status_code == 200
        # Ingestion counts apart from reads, for the same token.
        assert [http.post("/v1/events", json=commit_event(n), headers=_bearer(WRITER)).status_code
                for n in range(2)] == [200, 200]
        _refused(http.post("/v1/events", json=commit_event(9), headers=_bearer(WRITER)), "ingest", "token 'ci'")
        assert http.get("/v1/stats", headers=_bearer(WRITER)).status_code == 200
        # Health checks never spend a budget: an orchestrator must not restart a busy service.
        assert all(http.get("/healthz").status_code == 200 for _ in range(5))
        # The refused event was not stored, and /metrics counts the refusals.
        assert http.get("/v1/stats", headers=_bearer(OPS)).json()["events"] == {"applied": 2}
        metrics = http.get("/metrics", headers=_bearer(OPS)).text
    assert 'lineage_rate_limited_total{budget="read"} 1.0' in metrics
    assert 'lineage_rate_limited_total{budget="ingest"} 1.0' in metrics
    assert 'route="/v1/events",status="429"' in metrics


def test_an_open_service_counts_per_client_address_and_webhooks_spend_the_ingest_budget(tmp_path: Path) -> None:
    settings = _settings(tmp_path, rate_limit_read="2/minute", rate_limit_ingest="1/minute",
                         github_webhook_secret="limits-secret")
    with live_server(settings) as url, httpx.Client(base_url=url) as http:
        assert [http.get("/v1/search", params={"q": "x"}).status_code for _ in range(2)] == [200, 200]
        _refused(http.get("/v1/search", params={"q": "x"}), "read", "client 127.0.0.1")
        # Unsigned, so a 401, but it spent the address's ingest budget: a flood of forged deliveries
        # is throttled before any signature is computed.
        assert http.post("/v1/webhooks/github", json={}).status_code == 401
        _refused(http.post("/v1/webhooks/github", json={}), "ingest", "client 127.0.0.1")
        _refused(http.post("/v1/events", json=commit_event(1)), "ingest", "client 127.0.0.1")


def test_by_default_nothing_is_throttled(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert settings.rate_limit_read is None and settings.rate_limit_ingest is None
    with live_server(settings) as url, httpx.Client(base_url=url) as http:
        statuses = {http.get("/v1/search", params={"q": "x"}).status_code for _ in range(300)}
        statuses |= {http.post("/v1/events", json=commit_event(n)).status_code for n in range(100)}
    assert statuses == {200}


@pytest.mark.parametrize("value", ["lots", "10/fortnight", "-1/second"])
def test_a_bad_rate_setting_is_a_clear_error(value: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(rate_limit_read=value)
    assert "expected a rate such as '50/second'" in str(raised.value) and value in str(raised.value)


@pytest.mark.parametrize("value", ["off", "", "none"])
def test_a_rate_setting_can_be_switched_off(value: str) -> None:
    assert Settings(rate_limit_ingest=value).rate_limit_ingest is None


# Body limits ----------------------------------------------------------------------------------------
LIMIT = 1024
INGEST_ROUTES = ["/v1/events", "/api/v1/lineage", "/v1/provenance", "/v1/webhooks/github", "/v1/webhooks/azure-devops"]


def test_every_post_route_is_in_the_body_limit_test() -> None:
    assert {path for method, path in route_table() if method == "POST"} == set(INGEST_ROUTES)


@pytest.fixture(scope="module")
def small_bodies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("bodies")
    settings = _settings(directory, max_body_bytes=LIMIT, github_webhook_secret="body-secret",
                         azure_devops_webhook_secret="body-secret")
    with live_server(settings) as url:
        yield url


def _oversized() -> bytes:
    # Valid JSON, so only the size can be the reason for refusing it.
    return b'{"padding": "' + b"x" * (2 * LIMIT) + b'"}'


def _chunks() -> Iterator[bytes]:
    # No Content-Length: the server must count the bytes as they arrive.
    body = _oversized()
    for start in range(0, len(body), 256):
        yield body[start:start + 256]


@pytest.mark.parametrize("path", INGEST_ROUTES)
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_every_ingest_route_refuses_an_oversized_body_with_413(small_bodies: str, path: str, declared: bool) -> None:
    headers = {"content-type": "application/json", "x-github-event": "push", "x-lineage-secret": "body-secret"}
    content: bytes | Iterator[bytes] = _oversized() if declared else _chunks()
    response = httpx.post(small_bodies + path, content=content, headers=headers)
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert f"larger than {LIMIT} bytes" in response.json()["detail"]
    assert httpx.get(f"{small_bodies}/v1/stats").json()["events"] == {}


def test_serve_refuses_a_bad_rate_setting_with_a_clear_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(app, ["serve", "--store", f"sqlite:///{tmp_path / 'l.db'}"],
                                env={"LINEAGE_RATE_LIMIT_READ": "lots", "LINEAGE_TOKENS": ""})
    assert result.exit_code == 2
    assert "LINEAGE_RATE_LIMIT_READ" in result.output and "expected a rate such as" in result.output
    assert "Traceback" not in result.output
