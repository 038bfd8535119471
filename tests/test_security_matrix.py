"""Every route × every kind of caller, with the status each must get, over real HTTP.

The routes come from the app's own route table, so a route added without an expectation here fails
``test_every_route_has_an_expectation`` (and a route removed leaves a stale one, which fails too).

Who may call what (the decisions, also in ``lineage_service/api/auth.py``):
- ``/healthz``, ``/readyz``: open, for orchestrators.
- ``/``, ``/static``, ``/docs``, ``/redoc``, ``/openapi.json``: open. The web page and its files
  hold no data (every answer it shows comes from ``/v1`` with the user's token) and the docs only
  describe the API, which is public knowledge (the code is).
- queries, the event log, ``/v1/stats``, ``/metrics``: the ``read`` scope (or ``admin``).
- ``POST /v1/events``, ``/api/v1/lineage``, ``/v1/provenance``: the ``ingest`` scope (or ``admin``).
- webhooks: their signature or shared secret, whatever bearer token comes along (an unsigned
  delivery is a 401 for every caller, and a signed one a 200: ``test_secrets.py``).
- no token, an unknown one, a revoked or an expired one: 401 with a message saying which; a token
  without the scope: 403.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from lineage_service.demo.history import demo_events
from lineage_service.ingest import ingest, validate_all
from lineage_service.settings import Settings
from lineage_service.store import open_store
from lineage_service.tokens import hash_token, new_token
from tests.events import commit_event
from tests.routes import route_table
from tests.servers import live_server

CALLERS = ("none", "read", "ingest", "admin", "wrong", "revoked", "expired")
TOKENS = {name: new_token() for name in CALLERS if name != "none"}
Expected = dict[str, int | None]
OPEN: Expected = {caller: None for caller in CALLERS}  # None: the route's own success status for everyone


def _scoped(allowed: set[str]) -> Expected:
    return {caller: None if caller in allowed else 403 if caller in ("read", "ingest", "admin") else 401
            for caller in CALLERS}


READ = _scoped({"read", "admin"})
INGEST = _scoped({"ingest", "admin"})
UNSIGNED_WEBHOOK: Expected = {caller: 401 for caller in CALLERS}

API = {"kind": "api", "ref": "v1.2.3"}
# (method, path) -> (request, success status, who gets what). Every request is one that succeeds
# for an authorised caller on the demo store, so a 2xx/4xx mix-up cannot pass as "authorised".
EXPECTATIONS: dict[tuple[str, str], tuple[dict[str, Any], int, Expected]] = {
    ("GET", "/healthz"): ({}, 200, OPEN),
    ("GET", "/readyz"): ({}, 200, OPEN),
    ("GET", "/"): ({}, 200, OPEN),
    ("GET", "/static"): ({"path": "/static/index.html"}, 200, OPEN),
    ("GET", "/docs"): ({}, 200, OPEN),
    ("GET", "/docs/oauth2-redirect"): ({}, 200, OPEN),
    ("GET", "/redoc"): ({}, 200, OPEN),
    ("GET", "/openapi.json"): ({}, 200, OPEN),
    ("GET", "/metrics"): ({}, 200, READ),
    ("GET", "/v1/trace"): ({"params": API}, 200, READ),
    ("GET", "/v1/impact"): ({"params": API}, 200, READ),
    ("GET", "/v1/show"): ({"params": API}, 200, READ),
    ("GET", "/v1/neighbours"): ({"params": API}, 200, READ),
    ("GET", "/v1/search"): ({"params": {"q": "taxi"}}, 200, READ),
    ("GET", "/v1/diff"): ({"params": {"kind": "api", "a": "v1.2.2", "b": "v1.2.3"}}, 200, READ),
    ("GET", "/v1/history"): ({"params": {"kind": "deployment", "ref": "prod/taxi-api"}}, 200, READ),
    ("GET", "/v1/running"): ({}, 200, READ),
    ("GET", "/v1/verify"): ({"params": API}, 200, READ),
    ("GET", "/v1/gaps"): ({}, 200, READ),
    ("GET", "/v1/events"): ({}, 200, READ),
    ("GET", "/v1/stats"): ({}, 200, READ),
    # Ingestion: an event the store takes (200, a duplicate after the first), and for OpenLineage and
    # provenance a body that parses but is refused by the parser (422): past the auth check, nothing stored.
    ("POST", "/v1/events"): ({"json": commit_event(1)}, 200, INGEST),
    ("POST", "/api/v1/lineage"): ({"json": {"eventType": "COMPLETE"}}, 422, INGEST),
    ("POST", "/v1/provenance"): ({"json": {"_type": "not-a-statement"}}, 422, INGEST),
    ("POST", "/v1/webhooks/github"): ({"json": {"zen": "x"}, "headers": {"x-github-event": "ping"}}, 200,
                                      UNSIGNED_WEBHOOK),
    ("POST", "/v1/webhooks/azure-devops"): ({"json": {"eventType": "build.complete"}}, 200, UNSIGNED_WEBHOOK),
}


def test_every_route_has_an_expectation() -> None:
    routes = route_table()
    assert not routes - EXPECTATIONS.keys(), "routes without an expected status per caller: add them here"
    assert not EXPECTATIONS.keys() - routes, "expectations for routes the app no longer has"


def tokens_file(path: Path) -> None:
    past, future = datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=30)
    path.write_text(
        "# the matrix's callers; 'wrong' is deliberately absent\n"
        f"reader read {hash_token(TOKENS['read'])} expires={future.date().isoformat()}\n"
        f"ci ingest {hash_token(TOKENS['ingest'])}\n"
        f"ops admin {hash_token(TOKENS['admin'])}\n"
        f"former-oncall read,ingest {hash_token(TOKENS['revoked'])} revoked\n"
        f"contractor admin {hash_token(TOKENS['expired'])} expires={past.isoformat()}\n", encoding="utf-8")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("matrix")
    store = open_store(f"sqlite:///{directory / 'lineage.db'}")
    assert not ingest(store, validate_all(demo_events())).failed
    store.close()
    tokens_file(directory / "tokens")
    settings = Settings(store=f"sqlite:///{directory / 'lineage.db'}", tokens_file=directory / "tokens",
                        github_webhook_secret="matrix-github-secret", azure_devops_webhook_secret="matrix-ado-secret")
    with live_server(settings) as url:
        yield url


def _headers(caller: str, extra: dict[str, str]) -> dict[str, str]:
    return {**extra, **({"authorization": f"Bearer {TOKENS[caller]}"} if caller != "none" else {})}


def test_every_route_answers_every_caller_as_expected(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    mismatches, cells = [], 0
    with httpx.Client(base_url=server, timeout=30) as http:
        for (method, path), (request, success, expected) in sorted(EXPECTATIONS.items()):
            request = dict(request)
            url = request.pop("path", path)
            extra = request.pop("headers", {})
            for caller in CALLERS:
                response = http.request(method, url, headers=_headers(caller, extra), **request)
                want = expected[caller] or success
                cells += 1
                if response.status_code != want:
                    mismatches.append(f"{method} {path} as {caller}: {response.status_code}, expected {want}: "
                                      f"{response.text[:200]}")
                elif want == 401:
                    assert response.headers["content-type"] == "application/problem+json"
                    assert "www-authenticate" in response.headers
    assert not mismatches, "\n".join(mismatches)
    assert cells == len(EXPECTATIONS) * len(CALLERS)
    with capsys.disabled():
        print(f"\nsecurity matrix: {cells} cells checked ({len(EXPECTATIONS)} routes x {len(CALLERS)} callers)")


@pytest.mark.parametrize(("caller", "says"), [
    ("none", "needs a bearer token"), ("wrong", "not one this service knows"),
    ("revoked", "'former-oncall' was revoked"), ("expired", "'contractor' expired at"),
])
def test_a_refused_token_is_told_why(server: str, caller: str, says: str) -> None:
    response = httpx.get(f"{server}/v1/stats", headers=_headers(caller, {}))
    assert response.status_code == 401 and says in response.json()["detail"]
    # The token itself is never echoed back.
    assert all(token not in response.text for token in TOKENS.values())


def test_editing_the_tokens_file_revokes_and_expires_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    token, other = new_token(), new_token()
    path.write_text(f"oncall read {hash_token(token)}\n", encoding="utf-8")
    settings = Settings(store=f"sqlite:///{tmp_path / 'lineage.db'}", tokens_file=path)
    with live_server(settings) as url, httpx.Client(base_url=url) as http:
        def status(presented: str) -> int:
            return http.get("/v1/stats", headers={"authorization": f"Bearer {presented}"}).status_code

        assert (status(token), status(other)) == (200, 401)
        # Written in place (as an editor does): the size changes, so a same-tick mtime cannot hide it.
        path.write_text(f"oncall read {hash_token(token)} revoked\nnew-hire read {hash_token(other)}\n",
                        encoding="utf-8")
        assert (status(token), status(other)) == (401, 200)
        # Replaced atomically (as a Kubernetes secret update does): a new inode.
        replacement = tmp_path / "tokens.new"
        replacement.write_text(f"new-hire read {hash_token(other)} expires=2000-01-01\n", encoding="utf-8")
        os.replace(replacement, path)
        response = http.get("/v1/stats", headers={"authorization": f"Bearer {other}"})
        assert response.status_code == 401 and "expired at 2000-01-02T00:00:00+00:00" in response.json()["detail"]
        # A broken edit keeps the last good tokens (logged), rather than locking out or opening up.
        path.write_text("new-hire read not-a-valid-line-at-all extra fields\n", encoding="utf-8")
        assert (status(token), status(other)) == (401, 401)
        path.write_text(f"oncall read {hash_token(token)}\n", encoding="utf-8")
        assert (status(token), status(other)) == (200, 401)


def test_a_tokens_file_with_no_valid_token_lets_no_one_in(tmp_path: Path) -> None:
    # Revoking the last token must not turn the service into an open one.
    path = tmp_path / "tokens"
    path.write_text(f"oncall read {hash_token(new_token())} revoked\n", encoding="utf-8")
    settings = Settings(store=f"sqlite:///{tmp_path / 'lineage.db'}", tokens_file=path)
    with live_server(settings) as url:
        path.write_text("# everyone revoked\n", encoding="utf-8")
        assert httpx.get(f"{url}/v1/stats").status_code == 401
        assert httpx.get(f"{url}/healthz").status_code == 200


@pytest.mark.parametrize(("line", "message"), [
    ("ci ingest {token} expires=2026-13-01", "expires: expected a date (2026-12-31) or an ISO time"),
    ("ci ingest {token} forever", "unexpected field after the token; expected expires=YYYY-MM-DD or revoked"),
])
def test_a_bad_token_option_is_a_clear_error_that_does_not_echo_the_token(line: str, message: str) -> None:
    from lineage_service.tokens import TokenConfigError, parse_tokens

    token = new_token()
    with pytest.raises(TokenConfigError) as raised:
        parse_tokens(line.format(token=token), "tokens")
    assert message in str(raised.value) and token not in str(raised.value)


def test_old_token_lines_stay_valid_and_never_expire() -> None:
    from lineage_service.tokens import parse_tokens

    [entry] = parse_tokens(f"ci ingest {hash_token(new_token())}")
    assert entry.expires is None and not entry.revoked
    assert entry.refusal(datetime(9999, 1, 1, tzinfo=UTC)) is None


def test_token_create_writes_an_expiry_the_service_reads() -> None:
    from typer.testing import CliRunner

    from cli.main import app
    from lineage_service.tokens import parse_tokens

    result = CliRunner().invoke(app, ["token", "create", "ci", "--scopes", "ingest", "--expires", "2999-06-30"])
    assert result.exit_code == 0, result.output
    line = result.output.splitlines()[3].strip()
    assert line.endswith(" expires=2999-06-30")
    assert parse_tokens(line)[0].expires == datetime(2999, 7, 1, tzinfo=UTC)
    past = CliRunner().invoke(app, ["token", "create", "ci", "--expires", "2001-01-01"])
    assert past.exit_code == 2 and "already past" in past.output
