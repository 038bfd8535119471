"""Time: ``lineage history``, ``lineage running``, references as of a time, and impact's live section.

Demo timeline (UTC): prod/taxi-api#7 served v1.2.2 from 2026-10-08T09:00 until #8 took over with v1.2.3
at 2026-11-12T09:30; dev/taxi-api#12 → #13 at 2026-11-10T15:10. The rc's tag ``v1.2.4-rc1`` named the CI
build from 2026-11-16T10:40 and a hand-made image from 2026-11-17T16:30; dev/taxi-api-rc#2 runs the
latter since 2026-11-17T16:45.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from graph_schema.canonical import InvalidValue
from lineage_service.api.app import create_app
from lineage_service.demo.history import HOTFIX_DIGEST, RC_DIGEST, V122_DIGEST, V123_DIGEST
from lineage_service.query.answers import lineage
from lineage_service.query.references import NotFound
from lineage_service.query.timeline import history, running
from lineage_service.settings import Settings
from lineage_service.store.base import Direction, GraphStore
from tests.incident_support import deployment, digest, invoke, link, load, node, plain

RC_TAG = "ghcr.io/nathansegers/azure-mlops-api:v1.2.4-rc1"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


# history ---------------------------------------------------------------------------------------------

def test_history_of_a_deployment_lists_every_revision_with_its_image_api_and_model(demo_store: GraphStore) -> None:
    answer = history(demo_store, "deployment", "prod/taxi-api")
    assert answer["subject"] == "aks-mlops-prod/prod/taxi-api"
    rows = [(r["label"], r["active_from"], r["active_to"], r["live"], r["image"]["digest"], r["apis"], r["models"])
            for r in answer["revisions"]]
    assert rows == [
        ("prod/taxi-api#7", "2026-10-08T09:00:00Z", "2026-11-12T09:30:00Z", False, V122_DIGEST, ["taxi-api v1.2.2"],
         ["taxi-model:2"]),
        ("prod/taxi-api#8", "2026-11-12T09:30:00Z", None, True, V123_DIGEST, ["taxi-api v1.2.3"], ["taxi-model:3"])]
    assert answer["revisions"][1]["env"]["MODEL_VERSION"] == "3"


@pytest.mark.parametrize("reference", ["taxi-api", "v1.2.3", ""])
def test_history_of_a_service_says_where_each_release_went_live_and_what_replaced_it(
        demo_store: GraphStore, reference: str) -> None:
    answer = history(demo_store, "api", reference)
    assert answer["service"] == "taxi-api"
    releases = {r["version"]: r for r in answer["releases"]}
    assert list(releases) == ["v1.2.2", "v1.2.3", "v1.2.4-rc1"]
    old = releases["v1.2.2"]
    assert (old["live"], old["first_live"], old["last_live"]) == (False, "2026-10-06T10:20:00Z", "2026-11-12T09:30:00Z")
    assert [(p["place"], p["from"], p["to"], p["replaced_by"]) for p in old["deployments"]] == [
        ("aks-mlops-dev/dev/taxi-api", "2026-10-06T10:20:00Z", "2026-11-10T15:10:00Z", "taxi-api v1.2.3"),
        ("aks-mlops-prod/prod/taxi-api", "2026-10-08T09:00:00Z", "2026-11-12T09:30:00Z", "taxi-api v1.2.3")]
    rc = releases["v1.2.4-rc1"]
    # Two revisions serving one release in one place are one stretch, still live.
    assert [(p["place"], p["to"], p["live"], p["revisions"]) for p in rc["deployments"]] == [
        ("aks-mlops-dev/dev/taxi-api-rc", None, True, ["dev/taxi-api-rc#1", "dev/taxi-api-rc#2"])]


def test_history_of_a_tag_lists_the_digests_it_pointed_to(demo_store: GraphStore) -> None:
    answer = history(demo_store, "image", RC_TAG)
    assert [(d["digest"], d["from"], d["to"], d["current"], d["built_by"]) for d in answer["digests"]] == [
        (RC_DIGEST, "2026-11-16T10:40:00Z", "2026-11-17T16:30:00Z", False, ["github-actions/7007788001"]),
        (HOTFIX_DIGEST, "2026-11-17T16:30:00Z", None, True, [])]


@pytest.mark.parametrize(("kind", "reference", "says"), [
    ("model", "taxi-model:3", "history answers deployment"),
    ("image", V123_DIGEST, "history of an image follows a tag"),
    ("deployment", "", "history of a deployment needs one"),
])
def test_history_of_what_it_cannot_answer_says_what_it_can(demo_store: GraphStore, kind: str, reference: str,
                                                            says: str) -> None:
    with pytest.raises(InvalidValue, match=says):
        history(demo_store, kind, reference)


def test_history_of_an_unknown_deployment_is_not_found(demo_store: GraphStore) -> None:
    with pytest.raises(NotFound):
        history(demo_store, "deployment", "prod/no-such-api")


# running ---------------------------------------------------------------------------------------------

def test_running_in_prod_at_a_time_is_the_revision_active_then(demo_store: GraphStore) -> None:
    answer = running(demo_store, at("2026-11-11T14:05:00Z"), "prod")
    [row] = answer["deployments"]
    assert (row["label"], row["apis"], row["image"]["digest"], row["models"]) == (
        "prod/taxi-api#7", ["taxi-api v1.2.2"], V122_DIGEST, ["taxi-model:2"])
    assert answer["at"] == "2026-11-11T14:05:00Z" and answer["env"] == "prod"


def test_running_everywhere_at_a_time_and_now(demo_store: GraphStore) -> None:
    then = running(demo_store, at("2026-11-17T12:00:00Z"))
    assert [(r["label"], r["image"]["digest"]) for r in then["deployments"]] == [
        ("dev/taxi-api#13", V123_DIGEST), ("dev/taxi-api-rc#1", RC_DIGEST), ("prod/taxi-api#8", V123_DIGEST)]
    now = running(demo_store)
    assert [r["label"] for r in now["deployments"]] == ["dev/taxi-api#13", "dev/taxi-api-rc#2", "prod/taxi-api#8"]
    assert now["deployments"][1]["image"]["digest"] == HOTFIX_DIGEST
    assert running(demo_store, at("2026-01-01T00:00:00Z"))["deployments"] == []


def test_running_reads_windows_from_links_when_revisions_have_no_times(store: GraphStore) -> None:
    """A collector that reports only the link's validity, not active_from/active_to on the deployment."""
    api_a, api_b = node("api", service="fares-api", version="1.0.0"), node("api", service="fares-api", version="2.0.0")
    one, two = deployment(1), deployment(2)
    load(store, [api_a, api_b, one, two, node("image", digest=digest(1))], [
        link(api_a, one, valid_from="2026-11-01T00:00:00Z", valid_to="2026-11-05T00:00:00Z"),
        link(api_b, two, valid_from="2026-11-05T00:00:00Z"), link(one, node("image", digest=digest(1)))])
    assert [r["label"] for r in running(store, at("2026-11-03T00:00:00Z"))["deployments"]] == ["prod/fares-api#1"]
    assert [r["label"] for r in running(store)["deployments"]] == ["prod/fares-api#2"]
    assert running(store, at("2026-11-03T00:00:00Z"))["deployments"][0]["image"]["digest"] == digest(1)


