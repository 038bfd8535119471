"""``LINEAGE_URL``: the CLI asks a running service and prints exactly what the local store gives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from lineage_service.settings import Settings
from lineage_service.tokens import hash_token
from tests.events import commit_event
from tests.servers import live_server

TOKEN = "remote-cli-admin-token-0123"


@pytest.fixture
def local_store(tmp_path: Path) -> str:
    uri = f"sqlite:///{tmp_path / 'local.db'}"
    assert CliRunner().invoke(app, ["demo", "--quiet", "--store", uri], env={"LINEAGE_URL": ""}).exit_code == 0
    return uri


@pytest.fixture
def service(local_store: str) -> Iterator[str]:
    """A service over the same demo store, requiring a token."""
    with live_server(Settings(store=local_store, tokens=f"cli admin {hash_token(TOKEN)}")) as url:  # type: ignore[arg-type]
        yield url


def run(args: list[str], *, url: str = "", store: str = "", token: str = TOKEN, stdin: str | None = None) -> tuple[
        int, str]:
    env = {"LINEAGE_URL": url, "LINEAGE_STORE": store, "LINEAGE_TOKEN": token}
    result = CliRunner().invoke(app, args, env=env, input=stdin)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.mark.parametrize("args", [
    ["trace", "api", "v1.2.3"],
    ["trace", "image", "ghcr.io/nathansegers/azure-mlops-api:v1.2.3", "--depth", "3"],
    ["trace", "api", "v1.2.2", "--at", "2026-10-20T00:00:00Z"],
    ["impact", "dataset", "green-taxi-data:5"],
    ["show", "deployment", "prod/taxi-api"],
    ["search", "taxi", "--kind", "model"],
])
def test_remote_answers_are_the_local_answers(service: str, local_store: str, args: list[str]) -> None:
    local_code, local_out = run([*args, "--format", "json"], store=local_store)
    remote_code, remote_out = run([*args, "--format", "json"], url=service)
    assert (remote_code, local_code) == (0, 0)
    assert json.loads(remote_out) == json.loads(local_out)


@pytest.mark.parametrize(("args", "code", "says"), [
    (["trace", "api", "v9.9.9"], 1, "no api matches"),
    (["trace", "spaceship", "x"], 2, "spaceship"),
    (["trace", "api", "v1.2.3", "--at", "yesterday"], 2, "yesterday"),
    (["search", "no-such-thing"], 1, "nothing matches"),
])
def test_remote_failures_exit_like_local_ones(service: str, local_store: str, args: list[str], code: int,
                                              says: str) -> None:
    for where in ({"url": service}, {"store": local_store}):
        exit_code, output = run(args, **where)
        assert exit_code == code, (where, output)
        assert says in output


def test_a_missing_token_is_named_with_the_fix(service: str) -> None:
    exit_code, output = run(["trace", "api", "v1.2.3"], url=service, token="")
    assert exit_code == 1
    assert "bearer token" in output and "LINEAGE_TOKEN" in output


def test_an_unreachable_service_says_where_it_looked(tmp_path: Path) -> None:
    exit_code, output = run(["trace", "api", "v1.2.3"], url="http://127.0.0.1:9")  # discard port: nothing listens
    assert exit_code == 1
    assert "cannot reach the lineage service at http://127.0.0.1:9" in output


def test_remote_ingest_records_events_and_reports_rejections(service: str) -> None:
    events = json.dumps([commit_event(n) for n in range(3)])
    exit_code, output = run(["ingest", "-", "--format", "json"], url=service, stdin=events)
    assert exit_code == 0
    assert json.loads(output)["accepted"] == 3
    exit_code, output = run(["ingest", "-", "--format", "json"], url=service, stdin=events)
    assert json.loads(output)["duplicates"] == 3

    bad = commit_event(99)
    bad["nodes"][0]["key"]["sha"] = "05ee055"  # type: ignore[index]
    exit_code, output = run(["ingest", "-"], url=service, stdin=json.dumps(bad))
    assert exit_code == 1
    assert "nothing was stored" in output and "nodes[0].key.sha" in output
