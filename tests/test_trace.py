"""Trace (upstream) and impact (downstream) answers on the demo history, and warnings for gaps.

What the demo declares (lineage_service/demo/history.py):

- v1.2.2: image 9a1c0e7f… built from a3c97f1, bundles taxi-model:2, trained on green-taxi-data:4 and
  yellow-taxi-data:2; served by dev/taxi-api#12 (2026-10-06T10:20Z to 2026-11-10T15:10Z) and
  prod/taxi-api#7 (2026-10-08T09:00Z to 2026-11-12T09:30Z).
- v1.2.3: image 3f49a154… built from 05ee055, bundles taxi-model:3, trained (code 5b7e2c9) on
  green-taxi-data:5 (asked for as ``latest``) and yellow-taxi-data:3; served by dev/taxi-api#13
  from 2026-11-10T15:10Z and prod/taxi-api#8 from 2026-11-12T09:30Z, both still live.

The api → deployment links carry that window as valid_from/valid_to; ``at`` follows only links
valid at that time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from lineage_service.demo.history import PREP_CHANGE_SHA, REPO, V122_DIGEST, V122_SHA, V123_DIGEST, V123_SHA
from lineage_service.ingest import ingest, validate_all
from lineage_service.query.references import resolve
from lineage_service.query.trace import neighbourhood, trace
from lineage_service.store.base import Direction, GraphStore

Json = dict[str, Any]
EVIDENCE = {"attested", "observed", "declared", "inferred"}


def trace_of(store: GraphStore, kind: str, reference: str, **options: Any) -> Json:
    return trace(store, resolve(store, kind, reference).node, **options)


def impact_of(store: GraphStore, kind: str, reference: str, **options: Any) -> Json:
    return trace(store, resolve(store, kind, reference).node, Direction.DOWNSTREAM, **options)


def labels(answer: Json, kind: str) -> set[str]:
    return {n["label"] for n in answer["nodes"] if n["kind"] == kind}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


# Small stores built through the ingestion path --------------------------------------------------

def node(kind: str, props: Json | None = None, **key: str) -> Json:
    return {"kind": kind, "key": key, "props": props or {}}


def link(source: Json, target: Json, kind: str | None = None) -> Json:
    edge: Json = {"source": {"kind": source["kind"], "key": source["key"]},
                  "target": {"kind": target["kind"], "key": target["key"]}, "evidence": "declared"}
    if kind:
        edge["kind"] = kind
    return edge


def load(store: GraphStore, nodes: list[Json], edges: list[Json]) -> None:
    event = {"id": "test-release", "time": "2026-11-20T10:00:00Z", "source": "test", "nodes": nodes, "edges": edges}
    result = ingest(store, validate_all([event]))
    assert not result.failed


SHA = "c0ffee" + "0" * 34
API = node("api", service="taxi-api", version="v2.0.0")
DEPLOYMENT = node("deployment", {"environment": "staging"}, platform="kubernetes", cluster="aks-mlops-dev",
                  namespace="staging", name="taxi-api", revision="1")
IMAGE = node("image", digest="sha256:" + "c" * 64)
COMMIT = node("commit", repo=REPO, sha=SHA)
MODEL = node("model", name="taxi-model", version="4")
DATASET = node("dataset", name="green-taxi-data", version="6")


def training_job(dirty: str = "False") -> Json:
    return node("job", {"display_name": "train_model", "properties": {"azureml.git.commit": SHA,
                                                                      "azureml.git.dirty": dirty}},
                system="azureml", id="calm_sea_train_model")


def release(*, model_links: list[Json], extra_nodes: list[Json] | None = None,
            served_model: Json = MODEL) -> tuple[list[Json], list[Json]]:
    """api v2.0.0 → staging/taxi-api#1 → image (built from a commit, bundling taxi-model:4)."""
    nodes = [API, DEPLOYMENT, IMAGE, COMMIT, MODEL, served_model, *(extra_nodes or [])]
    edges = [link(API, DEPLOYMENT), link(DEPLOYMENT, IMAGE), link(DEPLOYMENT, served_model), link(IMAGE, COMMIT),
             link(IMAGE, MODEL), *model_links]
    unique = {json.dumps([n["kind"], n["key"]]): n for n in nodes}
    return list(unique.values()), edges