# references as of a time -----------------------------------------------------------------------------

def test_trace_of_a_deployment_as_of_a_time_starts_at_the_revision_active_then(demo_store: GraphStore) -> None:
    answer = lineage(demo_store, Direction.UPSTREAM, "deployment", "prod/taxi-api", at=at("2026-11-11T14:05:00Z"))
    assert answer["root"]["label"] == "prod/taxi-api#7"
    assert answer["notes"] == ["deployment prod/taxi-api resolved to prod/taxi-api#7, the revision active at "
                               "2026-11-11T14:05:00Z"]
    assert lineage(demo_store, Direction.UPSTREAM, "deployment", "prod/taxi-api")["root"]["label"] == \
        "prod/taxi-api#8"


def test_trace_of_a_moved_tag_as_of_a_time_starts_at_the_digest_it_named_then(demo_store: GraphStore) -> None:
    before = lineage(demo_store, Direction.UPSTREAM, "image", RC_TAG, at=at("2026-11-17T12:00:00Z"))
    assert before["root"]["key"]["digest"] == RC_DIGEST
    assert "the digest it pointed to at 2026-11-17T12:00:00Z (it has pointed to 2 digests" in before["notes"][0]
    after = lineage(demo_store, Direction.UPSTREAM, "image", RC_TAG, at=at("2026-11-18T00:00:00Z"))
    assert after["root"]["key"]["digest"] == HOTFIX_DIGEST


@pytest.mark.parametrize(("kind", "reference", "says"), [
    ("image", RC_TAG, "was first pushed at 2026-11-16T10:40:00Z"),
    ("deployment", "dev/taxi-api-rc", "no revision of deployment dev/taxi-api-rc was active at"),
])
def test_as_of_before_anything_existed_is_not_found_saying_when_it_began(demo_store: GraphStore, kind: str,
                                                                         reference: str, says: str) -> None:
    with pytest.raises(NotFound, match=says):
        lineage(demo_store, Direction.UPSTREAM, kind, reference, at=at("2026-11-01T00:00:00Z"))


# impact: the live section ------------------------------------------------------------------------------

def test_impact_groups_what_is_live_now_and_what_ended(demo_store: GraphStore) -> None:
    live = lineage(demo_store, Direction.DOWNSTREAM, "dataset", "green-taxi-data:5")["summary"]["live"]
    assert [(d["label"], d["apis"]) for d in live["deployments"]] == [
        ("dev/taxi-api#13", ["taxi-api v1.2.3"]), ("prod/taxi-api#8", ["taxi-api v1.2.3"])]
    assert live["environments"] == ["dev", "prod"] and live["apis"] == ["taxi-api v1.2.3"]
    assert live["historical"] == []
    old = lineage(demo_store, Direction.DOWNSTREAM, "dataset", "green-taxi-data:4")["summary"]
    assert old["live"]["deployments"] == [] and [d["label"] for d in old["live"]["historical"]] == [
        "dev/taxi-api#12", "prod/taxi-api#7"]
    # The keys impact answers had before stay as they were.
    assert {"apis", "deployments", "images", "commits", "models", "jobs", "datasets", "runs", "authors"} <= set(old)


