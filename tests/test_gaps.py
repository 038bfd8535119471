"""``lineage gaps`` and ``GET /v1/gaps``: live releases with an incomplete chain, the fix for each gap, coverage.

In the demo, v1.2.3 is complete in dev and prod; the release candidate v1.2.4-rc1 (dev/taxi-api-rc#2)
runs a hand-pushed image with no commit and names no model: one of two live releases is complete.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lineage_service.api.app import create_app
from lineage_service.demo.history import HOTFIX_DIGEST
from lineage_service.query.coverage import gaps
from lineage_service.settings import Settings
from lineage_service.store.base import GraphStore
from tests.incident_support import commit, deployment, digest, invoke, link, load, node, plain


def test_demo_coverage_is_one_of_two_live_releases(demo_store: GraphStore) -> None:
    answer = gaps(demo_store)
    assert answer["coverage"] == {"releases": {"live": 2, "complete": 1, "percent": 50.0},
                                  "deployments": {"live": 3, "complete": 2, "percent": 66.7}}
    assert answer["summary"] == ("1 of 2 live releases have a complete chain (50%); 2 of 3 live deployments")
    rc, complete = answer["releases"]
    assert (rc["label"], rc["complete"], rc["deployments"]) == ("taxi-api v1.2.4-rc1", False, ["dev/taxi-api-rc#2"])
    assert (complete["label"], complete["complete"]) == ("taxi-api v1.2.3", True)
    assert [(g["gap"], g["node"]["label"]) for g in rc["gaps"]] == [
        ("no-commit", HOTFIX_DIGEST[:19]), ("no-model", "dev/taxi-api-rc#2")]
    assert "lineage emit image" in rc["gaps"][0]["fix"] and "MODEL_VERSION" in rc["gaps"][1]["fix"]


def test_an_environment_filter_counts_only_its_deployments(demo_store: GraphStore) -> None:
    answer = gaps(demo_store, "prod")
    assert answer["coverage"]["releases"] == {"live": 1, "complete": 1, "percent": 100.0}
    assert [d["label"] for d in answer["deployments"]] == ["prod/taxi-api#8"]


def test_an_empty_store_has_nothing_live(store: GraphStore) -> None:
    answer = gaps(store)
    assert answer["coverage"]["releases"] == {"live": 0, "complete": 0, "percent": None}
    assert answer["summary"].startswith("nothing is live")


def test_each_missing_link_is_a_gap_with_the_step_that_fills_it(store: GraphStore) -> None:
    api = node("api", service="fares-api", version="3.0.0")
    complete_model, lonely_model = node("model", name="fares", version="1"), node("model", name="fares", version="2")
    job = node("job", system="azureml", id="train-1")
    with_image, without_image = deployment(1), deployment(2, environment="dev")
    image = node("image", digest=digest(1))
    load(store, [api, with_image, without_image, image, complete_model, lonely_model, job, commit(1)], [
        link(api, with_image), link(with_image, image), link(image, commit(1)), link(image, complete_model),
        link(with_image, lonely_model), link(complete_model, job)])
    answer = gaps(store)
    rows = {d["label"]: d for d in answer["deployments"]}
    assert [(g["gap"], g["node"]["label"]) for g in rows["prod/fares-api#1"]["gaps"]] == [
        ("no-dataset", "azureml/train-1"), ("no-training-job", "fares:2")]
    assert "lineage emit training --job ID --model fares:2" in rows["prod/fares-api#1"]["gaps"][1]["fix"]
    assert "--job train-1 --input" in rows["prod/fares-api#1"]["gaps"][0]["fix"]
    # A live deployment that serves no recorded release still counts, with its own gaps.
    assert rows["dev/fares-api#2"]["apis"] == []
    assert [g["gap"] for g in rows["dev/fares-api#2"]["gaps"]] == ["no-image-digest", "no-model"]
    assert answer["coverage"]["releases"] == {"live": 1, "complete": 0, "percent": 0.0}


def test_an_ended_deployment_is_not_counted(store: GraphStore) -> None:
    load(store, [deployment(1, active_from="2026-11-01T00:00:00Z", active_to="2026-11-02T00:00:00Z")], [])
    assert gaps(store)["deployments"] == []


# CLI and HTTP ------------------------------------------------------------------------------------------

@pytest.fixture
def demo_uri(tmp_path: Path) -> str:
    uri = f"sqlite:///{tmp_path / 'demo.db'}"
    assert invoke("demo", "--quiet", "--store", uri).exit_code == 0
    return uri


def test_cli_tree_names_each_gap_and_its_fix(demo_uri: str) -> None:
    result = invoke("gaps", "--format", "tree", "--store", demo_uri)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "Coverage 1 of 2 live releases have a complete chain (50%); 2 of 3 live deployments"
    assert lines[1] == "taxi-api v1.2.4-rc1  incomplete  (dev/taxi-api-rc#2)"
    assert "no-commit" in result.stdout and "fix: record the build: `lineage emit image" in result.stdout
    assert "taxi-api v1.2.3  complete  (dev/taxi-api#13, prod/taxi-api#8)" in result.stdout


@pytest.mark.parametrize(("threshold", "code"), [("100", 1), ("50", 0)])
def test_cli_fail_under_gates_on_release_coverage(demo_uri: str, threshold: str, code: int) -> None:
    result = invoke("gaps", "--fail-under", threshold, "--format", "json", "--store", demo_uri)
    assert result.exit_code == code
    assert json.loads(result.stdout)["coverage"]["releases"]["percent"] == 50.0
    assert ("below --fail-under 100%" in result.stderr) is (code == 1)


def test_http_gaps_is_the_same_answer(demo_uri: str, demo_store: GraphStore) -> None:
    with TestClient(create_app(Settings(store=demo_uri))) as client:  # type: ignore[arg-type]
        response = client.get("/v1/gaps")
        assert response.status_code == 200
        assert response.json() == plain(gaps(demo_store))
        assert client.get("/v1/gaps", params={"env": "prod"}).json()["coverage"]["releases"]["percent"] == 100.0