def complete_training() -> tuple[list[Json], list[Json]]:
    job = training_job()
    return [job, DATASET], [link(MODEL, job), link(job, COMMIT), link(job, DATASET)]


# trace api v1.2.3 --------------------------------------------------------------------------------

def test_trace_of_v123_reaches_its_commit_with_author_and_message(demo_store: GraphStore) -> None:
    commits = {c["short"]: c for c in trace_of(demo_store, "api", "v1.2.3")["summary"]["commits"]}
    assert commits["05ee055"]["sha"] == V123_SHA
    assert commits["05ee055"]["author"] == "tom.dewulf@example.com"
    assert commits["05ee055"]["message"] == "api: return a fare interval from /predict"
    assert commits["05ee055"]["committed_at"] == "2026-11-10T13:27:00Z"
    # The model was trained on the prep change, an earlier commit by another author.
    assert commits["5b7e2c9"]["sha"] == PREP_CHANGE_SHA
    assert commits["5b7e2c9"]["author"] == "ava.peeters@example.com"


def test_trace_of_v123_reaches_its_model_datasets_jobs_and_ci_runs(demo_store: GraphStore) -> None:
    summary = trace_of(demo_store, "api", "v1.2.3")["summary"]
    assert [m["label"] for m in summary["models"]] == ["taxi-model:3"]
    assert summary["models"][0]["metrics"] == {"r2": 0.83, "rmse": 3.61}
    datasets = {d["label"]: d for d in summary["datasets"]}
    assert set(datasets) == {"taxi-train-data:8", "green-taxi-data:5", "yellow-taxi-data:3"}
    assert datasets["green-taxi-data:5"]["requested_as"] == "latest"
    assert datasets["yellow-taxi-data:3"]["requested_as"] is None
    jobs = {j["label"]: j for j in summary["jobs"]}
    assert jobs["azureml/bold_river_4t6w9p3m1s_train_model"]["name"] == "train_model"
    assert jobs["azureml/bold_river_4t6w9p3m1s"]["type"] == "pipeline"
    assert not any(j["dirty"] for j in jobs.values())
    runs = {r["label"]: r for r in summary["runs"]}
    assert set(runs) == {"github-actions/7004455701", "github-actions/7004455667"}  # image build, training
    assert all(r["conclusion"] == "success" for r in runs.values())
    assert [i["digest"] for i in summary["images"]] == [V123_DIGEST]
    assert {d["label"] for d in summary["deployments"]} == {"dev/taxi-api#13", "prod/taxi-api#8"}
    assert all(d["live"] for d in summary["deployments"])
    assert summary["authors"] == ["ava.peeters@example.com", "tom.dewulf@example.com"]


def test_trace_of_v123_contains_nothing_of_v122(demo_store: GraphStore) -> None:
    answer = trace_of(demo_store, "api", "v1.2.3")
    assert "taxi-model:2" not in labels(answer, "model")
    assert "green-taxi-data:4" not in labels(answer, "dataset")
    assert V122_SHA[:7] not in labels(answer, "commit")
    assert not {"dev/taxi-api#12", "prod/taxi-api#7"} & labels(answer, "deployment")


def test_trace_of_the_complete_demo_chain_has_no_warnings(demo_store: GraphStore) -> None:
    answer = trace_of(demo_store, "api", "v1.2.3")
    assert answer["warnings"] == []
    assert answer["truncated"] is False


def test_trace_of_v122_reaches_its_own_commit_model_and_data(demo_store: GraphStore) -> None:
    summary = trace_of(demo_store, "api", "1.2.2")["summary"]
    assert [c["short"] for c in summary["commits"]] == [V122_SHA[:7]]
    assert [m["label"] for m in summary["models"]] == ["taxi-model:2"]
    assert {"green-taxi-data:4", "yellow-taxi-data:2"} <= {d["label"] for d in summary["datasets"]}
    assert [i["digest"] for i in summary["images"]] == [V122_DIGEST]
    assert {d["label"]: d["live"] for d in summary["deployments"]} == {"dev/taxi-api#12": False,
                                                                        "prod/taxi-api#7": False}