def test_impact_as_of_a_time_counts_as_live_what_was_active_then(demo_store: GraphStore) -> None:
    live = lineage(demo_store, Direction.DOWNSTREAM, "dataset", "green-taxi-data:4",
                   at=at("2026-10-20T00:00:00Z"))["summary"]["live"]
    assert live["at"] == "2026-10-20T00:00:00Z"
    assert [d["label"] for d in live["deployments"]] == ["dev/taxi-api#12", "prod/taxi-api#7"]


def test_trace_answers_have_no_live_section(demo_store: GraphStore) -> None:
    assert "live" not in lineage(demo_store, Direction.UPSTREAM, "api", "v1.2.3")["summary"]


# CLI and HTTP ------------------------------------------------------------------------------------------

@pytest.fixture
def demo_uri(tmp_path: Path) -> str:
    uri = f"sqlite:///{tmp_path / 'demo.db'}"
    assert invoke("demo", "--quiet", "--store", uri).exit_code == 0
    return uri


def test_impact_tree_leads_with_what_is_live(demo_uri: str) -> None:
    result = invoke("impact", "dataset", "green-taxi-data:5", "--format", "tree", "--store", demo_uri)
    lines = result.stdout.splitlines()
    assert lines[0] == "Impact of dataset green-taxi-data:5"
    assert lines[1].startswith("Live now: dev/taxi-api#13 serving taxi-api v1.2.3  (dev, aks-mlops-dev, since "
                               "2026-11-10 15:10)")
    assert lines[2].strip().startswith("prod/taxi-api#8 serving taxi-api v1.2.3")
    ended = invoke("impact", "dataset", "green-taxi-data:4", "--format", "tree", "--store", demo_uri).stdout
    assert "Live now: nothing built from it is running (2 deployments of it ended)" in ended
    assert "Ended:   prod/taxi-api#7 served taxi-api v1.2.2" in ended


def test_cli_history_and_running_trees(demo_uri: str) -> None:
    revisions = invoke("history", "deployment", "prod/taxi-api", "--format", "tree", "--store", demo_uri)
    assert revisions.exit_code == 0
    assert revisions.stdout.startswith("History of deployment aks-mlops-prod/prod/taxi-api  (2 revisions, UTC)")
    assert "2026-11-12 09:30 → live" in revisions.stdout
    releases = invoke("history", "api", "--format", "tree", "--store", demo_uri)
    assert "replaced by v1.2.3" in releases.stdout and "v1.2.4-rc1" in releases.stdout
    tag = invoke("history", "image", RC_TAG, "--format", "tree", "--store", demo_uri)
    assert "no CI run recorded" in tag.stdout
    ran = invoke("running", "--at", "2026-11-11T14:05:00Z", "--env", "prod", "--format", "tree", "--store", demo_uri)
    assert ran.stdout.startswith("Running at 2026-11-11T14:05:00Z in prod: 1 deployment\n")
    assert "prod/taxi-api#7" in ran.stdout and "taxi-api v1.2.2" in ran.stdout


@pytest.mark.parametrize(("args", "code", "says"), [
    (["running", "--at", "yesterday"], 2, "'yesterday' is not a time"),
    (["history", "deployment", "prod/no-such-api"], 1, "no deployment matches"),
    (["history", "model", "taxi-model:3"], 2, "history answers deployment"),
])
def test_cli_failures(demo_uri: str, args: list[str], code: int, says: str) -> None:
    result = invoke(*args, "--store", demo_uri)
    assert result.exit_code == code
    assert says in result.stderr


@pytest.fixture
def client(demo_uri: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(store=demo_uri))) as opened:  # type: ignore[arg-type]
        yield opened


def test_http_history_and_running_are_the_cli_answers(client: TestClient, demo_uri: str) -> None:
    for params, args in (({"kind": "deployment", "ref": "prod/taxi-api"}, ["history", "deployment", "prod/taxi-api"]),
                         ({"kind": "api"}, ["history", "api"]),
                         ({"kind": "image", "ref": RC_TAG}, ["history", "image", RC_TAG])):
        response = client.get("/v1/history", params=params)
        assert response.status_code == 200
        assert response.json() == json.loads(invoke(*args, "--format", "json", "--store", demo_uri).stdout)
    response = client.get("/v1/running", params={"at": "2026-11-11T14:05:00Z", "env": "prod"})
    assert response.status_code == 200
    assert [d["label"] for d in response.json()["deployments"]] == ["prod/taxi-api#7"]


def test_http_problems_for_a_bad_time_and_an_unknown_kind(client: TestClient, demo_store: GraphStore) -> None:
    assert client.get("/v1/running", params={"at": "yesterday"}).status_code == 400
    assert client.get("/v1/history", params={"kind": "model", "ref": "taxi-model:3"}).status_code == 400
    assert client.get("/v1/running").json() == plain(running(demo_store))
