"""The HTTP API fuzzed from its own OpenAPI spec (schemathesis), against a real SQLite demo store.

For every operation, with valid and invalid input (schemathesis' positive and negative modes):
no 5xx, every status code and content type is the one the spec documents (errors as
``application/problem+json``), responses match their documented schema, invalid input is
refused with a 4xx, and nothing is stored from a refused request. Webhook bodies are signed with
the configured secrets so the fuzzer reaches the translators, not just the signature check.

The run is bounded and derandomized (the same cases each run, fast enough for every CI run);
``LINEAGE_FUZZ_EXAMPLES=2000`` runs a bigger search (``LINEAGE_FUZZ_SEED`` varies it).

Then hand-made bad input over HTTP: 100k levels of nesting, invalid UTF-8, oversized bodies, huge
strings, NUL bytes, unicode look-alikes in references, SQL and Cypher metacharacters in event
fields and query parameters (stored and returned verbatim, never executed), literal ``%`` and ``_``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from lineage_service.api.app import create_app
from lineage_service.demo.history import demo_events
from lineage_service.settings import Settings
from lineage_service.tokens import hash_token

ADMIN = "fuzz-admin-token-0123456789"
GITHUB_SECRET, AZURE_SECRET = "fuzz-github-secret", "fuzz-azure-secret"
EXAMPLES = int(os.environ.get("LINEAGE_FUZZ_EXAMPLES", "25"))
PROBLEM = "application/problem+json"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    db: Path = tmp_path_factory.mktemp("fuzz") / "lineage.db"
    app = create_app(Settings(store=f"sqlite:///{db}", tokens=f"fuzz admin {hash_token(ADMIN)}",
                              github_webhook_secret=GITHUB_SECRET,
                              azure_devops_webhook_secret=AZURE_SECRET))
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["authorization"] = f"Bearer {ADMIN}"
        assert client.post("/v1/events", json=demo_events()).status_code == 200
        yield client


def _spec() -> dict[str, Any]:
    # Built without starting the app: the spec does not depend on the store. Loaded at import
    # because schemathesis' fixture-based loader does not work with pytest 9 (it rewrites a node id
    # attribute pytest no longer has); one test per operation is generated from this.
    return create_app(Settings(store="sqlite:///unused.db")).openapi()


schema = schemathesis.openapi.from_dict(_spec())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=EXAMPLES)


def store_counts(client: TestClient) -> dict[str, Any]:
    """What a refused request must not change: nodes and edges per kind, events per status."""
    stats = client.app.state.store.stats()  # type: ignore[attr-defined]
    return {name: stats[name] for name in ("nodes", "edges", "events")}


def _body_bytes(kwargs: dict[str, Any]) -> bytes:
    if "json" in kwargs:
        return json.dumps(kwargs.pop("json")).encode()
    data = kwargs.pop("data", None)
    if data is None:
        return b""
    if isinstance(data, dict):  # a form body
        return urlencode(data, doseq=True).encode()
    return data.encode() if isinstance(data, str) else bytes(data)


def send(client: TestClient, case: Any) -> Any:
    """The case as the real client would send it; webhook bodies signed as GitHub and Azure DevOps do."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    body = _body_bytes(kwargs)
    headers = {**client.headers, **(kwargs.pop("headers", None) or {})}
    if case.path == "/v1/webhooks/github":
        headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(GITHUB_SECRET.encode(), body,
                                                               hashlib.sha256).hexdigest()
        headers.setdefault("X-GitHub-Event", "workflow_run")
    elif case.path == "/v1/webhooks/azure-devops":
        headers["X-Lineage-Secret"] = AZURE_SECRET
    return client.request(kwargs.pop("method"), kwargs.pop("url"), params=kwargs.get("params"),
                          headers=headers, content=body or None)


def test_the_spec_documents_every_error_as_a_problem() -> None:
    spec = _spec()
    assert "HTTPValidationError" not in json.dumps(spec)  # validation errors are 400 problems, not 422
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            errors = {code: answer for code, answer in operation["responses"].items() if code >= "400"}
            assert errors or path in ("/healthz",), f"{method} {path} documents no error"
            for code, answer in errors.items():
                assert list(answer["content"]) == [PROBLEM], f"{method} {path} {code}"


# The requests transport takes its keyword arguments from a serializer, as its own JSON one does.
@schemathesis.serializer("application/x-ndjson")  # type: ignore[arg-type]
def json_lines(context: Any, value: Any) -> dict[str, bytes]:
    """JSON Lines as ``lineage emit`` and CI steps post them: one event per line."""
    items = value if isinstance(value, list) else [value]
    return {"data": b"\n".join(json.dumps(item).encode() for item in items)}