# the JSON shape ----------------------------------------------------------------------------------

def test_trace_answer_has_the_documented_json_shape(demo_store: GraphStore) -> None:
    answer = json.loads(json.dumps(trace_of(demo_store, "api", "v1.2.3")))  # plain JSON, nothing lost
    assert {"root", "nodes", "edges", "summary", "warnings"} <= set(answer)
    assert answer["root"]["label"] == "taxi-api v1.2.3" and answer["root"]["kind"] == "api"
    assert {"commits", "datasets", "models", "images", "deployments", "jobs", "runs", "authors"} <= set(
        answer["summary"])
    for node in answer["nodes"]:
        assert {"id", "kind", "key", "props"} <= set(node)
        assert isinstance(node["key"], dict) and isinstance(node["props"], dict)
    for edge in answer["edges"]:
        assert {"source", "target", "kind", "props"} <= set(edge)
        assert edge["props"]["evidence"] in EVIDENCE
        assert edge["props"]["sources"] and all(isinstance(s, str) for s in edge["props"]["sources"])


def test_every_edge_of_the_answer_joins_two_of_its_nodes(demo_store: GraphStore) -> None:
    answer = trace_of(demo_store, "api", "v1.2.3")
    ids = {n["id"] for n in answer["nodes"]}
    assert answer["root"]["id"] in ids
    assert answer["edges"]
    for edge in answer["edges"]:
        assert edge["source"] in ids and edge["target"] in ids


def test_edges_carry_the_evidence_and_source_that_reported_them(demo_store: GraphStore) -> None:
    answer = trace_of(demo_store, "api", "v1.2.3")
    by_id = {n["id"]: n for n in answer["nodes"]}
    found = {(by_id[e["source"]]["label"], e["kind"], by_id[e["target"]]["label"]): e["props"] for e in answer["edges"]}
    served = found[("taxi-api v1.2.3", "served_by", "prod/taxi-api#8")]
    assert (served["evidence"], served["sources"]) == ("observed", ["kubernetes"])
    assert served["valid_from"] == "2026-11-12T09:30:00Z" and "valid_to" not in served
    bundles = found[("sha256:3f49a154a09c", "bundles", "taxi-model:3")]
    assert (bundles["evidence"], bundles["sources"]) == ("declared", ["github-actions"])
    assert found[("prod/taxi-api#8", "serves_model", "taxi-model:3")]["env_var"] == "MODEL_VERSION"
    assert found[("azureml/bold_river_4t6w9p3m1s_prep_data", "consumed", "green-taxi-data:5")][
        "requested_as"] == "latest"


def test_nodes_carry_their_distance_from_the_root(demo_store: GraphStore) -> None:
    depth = {n["label"]: n["depth"] for n in trace_of(demo_store, "api", "v1.2.3")["nodes"]}
    assert depth["taxi-api v1.2.3"] == 0
    assert depth["prod/taxi-api#8"] == 1
    assert depth["sha256:3f49a154a09c"] == 2 and depth["taxi-model:3"] == 2
    assert depth["05ee055"] == 3


# commit parents are not followed -----------------------------------------------------------------

def test_trace_of_a_commit_does_not_walk_its_parents(demo_store: GraphStore) -> None:
    answer = trace_of(demo_store, "commit", "05ee055")
    assert {(n["kind"], n["label"]) for n in answer["nodes"]} == {
        ("commit", "05ee055"), ("repo", "github.com/nathansegers/mlops-2.0"), ("person", "tom.dewulf@example.com")}
    assert "parent" not in {e["kind"] for e in answer["edges"]}
    # The parent link is stored: show lists it, trace leaves it out.
    upstream = neighbourhood(demo_store, resolve(demo_store, "commit", "05ee055").node)["upstream"]
    assert [(u["kind"], u["node"]["label"]) for u in upstream if u["kind"] == "parent"] == [("parent", "5b7e2c9")]


