"""Webhook secrets rotate without downtime, and no secret ever shows: logs, errors, /metrics, reports.

The service runs as ``lineage serve`` in a subprocess with the root logger at DEBUG (its stderr is
captured whole); the collectors run through ``lineage collect --config … --format json`` in this
process with ``caplog`` at DEBUG, against a real ``docker-registry`` behind htpasswd and the GitHub
API double (which, like GitHub, answers a wrong token with 401 Bad credentials).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from tests import services
from tests.events import commit_event
from tests.fixture_http import Request, Response, serve
from tests.github_api_server import FakeGitHub, load
from tests.serve_process import ServeProcess
from tests.services import Registry
from tests.token_service import PASSWORD, USER

basic_registry = services.basic_registry  # the session's htpasswd registry: pytest finds fixtures by name

ROOT = Path(__file__).resolve().parent.parent
# `lineage serve` itself, with every logger of the process at DEBUG on stderr.
SERVE = ("import logging, sys; logging.basicConfig(level=logging.DEBUG, stream=sys.stderr); "
         "logging.getLogger('lineage_service').debug('logging at DEBUG'); "
         "from cli.main import main; sys.argv[0] = 'lineage'; main()")
OLD, NEW = "whsec-old-4f1c9a7e2b8d", "whsec-new-93ab0c6d1e2f"


@contextmanager
def lineage_serve(tmp_path: Path, env: dict[str, str]) -> Iterator[ServeProcess]:
    """The service with ``env``; its ``output`` is everything it wrote, whole once the block has ended."""
    environment = {**{k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}, **env,
                   "LINEAGE_STORE": f"sqlite:///{tmp_path / 'lineage.db'}"}
    served = ServeProcess([sys.executable, "-c", SERVE, "serve"], environment, cwd=ROOT)
    served.start()
    try:
        yield served
    finally:
        served.stop()


def github_delivery(url: str, secret: str, body: bytes = b'{"zen": "rotate"}') -> httpx.Response:
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return httpx.post(f"{url}/v1/webhooks/github", content=body, headers={
        "content-type": "application/json", "x-github-event": "ping", "x-hub-signature-256": signature})


def azure_devops_delivery(url: str, secret: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/webhooks/azure-devops", json={"eventType": "build.complete", "resource": {}},
                      auth=("azure-devops", secret))


def test_webhook_secrets_rotate_without_downtime(tmp_path: Path) -> None:
    rotating = {"LINEAGE_GITHUB_WEBHOOK_SECRET": f"{OLD},{NEW}", "LINEAGE_AZURE_DEVOPS_WEBHOOK_SECRET": f"{OLD}\n{NEW}"}
    # During the rotation both secrets are good: senders can be switched one by one.
    with lineage_serve(tmp_path, rotating) as served:
        assert github_delivery(served.url, OLD).status_code == 200
        assert github_delivery(served.url, NEW).status_code == 200
        assert github_delivery(served.url, "whsec-never-configured").status_code == 401
        assert azure_devops_delivery(served.url, OLD).status_code in (200, 202)
        assert azure_devops_delivery(served.url, NEW).status_code in (200, 202)
        assert azure_devops_delivery(served.url, "whsec-never-configured").status_code == 401
    # The old secret dropped from the configuration, the service restarted on the same store: only the new one.
    rotated = {"LINEAGE_GITHUB_WEBHOOK_SECRET": NEW, "LINEAGE_AZURE_DEVOPS_WEBHOOK_SECRET": NEW}
    with lineage_serve(tmp_path, rotated) as after:
        assert github_delivery(after.url, OLD).status_code == 401
        assert github_delivery(after.url, NEW).status_code == 200
        assert azure_devops_delivery(after.url, OLD).status_code == 401
        assert azure_devops_delivery(after.url, NEW).status_code in (200, 202)
    for output in (served.output, after.output):
        assert "GitHub delivery" in output  # the refusals were logged ...
        assert OLD not in output and NEW not in output  # ... without the secrets


def test_no_secret_shows_in_the_service_logs_errors_or_metrics(tmp_path: Path) -> None:
    reader, writer, wrong = "rd-" + "a1" * 12, "wr-" + "b2" * 12, "wrong-" + "c3" * 12
    github_secret, ado_secret = "gh-hook-" + "d4" * 10, "ado-hook-" + "e5" * 10
    env = {"LINEAGE_TOKENS": f"oncall read {reader};ci ingest {writer}",  # plain tokens, not hashes
           "LINEAGE_GITHUB_WEBHOOK_SECRET": github_secret, "LINEAGE_AZURE_DEVOPS_WEBHOOK_SECRET": ado_secret,
           "LINEAGE_RATE_LIMIT_INGEST": "6/minute", "LINEAGE_MAX_BODY_BYTES": "2048"}
    answers: list[str] = []

    def keep(response: httpx.Response) -> httpx.Response:
        answers.append(json.dumps(dict(response.headers)) + response.text)
        return response

    with lineage_serve(tmp_path, env) as served, httpx.Client(base_url=served.url) as http:
        def bearer(token: str) -> dict[str, str]:
            return {"authorization": f"Bearer {token}"}

        assert keep(http.get("/v1/stats", headers=bearer(reader))).status_code == 200
        assert keep(http.get("/v1/stats", headers=bearer(wrong))).status_code == 401
        assert keep(http.get("/v1/stats", headers=bearer(writer))).status_code == 403
        assert keep(http.get("/v1/trace", params={"kind": "api", "ref": reader}, headers=bearer(writer))
                    ).status_code == 403
        assert keep(http.post("/v1/events", json=commit_event(1), headers=bearer(writer))).status_code == 200
        assert keep(http.post("/v1/events", content=b"x" * 4096, headers={**bearer(writer),
                                                                          "content-type": "application/json"})
                    ).status_code == 413
        assert keep(github_delivery(served.url, github_secret)).status_code == 200
        assert keep(github_delivery(served.url, wrong)).status_code == 401
        assert keep(azure_devops_delivery(served.url, wrong)).status_code == 401
        assert keep(http.post("/v1/webhooks/azure-devops", json={}, headers={"x-lineage-secret": wrong})
                    ).status_code == 401
        assert keep(azure_devops_delivery(served.url, ado_secret)).status_code in (200, 202)
        statuses = [keep(http.post("/v1/events", json=commit_event(n), headers=bearer(writer))).status_code
                    for n in range(2, 8)]  # the token's 7th and 8th ingest requests this minute
        assert statuses[-2:] == [429, 429]
        metrics = keep(http.get("/metrics", headers=bearer(reader))).text
        assert 'lineage_rate_limited_total{budget="ingest"}' in metrics
    for secret in (reader, writer, wrong, github_secret, ado_secret):
        assert secret not in served.output, f"a secret in the service's log:\n{served.output}"
        assert not [answer for answer in answers if secret in answer]
    # The log really was at DEBUG, and the service's own warnings reached it.
    assert "DEBUG:lineage_service:logging at DEBUG" in served.output
    assert "WARNING:lineage_service.api.routes.webhooks" in served.output


# Collectors ----------------------------------------------------------------------------------------
GITHUB_TOKEN, WRONG_GITHUB_TOKEN = "ghp_" + "f6" * 18, "ghp_" + "a7" * 18
WRONG_REGISTRY_PASSWORD = "not-the-registry-password-" + "b8" * 6


@contextmanager
def github_requiring(token: str) -> Iterator[str]:
    fake = FakeGitHub()

    def handle(request: Request, base: str) -> Response:
        # As GitHub: the token is checked on every request, a wrong one is 401 Bad credentials.
        if request.headers.get("authorization") not in (f"token {token}", f"Bearer {token}"):
            return Response(401, load("errors/bad-credentials.json"))
        return fake.handle(request, base)

    with serve(handle) as base:
        yield base


def lineage_yaml(path: Path, github: str, registry: Registry, password: str) -> Path:
    sources: list[dict[str, Any]] = [
        {"collector": "github", "name": "gh", "config": {
            "repositories": ["nathansegers/mlops-2.0"], "base_url": github, "registry": "ghcr.io",
            "token_env": "TEST_SECRETS_GITHUB_TOKEN", "retries": 0, "request_interval": 0}},
        {"collector": "registry", "name": "images", "config": {
            "registry": registry.url, "insecure_http": True, "repositories": ["private/none"],
            "username": USER, "password": password}},  # in the file itself: the report must not echo it
    ]
    path.write_text(yaml.safe_dump({"sources": sources}), encoding="utf-8")
    return path


@pytest.mark.parametrize("good", [True, False], ids=["credentials-accepted", "credentials-refused"])
def test_no_secret_shows_in_collector_reports_or_logs(tmp_path: Path, basic_registry: Registry, good: bool,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: the SDKs', urllib3's, ours
    token, password = (GITHUB_TOKEN, PASSWORD) if good else (WRONG_GITHUB_TOKEN, WRONG_REGISTRY_PASSWORD)
    with github_requiring(GITHUB_TOKEN) as github:
        config = lineage_yaml(tmp_path / "lineage.yaml", github, basic_registry, password)
        result = CliRunner().invoke(app, ["collect", "--config", str(config), "--format", "json",
                                          "--store", f"sqlite:///{tmp_path / 'l.db'}"],
                                    env={"LINEAGE_URL": "", "TEST_SECRETS_GITHUB_TOKEN": token})
    report = {source["name"]: source for source in json.loads(result.stdout)["sources"]}
    errors = json.dumps(report)
    if good:
        assert report["gh"]["ok"] and report["gh"]["accepted"] > 0, errors
        # Authenticated: the registry's answer is about the repository, not the credentials.
        assert "HTTP 401" not in errors and "private/none" in errors
    else:
        assert not report["gh"]["ok"] and "rejected the token in $TEST_SECRETS_GITHUB_TOKEN" in errors
        assert "HTTP 401" in errors
    captured = result.output + caplog.text + errors
    for secret in (GITHUB_TOKEN, WRONG_GITHUB_TOKEN, PASSWORD, WRONG_REGISTRY_PASSWORD):
        assert secret not in captured, f"{secret[:6]}… shows in the output, logs or report"
    assert any(record.levelno == logging.DEBUG for record in caplog.records)  # DEBUG was really captured