@schema.parametrize()
@settings(max_examples=EXAMPLES, derandomize="LINEAGE_FUZZ_SEED" not in os.environ, deadline=None,
          suppress_health_check=list(HealthCheck), database=None)
def test_every_operation_answers_as_documented_and_refusals_store_nothing(case: Any,
                                                                          fuzz_client: TestClient) -> None:
    before = store_counts(fuzz_client)
    response = send(fuzz_client, case)
    case.validate_response(response, checks=CHECKS)
    if 400 <= response.status_code < 500:
        assert response.headers["content-type"] == PROBLEM, response.text
        problem = response.json()
        assert problem["status"] == response.status_code and problem["detail"], problem
        assert store_counts(fuzz_client) == before, f"{case.method} {case.path} stored from a {response.status_code}"


# Hand-made bad input over HTTP -------------------------------------------------------------------
# Each case: no 5xx, a 4xx problem naming what was wrong, nothing stored from a refused request.
INGEST_ROUTES = ["/v1/events", "/api/v1/lineage", "/v1/provenance", "/v1/webhooks/github",
                 "/v1/webhooks/azure-devops"]
METACHARACTERS = "' \" ; -- /* */ \\ % _ ` ) MATCH (n) DETACH DELETE n //"


def post(client: TestClient, path: str, body: bytes) -> Any:
    headers = {"content-type": "application/json"}
    if path == "/v1/webhooks/github":
        headers |= {"x-github-event": "push", "x-github-delivery": "fuzz-1", "x-hub-signature-256": "sha256=" +
                    hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()}
    elif path == "/v1/webhooks/azure-devops":
        headers["x-lineage-secret"] = AZURE_SECRET
    return client.post(path, content=body, headers=headers)