def test_impact_of_an_old_commit_does_not_reach_releases_of_later_commits(demo_store: GraphStore) -> None:
    # a3c97f1 is an ancestor of 05ee055, but v1.2.3 was not built from it.
    answer = impact_of(demo_store, "commit", V122_SHA[:7])
    assert labels(answer, "api") == {"taxi-api v1.2.2"}
    assert labels(answer, "commit") == {V122_SHA[:7]}


# impact ------------------------------------------------------------------------------------------

def test_impact_of_green_taxi_data_5_reaches_v123_and_not_v122(demo_store: GraphStore) -> None:
    answer = impact_of(demo_store, "dataset", "green-taxi-data:5")
    assert answer["direction"] == "downstream"
    summary = answer["summary"]
    assert summary["apis"] == [{"label": "taxi-api v1.2.3", "service": "taxi-api", "version": "1.2.3", "live": True}]
    assert {d["label"] for d in summary["deployments"]} == {"dev/taxi-api#13", "prod/taxi-api#8"}
    assert [m["label"] for m in summary["models"]] == ["taxi-model:3"]
    assert [i["digest"] for i in summary["images"]] == [V123_DIGEST]
    assert "taxi-api v1.2.2" not in labels(answer, "api")
    assert answer["warnings"] == []


def test_impact_of_green_taxi_data_4_reaches_v122_only(demo_store: GraphStore) -> None:
    answer = impact_of(demo_store, "dataset", "green-taxi-data:4")
    assert labels(answer, "api") == {"taxi-api v1.2.2"}
    assert labels(answer, "model") == {"taxi-model:2"}


def test_impact_of_unused_data_is_the_dataset_alone(demo_store: GraphStore) -> None:
    answer = impact_of(demo_store, "dataset", "green-taxi-data:3")
    assert [n["label"] for n in answer["nodes"]] == ["green-taxi-data:3"]
    assert answer["edges"] == []


def test_impact_of_the_prep_change_reaches_the_retrained_release(demo_store: GraphStore) -> None:
    answer = impact_of(demo_store, "commit", "5b7e2c9")
    assert labels(answer, "model") == {"taxi-model:3"}
    assert labels(answer, "api") == {"taxi-api v1.2.3"}


def test_impact_edges_keep_their_upstream_direction(demo_store: GraphStore) -> None:
    answer = impact_of(demo_store, "model", "taxi-model:3")
    by_id = {n["id"]: n for n in answer["nodes"]}
    bundles = [e for e in answer["edges"] if e["kind"] == "bundles"]
    assert [(by_id[e["source"]]["kind"], by_id[e["target"]]["label"]) for e in bundles] == [("image", "taxi-model:3")]


# depth -------------------------------------------------------------------------------------------

def test_depth_one_stops_at_the_deployments(demo_store: GraphStore) -> None:
    answer = trace_of(demo_store, "api", "v1.2.3", depth=1)
    assert {n["kind"] for n in answer["nodes"]} == {"api", "deployment"}
    assert {e["kind"] for e in answer["edges"]} == {"served_by"}
    assert answer["depth"] == 1
    # Cut nodes are not reported as gaps: their upstream was not walked.
    assert answer["warnings"] == []


def test_depth_three_reaches_the_commit_but_not_its_author(demo_store: GraphStore) -> None:
    answer = trace_of(demo_store, "api", "v1.2.3", depth=3)
    assert "05ee055" in labels(answer, "commit")
    assert labels(answer, "person") == set()
    assert max(n["depth"] for n in answer["nodes"]) == 3
    assert answer["warnings"] == []


def test_impact_depth_limits_the_answer(demo_store: GraphStore) -> None:
    answer = impact_of(demo_store, "model", "taxi-model:3", depth=1)
    assert labels(answer, "api") == set()
    assert labels(answer, "deployment") == {"dev/taxi-api#13", "prod/taxi-api#8"}
    assert labels(answer, "image") == {"sha256:3f49a154a09c"}


def test_node_limit_marks_the_answer_incomplete_without_inventing_gaps(demo_store: GraphStore) -> None:
    answer = trace_of(demo_store, "api", "v1.2.3", limit=3)
    assert answer["truncated"] is True
    assert answer["warnings"] == ["the answer is incomplete: the walk stopped at its limit (3); narrow it with --depth"]


