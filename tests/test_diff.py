"""``lineage diff`` and ``GET /v1/diff``: what changed between two releases (or any two nodes of a kind).

On the demo: v1.2.2 (a3c97f1, taxi-model:2 on green-taxi-data:4) against v1.2.3 (05ee055, taxi-model:3
retrained after the prep change 5b7e2c9, on green-taxi-data:5 asked for as ``latest``). Small stores
cover what the demo does not: missing parent links, diverged branches, changed parameters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from graph_schema.canonical import InvalidValue
from lineage_service.api.app import create_app
from lineage_service.demo.history import PREP_CHANGE_SHA, V122_DIGEST, V122_SHA, V123_DIGEST, V123_SHA
from lineage_service.query.diff import diff
from lineage_service.query.references import NotFound
from lineage_service.settings import Settings
from lineage_service.store.base import GraphStore
from lineage_service.tokens import hash_token
from tests.incident_support import IMAGE, commit, deployment, digest, invoke, link, load, node, plain, sha
from tests.servers import live_server

TOKEN = "incident-parity-token-0123"
IMAGE_GHCR = "ghcr.io/nathansegers/azure-mlops-api"


def test_summary_leads_with_code_model_data_image_and_env(demo_store: GraphStore) -> None:
    answer = diff(demo_store, "api", "v1.2.2", "v1.2.3")
    summary = answer["summary"]
    assert summary.startswith("taxi-api v1.2.2 → taxi-api v1.2.3: code changed in 2 commits by 2 authors "
                              "(a3c97f1 → 05ee055); model retrained: taxi-model 2 → 3 on ")
    assert "green-taxi-data 4 → 5 (asked for latest)" in summary
    assert "(r2 0.79 → 0.83, rmse 4.12 → 3.61)" in summary
    assert "image rebuilt: sha256:9a1c0e7f3b5d → sha256:3f49a154a09c" in summary
    assert summary.endswith("env API_VERSION v1.2.2 → v1.2.3, MODEL_VERSION 2 → 3.")


def test_commit_range_walks_parents_newest_first_with_authors_and_messages(demo_store: GraphStore) -> None:
    code = diff(demo_store, "api", "v1.2.2", "v1.2.3")["code"]
    assert [c["sha"] for c in code["a"]] == [V122_SHA] and [c["sha"] for c in code["b"]] == [V123_SHA]
    span = code["range"]
    assert span["status"] == "ahead" and span["complete"] is True and span["fix"] is None
    assert [(c["sha"], c["author"]) for c in span["commits"]] == [
        (V123_SHA, "tom.dewulf@example.com"), (PREP_CHANGE_SHA, "ava.peeters@example.com")]
    assert span["commits"][1]["message"] == "prep: drop zero-distance trips and cap fares at 250"
    assert span["authors"] == ["ava.peeters@example.com", "tom.dewulf@example.com"]


def test_images_models_datasets_and_env_side_by_side(demo_store: GraphStore) -> None:
    answer = diff(demo_store, "api", "v1.2.2", "v1.2.3")
    image = answer["image"]
    assert [i["digest"] for i in image["a"]] == [V122_DIGEST] and [i["digest"] for i in image["b"]] == [V123_DIGEST]
    assert image["changed"] and f"{IMAGE_GHCR}:v1.2.3" in image["tags_added"]
    model = answer["model"]
    assert model["retrained"] and model["versions"] == [{"name": "taxi-model", "a": ["2"], "b": ["3"],
                                                         "change": "changed"}]
    assert model["a"][0]["job"]["label"] == "azureml/amusing_lamp_7c9d1kq2xv_train_model"
    assert model["b"][0]["job"]["commit"] == PREP_CHANGE_SHA[:7]
    assert {"name": "r2", "a": 0.79, "b": 0.83} in model["metrics"]
    assert model["parameters"] == []  # both trainings ran with fit_intercept=True
    datasets = {d["name"]: d for d in answer["datasets"]}
    assert set(datasets) == {"taxi-train-data", "green-taxi-data", "yellow-taxi-data"}
    assert datasets["green-taxi-data"] == {"name": "green-taxi-data", "a": ["4"], "b": ["5"], "change": "changed",
                                           "requested_as": {"a": None, "b": "latest"}}
    env = {e["name"]: e for e in answer["env"]}
    assert env["MODEL_VERSION"] == {"name": "MODEL_VERSION", "a": "2", "b": "3", "change": "changed"}
    assert env["MODEL_NAME"]["change"] == "same"
    assert [d["label"] for d in answer["deployments"]["b"]] == ["dev/taxi-api#13", "prod/taxi-api#8"]
    assert answer["warnings"] == []


def test_diff_backwards_says_the_code_went_back(demo_store: GraphStore) -> None:
    answer = diff(demo_store, "api", "v1.2.3", "v1.2.2")
    assert answer["code"]["range"]["status"] == "behind"
    assert "code went back 2 commits (05ee055 → a3c97f1)" in answer["summary"]


def test_models_diff_by_their_training_code_and_data(demo_store: GraphStore) -> None:
    answer = diff(demo_store, "model", "taxi-model:2", "taxi-model:3")
    assert answer["code"]["range"]["commits"][0]["sha"] == PREP_CHANGE_SHA
    assert answer["summary"].startswith("taxi-model:2 → taxi-model:3: code changed in 1 commit by 1 author "
                                        "(a3c97f1 → 5b7e2c9); model retrained: taxi-model 2 → 3")
    assert answer["image"]["a"] == [] and "image" not in answer["summary"]


def test_the_same_node_on_both_sides_changed_nothing(demo_store: GraphStore) -> None:
    answer = diff(demo_store, "api", "v1.2.3", "1.2.3")
    assert answer["summary"] == "taxi-api v1.2.3 and taxi-api v1.2.3 are the same node: nothing changed."
    assert answer["code"]["range"]["status"] == "same"


def test_unknown_references_and_kinds_fail_like_trace(demo_store: GraphStore) -> None:
    with pytest.raises(NotFound, match=r"no api matches 'v9\.9\.9'"):
        diff(demo_store, "api", "v1.2.2", "v9.9.9")
    with pytest.raises(InvalidValue, match="unknown node kind 'release'"):
        diff(demo_store, "release", "v1.2.2", "v1.2.3")


# Small stores --------------------------------------------------------------------------------------

def release(store: GraphStore, version: str, n: int, *, parents: dict[int, int] | None = None,
            job_props: dict[str, object] | None = None, datasets: tuple[str, ...] = ("fares:1",)) -> None:
    """api fares-api <version> → deployment → image built from commit <n>, bundling a model trained on data."""
    api = node("api", service="fares-api", version=version)
    revision = deployment(n, env={"API_VERSION": version})
    image = node("image", {"created": f"2026-11-{n:02d}T00:00:00Z"}, [f"{IMAGE}:{version}"], digest=digest(n))
    code, model = commit(n), node("model", {"metrics": {"mae": n}}, name="fares", version=str(n))
    job = node("job", {"parameters": job_props or {}}, system="azureml", id=f"train-{n}")
    data = [node("dataset", name=text.split(":")[0], version=text.split(":")[1]) for text in datasets]
    edges = [link(api, revision), link(revision, image), link(image, code), link(image, model), link(model, job),
             link(job, code), *[link(job, d) for d in data]]
    edges += [link(commit(child), commit(parent), "parent") for child, parent in (parents or {}).items()]
    load(store, [api, revision, image, code, model, job, *data], edges, event_id=f"release-{version}")


def test_without_parent_links_the_range_is_unknown_and_names_the_git_collector(store: GraphStore) -> None:
    release(store, "1.0.0", 1)
    release(store, "1.1.0", 2)
    span = diff(store, "api", "1.0.0", "1.1.0")["code"]["range"]
    assert span["status"] == "unknown" and span["commits"] == []
    assert span["reason"] == f"the graph has no parent links for {sha(2)[:7]} and {sha(1)[:7]}"
    assert sha(2)[:7] == "0202020"
    assert "lineage collect git --repo" in span["fix"]
    summary = diff(store, "api", "1.0.0", "1.1.0")["summary"]
    assert "code changed (0101010 → 0202020; the commits between are unknown" in summary


def test_branches_that_diverged_list_the_commits_of_b_since_their_common_history(store: GraphStore) -> None:
    release(store, "1.0.0", 2, parents={2: 1})
    release(store, "1.1.0", 4, parents={4: 3, 3: 1})
    span = diff(store, "api", "1.0.0", "1.1.0")["code"]["range"]
    assert span["status"] == "diverged"
    assert [c["sha"] for c in span["commits"]] == [sha(4), sha(3)]
    assert "not an ancestor" in span["reason"]


def test_changed_parameters_added_and_removed_datasets(store: GraphStore) -> None:
    release(store, "1.0.0", 1, job_props={"alpha": 0.1, "epochs": 5}, datasets=("fares:1", "weather:3"))
    release(store, "1.1.0", 2, parents={2: 1}, job_props={"alpha": 0.5, "epochs": 5}, datasets=("fares:2", "zones:1"))
    answer = diff(store, "api", "1.0.0", "1.1.0")
    assert answer["model"]["parameters"] == [{"name": "alpha", "a": 0.1, "b": 0.5}]
    changes = {d["name"]: d["change"] for d in answer["datasets"]}
    assert changes == {"fares": "changed", "weather": "removed", "zones": "added"}
    assert answer["env"] == [{"name": "API_VERSION", "a": "1.0.0", "b": "1.1.0", "change": "changed"}]
    assert "code changed in 1 commit by 1 author" in answer["summary"]


# CLI, HTTP, remote -----------------------------------------------------------------------------------

@pytest.fixture
def demo_uri(tmp_path: Path) -> str:
    uri = f"sqlite:///{tmp_path / 'demo.db'}"
    assert invoke("demo", "--quiet", "--store", uri).exit_code == 0
    return uri


def test_cli_tree_leads_with_the_summary_and_lists_the_commits(demo_uri: str) -> None:
    result = invoke("diff", "api", "v1.2.2", "v1.2.3", "--format", "tree", "--store", demo_uri)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "Diff of api taxi-api v1.2.2 → taxi-api v1.2.3"
    assert lines[1].startswith("taxi-api v1.2.2 → taxi-api v1.2.3: code changed in 2 commits by 2 authors")
    assert "Commits a3c97f1..05ee055 (2, newest first)" in result.stdout
    assert re.search(r'05ee055  tom\.dewulf@example\.com\s+2026-11-10  "api: return a fare interval from /predict"',
                     result.stdout)
    assert "green-taxi-data:5 (asked for latest)" in result.stdout


def test_cli_json_is_the_query_answer(demo_uri: str, demo_store: GraphStore) -> None:
    result = invoke("diff", "api", "v1.2.2", "v1.2.3", "--format", "json", "--store", demo_uri)
    assert result.exit_code == 0
    # Another store with the same history: node ids hash the keys, so the answers are equal.
    assert json.loads(result.stdout) == plain(diff(demo_store, "api", "v1.2.2", "v1.2.3"))


@pytest.mark.parametrize(("args", "code", "says"), [
    (["diff", "api", "v1.2.2", "v9.9.9"], 1, "no api matches 'v9.9.9'"),
    (["diff", "spaceship", "a", "b"], 2, "unknown node kind 'spaceship'"),
    (["diff", "api", "v1.2.2"], 2, "Missing argument"),
])
def test_cli_failures_exit_1_or_2_naming_the_problem(demo_uri: str, args: list[str], code: int, says: str) -> None:
    result = invoke(*args, "--store", demo_uri)
    assert result.exit_code == code
    assert says in result.stdout + result.stderr


@pytest.fixture
def client(tmp_path: Path, demo_uri: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(store=demo_uri))) as opened:  # type: ignore[arg-type]
        yield opened


def test_http_diff_is_the_same_answer(client: TestClient, demo_store: GraphStore) -> None:
    response = client.get("/v1/diff", params={"kind": "api", "a": "v1.2.2", "b": "v1.2.3"})
    assert response.status_code == 200
    assert response.json() == plain(diff(demo_store, "api", "v1.2.2", "v1.2.3"))


@pytest.mark.parametrize(("params", "status"), [
    ({"kind": "api", "a": "v1.2.2", "b": "v9.9.9"}, 404),
    ({"kind": "api", "a": "v1.2.2"}, 400),
    ({"kind": "spaceship", "a": "x", "b": "y"}, 400),
])
def test_http_problems(client: TestClient, params: dict[str, str], status: int) -> None:
    response = client.get("/v1/diff", params=params)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


@pytest.fixture
def service(demo_uri: str) -> Iterator[str]:
    with live_server(Settings(store=demo_uri, tokens=f"oncall read {hash_token(TOKEN)}")) as url:  # type: ignore[arg-type]
        yield url


@pytest.mark.parametrize("args", [
    ["diff", "api", "v1.2.2", "v1.2.3"],
    ["diff", "model", "taxi-model:2", "taxi-model:3"],
    ["diff", "deployment", "prod/taxi-api#7", "prod/taxi-api#8"],
    ["diff", "api", "v1.2.2", "v9.9.9"],
])
def test_remote_diff_is_the_local_diff(service: str, demo_uri: str, args: list[str]) -> None:
    local = invoke(*args, "--format", "json", "--store", demo_uri)
    remote = invoke(*args, "--format", "json", env={"LINEAGE_URL": service, "LINEAGE_TOKEN": TOKEN})
    assert remote.exit_code == local.exit_code
    if local.exit_code == 0:
        assert json.loads(remote.stdout) == json.loads(local.stdout)
    else:
        assert "no api matches 'v9.9.9'" in remote.stderr and "no api matches 'v9.9.9'" in local.stderr
