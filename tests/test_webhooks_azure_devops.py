"""Azure DevOps service hooks over HTTP: the documentation's sample payloads into a real SQLite store.

The samples (``tests/fixtures/azure-devops``, sources in ``SOURCES.md``) are posted as published;
where a test needs a value the documentation anonymised (a real commit SHA), it says so.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_api import PROBLEM, make_client

FIXTURES = Path(__file__).parent / "fixtures" / "azure-devops"
SECRET = "azure-devops-hook-secret-0123456789"
ROTATED = "next-azure-devops-hook-secret-9876"
SHA = "05ee055698af2171294615a1e423f71f4098628e"
REPO = "https://dev.azure.com/FabrikamFiber/FabrikamFiberChat/_git/FabrikamFiberChat"


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def basic(password: str, user: str = "lineage") -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def notify(client: TestClient, body: bytes | dict[str, Any], auth: dict[str, str] | None = None,
           content_type: str = "application/json; charset=utf-8") -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": content_type, **(basic(SECRET) if auth is None else auth)}
    return client.post("/v1/webhooks/azure-devops", content=content, headers=headers)


def show(client: TestClient, kind: str, ref: str) -> dict[str, Any]:
    response = client.get("/v1/show", params={"kind": kind, "ref": ref})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def stats(client: TestClient) -> dict[str, Any]:
    body: dict[str, Any] = client.get("/v1/stats").json()
    return body


def with_commit(payload: dict[str, Any], sha: str = SHA) -> dict[str, Any]:
    """The 2024 build.complete sample with a git SHA where the documentation shows a GUID placeholder."""
    changed = copy.deepcopy(payload)
    changed["resource"]["sourceVersion"] = sha
    return changed


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path, azure_devops_webhook_secret=SECRET) as opened:
        yield opened


# Each event type ----------------------------------------------------------------------------------
def test_build_complete_records_the_run_and_its_repository(client: TestClient) -> None:
    response = notify(client, sample("build.complete.json"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["event"], body["mapped"], body["accepted"]) == ("build.complete", True, 1)
    # The documentation anonymises sourceVersion as a GUID: no commit, and the answer says why.
    assert any("not a git commit SHA" in warning for warning in body["warnings"])

    run = show(client, "run", "azure-devops/2727068")
    assert run["node"]["props"] | {
        "workflow": "MainRepo (1)", "run_number": "20241202.1", "status": "completed", "conclusion": "succeeded",
        "url": "https://dev.azure.com/FabrikamFiber/e4e4e4e4-ffff-aaaa-bbbb-c5c5c5c5c5c5/_build/results?buildId=2727068",
        "trigger": "manual", "source_branch": "refs/heads/main", "requested_for": "chuck@FabrikamFiber.com",
        "project": "FabrikamFiberChat", "organization": "FabrikamFiber",
    } == run["node"]["props"]
    assert run["upstream"] == []
    assert show(client, "repo", REPO)["node"]["props"] == {"name": "MainRepo", "provider": "TfsGit"}


def test_build_complete_with_a_commit_links_run_commit_and_repository(client: TestClient) -> None:
    assert notify(client, with_commit(sample("build.complete.json"))).status_code == 200
    answer = client.get("/v1/trace", params={"kind": "run", "ref": "azure-devops/2727068"}).json()
    assert [commit["sha"] for commit in answer["summary"]["commits"]] == [SHA]
    root = answer["root"]["props"]
    assert (root["workflow"], root["conclusion"]) == ("MainRepo (1)", "succeeded")
    kinds = {(edge["kind"], edge["props"]["evidence"], tuple(edge["props"]["sources"])) for edge in answer["edges"]}
    assert kinds == {("at_commit", "observed", ("azure-devops",)), ("in_repo", "observed", ("azure-devops",))}
    commit = show(client, "commit", SHA[:7])
    assert commit["upstream"][0]["node"]["key"] == {"url": REPO}


def test_a_2016_build_names_its_commit_only_in_source_get_version(client: TestClient) -> None:
    response = notify(client, sample("build.complete.2016.json"))
    assert response.status_code == 200, response.text
    assert any("600c52d not recorded" in warning for warning in response.json()["warnings"])
    props = show(client, "run", "azure-devops/2")["node"]["props"]
    assert props | {"conclusion": "succeeded", "source_branch": "refs/heads/master",
                    "workflow": "ConsumerAddressModule", "source_version": "600c52d2d5b655caa111abfd863e5a9bd304bb0e",
                    "requested_for": "fabrikamfiber16@hotmail.com"} == props
    assert "commit" not in stats(client)["nodes"]  # the payload names no repository to place it in


@pytest.mark.parametrize(("name", "run_id", "workflow"), [("run-state-changed.json", "11", "Pipeline-Name"),
                                                          ("run-state-changed.2019.json", "11", "TEST-CI")])
def test_run_state_changed_records_the_run(client: TestClient, name: str, run_id: str, workflow: str) -> None:
    response = notify(client, sample(name))
    assert response.status_code == 200, response.text
    props = show(client, "run", f"azure-devops/{run_id}")["node"]["props"]
    assert props | {"workflow": workflow, "status": "completed", "conclusion": "succeeded"} == props
    warnings = " ".join(response.json()["warnings"])
    assert "names no commit" in warnings
    # The 2024 sample's run has no id: it is read from the run's links, and the answer says so.
    assert ("taken from the run's links" in warnings) == (name == "run-state-changed.json")


def test_stage_state_changed_adds_the_stage_and_records_the_repository(client: TestClient) -> None:
    assert notify(client, sample("stage-state-changed.json")).status_code == 200
    props = show(client, "run", "azure-devops/2")["node"]["props"]
    assert props["stages"] == {"__default": {"state": "completed", "result": "succeeded"}}
    repo = show(client, "repo", "https://dev.azure.com/fabrikamfiber/fabrikamfiber-viva/_git/fabrikamfiber")
    assert repo["node"]["props"]["provider"] == "Git"  # the URL's user name (fabrikamfiber@) is dropped


def test_build_and_pipeline_events_of_one_run_meet_on_one_node(client: TestClient) -> None:
    assert notify(client, with_commit(sample("build.complete.json"))).status_code == 200
    run_event = sample("run-state-changed.2019.json")
    run_event["resource"]["run"]["id"] = 2727068  # the same run, reported by the pipelines publisher
    assert notify(client, run_event).status_code == 200
    assert stats(client)["nodes"]["run"] == 1
    run = show(client, "run", "azure-devops/2727068")
    assert run["node"]["props"]["pipeline_id"] == "11" and run["node"]["props"]["run_number"] == "20241202.1"
    assert run["upstream"][0]["node"]["key"]["sha"] == SHA
    assert run["node"]["sources"] == ["azure-devops"]


def test_a_run_resources_commit_is_linked_when_the_payload_lists_one(client: TestClient) -> None:
    # The Runs REST API shape (run.resources.repositories.self), which some payloads carry.
    payload = sample("run-state-changed.2019.json")
    payload["resource"]["run"]["resources"] = {"repositories": {"self": {
        "refName": "refs/heads/main", "version": SHA,
        "repository": {"type": "GitHub", "fullName": "NathanSegers/mlops-2.0"}}}}
    assert notify(client, payload).status_code == 200
    run = show(client, "run", "azure-devops/11")
    assert run["upstream"][0]["node"]["key"] == {"repo": "https://github.com/nathansegers/mlops-2.0", "sha": SHA}


# Authentication -----------------------------------------------------------------------------------
@pytest.mark.parametrize("auth", [basic(SECRET), basic(SECRET, user=""), {"x-lineage-secret": SECRET}])
def test_the_secret_is_accepted_as_basic_auth_password_or_header(client: TestClient, auth: dict[str, str]) -> None:
    assert notify(client, sample("build.complete.json"), auth=auth).status_code == 200


@pytest.mark.parametrize("auth", [
    pytest.param({}, id="none"), pytest.param(basic("wrong-secret"), id="wrong password"),
    pytest.param({"x-lineage-secret": SECRET[:-1]}, id="header one character short"),
    pytest.param({"authorization": f"Basic {SECRET}"}, id="not base64"),
    pytest.param({"authorization": f"Bearer {SECRET}"}, id="bearer"),
    pytest.param(basic(f"{SECRET}x"), id="secret as a prefix"),
])
def test_without_the_secret_it_is_401_and_nothing_is_stored(client: TestClient, auth: dict[str, str]) -> None:
    response = notify(client, sample("build.complete.json"), auth=auth)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Basic")
    assert "LINEAGE_AZURE_DEVOPS_WEBHOOK_SECRET" in response.json()["detail"]
    assert stats(client)["events"] == {} and stats(client)["nodes"] == {}


def test_without_a_configured_secret_every_notification_is_refused(tmp_path: Path) -> None:
    with make_client(tmp_path, azure_devops_webhook_secret=" , ") as unconfigured:
        response = notify(unconfigured, sample("build.complete.json"), auth=basic(""))
        assert response.status_code == 503
        assert "LINEAGE_AZURE_DEVOPS_WEBHOOK_SECRET" in response.json()["detail"]
        assert stats(unconfigured)["events"] == {}


def test_during_a_rotation_both_secrets_are_accepted(tmp_path: Path) -> None:
    with make_client(tmp_path, azure_devops_webhook_secret=f"{SECRET},{ROTATED}") as rotating:
        assert notify(rotating, sample("build.complete.json"), auth=basic(SECRET)).status_code == 200
        assert notify(rotating, sample("stage-state-changed.json"),
                      auth={"x-lineage-secret": ROTATED}).status_code == 200
        assert notify(rotating, sample("run-state-changed.json"), auth=basic(f"{SECRET},{ROTATED}")).status_code == 401
        assert stats(rotating)["events"] == {"applied": 2}


def test_secrets_never_appear_in_answers_logs_or_metrics(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with make_client(tmp_path, azure_devops_webhook_secret=f"{SECRET}\n{ROTATED}") as opened:
        texts = [notify(opened, sample("build.complete.json"), auth=auth).text
                 for auth in (basic(SECRET), basic("guess-0123456789"), {"x-lineage-secret": "guess"})]
        texts += [opened.get("/metrics").text, opened.get("/v1/events").text, opened.get("/openapi.json").text]
    for text in [*texts, caplog.text]:
        assert SECRET not in text and ROTATED not in text


# Resends, unknown types, incomplete payloads -----------------------------------------------------------
def test_a_resent_notification_is_a_duplicate(client: TestClient) -> None:
    first = notify(client, sample("build.complete.json"))
    before = stats(client)
    again = notify(client, sample("build.complete.json"))
    assert (first.json()["accepted"], again.json()["duplicates"]) == (1, 1)
    assert stats(client)["nodes"] == before["nodes"] and stats(client)["events"] == before["events"]
    # The documentation's samples share one notification id across event types: the type keeps them apart.
    assert notify(client, sample("run-state-changed.json")).json()["accepted"] == 1
    assert {e["id"] for e in client.get("/v1/events").json()["events"]} == {
        "azure-devops-build.complete-a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1",
        "azure-devops-ms.vss-pipelines.run-state-changed-event-a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1"}


def test_an_unknown_event_type_is_recorded_with_the_repository_it_names(client: TestClient) -> None:
    payload = with_commit(sample("build.complete.json"))
    payload["eventType"] = "ms.vss-release.deployment-completed-event"
    response = notify(client, payload)
    assert response.status_code == 202
    assert response.json()["mapped"] is False
    assert "is not mapped" in " ".join(response.json()["warnings"])
    assert stats(client)["nodes"] == {"commit": 1, "repo": 1}
    assert stats(client)["events"] == {"applied": 1}


def _without(name: str, *path: str) -> dict[str, Any]:
    data = sample(name)
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]
    return data


@pytest.mark.parametrize(("payload", "named", "kept"), [
    (lambda: _without("build.complete.json", "resource", "id"), "resource.id", {"repo": 1}),
    (lambda: _without("build.complete.json", "resource"), "resource", {}),
    (lambda: _without("run-state-changed.json", "resource", "run"), "resource.run.id", {}),
    (lambda: {"eventType": "build.complete"}, "nothing recorded", {}),
    (lambda: {}, "'unknown' is not mapped", {}),
])
def test_notifications_missing_what_we_need_are_accepted_with_warnings(client: TestClient, payload: Any, named: str,
                                                                       kept: dict[str, int]) -> None:
    response = notify(client, payload())
    assert response.status_code == 202, response.text
    assert named in " ".join(response.json()["warnings"])
    assert stats(client)["nodes"] == kept


def test_a_byte_order_mark_is_tolerated(client: TestClient) -> None:
    body = b"\xef\xbb\xbf" + json.dumps(sample("build.complete.json")).encode()
    assert notify(client, body).status_code == 200


def test_a_body_that_is_not_json_is_a_problem(client: TestClient) -> None:
    assert notify(client, b"<xml/>").status_code == 400
    assert notify(client, b"{}", content_type="text/plain").status_code == 415


# Anything authenticated -----------------------------------------------------------------------------
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(max_size=60),
                    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children,
                                                                                      max_size=6),
                    max_leaves=40)
TYPES = st.sampled_from(["build.complete", "ms.vss-pipelines.run-state-changed-event",
                         "ms.vss-pipelines.stage-state-changed-event", "ms.vss-pipelines.job-state-changed-event",
                         "git.push", ""])
SAMPLES = ["build.complete.json", "build.complete.2016.json", "run-state-changed.json",
           "run-state-changed.2019.json", "stage-state-changed.json"]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in children:
        found += _paths(child, (*prefix, key))
    return found


def test_authenticated_arbitrary_json_never_gets_a_server_error(tmp_path: Path) -> None:
    samples = {name: sample(name) for name in SAMPLES}
    with make_client(tmp_path, azure_devops_webhook_secret=SECRET) as opened:

        @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(body=JSON, event_type=TYPES, resource=JSON)
        def arbitrary(body: Any, event_type: str, resource: Any) -> None:
            for payload in (body, {"eventType": event_type, "id": "n-1", "resource": resource}):
                response = notify(opened, json.dumps(payload).encode())
                assert response.status_code in (200, 202), response.text
                assert response.json().get("failed", {}) == {}
                assert "valid lineage event" not in " ".join(response.json().get("warnings", []))
            assert "valid lineage event" not in " ".join(response.json().get("warnings", []))

        @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(data=st.data(), name=st.sampled_from(SAMPLES), new=JSON)
        def mutated(data: st.DataObject, name: str, new: Any) -> None:
            payload = copy.deepcopy(samples[name])
            path = data.draw(st.sampled_from(_paths(payload)))
            parent = payload
            for part in path[:-1]:
                parent = parent[part]
            parent[path[-1]] = new
            response = notify(opened, json.dumps(payload).encode())
            assert response.status_code in (200, 202), response.text
            assert response.json().get("failed", {}) == {}
            assert "valid lineage event" not in " ".join(response.json().get("warnings", []))

        arbitrary()
        mutated()