# as of a time ------------------------------------------------------------------------------------

def test_as_of_before_v123_was_deployed_it_has_no_deployment(demo_store: GraphStore) -> None:
    answer = trace_of(demo_store, "api", "v1.2.3", at=at("2026-10-20T00:00:00Z"))
    assert labels(answer, "deployment") == set()
    assert answer["at"] == "2026-10-20T00:00:00Z"
    assert answer["warnings"] == ["api taxi-api v1.2.3 has no deployment recorded at 2026-10-20T00:00:00Z"]


def test_as_of_between_the_dev_and_prod_rollouts_only_dev_serves_v123(demo_store: GraphStore) -> None:
    answer = trace_of(demo_store, "api", "v1.2.3", at=at("2026-11-11T00:00:00Z"))
    assert labels(answer, "deployment") == {"dev/taxi-api#13"}
    assert "05ee055" in labels(answer, "commit")  # the rest of the chain is still followed


def test_as_of_after_both_rollouts_dev_and_prod_serve_v123(demo_store: GraphStore) -> None:
    answer = trace_of(demo_store, "api", "v1.2.3", at=at("2026-11-13T00:00:00Z"))
    assert labels(answer, "deployment") == {"dev/taxi-api#13", "prod/taxi-api#8"}


def test_as_of_while_v122_was_live_it_reaches_its_deployments_and_commit(demo_store: GraphStore) -> None:
    answer = trace_of(demo_store, "api", "v1.2.2", at=at("2026-10-20T00:00:00Z"))
    assert labels(answer, "deployment") == {"dev/taxi-api#12", "prod/taxi-api#7"}
    assert labels(answer, "commit") >= {V122_SHA[:7]}
    assert labels(answer, "model") == {"taxi-model:2"}
    assert answer["warnings"] == []


def test_as_of_between_rollouts_v122_is_served_by_prod_only(demo_store: GraphStore) -> None:
    answer = trace_of(demo_store, "api", "v1.2.2", at=at("2026-11-11T00:00:00Z"))
    assert labels(answer, "deployment") == {"prod/taxi-api#7"}


def test_validity_window_is_half_open_at_the_switch_to_v123(demo_store: GraphStore) -> None:
    switch = at("2026-11-10T15:10:00Z")  # dev/taxi-api#12 ends and dev/taxi-api#13 starts
    assert labels(trace_of(demo_store, "api", "v1.2.2", at=switch), "deployment") == {"prod/taxi-api#7"}
    assert labels(trace_of(demo_store, "api", "v1.2.3", at=switch), "deployment") == {"dev/taxi-api#13"}


def test_impact_as_of_a_time_follows_only_links_valid_then(demo_store: GraphStore) -> None:
    answer = impact_of(demo_store, "dataset", "green-taxi-data:5", at=at("2026-11-11T00:00:00Z"))
    assert labels(answer, "api") == {"taxi-api v1.2.3"}
    assert labels(answer, "deployment") == {"dev/taxi-api#13"}


# warnings for gaps -------------------------------------------------------------------------------

def test_complete_small_release_has_no_warnings(store: GraphStore) -> None:
    load(store, *release(model_links=complete_training()[1], extra_nodes=complete_training()[0]))
    answer = trace_of(store, "api", "v2.0.0")
    assert "calm_sea_train_model" in {n["key"].get("id") for n in answer["nodes"]}
    assert answer["warnings"] == []


def test_model_without_training_job_is_named_in_a_warning(store: GraphStore) -> None:
    load(store, *release(model_links=[]))
    assert trace_of(store, "api", "v2.0.0")["warnings"] == ["model taxi-model:4 has no training job recorded"]


def test_job_from_a_dirty_working_tree_is_named_in_a_warning(store: GraphStore) -> None:
    job = training_job(dirty="True")
    load(store, *release(model_links=[link(MODEL, job), link(job, COMMIT), link(job, DATASET)],
                         extra_nodes=[job, DATASET]))
    answer = trace_of(store, "api", "v2.0.0")
    assert answer["warnings"] == [
        "job azureml/calm_sea_train_model ran from a dirty working tree (azureml.git.dirty): "
        "its commit does not fully describe the code"]
    assert [j["dirty"] for j in answer["summary"]["jobs"]] == [True]