def assert_refused(response: Any, status: int, *named: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    for word in named:
        assert word in f"{problem['title']}: {problem['detail']}", problem


@pytest.mark.parametrize("path", INGEST_ROUTES)
@pytest.mark.parametrize(("body", "named"), [
    (b"[" * 100_000 + b"]" * 100_000, "JSON"),  # 100k levels of nesting
    (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "JSON"),
    (b'{"id": "\xff\xfe not utf-8"}', ""),
    (b"", ""),
])
def test_unparseable_bodies_are_400_problems_and_store_nothing(fuzz_client: TestClient, path: str, body: bytes,
                                                               named: str) -> None:
    before = store_counts(fuzz_client)
    assert_refused(post(fuzz_client, path, body), 400, named)
    assert store_counts(fuzz_client) == before


def _event(event_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": event_id, "time": "2026-11-20T14:05:00Z", "source": "fuzz",
            "nodes": [{"kind": "model", "key": {"name": "fuzz-model", "version": "1"}}], **fields}


@pytest.mark.parametrize(("event", "status", "named"), [
    (_event("x" * 5_000_000), 422, "id"),  # a huge string, under the body limit
    # NUL bytes are valid JSON and valid strings: accepted, and recorded verbatim.
    (_event("nul", source="a\x00b", nodes=[{"kind": "model", "key": {"name": "m\x00", "version": "1"}}]), 200, ""),
    (_event("deep", nodes=[{"kind": "model", "key": {"name": "m", "version": "1"},
                            "props": {"deep": json.loads("[" * 900 + "]" * 900)}}]), 422, "nodes[0].props.deep"),
    (_event("time-as-number", time=0), 422, "time"),
    (_event("kind", nodes=[{"kind": "\u0430pi", "key": {"service": "s", "version": "1"}}]), 422, "kind"),
])
def test_invalid_events_are_refused_naming_the_field(fuzz_client: TestClient, event: dict[str, Any], status: int,
                                                     named: str) -> None:
    before = store_counts(fuzz_client)
    response = post(fuzz_client, "/v1/events", json.dumps(event).encode())
    if status == 200:
        assert response.status_code == 200, response.text
        listed = fuzz_client.get("/v1/events", params={"limit": 10_000}).json()["events"]
        assert {"id": event["id"], "source": event["source"]}.items() <= next(
            e for e in listed if e["id"] == event["id"]).items()
        return
    assert_refused(response, status, named)
    assert store_counts(fuzz_client) == before


@pytest.mark.parametrize("ref", [
    "v\uff11.\uff12.\uff13",  # fullwidth digits
    "\u200fv1.2.3", "v1.2.3\u200e", "\u202ev1.2.3",  # right-to-left and left-to-right marks
    "v1.2.3\u200b",  # zero-width space
    "v1.2.3\x00", "v1.2.3%00",
    "v1.\u0662.3",  # Arabic-Indic digit two
])
def test_look_alike_references_do_not_resolve_to_the_ascii_node(fuzz_client: TestClient, ref: str) -> None:
    assert fuzz_client.get("/v1/trace", params={"kind": "api", "ref": "v1.2.3"}).status_code == 200
    response = fuzz_client.get("/v1/trace", params={"kind": "api", "ref": ref})
    assert_refused(response, 404, repr(ref)[1:-1])  # the detail quotes the reference as given


@pytest.mark.parametrize(("kind", "ref"), [("\u0430pi", "v1.2.3"), ("model", "t\u0430xi-model:3"),
                                           ("dataset", "green-taxi-d\u0430ta:5"), ("api", "v1.2.3 "),
                                           ("model", "taxi-model:\uff13")])
def test_look_alike_kinds_and_names_are_unknown(fuzz_client: TestClient, kind: str, ref: str) -> None:
    response = fuzz_client.get("/v1/show", params={"kind": kind, "ref": ref})
    if ref == "v1.2.3 ":  # surrounding spaces are not look-alikes: references are trimmed
        assert response.status_code == 200
    elif not kind.isascii():  # a Cyrillic 'а' in the kind
        assert_refused(response, 400, "unknown node kind")
    else:  # the detail quotes the look-alike character
        assert_refused(response, 404, next(ch for ch in ref if not ch.isascii()))


def test_sql_and_cypher_metacharacters_are_stored_and_returned_verbatim(fuzz_client: TestClient) -> None:
    text, name = METACHARACTERS, METACHARACTERS.replace(" ", "")  # names have no spaces
    demo = store_counts(fuzz_client)
    event = {"id": f"meta {text}", "time": "2026-11-20T14:05:00Z", "source": f"fuzz {text}",
             "nodes": [{"kind": "model", "key": {"name": f"m{name}", "version": "1"},
                        "props": {text: text, "nested": [text, {text: text}]}},
                       {"kind": "job", "key": {"system": "azureml", "id": f"j {text}"}, "props": {"note": text}},
                       {"kind": "person", "key": {"id": f"p {text}"}}],
             "edges": [{"source": {"kind": "model", "key": {"name": f"m{name}", "version": "1"}},
                        "target": {"kind": "job", "key": {"system": "azureml", "id": f"j {text}"}},
                        "props": {"why": text}}]}
    assert post(fuzz_client, "/v1/events", json.dumps(event).encode()).status_code == 200
    shown = fuzz_client.get("/v1/show", params={"kind": "model", "ref": f"m{name}:1"})
    assert shown.status_code == 200, shown.text
    node = shown.json()["node"]
    assert node["key"]["name"] == f"m{name}"
    assert node["props"][text] == text and node["props"]["nested"] == [text, {text: text}]
    traced = fuzz_client.get("/v1/trace", params={"kind": "job", "ref": f"j {text}"})
    assert traced.status_code == 200 and traced.json()["root"]["props"]["note"] == text
    listed = fuzz_client.get("/v1/events", params={"limit": 10_000}).json()["events"]
    assert any(e["id"] == f"meta {text}" and e["source"] == f"fuzz {text}" for e in listed)
    # Nothing was executed: the demo graph is all there, plus exactly the three new nodes and one edge.
    after = store_counts(fuzz_client)
    assert sum(after["nodes"].values()) == sum(demo["nodes"].values()) + 3
    assert sum(after["edges"].values()) == sum(demo["edges"].values()) + 1
    assert fuzz_client.get("/v1/trace", params={"kind": "api", "ref": "v1.2.3"}).status_code == 200


@pytest.mark.parametrize("param", ["ref", "kind", "at", "q", "env", "after", "a"])
def test_metacharacters_in_query_parameters_are_plain_values(fuzz_client: TestClient, param: str) -> None:
    before = store_counts(fuzz_client)
    route = {"q": "/v1/search", "env": "/v1/running", "after": "/v1/events", "a": "/v1/diff"}.get(param, "/v1/trace")
    params = {"kind": "api", "ref": "v1.2.3", "b": "v1.2.3", "q": "x", param: METACHARACTERS}
    response = fuzz_client.get(route, params=params)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == PROBLEM and response.json()["detail"]
    assert store_counts(fuzz_client) == before


# Model names this test stores itself; "wc-taxiXmodel" is what LIKE would match if % or _ were wildcards.
WILDCARD_NAMES = ("wc-taxi%model", "wc-taxi_model", "wc-half%%off", "wc-taxiXmodel")


@pytest.mark.parametrize(("q", "found"), [
    ("%", {"wc-taxi%model", "wc-half%%off"}), ("_", {"wc-taxi_model"}), ("%%", {"wc-half%%off"}),
    ("taxi%model", {"wc-taxi%model"}), ("taxi_model", {"wc-taxi_model"}),
])
def test_search_wildcards_are_literal(fuzz_client: TestClient, q: str, found: set[str]) -> None:
    event = {"id": "wildcards-literal", "time": "2026-11-20T14:05:00Z", "source": "fuzz",
             "nodes": [{"kind": "model", "key": {"name": name, "version": "1"}} for name in WILDCARD_NAMES]}
    assert post(fuzz_client, "/v1/events", json.dumps(event).encode()).status_code == 200  # a duplicate after the first
    response = fuzz_client.get("/v1/search", params={"q": q, "limit": 1000})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert results, f"{q!r} found nothing"
    for result in results:
        assert q.lower() in json.dumps(result, ensure_ascii=False).lower(), result
    ours = {result["key"]["name"] for result in results if result["key"].get("name") in WILDCARD_NAMES}
    assert ours == found  # exactly the names holding q as typed: never wc-taxiXmodel
    if q.startswith("taxi"):  # nothing else in the store holds these
        assert len(results) == len(found), results


@pytest.mark.parametrize("path", INGEST_ROUTES)
def test_oversized_bodies_are_413_problems_and_store_nothing(fuzz_client: TestClient, path: str) -> None:
    before = store_counts(fuzz_client)
    limit = fuzz_client.app.state.settings.max_body_bytes  # type: ignore[attr-defined]
    body = b'{"id": "' + b"x" * limit + b'"}'
    assert_refused(post(fuzz_client, path, body), 413, str(limit))
    assert store_counts(fuzz_client) == before


META_TEXT = st.lists(st.sampled_from([*"'\";-/*\\%_`()[]{}$&|<>=!?#.:,@^~+", ") MATCH (n) DETACH DELETE n //",
                                       "' OR 1=1 --", "n", " ", "\u0430", "\x00", "\u202e", "é"]),
                     min_size=1, max_size=12).map("".join)


@settings(max_examples=int(os.environ.get("LINEAGE_FUZZ_EXAMPLES", "15")), deadline=None, database=None,
          derandomize="LINEAGE_FUZZ_SEED" not in os.environ, suppress_health_check=list(HealthCheck))
@given(name=META_TEXT, prop=META_TEXT, value=META_TEXT, job=META_TEXT, source=META_TEXT)
def test_any_metacharacters_in_event_strings_round_trip_and_leave_the_demo_alone(
        fuzz_client: TestClient, name: str, prop: str, value: str, job: str, source: str) -> None:
    demo_trace = fuzz_client.get("/v1/trace", params={"kind": "api", "ref": "v1.2.3"}).json()
    before = store_counts(fuzz_client)
    model = {"kind": "model", "key": {"name": f"m{name}", "version": "1"}, "props": {prop: value}}
    job_node = {"kind": "job", "key": {"system": "azureml", "id": f"j{job}"}}
    # The id is the idempotency key: one per distinct example (a reused id would be a duplicate, not stored).
    event_id = "meta-" + hashlib.sha256(json.dumps([name, prop, value, job, source]).encode()).hexdigest()
    event = {"id": event_id, "time": "2026-11-20T14:05:00Z", "source": f"s{source}",
             "nodes": [model, job_node],
             "edges": [{"source": {"kind": "model", "key": model["key"]}, "target": job_node, "props": {prop: value}}]}
    response = post(fuzz_client, "/v1/events", json.dumps(event).encode())
    after = store_counts(fuzz_client)
    if response.status_code != 200:  # e.g. a name with a space: refused, naming the field
        assert_refused(response, 422, "nodes[0].key.name")
        assert after == before
        return
    # name@version: the reference grammar splits at the last '@' first, so any name round-trips
    # (``m@:1`` would read as model ``m`` version ``:1``).
    shown = fuzz_client.get("/v1/show", params={"kind": "model", "ref": f"m{name}@1"})
    assert shown.status_code == 200, shown.text
    assert shown.json()["node"]["props"][prop] == value
    traced = fuzz_client.get("/v1/trace", params={"kind": "model", "ref": f"m{name}@1"}).json()
    assert f"j{job}".strip() in {node["key"].get("id") for node in traced["nodes"]}
    assert sum(after["nodes"].values()) - sum(before["nodes"].values()) <= 2
    assert fuzz_client.get("/v1/trace", params={"kind": "api", "ref": "v1.2.3"}).json() == demo_trace
