"""GitHub webhooks over HTTP: real octokit/webhooks payloads, signed as GitHub signs them, into real SQLite.

The payloads are read from the shared test data (``LINEAGE_TEST_GITHUB_WEBHOOKS`` points elsewhere)
and posted byte for byte, so the signature covers exactly what GitHub would send.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.github_payloads import loaded, raw
from tests.test_api import PROBLEM, make_client

SECRET = "github-webhook-secret-for-tests-0123"
ROTATED = "the-next-github-secret-after-rotation-4567"

RUN_SHA = "3484a3fb816e0859fd6e1cea078d76385ff50625"
PUSH_SHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
IMAGE_DIGEST = "sha256:3da1996a8115d7616457760d9920b815241d0a03b34cf5f04e9a0e9d8de37498"
IMAGE_REVISION = "6c62fb45fe66bfb1ea9a66abc38f6a0cc974292b"
DEPLOYED_SHA = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(client: TestClient, event: str, body: bytes | dict[str, Any], *, secret: str = SECRET,
            delivery: str | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"content-type": "application/json", "x-github-event": event,
            "x-github-delivery": delivery or str(uuid.uuid4()), "x-hub-signature-256": sign(content, secret),
            **(headers or {})}
    return client.post("/v1/webhooks/github", content=content, headers=sent)


def show(client: TestClient, kind: str, ref: str) -> dict[str, Any]:
    response = client.get("/v1/show", params={"kind": kind, "ref": ref})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def link(shown: dict[str, Any], kind: str, direction: str = "upstream") -> dict[str, Any]:
    found = [entry for entry in shown[direction] if entry["kind"] == kind]
    assert len(found) == 1, f"expected one {kind} link {direction}, got {found}"
    return found[0]


def stats(client: TestClient) -> dict[str, Any]:
    body: dict[str, Any] = client.get("/v1/stats").json()
    return body


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path, github_webhook_secret=SECRET) as opened:
        yield opened


# Each event type ----------------------------------------------------------------------------------
def test_workflow_run_becomes_a_run_at_its_commit_with_author_and_repository(client: TestClient) -> None:
    response = deliver(client, "workflow_run", raw("workflow_run.completed.json"), delivery="d-run-1")
    assert response.status_code == 200, response.text
    assert response.json() | {"event": "workflow_run", "mapped": True, "accepted": 1, "warnings": []} == response.json()

    run = show(client, "run", "github-actions/289782451")
    assert run["node"]["props"] | {
        "workflow": "test", "conclusion": "success", "status": "completed", "attempt": 1,
        "trigger": "repository_dispatch", "head_branch": "master",
        "url": "https://github.com/octo-org/octo-repo/actions/runs/289782451",
    } == run["node"]["props"]
    at_commit = link(run, "at_commit")
    assert at_commit["props"]["evidence"] == "observed" and at_commit["props"]["sources"] == ["github"]
    assert at_commit["node"]["key"] == {"repo": "https://github.com/octo-org/octo-repo", "sha": RUN_SHA}

    answer = client.get("/v1/trace", params={"kind": "run", "ref": "github-actions/289782451"}).json()
    assert answer["summary"]["authors"] == ["matfax@users.noreply.github.com"]
    [commit] = answer["summary"]["commits"]
    assert commit["message"] == "build(test): check workflow run event payload"
    assert "github.com/octo-org/octo-repo" in {node["label"] for node in answer["nodes"]}


def test_a_late_requested_delivery_does_not_undo_a_completed_run(client: TestClient) -> None:
    # GitHub does not promise order; each report carries its own time (updated_at).
    assert deliver(client, "workflow_run", raw("workflow_run.completed.json")).status_code == 200
    assert deliver(client, "workflow_run", raw("workflow_run.requested.json")).status_code == 200
    props = show(client, "run", "github-actions/289782451")["node"]["props"]
    assert (props["status"], props["conclusion"]) == ("completed", "success")


def test_workflow_job_adds_the_job_to_its_run(client: TestClient) -> None:
    response = deliver(client, "workflow_job", raw("workflow_job.completed.success.with-organization.json"))
    assert response.status_code == 200, response.text
    run = show(client, "run", "github-actions/2202229078")
    props = run["node"]["props"]
    assert props["workflow"] == "CodeQL" and "conclusion" not in props  # a job's conclusion is not the run's
    assert props["jobs"]["linters"] | {"status": "completed", "conclusion": "success",
                                       "runner": "GitHub Actions 5"} == props["jobs"]["linters"]
    assert link(run, "at_commit")["node"]["key"]["sha"] == RUN_SHA


def test_push_records_commits_with_author_repository_and_pusher(client: TestClient) -> None:
    response = deliver(client, "push", raw("push.with-new-branch.json"))
    assert response.status_code == 200, response.text
    commit = show(client, "commit", PUSH_SHA[:7])
    assert commit["node"]["props"] | {"message": "Initial commit", "branch": "master", "pushed_by": "Codertocat",
                                      "author": "21031067+Codertocat@users.noreply.github.com",
                                      "committed_at": "2019-05-15T15:19:25+00:00"} == commit["node"]["props"]
    assert link(commit, "in_repo")["node"]["key"] == {"url": "https://github.com/codertocat/hello-world"}
    assert link(commit, "authored_by")["node"]["key"] == {"id": "21031067+codertocat@users.noreply.github.com"}
    assert not [entry for entry in commit["upstream"] if entry["kind"] == "parent"]  # a new branch: no before


def test_a_later_push_links_its_commits_to_their_parents(client: TestClient) -> None:
    first = loaded("push.with-new-branch.json")
    assert deliver(client, "push", first).status_code == 200
    # The next push on the branch, derived from the real one: two new commits on top of the first.
    second = copy.deepcopy(first)
    shas = ["a" * 40, "b" * 40]
    second.update(before=PUSH_SHA, after=shas[1], created=False, head_commit=None, commits=[
        {**first["commits"][0], "id": sha, "message": f"change {n}"} for n, sha in enumerate(shas)])
    second["head_commit"] = second["commits"][-1]
    assert deliver(client, "push", second).status_code == 200

    head = show(client, "commit", "b" * 7)
    parent = link(head, "parent")
    assert parent["node"]["key"]["sha"] == "a" * 40
    assert parent["props"]["evidence"] == "inferred"  # the order of a push, not git's parent list
    assert link(show(client, "commit", "a" * 7), "parent")["node"]["key"]["sha"] == PUSH_SHA


def test_a_commit_that_cannot_be_recorded_breaks_the_parent_chain(client: TestClient) -> None:
    push = loaded("push.with-new-branch.json")
    push.update(before=PUSH_SHA, created=False, commits=[
        {**push["commits"][0], "id": sha} for sha in ("a" * 40, "not-a-sha", "c" * 40)])
    response = deliver(client, "push", push)
    assert response.status_code == 200
    assert "commits[1].id: 'not-a-sha' is not a full commit SHA" in " ".join(response.json()["warnings"])
    assert link(show(client, "commit", "a" * 7), "parent")["node"]["key"]["sha"] == PUSH_SHA
    # c's parent is the commit we could not record, not a.
    assert not [entry for entry in show(client, "commit", "c" * 7)["upstream"] if entry["kind"] == "parent"]


@pytest.mark.parametrize("name", ["push.json", "push.with-organization.json"])
def test_a_push_deleting_a_tag_records_the_repository_only(client: TestClient, name: str) -> None:
    response = deliver(client, "push", raw(name))
    assert response.status_code == 200, response.text
    assert any("deleted refs/tags/simple-tag" in warning for warning in response.json()["warnings"])
    assert stats(client)["nodes"] == {"repo": 1}


@pytest.mark.parametrize(("name", "event"), [("registry_package.published.docker.json", "registry_package"),
                                             ("package.published.docker.json", "package")])
def test_a_container_package_becomes_an_image_built_from_its_revision_label(client: TestClient, name: str,
                                                                             event: str) -> None:
    response = deliver(client, event, raw(name))
    assert response.status_code == 200, response.text
    # The example's container_metadata digests are 40 hex digits: not digests, and said so.
    assert any("tag.digest" in warning for warning in response.json()["warnings"])
    image = show(client, "image", IMAGE_DIGEST)
    assert image["node"]["props"]["repositories"] == ["ghcr.io/codertocat/hello-world"]
    assert image["node"]["props"]["labels"]["org.opencontainers.image.revision"] == IMAGE_REVISION
    built_from = link(image, "built_from")
    assert built_from["props"]["evidence"] == "declared"  # the image's label says so; GitHub did not build it
    assert built_from["node"]["key"] == {"repo": "https://github.com/codertocat/hello-world", "sha": IMAGE_REVISION}
    assert not [entry for entry in image["upstream"] if entry["kind"] == "built_by"]


def test_a_tagged_image_is_found_by_its_tag(client: TestClient) -> None:
    payload = loaded("registry_package.published.docker.json")
    version = payload["registry_package"]["package_version"]
    version["container_metadata"]["tag"]["name"] = "v1.2.3"
    version["package_url"] = "ghcr.io/Codertocat/hello-world:v1.2.3"
    assert deliver(client, "registry_package", payload).status_code == 200
    answer = client.get("/v1/trace", params={"kind": "image", "ref": "ghcr.io/codertocat/hello-world:v1.2.3"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["root"]["key"]["digest"] == IMAGE_DIGEST
    assert IMAGE_REVISION in {commit["sha"] for commit in answer.json()["summary"]["commits"]}


def test_deployment_status_is_a_deployment_run_at_the_deployed_commit(client: TestClient) -> None:
    response = deliver(client, "deployment_status", raw("deployment_status.json"))
    assert response.status_code == 200, response.text
    run = show(client, "run", "github-deployments/145988746")
    assert run["node"]["props"] | {"environment": "production", "state": "success", "conclusion": "success",
                                   "workflow": "deploy to production", "ref": "master"} == run["node"]["props"]
    assert link(run, "at_commit")["node"]["key"]["sha"] == DEPLOYED_SHA
    impact = client.get("/v1/impact", params={"kind": "commit", "ref": DEPLOYED_SHA[:7]}).json()
    assert "github-deployments/145988746" in {node["label"] for node in impact["nodes"]}
    assert "deployment" not in stats(client)["nodes"]  # no platform, cluster or revision to key one by


def test_a_release_is_recorded_on_its_repository_and_removed_when_deleted(client: TestClient) -> None:
    published = loaded("release.published.json")
    assert deliver(client, "release", published).status_code == 200
    repo = show(client, "repo", "github.com/codertocat/hello-world")["node"]
    assert repo["props"]["releases"]["0.0.1"] | {"url": "https://github.com/Codertocat/Hello-World/releases/tag/0.0.1",
                                                 "target": "master", "prerelease": False} \
        == repo["props"]["releases"]["0.0.1"]
    assert "api" not in stats(client)["nodes"]  # a repository tag does not name a service's API

    deleted = {**copy.deepcopy(published), "action": "deleted"}
    deleted["release"]["published_at"] = "2019-05-16T09:00:00Z"  # reported after the publication
    assert deliver(client, "release", deleted).status_code == 200
    assert "0.0.1" not in show(client, "repo", "github.com/codertocat/hello-world")["node"]["props"]["releases"]


def test_ping_is_answered_and_records_nothing(client: TestClient) -> None:
    response = deliver(client, "ping", {"zen": "Design for failure.", "hook_id": 109948940})
    assert response.status_code == 200
    assert response.json()["message"].startswith("pong")
    assert stats(client)["events"] == {}


def test_github_form_encoded_deliveries_are_accepted(client: TestClient) -> None:
    body = urlencode({"payload": raw("deployment_status.json").decode()}).encode()
    response = deliver(client, "deployment_status", body,
                       headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200, response.text
    assert show(client, "run", "github-deployments/145988746")["node"]["props"]["environment"] == "production"


# Authentication -----------------------------------------------------------------------------------
def _tampered(client: TestClient, body: bytes) -> httpx.Response:
    headers = {"content-type": "application/json", "x-github-event": "workflow_run", "x-hub-signature-256": sign(body)}
    return client.post("/v1/webhooks/github", content=body + b" ", headers=headers)


@pytest.mark.parametrize("send", [
    pytest.param(lambda c, b: c.post("/v1/webhooks/github", content=b, headers={
        "content-type": "application/json", "x-github-event": "workflow_run"}), id="no signature"),
    pytest.param(lambda c, b: deliver(c, "workflow_run", b, secret="not-the-secret"), id="another secret"),
    pytest.param(_tampered, id="body changed after signing"),
    pytest.param(lambda c, b: c.post("/v1/webhooks/github", content=b, headers={
        "content-type": "application/json", "x-github-event": "workflow_run",
        "x-hub-signature": "sha1=" + hmac.new(SECRET.encode(), b, hashlib.sha1).hexdigest()}), id="sha1 only"),
    pytest.param(lambda c, b: c.post("/v1/webhooks/github", content=b, headers={
        "content-type": "application/json", "x-github-event": "workflow_run",
        "x-hub-signature-256": ("sha256=é" + sign(b)[8:]).encode("latin-1")}), id="non-ascii signature"),
])
def test_a_bad_or_missing_signature_is_401_and_stores_nothing(client: TestClient, send: Any) -> None:
    response = send(client, raw("workflow_run.completed.json"))
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert "X-Hub-Signature-256" in response.json()["detail"]
    assert "www-authenticate" in response.headers
    assert stats(client)["events"] == {} and stats(client)["nodes"] == {}


def test_without_a_configured_secret_every_delivery_is_refused(tmp_path: Path) -> None:
    with make_client(tmp_path) as unconfigured:
        response = deliver(unconfigured, "workflow_run", raw("workflow_run.completed.json"), secret="")
        assert response.status_code == 503
        assert "LINEAGE_GITHUB_WEBHOOK_SECRET" in response.json()["detail"]
        assert stats(unconfigured)["events"] == {}


@pytest.mark.parametrize("configured", [f"{SECRET},{ROTATED}", f"{ROTATED}\n{SECRET}\n", f" {SECRET} , {ROTATED} "])
def test_during_a_rotation_each_configured_secret_is_accepted(tmp_path: Path, configured: str) -> None:
    with make_client(tmp_path, github_webhook_secret=configured) as rotating:
        assert deliver(rotating, "workflow_run", raw("workflow_run.completed.json"), secret=SECRET).status_code == 200
        assert deliver(rotating, "workflow_job", raw("workflow_job.completed.success.with-organization.json"),
                       secret=ROTATED).status_code == 200
        assert deliver(rotating, "push", raw("push.json"), secret="a-third-secret").status_code == 401
        assert stats(rotating)["events"] == {"applied": 2}


def test_webhooks_need_the_signature_not_a_bearer_token(tmp_path: Path) -> None:
    token = "ci-ingest-token-0123456789"
    with make_client(tmp_path, github_webhook_secret=SECRET, tokens=f"ci ingest {token}") as secured:
        assert deliver(secured, "workflow_run", raw("workflow_run.completed.json")).status_code == 200
        unsigned = secured.post("/v1/webhooks/github", content=raw("workflow_run.completed.json"), headers={
            "content-type": "application/json", "x-github-event": "workflow_run", "authorization": f"Bearer {token}"})
        assert unsigned.status_code == 401


def test_secrets_never_appear_in_answers_logs_or_metrics(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with make_client(tmp_path, github_webhook_secret=f"{SECRET},{ROTATED}") as opened:
        answers = [deliver(opened, "workflow_run", raw("workflow_run.completed.json"), secret=secret).text
                   for secret in (SECRET, "wrong-secret-0123456789")]
        answers.append(deliver(opened, "star", raw("release.published.json")).text)
        answers.append(opened.get("/metrics").text)
        answers.append(opened.get("/openapi.json").text)
    for text in [*answers, caplog.text]:
        assert SECRET not in text and ROTATED not in text


# Deliveries that repeat, that we do not map, that are incomplete --------------------------------------
def test_a_redelivery_is_a_duplicate_and_changes_nothing(client: TestClient) -> None:
    body = raw("workflow_run.completed.json")
    first = deliver(client, "workflow_run", body, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    before = stats(client)
    again = deliver(client, "workflow_run", body, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert (first.json()["accepted"], again.json()["accepted"], again.json()["duplicates"]) == (1, 0, 1)
    assert again.status_code == 200
    assert stats(client)["nodes"] == before["nodes"] and stats(client)["events"] == before["events"]
    logged = [e["id"] for e in client.get("/v1/events").json()["events"]]
    assert logged == ["github-workflow_run-72d3162e-cc78-11e3-81ab-4c9367dc0958"]


def test_an_unknown_event_type_is_recorded_with_what_it_names(client: TestClient) -> None:
    response = deliver(client, "check_run", raw("workflow_run.completed.json"), delivery="d-unknown")
    assert response.status_code == 202
    body = response.json()
    assert body["mapped"] is False and body["accepted"] == 1
    assert any("'check_run' is not mapped" in warning for warning in body["warnings"])
    assert [e["id"] for e in client.get("/v1/events").json()["events"]] == ["github-check_run-d-unknown"]
    assert stats(client)["nodes"] == {"commit": 1, "repo": 1}  # the head commit, in its repository


def test_an_unknown_event_naming_nothing_is_answered_202_and_says_so(client: TestClient) -> None:
    response = deliver(client, "sponsorship", {"action": "created", "sponsorship": {"tier": {"name": "$5"}}})
    assert response.status_code == 202
    assert "nothing was recorded" in " ".join(response.json()["warnings"])
    assert stats(client)["events"] == {}


def _without(name: str, *paths: tuple[str, ...]) -> dict[str, Any]:
    data = loaded(name)
    for path in paths:
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        del parent[path[-1]]
    return data


@pytest.mark.parametrize(("event", "payload", "status", "named", "kept"), [
    ("workflow_run", lambda: _without("workflow_run.completed.json", ("workflow_run", "id")), 202, "workflow_run.id",
     {"commit": 1, "person": 1, "repo": 1}),
    ("workflow_run", lambda: _without("workflow_run.completed.json", ("workflow_run", "head_sha"),
                                      ("workflow_run", "head_commit")), 200, "workflow_run.head_sha",
     {"run": 1, "repo": 1}),
    ("workflow_job", lambda: _without("workflow_job.completed.success.with-organization.json", ("workflow_job",)),
     202, "workflow_job", {"repo": 1}),
    ("deployment_status", lambda: _without("deployment_status.json", ("deployment", "sha")), 200, "deployment.sha",
     {"run": 1, "repo": 1}),
    ("registry_package", lambda: _without("registry_package.published.docker.json",
                                          ("registry_package", "package_version")), 202, "package_version",
     {"repo": 1}),
    ("release", lambda: _without("release.published.json", ("release", "tag_name")), 202, "tag_name", {"repo": 1}),
    ("push", lambda: _without("push.with-new-branch.json", ("repository",)), 202, "repository", {}),
    ("workflow_run", lambda: {}, 202, "nothing recorded", {}),
])
def test_payloads_missing_what_we_need_are_accepted_with_warnings(client: TestClient, event: str, payload: Any,
                                                                  status: int, named: str,
                                                                  kept: dict[str, int]) -> None:
    response = deliver(client, event, payload())
    assert response.status_code == status, response.text
    assert named in " ".join(response.json()["warnings"])
    assert stats(client)["nodes"] == kept


@pytest.mark.parametrize(("headers", "body", "status"), [
    ({"content-type": "text/plain"}, b"{}", 415),
    ({}, b'{"truncated": ', 400),
    ({"x-github-event": ""}, b"{}", 400),
])
def test_malformed_deliveries_get_a_problem(client: TestClient, headers: dict[str, str], body: bytes,
                                            status: int) -> None:
    response = deliver(client, "push", body, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM


def test_the_body_limit_applies_before_the_signature_is_checked(tmp_path: Path) -> None:
    with make_client(tmp_path, github_webhook_secret=SECRET, max_body_bytes=4096) as small:
        assert deliver(small, "workflow_run", raw("workflow_run.completed.json")).status_code == 413


# Anything signed ------------------------------------------------------------------------------------
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(max_size=60),
                    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children,
                                                                                      max_size=6),
                    max_leaves=40)
EVENTS = st.sampled_from(["push", "workflow_run", "workflow_job", "registry_package", "package", "deployment_status",
                          "release", "ping", "check_suite", "pull_request", "Push", "a b/c"])
REAL = ["workflow_run.completed.json", "workflow_job.completed.success.with-organization.json",
        "deployment_status.json", "registry_package.published.docker.json", "release.published.json",
        "push.with-new-branch.json"]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _replace(data: Any, path: tuple[Any, ...], new: Any) -> Any:
    data = copy.deepcopy(data)
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = new
    return data


def test_signed_arbitrary_json_never_gets_a_server_error(tmp_path: Path) -> None:
    real = {name: loaded(name) for name in REAL}
    with make_client(tmp_path, github_webhook_secret=SECRET) as opened:

        @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(event=EVENTS, body=JSON | st.builds(dict, repository=JSON, workflow_run=JSON, commits=JSON))
        def arbitrary(event: str, body: Any) -> None:
            response = deliver(opened, event, json.dumps(body).encode())
            assert response.status_code < 500, response.text
            assert response.json().get("failed", {}) == {}
            assert "valid lineage event" not in " ".join(response.json().get("warnings", []))

        @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(data=st.data(), name=st.sampled_from(REAL), new=JSON)
        def mutated(data: st.DataObject, name: str, new: Any) -> None:
            # A real payload with one field, anywhere in it, replaced by any JSON value.
            path = data.draw(st.sampled_from(_paths(real[name])))
            event = {"workflow_job.completed.success.with-organization.json": "workflow_job",
                     "deployment_status.json": "deployment_status", "release.published.json": "release",
                     "registry_package.published.docker.json": "registry_package",
                     "push.with-new-branch.json": "push"}.get(name, "workflow_run")
            response = deliver(opened, event, json.dumps(_replace(real[name], path, new)).encode())
            assert response.status_code in (200, 202), response.text
            assert response.json().get("failed", {}) == {}
            assert "valid lineage event" not in " ".join(response.json().get("warnings", []))

        arbitrary()
        mutated()
