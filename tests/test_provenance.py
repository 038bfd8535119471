"""Build provenance (in-toto statements with SLSA predicates) lands in the graph as the contract says.

The documents are the fixtures in ``tests/fixtures/provenance`` (see its README: shaped like what
``actions/attest-build-provenance`` and slsa-github-generator's container workflow emit) and
variations of them. They go through the pure translator, ``POST /v1/provenance`` on a real SQLite
store, and ``lineage ingest``; nothing is mocked.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli.main import app as cli_app
from graph_schema.events import parse_event
from lineage_service.api.app import create_app
from lineage_service.demo.history import REPO, V122_DIGEST, V122_SHA, V123_DIGEST, V123_SHA, demo_events
from lineage_service.provenance import ProvenanceRejected, TranslatedProvenance, is_provenance, translate
from lineage_service.settings import Settings
from lineage_service.store import open_store
from lineage_service.tokens import hash_token
from tests.servers import live_server

Json = dict[str, Any]
FIXTURES = Path(__file__).parent / "fixtures" / "provenance"
STATEMENT_FILE = FIXTURES / "attest-build-provenance.statement.json"
BUNDLE_FILE = FIXTURES / "attest-build-provenance.sigstore.json"
JSONL_FILE = FIXTURES / "generator-container.intoto.jsonl"
IMAGE = "ghcr.io/nathansegers/azure-mlops-api"
RECEIVED = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)
PROBLEM = "application/problem+json"


def statement() -> Json:
    """What actions/attest-build-provenance signs for the v1.2.3 image."""
    data: Json = json.loads(STATEMENT_FILE.read_text())
    return data


def bundle() -> Json:
    data: Json = json.loads(BUNDLE_FILE.read_text())
    return data


def jsonl_lines() -> list[Json]:
    return [json.loads(line) for line in JSONL_FILE.read_text().splitlines() if line.strip()]


def dsse(document: object, *, urlsafe: bool = False, signatures: object = None) -> Json:
    """A DSSE envelope around a statement, as cosign and slsa-github-generator write one."""
    raw = json.dumps(document).encode()
    payload = (base64.urlsafe_b64encode(raw).decode().rstrip("=") if urlsafe else base64.b64encode(raw).decode())
    return {"payloadType": "application/vnd.in-toto+json", "payload": payload,
            "signatures": [{"keyid": "", "sig": "MEUCIQDplaceholder"}] if signatures is None else signatures}


def decoded(envelope: Json) -> Json:
    data: Json = json.loads(base64.b64decode(envelope["payload"]))
    return data


def mapped(document: object) -> Json:
    """The lineage event of a document; it must be one that ``parse_event`` accepts."""
    translated = translate(document, received_at=RECEIVED)
    assert translated.event is not None, translated.notes
    parse_event(translated.event)
    event: Json = translated.event
    return event


def node(event: Json, kind: str) -> Json:
    (found,) = [n for n in event["nodes"] if n["kind"] == kind]
    result: Json = found
    return result


def edges_of(event: Json, kind: str) -> list[Json]:
    return [e for e in event["edges"] if e["kind"] == kind]


def rejected(document: object) -> list[str]:
    with pytest.raises(ProvenanceRejected) as raised:
        translate(document, received_at=RECEIVED)
    return raised.value.problems


# The translator -----------------------------------------------------------------------------------

def test_attest_build_provenance_maps_image_run_and_commit_with_attested_unverified_edges() -> None:
    event = mapped(statement())

    image, run, commit = node(event, "image"), node(event, "run"), node(event, "commit")
    assert image["key"] == {"digest": V123_DIGEST} and image["aliases"] == [IMAGE]
    assert commit["key"] == {"repo": REPO, "sha": V123_SHA}
    assert run["key"] == {"system": "github-actions", "id": "7004455701"}
    assert run["props"] == {
        "builder_id": f"{REPO}/.github/workflows/api-release.yml@refs/tags/v1.2.3",
        "build_type": "https://actions.github.io/buildtypes/workflow/v1",
        "workflow_ref": "refs/tags/v1.2.3", "workflow_repository": REPO,
        "workflow_path": ".github/workflows/api-release.yml", "trigger": "push",
        "url": f"{REPO}/actions/runs/7004455701", "repository": "nathansegers/mlops-2.0", "attempt": 1}
    assert sorted((e["source"]["kind"], e["kind"], e["target"]["kind"]) for e in event["edges"]) == [
        ("image", "built_by", "run"), ("image", "built_from", "commit"), ("run", "at_commit", "commit")]
    for edge in event["edges"]:
        assert edge["evidence"] == "attested"
        assert edge["props"]["verified"] is False
        assert edge["props"]["predicate_type"] == "https://slsa.dev/provenance/v1"
    assert edges_of(event, "built_from")[0]["props"]["ref"] == "refs/tags/v1.2.3"
    assert event["source"] == "slsa-provenance" and event["id"].startswith("slsa-")


def test_a_statement_without_a_build_time_is_dated_when_received_and_says_so() -> None:
    translated = translate(statement(), received_at=RECEIVED)

    assert translated.event is not None and translated.event["time"] == RECEIVED.isoformat()
    assert any("no build time" in note for note in translated.notes)
    assert translated.envelope == "statement"
    assert not any("not verified" in n or "unsigned" in n for n in translated.notes)  # no envelope, no signatures


def test_the_build_time_comes_from_run_details_when_given() -> None:
    data = statement()
    data["predicate"]["runDetails"]["metadata"].update(startedOn="2026-11-10T14:41:07Z",
                                                       finishedOn="2026-11-10T14:49:58.123456789Z")
    event = mapped(data)

    assert event["time"] == "2026-11-10T14:49:58.123456+00:00"
    assert node(event, "run")["props"]["started_at"] == "2026-11-10T14:41:07+00:00"


def test_plain_dsse_wrapped_and_sigstore_bundle_are_one_statement_with_one_id() -> None:
    plain = translate(statement(), received_at=RECEIVED)
    wrapped = translate(dsse(statement()), received_at=RECEIVED)
    url_safe = translate(dsse(statement(), urlsafe=True), received_at=RECEIVED)
    from_bundle = translate(bundle(), received_at=RECEIVED)

    assert decoded(bundle()["dsseEnvelope"]) == statement()  # the fixture wraps the statement fixture
    assert plain.event == wrapped.event == url_safe.event == from_bundle.event
    assert (plain.envelope, wrapped.envelope, from_bundle.envelope) == ("statement", "dsse", "sigstore-bundle")
    assert "envelope: 1 signature(s), not verified (edges carry verified: false)" in wrapped.notes
    assert "dsseEnvelope: 1 signature(s), not verified (edges carry verified: false)" in from_bundle.notes
    assert "envelope: unsigned (edges carry verified: false)" in translate(dsse(statement(), signatures=[])).notes


def test_the_id_depends_on_the_statement_content_not_its_key_order() -> None:
    data = statement()
    reordered = dict(reversed(list(data.items())))
    changed = copy.deepcopy(data)
    changed["subject"][0]["digest"]["sha256"] = V122_DIGEST.removeprefix("sha256:")

    assert mapped(reordered)["id"] == mapped(data)["id"] != mapped(changed)["id"]


def test_the_container_generator_v0_2_line_maps_and_the_sbom_line_is_skipped_with_a_note() -> None:
    provenance, sbom = jsonl_lines()
    event = mapped(provenance)

    assert node(event, "image")["key"] == {"digest": V122_DIGEST}
    assert node(event, "image")["aliases"] == [IMAGE]
    run = node(event, "run")
    assert run["key"] == {"system": "github-actions", "id": "7001122399"}
    assert run["props"]["attempt"] == 1 and run["props"]["trigger"] == "push"
    assert run["props"]["workflow_path"] == ".github/workflows/api-release.yml"
    assert run["props"]["url"] == f"{REPO}/actions/runs/7001122399"
    assert run["props"]["builder_id"].startswith(
        "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@")
    # configSource and materials name the same commit: one node, and the materials' exact ref wins
    # over the generator's "@refs/tags/v1.2.2.git".
    assert [n["key"] for n in event["nodes"] if n["kind"] == "commit"] == [{"repo": REPO, "sha": V122_SHA}]
    assert {e["props"]["ref"] for e in edges_of(event, "built_from") + edges_of(event, "at_commit")} == {
        "refs/tags/v1.2.2"}
    assert len(event["edges"]) == 3

    skipped = translate(sbom)
    assert skipped.event is None
    assert any("'https://spdx.dev/Document' is not SLSA build provenance" in note for note in skipped.notes)


def test_the_materials_ref_wins_and_the_generators_dot_git_ref_suffix_is_dropped() -> None:
    v02 = decoded(jsonl_lines()[0])
    # As in the generator README's example: the workflow from main, the build of a tag.
    v02["predicate"]["invocation"]["configSource"]["uri"] = f"git+{REPO}@refs/heads/main.git"
    assert {e["props"]["ref"] for e in mapped(v02)["edges"] if "ref" in e["props"]} == {"refs/tags/v1.2.2"}

    del v02["predicate"]["materials"]
    assert {e["props"]["ref"] for e in mapped(v02)["edges"] if "ref" in e["props"]} == {"refs/heads/main"}


@pytest.mark.parametrize(("builder", "invocation", "system", "run_id"), [
    # Older @actions/attest releases used the runner as the builder id.
    ("https://github.com/actions/runner/github-hosted", f"{REPO}/actions/runs/7004455701/attempts/2",
     "github-actions", "7004455701"),
    # GitHub Enterprise Server: another host, the same workflow layout.
    ("https://ghe.example.com/ml/api/.github/workflows/build.yml@refs/heads/main",
     "https://ghe.example.com/ml/api/actions/runs/88/attempts/1", "github-actions", "88"),
    # Google Cloud Build: not GitHub, so the builder's host names the system and the id is kept whole.
    ("https://cloudbuild.googleapis.com/GoogleHostedWorker",
     "https://cloudbuild.googleapis.com/v1/projects/mlops/locations/global/builds/0b8f7c2e",
     "cloudbuild.googleapis.com",
     "https://cloudbuild.googleapis.com/v1/projects/mlops/locations/global/builds/0b8f7c2e"),
    ("mailto:builds@example.com", "nightly-42", "mailto-builds-example.com", "nightly-42"),
])
def test_the_run_system_comes_from_the_builder_id(builder: str, invocation: str, system: str, run_id: str) -> None:
    data = statement()
    data["predicate"]["runDetails"] = {"builder": {"id": builder}, "metadata": {"invocationId": invocation}}

    assert node(mapped(data), "run")["key"] == {"system": system, "id": run_id}


def test_a_run_id_the_graph_cannot_hold_is_named_by_its_field() -> None:
    data = statement()
    data["predicate"]["runDetails"] = {"builder": {"id": "https://cloudbuild.googleapis.com/GoogleHostedWorker"},
                                       "metadata": {"invocationId": "x" * 600}}
    v02 = decoded(jsonl_lines()[0])
    v02["predicate"]["invocation"]["environment"].pop("github_run_id")
    v02["predicate"]["metadata"]["buildInvocationID"] = "y" * 600

    assert rejected(data) == ["predicate.runDetails.metadata.invocationId: expected a job or run id "
                              "(1 to 512 characters), got '" + "x" * 600 + "'"]
    assert rejected(v02)[0].startswith("predicate.metadata.buildInvocationID: expected a job or run id")


def test_without_an_invocation_id_the_image_is_linked_to_its_commit_only() -> None:
    data = statement()
    del data["predicate"]["runDetails"]["metadata"]
    translated = translate(data, received_at=RECEIVED)

    assert translated.event is not None
    assert [e["kind"] for e in translated.event["edges"]] == ["built_from"]
    assert any("no invocation id" in note for note in translated.notes)


def test_dependencies_and_subjects_that_are_not_git_commits_or_images_are_noted_not_mapped() -> None:
    data = statement()
    data["subject"] += [{"name": "taxi-api-linux-amd64", "digest": {"sha256": "ab" * 32}},
                        {"name": "_", "digest": {"sha512": "cd" * 64}}]
    data["predicate"]["buildDefinition"]["resolvedDependencies"] += [
        {"uri": "pkg:docker/python@3.11-slim", "digest": {"sha256": "ef" * 32}},
        {"uri": "https://github.com/actions/runner-images/releases/tag/ubuntu22/20261103.1"},
        {"uri": "git+https://github.com/nathansegers/mlops-2.0@refs/heads/main"},
    ]
    translated = translate(data, received_at=RECEIVED)
    assert translated.event is not None
    parse_event(translated.event)

    images = [n for n in translated.event["nodes"] if n["kind"] == "image"]
    assert [(n["key"]["digest"][:9], n["aliases"]) for n in images] == [("sha256:3f", [IMAGE]), ("sha256:ab", [])]
    assert [n["key"]["sha"] for n in translated.event["nodes"] if n["kind"] == "commit"] == [V123_SHA]
    notes = "\n".join(translated.notes)
    assert "'taxi-api-linux-amd64' is not a registry image reference" in notes
    assert "subject[2] (_): no sha256 digest (sha512); not mapped" in notes
    assert "resolvedDependencies: 3 of 4 entries name no git commit" in notes
    assert "has no gitCommit or sha1 digest" in notes


@pytest.mark.parametrize(("damage", "problem"), [
    (lambda d: d["predicate"]["buildDefinition"]["resolvedDependencies"][0].update(digest="05ee055"),
     "predicate.buildDefinition.resolvedDependencies[0].digest: expected an object like"),
    (lambda d: d["predicate"]["buildDefinition"]["resolvedDependencies"][0]["digest"].update(gitCommit="05ee055"),
     "predicate.buildDefinition.resolvedDependencies[0].digest.gitCommit: expected a full 40-character"),
    (lambda d: d["predicate"]["buildDefinition"].update(resolvedDependencies={"uri": "git+x"}),
     "predicate.buildDefinition.resolvedDependencies: expected an array of resource descriptors, got object"),
    (lambda d: d["subject"][0]["digest"].update(sha256="3f49a154a09c"),
     "subject[0].digest.sha256: expected 64 hexadecimal characters, got '3f49a154a09c'"),
    (lambda d: d["subject"][0].pop("digest"), "subject[0].digest: required"),
    (lambda d: d.update(subject=[]), "subject: required, a non-empty array"),
    (lambda d: d.update(_type="https://in-toto.io/Statement/v2"), "_type: expected one of"),
    (lambda d: d.pop("predicateType"), "predicateType: required, a non-empty string"),
    (lambda d: d["predicate"]["runDetails"].pop("builder"), "predicate.runDetails.builder: required, an object"),
    (lambda d: d["predicate"]["runDetails"]["builder"].update(id=7),
     "predicate.runDetails.builder.id: expected a string, got number"),
    (lambda d: d["predicate"]["buildDefinition"].pop("externalParameters"),
     "predicate.buildDefinition.externalParameters: required, an object"),
    (lambda d: d["predicate"]["runDetails"]["metadata"].update(finishedOn="yesterday"),
     "predicate.runDetails.metadata.finishedOn: expected an RFC 3339 time"),
    (lambda d: d["predicate"]["runDetails"]["metadata"].update(finishedOn="2026-11-10T14:50:00"),
     "predicate.runDetails.metadata.finishedOn: needs a UTC offset"),
])
def test_a_malformed_statement_is_rejected_naming_the_field(damage: Any, problem: str) -> None:
    data = statement()
    damage(data)

    problems = rejected(data)
    assert any(p.startswith(problem) for p in problems), problems
    # The same damage inside a DSSE envelope is named by where it is: in the payload.
    assert any(p.startswith("payload." + problem) for p in rejected(dsse(data))), rejected(dsse(data))


def test_every_problem_is_reported_at_once() -> None:
    data = statement()
    data["subject"][0]["digest"]["sha256"] = "nope"
    data["predicate"]["buildDefinition"]["resolvedDependencies"][0]["digest"]["gitCommit"] = "05ee055"
    data["predicate"]["runDetails"]["builder"] = {}

    assert rejected(data) == [
        "subject[0].digest.sha256: expected 64 hexadecimal characters, got 'nope'",
        "predicate.buildDefinition.resolvedDependencies[0].digest.gitCommit: expected a full 40-character "
        "hexadecimal git SHA, got '05ee055' (short SHAs are accepted in queries, not in stored facts)",
        "predicate.runDetails.builder.id: required, a non-empty string",
    ]


@pytest.mark.parametrize(("document", "problem"), [
    ({**dsse(statement()), "payloadType": "text/plain"},
     "payloadType: expected 'application/vnd.in-toto+json' (an in-toto attestation), got \"text/plain\""),
    ({**dsse(statement()), "payload": "not base64 at all!"}, "payload: not valid base64"),
    ({**dsse(statement()), "payload": base64.b64encode(b"[1, 2]").decode()},
     "payload: the decoded payload is array, expected a statement object"),
    ({**dsse(statement()), "payload": base64.b64encode(b"\xff\xfe").decode()},
     "payload: the decoded payload is not a JSON statement"),
    ({**dsse(statement()), "signatures": "MEUCIQ"}, "signatures: expected an array of signatures, got string"),
    ({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "messageSignature": {"signature": "MEUC"}},
     "messageSignature: this Sigstore bundle signs a file, not an attestation"),
    ({**bundle(), "dsseEnvelope": dsse({**statement(), "subject": [{"name": IMAGE, "digest": {"sha256": "1"}}]})},
     "dsseEnvelope.payload.subject[0].digest.sha256: expected 64 hexadecimal characters"),
    ({"schema": "lineage-event/1"}, "_type: required: expected an in-toto statement"),
    ([statement()], "expected an in-toto statement, DSSE envelope or Sigstore bundle as a JSON object, got array"),
])
def test_a_malformed_envelope_or_bundle_is_rejected_naming_the_field(document: object, problem: str) -> None:
    problems = rejected(document)
    assert any(p.startswith(problem) for p in problems), problems


def test_provenance_documents_are_told_apart_from_lineage_events() -> None:
    assert all(is_provenance(doc) for doc in (statement(), dsse(statement()), bundle(), *jsonl_lines()))
    assert not any(is_provenance(doc) for doc in (*demo_events(), [statement()], "x", None, {"id": "e1"}))


def paths(value: object, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found: list[tuple[str | int, ...]] = [prefix] if prefix else []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in items:
        found += paths(child, (*prefix, key))
    return found


def with_(data: Json, path: tuple[str | int, ...], value: object) -> Json:
    changed = copy.deepcopy(data)
    target: Any = changed
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return changed


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20) | st.sampled_from(["git+https://github.com/o/r@refs/heads/main", "0" * 40, "ab" * 32]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
V1, V02 = statement(), decoded(jsonl_lines()[0])
MUTATIONS = st.one_of(
    st.tuples(st.just(V1), st.sampled_from(paths(V1)), JSON_VALUES),
    st.tuples(st.just(V02), st.sampled_from(paths(V02)), JSON_VALUES),
)


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(mutation=MUTATIONS, wrap=st.booleans())
def test_any_damage_is_either_rejected_clearly_or_yields_a_valid_lineage_event(
        mutation: tuple[Json, tuple[str | int, ...], object], wrap: bool) -> None:
    base, path, value = mutation
    document = with_(base, path, value)
    try:
        translated: TranslatedProvenance = translate(dsse(document) if wrap else document, received_at=RECEIVED)
    except ProvenanceRejected as exc:
        assert exc.problems and all(": " in p for p in exc.problems)
        return
    if translated.event is not None:
        parse_event(translated.event)  # raises EventRejected if the translation broke the contract


# Over HTTP ----------------------------------------------------------------------------------------

@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(store=f"sqlite:///{tmp_path / 'lineage.db'}"))) as opened:  # type: ignore[arg-type]
        yield opened


def post(client: TestClient, body: str | bytes, content_type: str = "application/json") -> Any:
    return client.post("/v1/provenance", content=body, headers={"content-type": content_type})


def test_a_posted_bundle_traces_from_the_image_to_its_commit_as_attested_and_unverified(client: TestClient) -> None:
    response = post(client, BUNDLE_FILE.read_text(), "application/vnd.dev.sigstore.bundle.v0.3+json")
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1 and response.json()["nodes"] == 3 and response.json()["edges"] == 3
    assert any("not verified" in note for note in response.json()["notes"])

    answer = client.get("/v1/trace", params={"kind": "image", "ref": V123_DIGEST}).json()
    ids = {n["id"]: n for n in answer["nodes"]}
    built_from = [e for e in answer["edges"] if e["kind"] == "built_from"]
    assert len(built_from) == 1
    assert ids[built_from[0]["target"]]["key"] == {"repo": REPO, "sha": V123_SHA}
    assert built_from[0]["props"]["evidence"] == "attested" and built_from[0]["props"]["verified"] is False
    assert built_from[0]["props"]["sources"] == ["slsa-provenance"]
    assert V123_SHA in {c["sha"] for c in answer["summary"]["commits"]}
    runs = [n for n in answer["nodes"] if n["kind"] == "run"]
    assert [r["key"]["id"] for r in runs] == ["7004455701"]
    assert runs[0]["props"]["url"] == f"{REPO}/actions/runs/7004455701"


def test_json_lines_of_envelopes_are_taken_as_posted_and_a_repeat_is_a_duplicate(client: TestClient) -> None:
    body = JSONL_FILE.read_bytes()
    first = post(client, body, "application/x-ndjson")
    assert first.status_code == 200, first.text
    assert (first.json()["accepted"], first.json()["duplicates"]) == (1, 0)
    assert any("[1] predicateType 'https://spdx.dev/Document'" in note for note in first.json()["notes"])

    again = post(client, body, "application/x-ndjson")
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 1)
    plain = post(client, json.dumps(decoded(jsonl_lines()[0])))  # the same statement, unwrapped
    assert (plain.json()["accepted"], plain.json()["duplicates"]) == (0, 1)

    shown = client.get("/v1/show", params={"kind": "image", "ref": V122_DIGEST}).json()
    assert {link["kind"] for link in shown["upstream"]} == {"built_from", "built_by"}


def test_a_request_of_only_non_provenance_attestations_stores_nothing_and_says_why(client: TestClient) -> None:
    _, sbom = jsonl_lines()
    response = post(client, json.dumps(sbom))

    assert response.status_code == 200
    assert (response.json()["accepted"], response.json()["event_ids"]) == (0, [])
    assert any("is not SLSA build provenance" in note for note in response.json()["notes"])
    assert client.get("/v1/events").json()["events"] == []


def test_provenance_strengthens_the_evidence_of_links_the_demo_declared(client: TestClient) -> None:
    assert client.post("/v1/events", json=demo_events()).status_code == 200
    before = client.get("/v1/trace", params={"kind": "api", "ref": "v1.2.3"}).json()
    assert post(client, BUNDLE_FILE.read_text()).status_code == 200
    after = client.get("/v1/trace", params={"kind": "api", "ref": "v1.2.3"}).json()

    def built_from(answer: Json) -> list[Json]:
        image = next(n["id"] for n in answer["nodes"] if n["kind"] == "image")
        return [e["props"] for e in answer["edges"] if e["kind"] == "built_from" and e["source"] == image]

    assert [p["evidence"] for p in built_from(before)] == ["declared"]
    assert [(p["evidence"], p["sources"]) for p in built_from(after)] == [
        ("attested", ["github-actions", "slsa-provenance"])]
    assert len(after["nodes"]) == len(before["nodes"])  # same image, commit and run: nothing new


def test_one_malformed_line_rejects_the_request_naming_the_field_and_stores_nothing(client: TestClient) -> None:
    good, _ = jsonl_lines()
    broken_statement = decoded(good)
    broken_statement["subject"][0]["digest"]["sha256"] = "9a1c0e7f"
    body = "\n".join(json.dumps(line) for line in (good, dsse(broken_statement)))

    response = post(client, body, "application/x-ndjson")

    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["errors"] == ["[1] payload.subject[0].digest.sha256: expected 64 hexadecimal characters, "
                                 "got '9a1c0e7f'"]
    assert "nothing was stored" in problem["detail"]
    assert client.get("/v1/events").json()["events"] == []


@pytest.mark.parametrize(("body", "content_type", "status"), [
    ("[]", "application/json", 400),
    ("{\"_type\": ", "application/json", 400),
    (json.dumps(statement()), "text/plain", 415),
])
def test_bodies_that_are_not_provenance_at_all_are_client_errors(client: TestClient, body: str,
                                                                  content_type: str, status: int) -> None:
    response = post(client, body, content_type)
    assert response.status_code == status and response.headers["content-type"] == PROBLEM


def test_posting_provenance_needs_the_ingest_scope(tmp_path: Path) -> None:
    tokens = (f"ci ingest {hash_token('provenance-ingest-token-01')}\n"
              f"oncall read {hash_token('provenance-read-token-012')}")
    settings_ = Settings(store=f"sqlite:///{tmp_path / 'lineage.db'}", tokens=tokens)  # type: ignore[arg-type]
    with TestClient(create_app(settings_)) as scoped:
        for token, status in ((None, 401), ("provenance-read-token-012", 403), ("provenance-ingest-token-01", 200)):
            headers = {"content-type": "application/json", **({"authorization": f"Bearer {token}"} if token else {})}
            response = scoped.post("/v1/provenance", content=STATEMENT_FILE.read_text(), headers=headers)
            assert response.status_code == status, (token, response.text)


JSON_DOCUMENTS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["_type", "payloadType", "payload", "dsseEnvelope", "mediaType", "subject", "predicate",
                         "predicateType", "signatures"]) | st.text(max_size=6), inner, max_size=4),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(document=JSON_DOCUMENTS)
def test_arbitrary_json_is_never_a_server_error(client: TestClient, document: object) -> None:
    response = post(client, json.dumps(document))
    assert response.status_code in (200, 400, 422), response.text


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutation=MUTATIONS, wrap=st.booleans())
def test_damaged_statements_are_accepted_or_rejected_never_a_server_error(
        client: TestClient, mutation: tuple[Json, tuple[str | int, ...], object], wrap: bool) -> None:
    base, path, value = mutation
    document = with_(base, path, value)
    response = post(client, json.dumps(dsse(document) if wrap else document))
    assert response.status_code in (200, 422), response.text
    if response.status_code == 422:
        assert response.json()["errors"]


# lineage ingest -----------------------------------------------------------------------------------

def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    result = CliRunner().invoke(cli_app, list(args),
                                env={"LINEAGE_URL": "", "LINEAGE_TOKEN": "", "COLUMNS": "200", **(env or {})})
    assert "Traceback" not in result.stdout + result.stderr
    return result


def test_lineage_ingest_takes_an_intoto_jsonl_file_into_the_graph(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'lineage.db'}"
    path = tmp_path / "azure-mlops-api.intoto.jsonl"
    path.write_bytes(JSONL_FILE.read_bytes())

    result = invoke("ingest", str(path), "--store", store, "--format", "json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["accepted"], summary["nodes"], summary["edges"]) == (1, 3, 3)
    assert any("is not SLSA build provenance" in note for note in summary["notes"])

    again = invoke("ingest", str(path), "--store", store, "--format", "tree")
    assert again.exit_code == 0 and "0 events recorded and applied (0 nodes, 0 edges), 1 already known" in again.stdout
    assert "note: [0] envelope: 1 signature(s), not verified" in again.stderr

    traced = invoke("trace", "image", V122_DIGEST, "--store", store, "--format", "json")
    answer = json.loads(traced.stdout)
    assert [(e["props"]["evidence"], e["props"]["verified"]) for e in answer["edges"] if e["kind"] == "built_from"] \
        == [("attested", False)]
    assert V122_SHA in {c["sha"] for c in answer["summary"]["commits"]}


def test_lineage_ingest_mixes_provenance_and_lineage_events_in_one_input(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'lineage.db'}"
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps([demo_events()[0], bundle()]))

    result = invoke("ingest", str(path), "--store", store, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["accepted"] == 2


def test_lineage_ingest_rejects_malformed_provenance_naming_the_field_and_stores_nothing(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'lineage.db'}"
    damaged = statement()
    damaged["predicate"]["buildDefinition"]["resolvedDependencies"][0]["digest"] = {"gitCommit": "05ee055"}
    path = tmp_path / "bad.intoto.jsonl"
    path.write_text("\n".join(json.dumps(doc) for doc in (*jsonl_lines(), dsse(damaged))) + "\n")

    result = invoke("ingest", str(path), "--store", store)

    assert result.exit_code == 1
    assert "provenance rejected; nothing was stored" in result.stderr
    assert "[2] payload.predicate.buildDefinition.resolvedDependencies[0].digest.gitCommit: expected a full" \
        in result.stderr
    with open_store(store) as opened:
        assert opened.list_events() == []


def test_remote_lineage_ingest_posts_provenance_to_the_service(tmp_path: Path) -> None:
    token = "provenance-remote-token-0123"
    settings_ = Settings(store=f"sqlite:///{tmp_path / 'lineage.db'}", tokens=f"ci ingest {hash_token(token)}")  # type: ignore[arg-type]
    with live_server(settings_) as url:
        env = {"LINEAGE_URL": url, "LINEAGE_TOKEN": token}
        result = invoke("ingest", str(BUNDLE_FILE), "--format", "json", env=env)
        assert result.exit_code == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["accepted"] == 1
        assert "dsseEnvelope: 1 signature(s), not verified (edges carry verified: false)" in summary["notes"]

        broken = {**bundle(), "dsseEnvelope": dsse({**statement(), "subject": "ghcr.io/x"})}
        path = tmp_path / "broken.json"
        path.write_text(json.dumps(broken))
        refused = invoke("ingest", str(path), env=env)
        assert refused.exit_code == 1
        assert "dsseEnvelope.payload.subject: required, a non-empty array" in refused.stderr
