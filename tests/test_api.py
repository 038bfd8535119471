"""The HTTP service against a real SQLite store: answers, ingestion, errors, limits, tokens."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from lineage_service.api.app import create_app
from lineage_service.demo.history import demo_events
from lineage_service.query import answers
from lineage_service.settings import Settings
from lineage_service.store import open_store
from lineage_service.store.base import Direction
from lineage_service.tokens import hash_token
from tests.events import commit_event
from tests.servers import live_server

PROBLEM = "application/problem+json"


def make_client(tmp_path: Path, **settings: object) -> TestClient:
    return TestClient(create_app(Settings(store=f"sqlite:///{tmp_path / 'lineage.db'}", **settings)))  # type: ignore[arg-type]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path) as opened:
        assert opened.post("/v1/events", json=demo_events()).status_code == 200
        yield opened


def test_trace_over_http_is_the_same_answer_as_in_process(client: TestClient, tmp_path: Path) -> None:
    response = client.get("/v1/trace", params={"kind": "api", "ref": "v1.2.3"})
    assert response.status_code == 200
    body = response.json()
    with open_store(f"sqlite:///{tmp_path / 'lineage.db'}") as store:
        expected = json.loads(json.dumps(answers.lineage(store, Direction.UPSTREAM, "api", "v1.2.3"), default=str))
    assert body == expected
    assert {"root", "nodes", "edges", "summary", "warnings"} <= body.keys()
    assert "05ee055698af2171294615a1e423f71f4098628e" in {c["sha"] for c in body["summary"]["commits"]}


def test_references_with_slashes_and_colons_travel_as_query_parameters(client: TestClient) -> None:
    image = client.get("/v1/trace", params={"kind": "image", "ref": "ghcr.io/nathansegers/azure-mlops-api:v1.2.3"})
    assert image.status_code == 200
    assert image.json()["root"]["key"]["digest"].startswith("sha256:3f49a154a09c")
    shown = client.get("/v1/show", params={"kind": "deployment", "ref": "prod/taxi-api"})
    assert shown.status_code == 200
    assert shown.json()["node"]["label"] == "prod/taxi-api#8"
    assert shown.json()["notes"]  # resolved to the live revision, and said so


def test_impact_finds_the_release_trained_on_a_dataset(client: TestClient) -> None:
    body = client.get("/v1/impact", params={"kind": "dataset", "ref": "green-taxi-data:5"}).json()
    assert "taxi-api v1.2.3" in {node["label"] for node in body["nodes"]}
    assert "taxi-api v1.2.2" not in {node["label"] for node in body["nodes"]}


def test_search_lists_matches_and_an_empty_list_when_none(client: TestClient) -> None:
    assert any(r["label"] == "taxi-model:3" for r in client.get("/v1/search", params={"q": "taxi-model"}).json()
               ["results"])
    assert client.get("/v1/search", params={"q": "no-such-thing"}).json()["results"] == []


def test_unknown_reference_is_a_404_problem_listing_what_is_close(client: TestClient) -> None:
    response = client.get("/v1/trace", params={"kind": "api", "ref": "v9.9.9"})
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == 404 and "v9.9.9" in problem["detail"]
    assert {c["label"] for c in problem["candidates"]} == {"taxi-api v1.2.2", "taxi-api v1.2.3",
                                                          "taxi-api v1.2.4-rc1"}


def test_ambiguous_reference_is_a_409_problem_with_candidates(client: TestClient) -> None:
    event = {"id": "other-service", "time": "2026-11-12T00:00:00Z", "source": "test",
             "nodes": [{"kind": "api", "key": {"service": "fare-batch", "version": "v1.2.3"}}]}
    assert client.post("/v1/events", json=event).status_code == 200
    response = client.get("/v1/trace", params={"kind": "api", "ref": "v1.2.3"})
    assert response.status_code == 409
    assert {c["label"] for c in response.json()["candidates"]} == {"taxi-api v1.2.3", "fare-batch v1.2.3"}


@pytest.mark.parametrize(("params", "named"), [
    ({"kind": "spaceship", "ref": "x"}, "spaceship"),
    ({"kind": "api", "ref": "v1.2.3", "depth": "0"}, "depth"),
    ({"kind": "api", "ref": "v1.2.3", "at": "yesterday"}, "yesterday"),
    ({"kind": "api"}, "ref"),
])
def test_malformed_queries_are_400_problems_naming_the_parameter(client: TestClient, params: dict[str, str],
                                                                 named: str) -> None:
    response = client.get("/v1/trace", params=params)
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert named in response.json()["detail"]


def test_unknown_route_is_a_problem_not_html(client: TestClient) -> None:
    response = client.get("/v2/trace")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


def test_posting_events_records_them_once(client: TestClient) -> None:
    before = client.get("/v1/stats").json()
    events = [commit_event(n) for n in range(3)]
    first = client.post("/v1/events", json=events)
    assert first.status_code == 200
    assert first.json()["accepted"] == 3 and first.json()["duplicates"] == 0
    again = client.post("/v1/events", json=events[0])  # a retried delivery
    assert again.json() == {**again.json(), "accepted": 0, "duplicates": 1}
    after = client.get("/v1/stats").json()
    assert after["nodes"]["commit"] == before["nodes"]["commit"] + 3
    logged = {e["id"] for e in client.get("/v1/events", params={"limit": 1000}).json()["events"]}
    assert {"git-0", "git-1", "git-2"} <= logged


def test_json_lines_and_gzip_bodies_are_accepted(client: TestClient) -> None:
    lines = "\n".join(json.dumps(commit_event(n)) for n in (10, 11)).encode()
    response = client.post("/v1/events", content=lines, headers={"content-type": "application/x-ndjson"})
    assert response.json()["accepted"] == 2
    response = client.post("/v1/events", content=gzip.compress(json.dumps(commit_event(12)).encode()),
                           headers={"content-type": "application/json", "content-encoding": "gzip"})
    assert response.status_code == 200 and response.json()["accepted"] == 1


def test_one_invalid_event_rejects_the_request_and_stores_nothing(client: TestClient) -> None:
    before = client.get("/v1/stats").json()
    bad = commit_event(20)
    bad["nodes"][0]["key"]["sha"] = "05ee055"  # type: ignore[index]
    response = client.post("/v1/events", json=[commit_event(21), bad])
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert "nodes[0].key.sha" in problem["detail"] and "40-character" in problem["detail"]
    assert problem["errors"][0]["event"].startswith("'git-20'")
    assert client.get("/v1/stats").json() == before


@pytest.mark.parametrize(("body", "headers", "status", "named"), [
    (b'{"id": ', {"content-type": "application/json"}, 400, "invalid JSON"),
    (b"\xff\xfe{}", {"content-type": "application/json"}, 400, "UTF-8"),
    (b"{}", {"content-type": "text/plain"}, 415, "application/json"),
    (b"{}", {"content-type": "application/json", "content-encoding": "br"}, 415, "gzip"),
    (b"not gzip", {"content-type": "application/json", "content-encoding": "gzip"}, 400, "gzip"),
    (b"[]", {"content-type": "application/json"}, 400, "no events"),
    (b'{"id": "x", "time": "2026-11-10T00:00:00Z", "source": "t", "nodes": [], "surprise": 1}',
     {"content-type": "application/json"}, 422, "surprise"),
])
def test_bad_bodies_get_a_problem_that_names_what_was_wrong(client: TestClient, body: bytes,
                                                             headers: dict[str, str], status: int,
                                                             named: str) -> None:
    response = client.post("/v1/events", content=body, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    assert named.lower() in response.json()["detail"].lower()


def test_oversized_bodies_are_refused_with_413_even_when_compressed(tmp_path: Path) -> None:
    with make_client(tmp_path, max_body_bytes=4096) as small:
        big = json.dumps([commit_event(n) for n in range(40)]).encode()
        assert small.post("/v1/events", content=big, headers={"content-type": "application/json"}).status_code == 413
        bomb = gzip.compress(b" " * 3_000_000 + b"[]", compresslevel=9)  # 3 MB that travel as 3 kB
        assert len(bomb) < 4096
        response = small.post("/v1/events", content=bomb,
                              headers={"content-type": "application/json", "content-encoding": "gzip"})
        assert response.status_code == 413
        assert "4096" in response.json()["detail"]
        assert small.get("/v1/stats").json()["events"] == {}


def test_health_readiness_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"
    client.get("/v1/trace", params={"kind": "api", "ref": "v1.2.3"})
    metrics = client.get("/metrics").text
    assert 'lineage_http_requests_total{method="GET",route="/v1/trace",status="200"}' in metrics
    assert f'lineage_events_total{{outcome="accepted"}} {len(demo_events())}.0' in metrics
    assert 'lineage_store_nodes{kind="commit"} 5.0' in metrics
    assert "lineage_group_commits_total 1.0" in metrics  # the fixture's one POST: one group commit


def test_openapi_documents_every_route_with_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/v1/trace", "/v1/impact", "/v1/show", "/v1/search", "/v1/events", "/healthz", "/readyz"):
        assert path in spec["paths"], path
    ref = next(p for p in spec["paths"]["/v1/trace"]["get"]["parameters"] if p["name"] == "ref")
    assert "v1.2.3" in json.dumps(ref["examples"])


# Tokens ------------------------------------------------------------------------------------------
READER, WRITER, ADMIN = "reader-token-0123456789", "writer-token-0123456789", "admin-token-0123456789"
TOKENS = f"oncall read {hash_token(READER)}\nci ingest {WRITER}\nops admin {hash_token(ADMIN)}"


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path, tokens=TOKENS) as opened:
        yield opened


def _auth(token: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"} if token else {}


@pytest.mark.parametrize(("token", "read", "ingest"), [
    (None, 401, 401), ("wrong-token-0123456789", 401, 401),
    (READER, 404, 403), (WRITER, 403, 200), (ADMIN, 404, 200),
])
def test_scopes_decide_who_reads_and_who_writes(secured: TestClient, token: str | None, read: int,
                                                ingest: int) -> None:
    # 404 on the read: authorised, and the empty store has no such release.
    assert secured.get("/v1/trace", params={"kind": "api", "ref": "v1.2.3"}, headers=_auth(token)).status_code == read
    response = secured.post("/v1/events", json=commit_event(1), headers=_auth(token))
    assert response.status_code == ingest
    if ingest == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.headers["content-type"] == PROBLEM


def test_health_checks_stay_open_when_tokens_are_required(secured: TestClient) -> None:
    assert secured.get("/healthz").status_code == 200
    assert secured.get("/readyz").status_code == 200
    assert secured.get("/metrics").status_code == 401


def test_tokens_never_appear_in_metrics_or_errors(secured: TestClient) -> None:
    secured.get("/v1/trace", params={"kind": "api", "ref": "v1"}, headers=_auth("wrong-token-0123456789"))
    text = secured.get("/metrics", headers=_auth(READER)).text
    problem = secured.get("/v1/stats", headers=_auth("wrong-token-0123456789")).text
    for secret in (READER, WRITER, ADMIN, "wrong-token-0123456789"):
        assert secret not in text and secret not in problem


# A real server -----------------------------------------------------------------------------------
def test_fifty_concurrent_senders_lose_nothing_and_duplicate_nothing(tmp_path: Path) -> None:
    settings = Settings(store=f"sqlite:///{tmp_path / 'lineage.db'}")  # type: ignore[call-arg]
    senders, per_sender = 50, 6

    def send(sender: int) -> list[str]:
        acknowledged = []
        with httpx.Client(base_url=url, timeout=60) as http:
            for n in range(per_sender):
                event = commit_event(sender * 100 + n)
                for _ in range(2):  # every delivery is retried once, as webhooks are
                    response = http.post("/v1/events", json=event)
                    assert response.status_code == 200, response.text
                acknowledged.append(str(event["id"]))
        return acknowledged

    with live_server(settings) as url, ThreadPoolExecutor(senders) as pool:
        acknowledged = [event_id for ids in pool.map(send, range(senders)) for event_id in ids]
        stats = httpx.get(f"{url}/v1/stats").json()
    assert len(set(acknowledged)) == senders * per_sender
    assert stats["events"] == {"applied": senders * per_sender}
    assert stats["nodes"]["commit"] == senders * per_sender
    assert stats["edges"]["authored_by"] == senders * per_sender


# The serve command ---------------------------------------------------------------------------------
def test_serve_refuses_a_public_address_without_tokens(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--store", f"sqlite:///{tmp_path}/l.db"],
                                env={"LINEAGE_TOKENS": "", "LINEAGE_TOKENS_FILE": ""})
    assert result.exit_code == 2
    assert "refusing to serve 0.0.0.0 without tokens" in result.output
    assert "--insecure" in result.output


def test_token_create_prints_a_token_whose_line_the_service_accepts(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(app, ["token", "create", "ci-pipeline", "--scopes", "ingest"])
    assert result.exit_code == 0
    lines = [line.strip() for line in result.output.splitlines()]
    token, line = lines[1], lines[3]
    assert line.startswith("ci-pipeline ingest sha256:") and token not in line
    with make_client(tmp_path, tokens=line) as secured:
        assert secured.post("/v1/events", json=commit_event(1), headers=_auth(token)).status_code == 200
        assert secured.get("/v1/stats", headers=_auth(token)).status_code == 403


def test_an_integer_the_store_cannot_hold_is_rejected_by_name_not_a_503(client: TestClient) -> None:
    event = commit_event(30)
    event["nodes"][0]["props"]["build_number"] = 2**70  # type: ignore[index]
    response = client.post("/v1/events", content=json.dumps(event), headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "nodes[0].props" in response.json()["detail"] and "64 bits" in response.json()["detail"]


def test_a_request_the_store_refuses_fails_alone_not_its_whole_group(tmp_path: Path) -> None:
    from lineage_service.api.writer import GroupCommitWriter
    from lineage_service.ingest import validate_all

    with open_store(f"sqlite:///{tmp_path / 'lineage.db'}") as store:
        good = validate_all([commit_event(1)])
        # Built past validation, as a bug in a translator could: a value no store can hold.
        bad = [validate_all([commit_event(2)])[0].model_copy(update={"source": "x" * 10})]
        object.__setattr__(bad[0].nodes[0], "props", {"n": 2**70})
        writer = GroupCommitWriter(store)
        futures = [writer.submit(good), writer.submit(bad)]
        writer.close()  # drains the queue: both requests may share one group
        assert futures[0].result().accepted == ["git-1"] and not futures[0].result().failed
        assert "64-bit" in futures[1].result().failed["git-2"]  # recorded, kept with its error
        assert store.stats()["nodes"]["commit"] == 1
        assert store.get_event("git-2").status == "failed"  # type: ignore[union-attr]
