"""The Azure ML collector through the SDK's own HTTP path, against a local server (``tests/azureml_server.py``).

``MLClient`` is real and unpatched: it reads the cloud's endpoints from ``ARM_CLOUD_METADATA_URL``
(the mechanism Azure Stack uses), sends a bearer token from a ``TokenCredential`` (a fixed one here)
over TLS (a self-signed certificate the test trusts through ``REQUESTS_CA_BUNDLE``), pages through
``nextLink``, follows the workspace's discovery URL to run history for a pipeline's steps, and
parses every response into its own entities, which the collector maps. Plain HTTP does not work:
the SDK's workspace, job and model clients refuse to send a bearer token to a non-HTTPS URL
("Bearer token authentication is not permitted for non-TLS protected (non-https) URLs"); only the
clients that ``MLClient`` builds with ``enforce_https`` derived from the base URL accept it.

The responses are written after the Azure ML REST API; the server answers 401 without the token,
and ``fail`` makes one path answer an error, to check what a partial failure does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from collectors import create
from collectors.azureml import AzureMLCollector, AzureMLConfig
from collectors.base import CollectorError
from lineage_service.collect import run_into_store
from lineage_service.query import answers
from lineage_service.store.base import Direction, GraphStore
from tests import azureml_world as world
from tests.azureml_server import (
    RG,
    WS,
    WS_PATH,
    AzureML,
    FixedToken,
    certificate,
    child_run,
    data,
    local_azureml,
    model,
    online_deployment,
)

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning")]  # the SDK's marshmallow schemas
Json = dict[str, Any]


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def server(pem: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[AzureML, str]]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pem))
    # MLClient writes the cloud it uses into this variable; monkeypatch puts the old value back.
    monkeypatch.setenv("AZUREML_CURRENT_CLOUD", "AzureCloud")
    with local_azureml(pem) as (state, url):
        monkeypatch.setenv("ARM_CLOUD_METADATA_URL", f"{url}/metadata")
        yield state, url


def collector(state: AzureML, credential: Any = None, **config: Any) -> AzureMLCollector:
    settings = AzureMLConfig(subscription_id=world.SUBSCRIPTION, resource_group=RG, workspace=WS, cloud=state.cloud,
                             **config)
    return AzureMLCollector(settings, credential=credential or FixedToken())


def read(state: AzureML, cursor: str | None = None, **config: Any) -> tuple[list[Json], AzureMLCollector]:
    found = collector(state, **config)
    return list(found.collect(cursor)), found


def by_kind(events: list[Json], kind: str) -> list[tuple[Json, Json, Json]]:
    return [(e["source"]["key"], e["target"]["key"], e.get("props", {}))
            for event in events for e in event["edges"] if e["kind"] == kind]


def node(events: list[Json], kind: str, **key: str) -> Json:
    merged: Json = {}
    for event in events:
        for found in event["nodes"]:
            if found["kind"] == kind and all(found["key"].get(k) == v for k, v in key.items()):
                merged = {**found, "props": {**merged.get("props", {}), **found.get("props", {})}}
    return merged


def test_the_workspace_read_through_mlclient(server: tuple[AzureML, str]) -> None:
    state, _ = server
    events, found = read(state)
    report = found.report
    assert report.failures == [] and report.seen == 14, report.as_dict()  # 5 versions, 5 jobs, 2 models, 2
    assert report.warnings == [f"job {world.DIRTY_JOB} ran from a dirty working tree (azureml.git.dirty=True): its "
                               f"code is not exactly commit 05ee055"]
    # The SDK asked for what the collector needs, each call with the token, jobs over two pages.
    assert state.requests.count(f"{WS_PATH}/jobs") == 2
    assert f"/history/v1.0{WS_PATH}/runs/{world.PIPELINE}/children" in state.requests
    assert set(state.tokens) == {"Bearer local-test-token"}
    pipeline = node(events, "job", id=world.PIPELINE)["props"]
    assert (pipeline["type"], pipeline["status"], pipeline["experiment"]) == ("pipeline", "Completed",
                                                                              "taxi-fare-regression")
    assert pipeline["created_at"] == "2026-11-04T07:45:00Z" and "compute" not in pipeline
    consumed = {(s["id"], t["name"], t["version"]): p for s, t, p in by_kind(events, "consumed")}
    prep, train = world.STEPS["prep_data"], world.STEPS["train_model"]
    # The service kept the label as submitted: resolved as of the job's creation (6 came later).
    assert consumed[(world.PIPELINE, "green-taxi-data", "5")] == {
        "input": "green_taxi_data", "requested_as": "latest", "resolved": "as of the job's creation"}
    assert consumed[(world.PIPELINE, "yellow-taxi-data", "3")] == {"input": "yellow_taxi_data"}  # an ARM id
    assert consumed[(prep, "green-taxi-data", "5")]["requested_as"] == "latest"
    assert consumed[(train, "taxi-train-data", "8")] == {"input": "train_data"}
    assert consumed[(world.DIRTY_JOB, "taxi-train-data", "8")] == {"input": "train_data"}
    assert (["taxi-train-data", "8"], prep) in [([s["name"], s["version"]], t["id"])
                                                for s, t, _ in by_kind(events, "produced_by")]
    step = node(events, "job", id=train)["props"]
    # Run history names the experiment by id and has no job type: the pipeline's are used.
    assert (step["step"], step["experiment"], step["type"], step["compute"]) == (
        "train_model", "taxi-fare-regression", "command", "cpu-cluster")
    assert sorted(s["id"] for s, _, _ in by_kind(events, "part_of")) == sorted([prep, train])
    commits = {(s["id"], t["sha"]) for s, t, _ in by_kind(events, "ran_code")}
    assert {(world.PIPELINE, world.PREP_SHA), (prep, world.PREP_SHA), (world.DIRTY_JOB, world.LAPTOP_SHA)} <= commits
    assert node(events, "job", id=world.DIRTY_JOB)["props"]["dirty"] is True
    models = {(s["version"], t["id"]) for s, t, _ in by_kind(events, "produced_by") if "version" in s and
              s["name"] == "taxi-model"}
    assert models == {("3", train), ("4", world.DIRTY_JOB)}
    assert node(events, "model", name="taxi-model", version="3")["props"]["registered_at"] == "2026-11-04T07:58:00Z"
    # Deployments: the image from the environment asset, pinned by digest; the API from its variables.
    blue = node(events, "deployment", platform="azureml-online")
    assert blue["props"]["image"] == world.API_IMAGE and blue["props"]["environment_asset"] == "taxi-serve-env:1"
    assert blue["props"]["active_from"] == "2026-11-12T09:30:00Z" and blue["props"]["traffic"] == 100
    assert [t["digest"] for _, t, _ in by_kind(events, "runs_image")] == [world.API_DIGEST]
    assert [s for s, _, _ in by_kind(events, "served_by")] == [{"service": "taxi-fare-online", "version": "v1.2.3"}]
    nightly = node(events, "deployment", platform="azureml-batch")
    assert nightly["props"]["image"] == "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest"
    assert nightly["props"]["compute"].endswith("/computes/cpu-cluster") and nightly["props"]["model"] == (
        "taxi-model:3")
    assert "do-not-copy-me" not in json.dumps(events) and "local-test-token" not in json.dumps(events)
    cursor = json.loads(found.cursor or "")
    assert cursor["jobs"]["newest"] == "2026-11-18T16:02:00Z" and cursor["jobs"]["open"] == {}
    assert cursor["data"]["green-taxi-data"] == ["4", "5", "6"] and cursor["models"] == {"taxi-model": ["3", "4"]}


def test_into_a_store_then_only_what_is_new(server: tuple[AzureML, str], store: GraphStore) -> None:
    state, _ = server
    first = run_into_store(collector(state), store)
    assert first.ok and first.cursor_saved and first.delivered.accepted == first.report.emitted == 10
    trace = answers.lineage(store, Direction.UPSTREAM, "model", "taxi-model:3")
    labels = {n["label"] for n in trace["nodes"]}
    assert {f"azureml/{world.STEPS['train_model']}", f"azureml/{world.PIPELINE}", "green-taxi-data:5",
            "taxi-train-data:8", world.PREP_SHA[:7]} <= labels

    quiet = run_into_store(collector(state), store)
    assert quiet.ok and (quiet.report.emitted, quiet.report.seen, quiet.delivered.accepted) == (0, 0, 0)
    requests = len(state.requests)

    state.data["green-taxi-data"].append(data("green-taxi-data", "7", "2026-11-19T00:00:00Z"))
    state.models["taxi-model"].append(model("5", "calm_sea_8", "2026-11-19T09:00:00Z"))
    retrain = {**state.jobs[1], "name": "calm_sea_8", "id": f"{WS_PATH}/jobs/calm_sea_8",
               "systemData": {**state.jobs[1]["systemData"], "createdAt": "2026-11-19T08:00:00Z"}}
    state.jobs.insert(0, retrain)
    state.children["calm_sea_8"] = [child_run("prep_data", "0aa1", "2026-11-19T08:01:00Z")]
    third = run_into_store(collector(state), store)
    assert third.ok and third.report.emitted == 3, third.as_dict()  # the version, the job, the model
    assert f"{WS_PATH}/data/yellow-taxi-data/versions" not in state.requests[requests:]  # nothing new there
    newest = answers.lineage(store, Direction.UPSTREAM, "model", "taxi-model:5")
    by_id = {n["id"]: n["label"] for n in newest["nodes"]}
    latest = [e for e in newest["edges"] if e["kind"] == "consumed" and by_id[e["target"]].startswith("green")]
    assert {by_id[e["target"]] for e in latest} == {"green-taxi-data:7"}  # the latest when calm_sea_8 was made


def test_an_unfinished_job_is_read_again_until_it_ends(server: tuple[AzureML, str]) -> None:
    state, _ = server
    state.jobs[0]["properties"]["status"] = "Running"
    _, first = read(state, endpoints=False)
    assert json.loads(first.cursor or "")["jobs"]["open"].keys() == {world.DIRTY_JOB}
    again, second = read(state, first.cursor, endpoints=False)
    assert again == [] and second.report.skipped >= 1  # unchanged: nothing to emit
    state.jobs[0]["properties"]["status"] = "Completed"
    done, third = read(state, second.cursor, endpoints=False)
    assert [e["nodes"][0]["props"]["status"] for e in done] == ["Completed"]
    assert json.loads(third.cursor or "")["jobs"]["open"] == {}
    assert read(state, third.cursor, endpoints=False)[0] == []


def test_one_unreadable_job_or_endpoint_is_a_failure_and_the_rest_is_read(server: tuple[AzureML, str]) -> None:
    state, _ = server
    state.jobs.insert(0, {"id": f"{WS_PATH}/jobs/odd_sweep", "name": "odd_sweep", "type": "jobs",
                          "systemData": {"createdAt": "2026-11-19T00:00:00Z"},
                          "properties": {"jobType": "Sweep", "status": "Completed", "properties": {}}})
    # Statuses the SDK does not retry (it retries 408, 429 and 5xx with backoff, which would only slow this down).
    state.fail[f"/history/v1.0{WS_PATH}/runs/{world.PIPELINE}/children"] = 400
    state.fail[f"{WS_PATH}/onlineEndpoints/taxi-fare-online/deployments"] = 404
    events, found = read(state)
    failures = {f.item: f.error for f in found.report.failures}
    assert set(failures) == {"a job", f"job {world.PIPELINE}", "endpoint taxi-fare-online"}, failures
    assert "could not parse" in failures["a job"]
    assert "broken today" in failures[f"job {world.PIPELINE}"]
    # Everything else is there, the pipeline without its steps, and it is read again next time.
    assert node(events, "job", id=world.PIPELINE)["props"]["status"] == "Completed"
    assert node(events, "job", id=world.DIRTY_JOB) and node(events, "deployment", platform="azureml-batch")
    assert not node(events, "deployment", platform="azureml-online")
    cursor = json.loads(found.cursor or "")
    assert world.PIPELINE in cursor["jobs"]["open"]
    state.fail.clear()
    del state.jobs[0]  # the job the SDK cannot parse
    later, again = read(state, found.cursor)
    assert again.report.failures == []
    assert {s["id"] for s, _, _ in by_kind(later, "part_of")} == set(world.STEPS.values()) & {
        world.STEPS["prep_data"], world.STEPS["train_model"]}
    assert node(later, "deployment", platform="azureml-online")
    assert not node(later, "job", id=world.DIRTY_JOB)  # read in full before: not read again


def test_a_failed_page_keeps_the_cursor_where_it_was(server: tuple[AzureML, str]) -> None:
    state, _ = server
    _, first = read(state, endpoints=False)
    state.jobs.insert(0, {**state.jobs[0], "name": "late_job", "id": f"{WS_PATH}/jobs/late_job",
                          "systemData": {**state.jobs[0]["systemData"], "createdAt": "2026-11-19T10:00:00Z"}})
    state.jobs.insert(0, {"id": f"{WS_PATH}/jobs/labels", "name": "labels", "type": "jobs",
                          "systemData": {"createdAt": "2026-11-19T11:00:00Z"},
                          "properties": {"jobType": "Labeling", "status": "Running", "properties": {}}})
    _, second = read(state, first.cursor, endpoints=False)
    [failure] = second.report.failures
    assert failure.item == "jobs" and "Unsupported job type Labeling" in failure.error
    # The SDK stops at the page it cannot parse: late_job was not read, so the horizon stays.
    assert json.loads(second.cursor or "")["jobs"] == json.loads(first.cursor or "")["jobs"]


def test_a_new_revision_ends_the_old_one_and_a_removed_deployment_ends(server: tuple[AzureML, str],
                                                                       store: GraphStore) -> None:
    state, _ = server
    assert run_into_store(collector(state), store).ok
    state.online["taxi-fare-online"] = [online_deployment("blue", model_version="4", api_version="v1.2.4",
                                                          modified="2026-11-21T08:00:00Z")]
    state.batch["taxi-fare-batch"] = []
    result = run_into_store(collector(state), store)
    assert result.ok and result.report.emitted == 3, result.as_dict()  # the new revision, two ends
    deployments = {n.key["revision"]: n for n in store.find_nodes("deployment", limit=10)}
    ended = [n for n in deployments.values() if n.props.get("active_to")]
    assert sorted(n.key["platform"] for n in ended) == ["azureml-batch", "azureml-online"]
    [old_blue] = [n for n in ended if n.key["platform"] == "azureml-online"]
    assert old_blue.props["active_to"] == "2026-11-21T08:00:00Z"
    live = answers.lineage(store, Direction.UPSTREAM, "api", "taxi-fare-online@v1.2.4")
    assert "taxi-model:4" in {n["label"] for n in live["nodes"]}
    before = answers.lineage(store, Direction.DOWNSTREAM, "model", "taxi-model:3")
    assert any(d["label"].startswith("taxi-fare-online/blue#") for d in before["summary"]["live"]["historical"])


def test_the_whole_source_unreadable_names_the_fix(server: tuple[AzureML, str]) -> None:
    state, _ = server

    class WrongToken(FixedToken):
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            token = super().get_token(*scopes)
            return type(token)("expired-token", token.expires_on)

    with pytest.raises(CollectorError, match=r"cannot authenticate to Azure .*az login") as denied:
        list(collector(state, credential=WrongToken()).collect(None))
    assert "expired-token" not in str(denied.value)
    missing = AzureMLConfig(subscription_id=world.SUBSCRIPTION, resource_group=RG, workspace="mlw-typo",
                            cloud=state.cloud)
    with pytest.raises(CollectorError, match=r"workspace 'mlw-typo' not found in resource group 'rg-mlops-prod'"):
        list(AzureMLCollector(missing, credential=FixedToken()).collect(None))
    state.fail[WS_PATH] = 403
    with pytest.raises(CollectorError, match=r"not allowed to read workspace 'mlw-taxi-prod'.*reader role"):
        list(collector(state).collect(None))
    # Access that ends part-way (a role on the workspace, none on its data) stops the run too.
    state.fail = {f"{WS_PATH}/data/green-taxi-data/versions": 403}
    with pytest.raises(CollectorError, match=r"not allowed to read workspace"):
        list(collector(state).collect(None))


def test_a_cursor_of_another_workspace_or_filter_reads_everything(server: tuple[AzureML, str]) -> None:
    state, _ = server
    _, first = read(state, endpoints=False)
    cursor = json.loads(first.cursor or "")
    other = json.dumps({**cursor, "workspace": "someone/else/ws"})
    events, found = read(state, other, endpoints=False)
    assert node(events, "job", id=world.PIPELINE) and "not " + found.workspace.name not in found.report.warnings[0]
    assert "is for workspace someone/else/ws" in found.report.warnings[0]
    filtered, narrowed = read(state, first.cursor, endpoints=False, experiments=["taxi-data-drift"])
    assert [e["nodes"][0]["key"]["id"] for e in filtered if e["id"].startswith("azureml-mlw-taxi-prod-job")] == [
        "drift_check_2p1"]
    assert "experiments filter changed" in narrowed.report.warnings[0]


def test_registry_and_cli(server: tuple[AzureML, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state, _ = server
    made = create("azureml", {"subscription_id": world.SUBSCRIPTION, "resource_group": RG, "workspace": WS})
    assert isinstance(made, AzureMLCollector) and made.config.endpoints
    runner, uri = CliRunner(), f"sqlite:///{tmp_path / 'cli.db'}"
    env = {"LINEAGE_URL": "", "AZURE_SUBSCRIPTION_ID": world.SUBSCRIPTION,
           # DefaultAzureCredential, limited to the environment (empty here): it fails at once.
           "AZURE_TOKEN_CREDENTIALS": "EnvironmentCredential", "AZURE_CLIENT_SECRET": "", "AZURE_CLIENT_ID": ""}
    usage = runner.invoke(app, ["collect", "azureml", "--resource-group", RG, "--store", uri], env=env)
    assert usage.exit_code == 2 and "--workspace" in usage.output
    typo = runner.invoke(app, ["collect", "azureml", "-g", RG, "-w", WS, "--since", "last tuesday", "--store", uri],
                         env=env)
    assert typo.exit_code == 2 and "--since" in typo.output
    denied = runner.invoke(app, ["collect", "azureml", "-g", RG, "-w", WS, "--cloud", state.cloud, "--store", uri,
                                 "--format", "json"], env=env)
    assert denied.exit_code == 1, denied.output
    [source] = json.loads(denied.stdout)["sources"]
    assert source["collector"] == "azureml" and "az login" in source["error"] and not source["cursor_saved"]
