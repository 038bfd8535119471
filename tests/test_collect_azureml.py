"""The Azure ML mapping on real ``azure.ai.ml.entities`` objects (``tests/azureml_world.py``).

The entities are the SDK's own classes, built from the seeds' YAML with ``load_job`` or with their
constructors; nothing of the SDK is replaced. ``tests/test_collect_azureml_http.py`` reads the
same story through ``MLClient`` and a local server.

The golden file ``tests/golden/azureml-collector.json`` holds every event mapped from the world,
with a fixed collection time. After a change that alters what is emitted on purpose, regenerate it
and review the diff:

    LINEAGE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_collect_azureml.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from collectors.azureml_deployments import BATCH, ONLINE, deployment_event, ended_event, revision
from collectors.azureml_mapping import DataCatalog, Resolution, data_event, job_event, model_event
from collectors.azureml_refs import AssetRef, asset_ref, git_info, image_digest
from collectors.azureml_values import Mapped
from lineage_service.ingest import ingest, validate_all
from lineage_service.query import answers
from lineage_service.store.base import Direction, GraphStore
from tests import azureml_world as world
from tests.azureml_world import CommandJob, Environment, Input, ManagedOnlineDeployment, Model

# The SDK's own marshmallow schemas warn about marshmallow 4 on every load; not ours to fix.
pytestmark = [pytest.mark.filterwarnings("ignore::marshmallow.warnings.Marshmallow4Warning")]
GOLDEN = Path(__file__).parent / "golden" / "azureml-collector.json"
TIME = "2026-11-20T10:00:00Z"
Json = dict[str, Any]


def catalog() -> DataCatalog:
    found = DataCatalog()
    versions = world.data_versions()
    for name in sorted({str(data.name) for data in versions}):
        found.add(name, [data for data in versions if data.name == name])
    return found


def world_mapped() -> list[Mapped]:
    resolve = catalog().resolve
    versions = world.data_versions()
    mapped = [data_event([d for d in versions if d.name == name], world.WORKSPACE, TIME)
              for name in sorted({str(d.name) for d in versions})]
    mapped += [job_event(world.pipeline_job(), world.pipeline_steps(), world.WORKSPACE, resolve, TIME),
               job_event(world.dirty_job(), [], world.WORKSPACE, resolve, TIME)]
    mapped += [model_event(model, world.WORKSPACE, TIME) for model in world.models()]
    (endpoint, [blue]), (batch_endpoint, [nightly]) = world.online(), world.batch()
    mapped.append(deployment_event(endpoint, blue, platform=ONLINE, workspace=world.WORKSPACE,
                                   image=world.API_IMAGE, time=TIME)[0])
    mapped.append(deployment_event(batch_endpoint, nightly, platform=BATCH, workspace=world.WORKSPACE,
                                   image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest", time=TIME)[0])
    return mapped


def edges(events: list[Json], kind: str) -> list[tuple[str, str, Json]]:
    def name(key: Json) -> str:
        if "sha" in key:
            return key["sha"][:7]
        if "version" in key and "name" in key and "platform" not in key:
            return f"{key['name']}:{key['version']}"
        if "service" in key:
            return f"{key['service']}/{key['version']}"
        return str(key.get("id") or key.get("url") or key.get("digest") or f"{key['namespace']}/{key['name']}")

    return [(name(e["source"]["key"]), name(e["target"]["key"]), e.get("props", {}))
            for event in events for e in event["edges"] if e["kind"] == kind]


def nodes(events: list[Json], kind: str) -> dict[str, Json]:
    found: dict[str, Json] = {}
    for event in events:
        for node in event["nodes"]:
            if node["kind"] == kind:
                ident = json.dumps(node["key"], sort_keys=True)
                found[ident] = {**found.get(ident, {}), **node, "props": {**found.get(ident, {}).get("props", {}),
                                                                         **node.get("props", {})}}
    return {"/".join(str(v) for v in n["key"].values()): n for n in found.values()}


def test_the_world_maps_to_the_golden_events() -> None:
    mapped = world_mapped()
    events = [m.event for m in mapped]
    if os.environ.get("LINEAGE_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(events, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert events == json.loads(GOLDEN.read_text(encoding="utf-8")), "regenerate: LINEAGE_UPDATE_GOLDEN=1"

    # What the golden file must say, spelled out so that a wrong golden file cannot pass.
    assert validate_all(events)  # every event is accepted by the one ingestion path
    train, prep = world.STEPS["train_model"][:8], world.STEPS["prep_data"][:8]
    consumed = {(s[:8], t): p for s, t, p in edges(events, "consumed")}
    assert consumed[(world.PIPELINE[:8], "green-taxi-data:5")] == {
        "input": "green_taxi_data", "requested_as": "latest", "resolved": "as of the job's creation"}
    assert consumed[(prep, "green-taxi-data:5")]["requested_as"] == "latest"  # bound to the pipeline's input
    assert consumed[(prep, "yellow-taxi-data:3")] == {"input": "yellow"}
    assert consumed[(train, "taxi-train-data:8")] == {"input": "train_data"}  # a sibling's registered output
    assert (world.STEPS["evaluate_model"][:8], "taxi-test-data:8") in consumed
    assert not [t for s, t in consumed if t.startswith("green-taxi-data:6")]  # created after the job
    produced = {(s, t[:8]) for s, t, _ in edges(events, "produced_by")}
    assert {("taxi-train-data:8", prep), ("taxi-test-data:8", prep)} <= produced
    assert ("taxi-model:3", train) in produced and ("taxi-model:4", world.DIRTY_JOB[:8]) in produced
    assert sorted(s[:8] for s, t, _ in edges(events, "part_of")) == sorted(j[:8] for j in world.STEPS.values())
    ran = {(s, t) for s, t, _ in edges(events, "ran_code")}
    assert (world.PIPELINE, world.PREP_SHA[:7]) in ran and (world.DIRTY_JOB, world.LAPTOP_SHA[:7]) in ran
    commits = nodes(events, "commit")
    assert {n["key"]["repo"] for n in commits.values()} == {world.REPO}  # git@…:….git made canonical
    jobs = nodes(events, "job")
    step = jobs[f"azureml/{world.STEPS['train_model']}"]["props"]
    assert (step["step"], step["pipeline"], step["type"]) == ("train_model", world.PIPELINE, "command")
    assert step["inputs"] == {"train_data": "${{parent.jobs.prep_data.outputs.train_data}}"}
    dirty = jobs[f"azureml/{world.DIRTY_JOB}"]["props"]
    assert dirty["dirty"] is True and dirty["parameters"] == {"alpha": 0.5, "fit_intercept": True}
    assert dirty["properties"]["azureml.git.dirty"] == "True"
    assert "dirty" not in jobs[f"azureml/{world.PIPELINE}"]["props"]
    warnings = [w for m in mapped for w in m.warnings]
    assert warnings == [f"job {world.DIRTY_JOB} ran from a dirty working tree (azureml.git.dirty=True): its code "
                        f"is not exactly commit 05ee055"]
    deployments = nodes(events, "deployment")
    [blue] = [n for n in deployments.values() if n["key"]["platform"] == "azureml-online"]
    assert blue["key"]["cluster"] == "mlw-taxi-prod" and blue["key"]["namespace"] == "taxi-fare-online"
    assert blue["props"]["env"] == {"API_VERSION": "v1.2.3", "MODEL_NAME": "taxi-model", "MODEL_VERSION": "3"}
    assert "do-not-copy-me" not in json.dumps(events)  # other environment variables may hold secrets
    assert blue["props"]["traffic"] == 100 and blue["props"]["image"] == world.API_IMAGE
    assert edges(events, "served_by") == [("taxi-fare-online/v1.2.3", "taxi-fare-online/blue",
                                           {"env_var": "API_VERSION"})]
    assert [(s, t) for s, t, _ in edges(events, "runs_image")] == [("taxi-fare-online/blue", world.API_DIGEST)]
    assert sorted(t for _, t, _ in edges(events, "serves_model")) == ["taxi-model:3", "taxi-model:3"]
    [nightly] = [n for n in deployments.values() if n["key"]["platform"] == "azureml-batch"]
    assert nightly["props"]["environment_asset"] == "taxi-train-env:2" and nightly["props"]["compute"] == "cpu-cluster"
    datasets = nodes(events, "dataset")
    assert datasets["green-taxi-data/5"]["props"]["created"] == "2026-11-01T00:00:00Z"
    assert all(e["source"] == "azureml" and e["id"].startswith("azureml-mlw-taxi-prod-") for e in events)
    assert len({e["id"] for e in events}) == len(events)


def test_mapping_is_deterministic_and_a_change_is_a_new_event() -> None:
    first, again = [m.event for m in world_mapped()], [m.event for m in world_mapped()]
    assert [e["id"] for e in first] == [e["id"] for e in again]
    running = world.as_read_back(world.dirty_job(), "Running", "2026-11-18T16:02:00Z")
    before = job_event(running, [], world.WORKSPACE, catalog().resolve, TIME).event["id"]
    after = job_event(world.dirty_job(), [], world.WORKSPACE, catalog().resolve, TIME).event["id"]
    assert before != after and before.startswith(f"azureml-mlw-taxi-prod-job-{world.DIRTY_JOB}-")


@pytest.mark.parametrize(("text", "expected"), [
    ("azureml:green-taxi-data:5", AssetRef("green-taxi-data", "5")),
    ("green-taxi-data:5", AssetRef("green-taxi-data", "5")),  # as load_job leaves it
    ("azureml:green-taxi-data@latest", AssetRef("green-taxi-data", None, "latest")),
    (f"azureml:{world.ARM}/data/yellow-taxi-data/versions/3", AssetRef("yellow-taxi-data", "3", None, "data")),
    (f"{world.ARM}/models/taxi-model/versions/3", AssetRef("taxi-model", "3", None, "model")),
    ("azureml://locations/westeurope/workspaces/0f1e/data/taxi-train-data/versions/8",
     AssetRef("taxi-train-data", "8", None, "data")),
    ("azureml://registries/azureml/environments/sklearn-1.5/versions/3",
     AssetRef("sklearn-1.5", "3", None, "environment")),
    ("azureml://datastores/workspaceblobstore/paths/taxi/green/", None),  # storage, not an asset
    ("https://example.blob.core.windows.net/taxi/green.csv", None),
    ("./data/green", None),
    ("a label with spaces@latest", None),
])
def test_asset_references_in_every_spelling(text: str, expected: AssetRef | None) -> None:
    assert asset_ref(text) == expected


def test_git_properties_are_checked_not_guessed() -> None:
    clean = git_info({"azureml.git.commit": world.PREP_SHA.upper(), "azureml.git.dirty": "False",
                      "azureml.git.repository_uri": "https://oauth2:ghp_s3cr3t@github.com/NathanSegers/MLOps-2.0.git"})
    assert (clean.sha, clean.repo, clean.dirty, clean.problems) == (world.PREP_SHA, world.REPO, False, ())
    mlflow_only = git_info({"mlflow.source.git.commit": world.PREP_SHA,
                            "mlflow.source.git.repoURL": "git@github.com:nathansegers/mlops-2.0.git"})
    assert (mlflow_only.sha, mlflow_only.repo) == (world.PREP_SHA, world.REPO)
    short = git_info({"azureml.git.commit": "5b7e2c9", "azureml.git.repository_uri": world.REPO})
    assert short.sha is None and "short SHAs" in short.problems[0]
    no_repo = git_info({"azureml.git.commit": world.PREP_SHA})
    assert no_repo.repo is None and "azureml.git.repository_uri is not" in no_repo.problems[0]
    local = git_info({"azureml.git.commit": world.PREP_SHA, "azureml.git.repository_uri": "/home/ava/mlops"})
    assert local.repo is None and "not a repository URL" in local.problems[0]
    leaked = git_info({"azureml.git.commit": world.PREP_SHA,
                       "azureml.git.repository_uri": "https://user:s3cr3t@/nowhere"})
    assert "s3cr3t" not in leaked.problems[0] and "***@" in leaked.problems[0]
    split = git_info({"azureml.git.commit": world.PREP_SHA, "mlflow.source.git.commit": world.LAPTOP_SHA,
                      "azureml.git.repository_uri": world.REPO})
    assert split.sha == world.PREP_SHA and "disagree" in split.problems[0]


def test_a_job_without_a_usable_commit_gets_no_link_and_a_warning() -> None:
    job = CommandJob(name="quick_test_1", command="python t.py", environment="azureml:env:1",
                     properties={"azureml.git.commit": world.PREP_SHA}, status="Completed",
                     creation_context=world.created("2026-11-19T08:00:00Z"))
    mapped = job_event(job, [], world.WORKSPACE, catalog().resolve, TIME)
    assert not edges([mapped.event], "ran_code")
    assert mapped.warnings == ["job quick_test_1: azureml.git.commit is set but azureml.git.repository_uri is not: "
                               "a commit is identified by repository and SHA"]


def test_latest_is_resolved_as_of_the_job_and_an_unknown_label_is_a_warning() -> None:
    def job(name: str, path: str, when: str | None) -> CommandJob:
        return CommandJob(name=name, command="python t.py", environment="azureml:env:1",
                          inputs={"raw": Input(type="uri_folder", path=path)}, status="Completed",
                          creation_context=world.created(when) if when else None)

    resolve = catalog().resolve
    october = job_event(job("october", "azureml:green-taxi-data@latest", "2026-10-15T00:00:00Z"), [],
                        world.WORKSPACE, resolve, TIME)
    assert edges([october.event], "consumed") == [
        ("october", "green-taxi-data:4", {"input": "raw", "requested_as": "latest",
                                          "resolved": "as of the job's creation"})]
    undated = job_event(job("undated", "azureml:green-taxi-data@latest", None), [], world.WORKSPACE, resolve, TIME)
    assert edges([undated.event], "consumed")[0][1:] == (
        "green-taxi-data:6", {"input": "raw", "requested_as": "latest", "resolved": "at collection"})
    unknown = job_event(job("unknown", "azureml:no-such-data@latest", "2026-11-01T00:00:00Z"), [],
                        world.WORKSPACE, resolve, TIME)
    assert not edges([unknown.event], "consumed")
    assert unknown.warnings == ["job unknown: cannot tell which version of no-such-data@latest it read (no such "
                                "asset or label in the workspace); the input is kept on the job only"]
    assert unknown.event["nodes"][0]["props"]["inputs"] == {"raw": "no-such-data@latest"}
    calls: list[tuple[str, str]] = []

    def fallback(name: str, label: str, as_of: Any) -> Resolution:
        calls.append((name, label))
        return Resolution("11", "at collection")

    model_input = CommandJob(name="scoring", command="python s.py", environment="azureml:env:1",
                             inputs={"model": Input(type="mlflow_model", path="azureml:taxi-model@latest"),
                                     "mode": "fast:mode"}, status="Completed")
    scored = job_event(model_input, [], world.WORKSPACE, fallback, TIME)
    assert not edges([scored.event], "consumed") and calls == []  # a model input, a plain parameter
    assert scored.event["nodes"][0]["props"]["parameters"] == {"mode": "fast:mode"}


def test_a_model_registered_from_files_has_no_producing_job() -> None:
    uploaded = Model(name="taxi-baseline", version="1", type="custom_model", path="./model.pkl")
    mapped = model_event(uploaded, world.WORKSPACE, TIME)
    assert not mapped.event["edges"] and mapped.event["nodes"][0]["props"]["type"] == "custom_model"


def test_deployment_revisions_change_with_what_runs_not_with_scale() -> None:
    endpoint, [blue] = world.online()
    first = revision(blue, world.API_IMAGE)
    blue.instance_count = 5
    assert revision(blue, world.API_IMAGE) == first  # scaling is not a new revision
    blue.model = f"{world.ARM}/models/taxi-model/versions/4"
    assert revision(blue, world.API_IMAGE) != first
    tagged = ManagedOnlineDeployment(name="green", endpoint_name="taxi-fare-online", model="azureml:taxi-model:4",
                                     environment=Environment(image="ghcr.io/nathansegers/azure-mlops-api:v1.2.4"),
                                     instance_type="Standard_DS3_v2", instance_count=1)
    mapped, state = deployment_event(endpoint, tagged, platform=ONLINE, workspace=world.WORKSPACE,
                                     image="ghcr.io/nathansegers/azure-mlops-api:v1.2.4", time=TIME)
    assert not edges([mapped.event], "runs_image")  # a tag alone names no image node
    node = mapped.event["nodes"][0]
    assert node["props"]["image"] == "ghcr.io/nathansegers/azure-mlops-api:v1.2.4"
    assert "environment_asset" not in node["props"] and "traffic" not in node["props"]  # no traffic yet
    assert state.api is None and image_digest(world.API_IMAGE) == world.API_DIGEST
    ended = ended_event(state, "2026-11-21T08:00:00Z", world.WORKSPACE, TIME).event
    assert ended["nodes"] == [{"kind": "deployment", "key": state.key, "props": {"active_to": "2026-11-21T08:00:00Z"}}]


def ingest_world(store: GraphStore) -> None:
    result = ingest(store, validate_all([m.event for m in world_mapped()]))
    assert not result.failed


def test_trace_of_the_model_reaches_the_jobs_the_data_and_the_commit(store: GraphStore) -> None:
    ingest_world(store)
    answer = answers.lineage(store, Direction.UPSTREAM, "model", "taxi-model:3")
    found = {(n["kind"], n["label"]) for n in answer["nodes"]}
    train, prep = world.STEPS["train_model"], world.STEPS["prep_data"]
    assert {("job", f"azureml/{train}"), ("job", f"azureml/{world.PIPELINE}"), ("job", f"azureml/{prep}"),
            ("dataset", "taxi-train-data:8"), ("dataset", "green-taxi-data:5"), ("dataset", "yellow-taxi-data:3"),
            ("commit", world.PREP_SHA[:7]), ("repo", "github.com/nathansegers/mlops-2.0")} <= found
    assert ("dataset", "green-taxi-data:6") not in found
    by_id = {n["id"]: n for n in answer["nodes"]}
    latest = [e for e in answer["edges"]
              if e["kind"] == "consumed" and by_id[e["target"]]["label"] == "green-taxi-data:5"]
    assert latest and all(e["props"]["requested_as"] == "latest" for e in latest)
    assert {e["props"]["evidence"] for e in latest} == {"observed"}
    assert [c["sha"] for c in answer["summary"]["commits"]] == [world.PREP_SHA]
    assert not [w for w in answer["warnings"] if "dirty" in w]


def test_a_dirty_job_shows_in_the_trace_warnings(store: GraphStore) -> None:
    ingest_world(store)
    answer = answers.lineage(store, Direction.UPSTREAM, "model", "taxi-model:4")
    assert f"job azureml/{world.DIRTY_JOB} ran from a dirty working tree (azureml.git.dirty): its commit does not " \
           f"fully describe the code" in answer["warnings"]
    [job] = [j for j in answer["summary"]["jobs"] if j["label"] == f"azureml/{world.DIRTY_JOB}"]
    assert job["dirty"] is True


def test_the_api_on_the_online_endpoint_traces_to_the_training_commit(store: GraphStore) -> None:
    ingest_world(store)
    answer = answers.lineage(store, Direction.UPSTREAM, "api", "taxi-fare-online@v1.2.3")
    labels = {n["label"] for n in answer["nodes"]}
    assert {"taxi-fare-online/blue#" + revision(world.online()[1][0], world.API_IMAGE), "taxi-model:3",
            "green-taxi-data:5", world.PREP_SHA[:7]} <= labels
    impact = answers.lineage(store, Direction.DOWNSTREAM, "dataset", "green-taxi-data:5")
    assert {"taxi-model:3", "taxi-fare-online v1.2.3"} <= {n["label"] for n in impact["nodes"]}