def test_deployment_serving_another_model_than_its_image_bundles_is_named(store: GraphStore) -> None:
    other = node("model", name="taxi-model", version="5")
    training_nodes, training_edges = complete_training()
    load(store, *release(model_links=training_edges, extra_nodes=training_nodes, served_model=other))
    warnings = trace_of(store, "api", "v2.0.0")["warnings"]
    assert "deployment staging/taxi-api#1 serves taxi-model:5 but its image bundles taxi-model:4" in warnings
    # taxi-model:5 is served but nothing says how it was made: that gap is named too.
    assert "model taxi-model:5 has no training job recorded" in warnings


def test_training_job_without_commit_or_inputs_is_named(store: GraphStore) -> None:
    job = training_job()
    load(store, *release(model_links=[link(MODEL, job)], extra_nodes=[job]))
    assert trace_of(store, "api", "v2.0.0")["warnings"] == [
        "job azureml/calm_sea_train_model has no code commit recorded",
        "job azureml/calm_sea_train_model that produced model taxi-model:4 has no input datasets recorded"]


def test_release_without_deployment_and_image_without_commit_are_named(store: GraphStore) -> None:
    load(store, [API, IMAGE], [])
    assert trace_of(store, "api", "v2.0.0")["warnings"] == ["api taxi-api v2.0.0 has no deployment recorded"]
    assert trace_of(store, "image", IMAGE["key"]["digest"])["warnings"] == [
        f"image {IMAGE['key']['digest'][:19]} has no source commit recorded"]


def test_impact_answers_carry_no_gap_warnings(store: GraphStore) -> None:
    load(store, *release(model_links=[]))
    assert impact_of(store, "model", "taxi-model:4")["warnings"] == []


def test_notes_from_reference_resolution_are_carried_in_the_answer(demo_store: GraphStore) -> None:
    resolved = resolve(demo_store, "dataset", "green-taxi-data:latest")
    assert resolved.note is not None
    answer = trace(demo_store, resolved.node, Direction.DOWNSTREAM, notes=[resolved.note])
    assert answer["notes"] == [resolved.note]
    assert answer["root"]["label"] == "green-taxi-data:5"


@pytest.mark.parametrize(("kind", "reference", "expected"), [
    ("model", "taxi-model:3", {"datasets": {"taxi-train-data:8", "green-taxi-data:5", "yellow-taxi-data:3"}}),
    ("image", f"ghcr.io/nathansegers/azure-mlops-api:{V123_SHA}", {"commits": {"05ee055", "5b7e2c9"}}),
    ("deployment", "prod/taxi-api#7", {"models": {"taxi-model:2"}}),
])
def test_trace_starts_from_any_point_in_the_chain(demo_store: GraphStore, kind: str, reference: str,
                                                  expected: dict[str, set[str]]) -> None:
    summary = trace_of(demo_store, kind, reference)["summary"]
    for group, wanted in expected.items():
        found = {item.get("label") or item.get("short") for item in summary[group]}
        assert found == wanted


def test_training_job_at_the_depth_limit_is_not_said_to_lack_inputs(demo_store: GraphStore) -> None:
    answer = trace_of(demo_store, "model", "taxi-model:3", depth=1)
    assert labels(answer, "job") == {"azureml/bold_river_4t6w9p3m1s_train_model"}
    assert answer["warnings"] == []  # its datasets and commit were not walked, not missing


def test_step_that_inherits_its_commit_from_the_pipeline_is_not_warned_about(store: GraphStore) -> None:
    step, pipeline = training_job(), node("job", {"type": "pipeline"}, system="azureml", id="calm_sea")
    load(store, [MODEL, step, pipeline, COMMIT, DATASET],
         [link(MODEL, step), link(step, pipeline), link(pipeline, COMMIT), link(step, DATASET)])
    assert trace_of(store, "model", "taxi-model:4")["warnings"] == []
    # Cut at the pipeline, its commit link is unknown, not missing.
    assert trace_of(store, "model", "taxi-model:4", depth=2)["warnings"] == []
