"""OpenLineage events, built and serialised by the real client, land in the graph as the contract says.

Every event here is made with ``openlineage.client`` classes and serialised with ``Serde.to_json``,
exactly what the client's HttpTransport posts, then parsed, translated, validated by
``parse_event`` and ingested into a real store.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openlineage.client.event_v2 import (
    DatasetEvent,
    InputDataset,
    Job,
    JobEvent,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
    StaticDataset,
)
from openlineage.client.facet_v2 import (
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    parent_run,
    source_code_location_job,
    tags_job,
)
from openlineage.client.serde import Serde

from graph_schema.events import parse_event
from graph_schema.kinds import NodeKind, node_id
from lineage_service.ingest import IngestResult, ingest
from lineage_service.openlineage import OpenLineageRejected, TranslatedEvent, translate
from lineage_service.store.base import Direction, Edge, GraphStore, Node

SHA = "05ee055698af2171294615a1e423f71f4098628e"
REPO = "https://github.com/nathansegers/mlops-2.0"
NAMESPACE = "azureml"
DATA_NAMESPACE = "azureml://subscriptions/0000/resourcegroups/mlops/workspaces/mlops-ws"
RUN_ID = "5b8c1f2e-7a43-4d0e-9c61-2f6a8e3b9d10"  # the train step of pipeline bold_river_4t6w9p3m1s
PARENT_RUN_ID = "0d9e4c7a-3b21-4f85-a6d2-8c1b5e7f9a03"
PRODUCER = "https://github.com/nathansegers/mlops-2.0/tree/main/lineage"
T_START, T_END = "2026-11-10T14:20:00Z", "2026-11-10T14:50:00Z"

Json = dict[str, Any]


def version(value: str) -> dict[str, Any]:
    return {"version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=value)}


def code(**overrides: str) -> source_code_location_job.SourceCodeLocationJobFacet:
    fields = {"type": "git", "url": f"{REPO}/blob/{SHA}/src/train.py", "repoUrl": f"{REPO}.git", "version": SHA,
              **overrides}
    return source_code_location_job.SourceCodeLocationJobFacet(
        type=fields["type"], url=fields["url"], repoUrl=fields["repoUrl"], version=fields["version"], branch="main")


def run_event(event_type: RunState | None = RunState.COMPLETE, *, time: str = T_END, run_id: str = RUN_ID,
              job_facets: dict[str, Any] | None = None, run_facets: dict[str, Any] | None = None,
              inputs: list[InputDataset] | None = None, outputs: list[OutputDataset] | None = None) -> RunEvent:
    """The train step of the Azure ML pipeline: reads green-taxi-data:5, writes taxi-train-data:5."""
    if job_facets is None:
        job_facets = {"sourceCodeLocation": code(),
                      "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="AZUREML",
                                                              jobType="COMMAND")}
    if run_facets is None:
        run_facets = {"parent": parent_run.ParentRunFacet(
            run=parent_run.Run(runId=PARENT_RUN_ID), job=parent_run.Job(namespace=NAMESPACE,
                                                                         name="bold_river_4t6w9p3m1s"))}
    return RunEvent(
        eventType=event_type, eventTime=time, producer=PRODUCER,
        run=Run(runId=run_id, facets=run_facets),
        job=Job(namespace=NAMESPACE, name="bold_river_4t6w9p3m1s_train_model", facets=job_facets),
        inputs=[InputDataset(namespace=DATA_NAMESPACE, name="green-taxi-data", facets=version("5"))]
        if inputs is None else inputs,
        outputs=[OutputDataset(namespace=DATA_NAMESPACE, name="taxi-train-data", facets=version("5"))]
        if outputs is None else outputs,
    )


def posted(event: RunEvent | DatasetEvent | JobEvent) -> Json:
    """The event as the server receives it: what HttpTransport.emit sends, parsed back."""
    data: Json = json.loads(Serde.to_json(event))
    return data


def send(store: GraphStore, event: RunEvent | DatasetEvent | JobEvent) -> tuple[TranslatedEvent, IngestResult]:
    translated = translate(posted(event))
    assert translated.event is not None
    return translated, ingest(store, [parse_event(translated.event)])


def job_id(run_id: str = RUN_ID) -> str:
    return node_id(NodeKind.JOB, {"system": NAMESPACE, "id": run_id})


def dataset_id(name: str, ver: str) -> str:
    return node_id(NodeKind.DATASET, {"name": name, "version": ver})


def commit_id(repo: str = REPO) -> str:
    return node_id(NodeKind.COMMIT, {"repo": repo, "sha": SHA})


def node(store: GraphStore, nid: str) -> Node:
    found = store.get_nodes([nid])
    assert found, f"node {nid} not in the store"
    return found[0]


def edge(store: GraphStore, source: str, kind: str, target: str) -> Edge:
    upstream, _ = store.neighbours(source)
    found = [e for e in upstream if e.kind == kind and e.target == target]
    assert found, f"no {kind} edge from {source} to {target}; edges: {[(e.kind, e.target) for e in upstream]}"
    return found[0]


# The graph ---------------------------------------------------------------------------------------


def test_a_run_event_becomes_the_job_its_data_its_code_and_its_pipeline(store: GraphStore) -> None:
    translated, result = send(store, run_event())

    assert translated.kind == "run" and translated.notes == ()
    assert translated.event is not None and result.accepted == [translated.event["id"]]
    job = node(store, job_id())
    assert job.key == {"system": "azureml", "id": RUN_ID}
    assert job.props["display_name"] == "bold_river_4t6w9p3m1s_train_model"
    assert job.props["status"] == "completed"
    assert job.props["type"] == "command" and job.props["integration"] == "AZUREML"
    assert job.props["producer"] == PRODUCER and job.props["ended_at"] == "2026-11-10T14:50:00+00:00"
    assert job.props["source_code"]["branch"] == "main"
    assert job.sources == ["openlineage"]

    consumed = edge(store, job_id(), "consumed", dataset_id("green-taxi-data", "5"))
    assert consumed.evidence == "observed"
    edge(store, dataset_id("taxi-train-data", "5"), "produced_by", job_id())
    edge(store, job_id(), "ran_code", commit_id())
    edge(store, job_id(), "part_of", job_id(PARENT_RUN_ID))

    data = node(store, dataset_id("green-taxi-data", "5"))
    assert data.props == {"namespace": DATA_NAMESPACE, "uri": f"{DATA_NAMESPACE}/green-taxi-data"}
    pipeline = node(store, job_id(PARENT_RUN_ID))
    assert pipeline.props == {"display_name": "bold_river_4t6w9p3m1s", "namespace": "azureml"}


def test_the_produced_dataset_traces_back_to_the_commit_and_the_data_it_came_from(store: GraphStore) -> None:
    send(store, run_event())

    walked = store.walk([dataset_id("taxi-train-data", "5")], Direction.UPSTREAM, depth=3)

    reached = {n.id for n in walked.nodes}
    assert {commit_id(), dataset_id("green-taxi-data", "5"), job_id(), job_id(PARENT_RUN_ID)} <= reached


@pytest.mark.parametrize("facet", [
    code(repoUrl="git@github.com:NathanSegers/mlops-2.0.git"),
    code(repoUrl=""),  # no repoUrl: the browse URL of the file names the repository
    code(repoUrl="", url=f"{REPO}/tree/main/src"),
], ids=["ssh-repo-url", "blob-url", "tree-url"])
def test_the_commit_repository_is_canonical_however_the_facet_spells_it(
        store: GraphStore, facet: source_code_location_job.SourceCodeLocationJobFacet) -> None:
    send(store, run_event(job_facets={"sourceCodeLocation": facet}))

    assert node(store, commit_id()).key == {"repo": REPO, "sha": SHA}
    edge(store, job_id(), "ran_code", commit_id())


def test_the_job_namespace_is_canonicalised_and_kept_as_sent(store: GraphStore) -> None:
    event = run_event()
    event.job.namespace = "AzureML"
    send(store, event)

    assert node(store, job_id()).props["namespace"] == "AzureML"


# Delivery and state -----------------------------------------------------------------------------


def test_a_retried_delivery_changes_nothing(store: GraphStore) -> None:
    event = run_event()
    first, applied = send(store, event)
    before = store.stats()

    again = translate(posted(event))  # serialised anew, as the client's retry does
    reordered = translate(dict(reversed(list(posted(event).items()))))
    assert first.event and again.event and reordered.event
    retried = ingest(store, [parse_event(again.event)])

    assert again.event["id"] == first.event["id"] == reordered.event["id"]
    assert retried.accepted == [] and retried.duplicates == [first.event["id"]]
    assert applied.accepted == [first.event["id"]]
    assert store.stats() == before


def test_different_events_of_one_run_are_all_kept(store: GraphStore) -> None:
    start, _ = send(store, run_event(RunState.START, time=T_START))
    complete, _ = send(store, run_event(RunState.COMPLETE, time=T_END))

    assert start.event and complete.event and start.event["id"] != complete.event["id"]
    assert start.event["id"].startswith("ol-start-") and complete.event["id"].startswith("ol-complete-")


def test_start_then_complete_updates_the_status(store: GraphStore) -> None:
    send(store, run_event(RunState.START, time=T_START))
    assert node(store, job_id()).props["status"] == "running"

    send(store, run_event(RunState.COMPLETE, time=T_END))

    props = node(store, job_id()).props
    assert props["status"] == "completed"
    assert props["started_at"] == "2026-11-10T14:20:00+00:00" and props["ended_at"] == "2026-11-10T14:50:00+00:00"


def test_a_late_start_does_not_undo_the_completion(store: GraphStore) -> None:
    send(store, run_event(RunState.COMPLETE, time=T_END))
    send(store, run_event(RunState.START, time=T_START))  # delivered late; it happened first

    assert node(store, job_id()).props["status"] == "completed"


def test_a_failure_keeps_the_error_message(store: GraphStore) -> None:
    failure = error_message_run.ErrorMessageRunFacet(message="FileNotFoundError: taxi-train-data",
                                                     programmingLanguage="PYTHON")
    send(store, run_event(RunState.FAIL, run_facets={"errorMessage": failure}))

    props = node(store, job_id()).props
    assert props["status"] == "failed" and props["error"] == "FileNotFoundError: taxi-train-data"


@pytest.mark.parametrize("event_type", [None, RunState.OTHER], ids=["no-eventType", "OTHER"])
def test_an_event_without_a_state_leaves_the_status_unchanged(store: GraphStore, event_type: RunState | None) -> None:
    send(store, run_event(RunState.START, time=T_START))
    metrics = OutputDataset(namespace=DATA_NAMESPACE, name="taxi-metrics", facets=version("1"))
    later = run_event(event_type, time="2026-11-10T14:30:00Z", outputs=[metrics])
    assert ("eventType" in posted(later)) is (event_type is not None)

    translated, _ = send(store, later)

    assert node(store, job_id()).props["status"] == "running"
    edge(store, dataset_id("taxi-metrics", "1"), "produced_by", job_id())
    assert any(note.startswith("eventType:") for note in translated.notes) is (event_type is None)


# What is approximated, skipped or not mapped ------------------------------------------------------


def test_a_dataset_without_a_version_is_recorded_as_unversioned(store: GraphStore) -> None:
    unversioned = OutputDataset(namespace=DATA_NAMESPACE, name="taxi-train-data")
    translated, _ = send(store, run_event(outputs=[unversioned]))

    data = node(store, dataset_id("taxi-train-data", "unversioned"))
    assert data.props["version_known"] is False
    edge(store, data.id, "produced_by", job_id())
    assert len(translated.notes) == 1 and translated.notes[0].startswith("outputs[0] (")


@pytest.mark.parametrize(("facet", "note"), [
    (code(version="05ee055"), "short SHAs are accepted in queries"),
    (code(version="v1.2.3"), "expected a full 40-character hexadecimal git SHA"),
    (code(type="svn", version=SHA), "is not git"),
    (code(repoUrl="", url="file:///builds/mlops-2.0/src/train.py"), "no usable repoUrl or url"),
], ids=["short-sha", "tag", "svn", "no-repository"])
def test_code_that_names_no_commit_is_kept_on_the_job_without_an_edge(
        store: GraphStore, facet: source_code_location_job.SourceCodeLocationJobFacet, note: str) -> None:
    translated, _ = send(store, run_event(job_facets={"sourceCodeLocation": facet}))

    assert node(store, job_id()).props["source_code"]["version"] == facet.version
    upstream, _ = store.neighbours(job_id())
    assert "ran_code" not in {e.kind for e in upstream}
    assert store.stats()["nodes"].get("commit", 0) == 0
    assert any(note in n and n.startswith("job.facets.sourceCodeLocation") for n in translated.notes)


def test_tags_of_job_and_run_are_kept(store: GraphStore) -> None:
    tags = tags_job.TagsJobFacet(tags=[tags_job.TagsJobFacetFields(key="git_sha", value=SHA)])
    send(store, run_event(job_facets={"tags": tags}))

    assert node(store, job_id()).props["tags"] == {"git_sha": SHA}


def test_a_dataset_event_becomes_a_dataset_node(store: GraphStore) -> None:
    event = DatasetEvent(eventTime=T_START, producer=PRODUCER, dataset=StaticDataset(
        namespace=DATA_NAMESPACE, name="green-taxi-data", facets=version("5")))

    translated, result = send(store, event)

    assert translated.kind == "dataset" and result.edges == 0
    assert node(store, dataset_id("green-taxi-data", "5")).props["namespace"] == DATA_NAMESPACE


def test_a_job_event_maps_to_nothing_and_says_why() -> None:
    event = JobEvent(eventTime=T_START, producer=PRODUCER,
                     job=Job(namespace=NAMESPACE, name="taxi-training-pipeline"),
                     inputs=[InputDataset(namespace=DATA_NAMESPACE, name="green-taxi-data", facets=version("5"))])

    translated = translate(posted(event))

    assert translated.kind == "job" and translated.event is None
    assert "azureml/taxi-training-pipeline" in translated.notes[0] and "no job version" in translated.notes[0]


# Malformed input ---------------------------------------------------------------------------------


def valid() -> Json:
    return posted(run_event())


def without(data: Json, *path: str) -> Json:
    data = copy.deepcopy(data)
    target = data
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return data


def with_(data: Json, path: tuple[str | int, ...], value: object) -> Json:
    data = copy.deepcopy(data)
    target: Any = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(("data", "problem"), [
    (without(valid(), "run", "runId"), "run.runId: required, a non-empty string"),
    (without(valid(), "job", "name"), "job.name: required, a non-empty string"),
    (with_(valid(), ("job", "name"), 42), "job.name: expected a string, got number"),
    (with_(valid(), ("run",), "5b8c1f2e"), "run: expected an object, got string"),
    (with_(valid(), ("job", "namespace"), "azure ml"), "job.namespace: expected a system name"),
    (with_(valid(), ("inputs",), {"name": "green-taxi-data"}), "inputs: expected an array of datasets, got object"),
    (with_(valid(), ("inputs", 0, "name"), "green taxi data"), "inputs[0].name: expected a dataset name"),
    (with_(valid(), ("outputs", 0, "facets", "version", "datasetVersion"), None),
     "outputs[0].facets.version.datasetVersion: required"),
    (with_(valid(), ("eventType",), "DONE"), "eventType: expected one of START, RUNNING, COMPLETE"),
    (with_(valid(), ("eventTime",), "2026-11-10T14:50:00"), "eventTime: needs a UTC offset"),
    (with_(valid(), ("eventTime",), "yesterday"), "eventTime: expected an ISO 8601 date-time"),
    (without(valid(), "run", "facets", "parent", "run"), "run.facets.parent.run: required, an object"),
    (with_(valid(), ("run", "facets", "parent", "job", "namespace"), ["azureml"]),
     "run.facets.parent.job.namespace: expected a string, got array"),
    ({"eventTime": T_END, "producer": PRODUCER}, "expected an OpenLineage RunEvent (run and job), DatasetEvent"),
    ([valid()], "expected an OpenLineage event as a JSON object, got array"),
], ids=lambda value: "" if isinstance(value, dict | list) else value.split(":")[0])
def test_malformed_events_are_rejected_naming_the_field(data: object, problem: str) -> None:
    with pytest.raises(OpenLineageRejected) as raised:
        translate(data)

    assert any(p.startswith(problem) for p in raised.value.problems), raised.value.problems
    assert isinstance(raised.value, ValueError) and problem in str(raised.value)


def test_every_problem_is_reported_at_once() -> None:
    data = with_(without(valid(), "run", "runId"), ("inputs", 0, "namespace"), 7)
    data = with_(data, ("run", "facets", "parent", "run", "runId"), "")

    with pytest.raises(OpenLineageRejected) as raised:
        translate(data)

    assert raised.value.problems == ["run.runId: required, a non-empty string",
                                     "inputs[0].namespace: expected a string, got number",
                                     "run.facets.parent.run.runId: required, a non-empty string"]


def paths(value: object, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found: list[tuple[str | int, ...]] = [prefix] if prefix else []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in items:
        found += paths(child, (*prefix, key))
    return found


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
VALID = valid()


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(paths(VALID)), value=JSON_VALUES)
def test_any_damage_is_either_rejected_clearly_or_yields_a_valid_lineage_event(
        path: tuple[str | int, ...], value: object) -> None:
    try:
        translated = translate(with_(VALID, path, value))
    except OpenLineageRejected as exc:
        assert exc.problems and all(": " in p for p in exc.problems)
        return
    if translated.event is not None:
        parse_event(translated.event)  # raises EventRejected if the translation broke the contract
