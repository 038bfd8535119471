"""Shared by the ``lineage emit`` tests: simulated CI environments, the CLI runner, a scripted server.

The environments are passed explicitly (every CI variable not named is removed), so a test means
the same on a developer's machine and inside a real GitHub Actions or Azure DevOps job.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner, Result

from cli.main import app
from lineage_service.demo.history import V123_DIGEST, V123_SHA

SHA = V123_SHA
DIGEST = V123_DIGEST
IMAGE = "ghcr.io/nathansegers/azure-mlops-api"
# Distinctive, so that a test can prove it never appears in any output or file.
TOKEN = "lin_emit-ci-token-7f3a9c2e51d04b86"
INGEST_ONLY_TOKEN = "lin_emit-ingest-only-token-0b1c2d3e"

CI_VARIABLES = (
    "GITHUB_ACTIONS", "GITHUB_SHA", "GITHUB_REPOSITORY", "GITHUB_SERVER_URL", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT",
    "GITHUB_WORKFLOW", "GITHUB_REF_NAME", "GITHUB_EVENT_NAME", "GITHUB_ACTOR", "GITHUB_JOB", "TF_BUILD",
    "BUILD_SOURCEVERSION", "BUILD_REPOSITORY_URI", "BUILD_BUILDID", "BUILD_DEFINITIONNAME", "SYSTEM_COLLECTIONURI",
    "SYSTEM_TEAMPROJECT", "BUILD_SOURCEBRANCHNAME", "BUILD_REASON", "SYSTEM_JOBATTEMPT", "SYSTEM_JOBNAME",
    "BUILD_REQUESTEDFOR", "LINEAGE_URL", "LINEAGE_TOKEN", "LINEAGE_SPOOL", "LINEAGE_STORE",
)

GITHUB = {
    "GITHUB_ACTIONS": "true", "GITHUB_SHA": SHA, "GITHUB_REPOSITORY": "nathansegers/mlops-2.0",
    "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "7004455701", "GITHUB_RUN_ATTEMPT": "1",
    "GITHUB_WORKFLOW": "MLOps Azure", "GITHUB_REF_NAME": "main", "GITHUB_EVENT_NAME": "workflow_dispatch",
    "GITHUB_ACTOR": "nathansegers", "GITHUB_JOB": "ai-training",
}
AZURE_DEVOPS = {
    "TF_BUILD": "True", "BUILD_SOURCEVERSION": SHA,
    "BUILD_REPOSITORY_URI": "https://nathansegers@dev.azure.com/nathansegers/mlops-v2/_git/taxi-fare-regression",
    "BUILD_BUILDID": "4821", "BUILD_DEFINITIONNAME": "deploy-model-training-pipeline",
    "SYSTEM_COLLECTIONURI": "https://dev.azure.com/nathansegers/", "SYSTEM_TEAMPROJECT": "mlops-v2",
    "BUILD_SOURCEBRANCHNAME": "main", "BUILD_REASON": "Manual", "SYSTEM_JOBATTEMPT": "1",
    "SYSTEM_JOBNAME": "train",
}


@dataclass(frozen=True)
class Ci:
    """What a simulated CI environment should turn into in the graph."""

    env: dict[str, str]
    system: str
    run_id: str
    repo: str
    url: str


CIS = {
    "github": Ci(GITHUB, "github-actions", "7004455701", "https://github.com/nathansegers/mlops-2.0",
                 "https://github.com/nathansegers/mlops-2.0/actions/runs/7004455701"),
    "azure-devops": Ci(AZURE_DEVOPS, "azure-devops", "4821",
                       "https://dev.azure.com/nathansegers/mlops-v2/_git/taxi-fare-regression",
                       "https://dev.azure.com/nathansegers/mlops-v2/_build/results?buildId=4821"),
}

# Fast, bounded retries for tests that expect failures: the loop runs for real, the waits are tiny.
FAST = ("--retries", "2", "--backoff", "0.001", "--timeout", "10")


def emit(*args: str, env: Mapping[str, str], url: str = "", token: str = TOKEN, spool: Path) -> Result:
    """``lineage emit ARGS`` in-process, in exactly ``env`` plus the service settings."""
    full: dict[str, str | None] = {name: None for name in CI_VARIABLES}
    full.update(env)
    full.update({"LINEAGE_URL": url, "LINEAGE_TOKEN": token, "LINEAGE_SPOOL": str(spool), "COLUMNS": "200"})
    result = CliRunner().invoke(app, ["emit", *args], env=full)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    for secret in (TOKEN, INGEST_ONLY_TOKEN):
        assert secret not in output, "a token was printed"
    return result


def ask(url: str, route: str, token: str = TOKEN, **params: str) -> Any:
    response = httpx.get(f"{url}/v1/{route}", params=params, headers={"authorization": f"Bearer {token}"},
                         timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def links(answer: dict[str, Any]) -> set[tuple[str, str, str]]:
    """A trace answer's edges as ``(kind label, edge kind, kind label)``, readable in assertions."""
    names = {node["id"]: f"{node['kind']} {node['label']}" for node in [answer["root"], *answer["nodes"]]}
    return {(names[e["source"]], e["kind"], names[e["target"]]) for e in answer["edges"]}


def dead_url() -> str:
    """A loopback port where nothing listens: bound to learn a free port, then closed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


Reply = tuple[int, dict[str, str], dict[str, Any]]


@dataclass
class Received:
    method: str
    path: str
    body: bytes
    authorization: str | None


@dataclass
class Scripted:
    """A misbehaving service: scripted replies first, then (with ``upstream``) the real service."""

    replies: list[Reply]
    upstream: str | None = None
    received: list[Received] = field(default_factory=list)
    url: str = ""


def problem(status: int, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": "https://lineage-service.dev/problems/test", "title": "Scripted", "status": status,
            "detail": detail, **extra}


@contextmanager
def scripted_server(replies: list[Reply], upstream: str | None = None) -> Iterator[Scripted]:
    """A real HTTP server on loopback (``http.server`` in a thread), bound before it is used."""
    state = Scripted(list(replies), upstream)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            with lock:
                state.received.append(Received(self.command, self.path, body, self.headers.get("authorization")))
                reply = state.replies.pop(0) if state.replies else None
            if reply is None and state.upstream:
                status, headers, payload = self._forward(body)
            elif reply is None:
                status, headers, payload = 500, {}, json.dumps(problem(500, "script exhausted")).encode()
            else:
                status, headers, data = reply
                payload = json.dumps(data).encode()
            self.send_response(status)
            for name, value in {"content-type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
            request = urllib.request.Request(
                f"{state.upstream}{self.path}", data=body or None, method=self.command,
                headers={name: value for name, value in self.headers.items()
                         if name.lower() in ("authorization", "content-type", "accept")})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return response.status, {}, response.read()
            except urllib.error.HTTPError as exc:
                return exc.code, {}, exc.read()

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)
