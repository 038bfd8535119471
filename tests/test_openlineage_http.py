"""OpenLineage over HTTP: the official client's HTTP transport against a running service."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import requests
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, JobEvent, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import dataset_version_dataset, parent_run, source_code_location_job
from openlineage.client.transport.http import HttpConfig, HttpTransport

from lineage_service.settings import Settings
from lineage_service.tokens import hash_token
from tests.servers import live_server

TOKEN = "openlineage-ingest-token-0123"
READ_TOKEN = "openlineage-read-token-01234"
SHA = "05ee055698af2171294615a1e423f71f4098628e"
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[str]:
    tokens = f"airflow ingest {hash_token(TOKEN)}\noncall read {hash_token(READ_TOKEN)}"
    with live_server(Settings(store=f"sqlite:///{tmp_path / 'lineage.db'}", tokens=tokens)) as url:  # type: ignore[arg-type]
        yield url


def transport(url: str, api_key: str = TOKEN, compression: str | None = "gzip") -> HttpTransport:
    config: dict[str, object] = {"url": url, "auth": {"type": "api_key", "apiKey": api_key},
                                 "retry": {"total": 0}}
    if compression:
        config["compression"] = compression
    return HttpTransport(HttpConfig.from_dict(config))


def training_step(state: RunState | None, run_id: str, parent_id: str) -> RunEvent:
    version = dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion="5")
    return RunEvent(
        eventType=state,  # type: ignore[arg-type]  # spec 2-0-2: optional
        eventTime=datetime(2026, 11, 4, 7, 50, tzinfo=UTC).isoformat(),
        producer=PRODUCER,
        run=Run(runId=run_id, facets={"parent": parent_run.ParentRunFacet(
            run=parent_run.Run(runId=parent_id),
            job=parent_run.Job(namespace="azureml", name="taxi-training-pipeline"))}),
        job=Job(namespace="azureml", name="train_model", facets={
            "sourceCodeLocation": source_code_location_job.SourceCodeLocationJobFacet(
                type="git", url="https://github.com/nathansegers/mlops-2.0", version=SHA,
                repoUrl="https://github.com/nathansegers/mlops-2.0.git")}),
        inputs=[InputDataset(namespace="azureml", name="green-taxi-data", facets={"version": version})],
        outputs=[OutputDataset(namespace="azureml", name="taxi-train-data", facets={
            "version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion="8")})],
    )


def trace(url: str, kind: str, ref: str) -> dict[str, object]:
    response = httpx.get(f"{url}/v1/trace", params={"kind": kind, "ref": ref},
                         headers={"authorization": f"Bearer {READ_TOKEN}"})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_the_official_client_feeds_the_graph_with_gzip_and_an_api_key(service: str) -> None:
    run_id, parent_id = str(uuid.uuid4()), str(uuid.uuid4())
    client = OpenLineageClient(transport=transport(service))
    client.emit(training_step(RunState.START, run_id, parent_id))
    response = transport(service).emit(training_step(RunState.COMPLETE, run_id, parent_id))
    assert response.status_code == 201

    answer = trace(service, "dataset", "taxi-train-data:8")
    labels = {node["label"] for node in answer["nodes"]}  # type: ignore[attr-defined]
    assert {f"azureml/{run_id}", f"azureml/{parent_id}", "green-taxi-data:5", SHA[:7]} <= labels
    job = next(n for n in answer["nodes"] if n["kind"] == "job" and n["key"]["id"] == run_id)  # type: ignore[attr-defined]
    assert job["props"]["status"] == "completed"  # COMPLETE, sent after START, wins
    kinds = {edge["kind"] for edge in answer["edges"]}  # type: ignore[attr-defined]
    assert {"produced_by", "consumed", "ran_code", "part_of"} <= kinds


def test_a_retried_delivery_changes_nothing(service: str) -> None:
    event = training_step(RunState.COMPLETE, str(uuid.uuid4()), str(uuid.uuid4()))
    first = transport(service, compression=None).emit(event).json()
    second = transport(service).emit(event).json()  # same event, now gzip-compressed
    assert (first["accepted"], first["duplicates"]) == (1, 0)
    assert (second["accepted"], second["duplicates"]) == (0, 1)


def test_events_without_event_type_are_accepted(service: str) -> None:
    response = transport(service).emit(training_step(None, str(uuid.uuid4()), str(uuid.uuid4())))
    assert response.status_code == 201


def test_a_job_event_is_accepted_with_a_note_and_stores_nothing(service: str) -> None:
    event = JobEvent(eventTime=datetime(2026, 11, 4, tzinfo=UTC).isoformat(), producer=PRODUCER,
                     job=Job(namespace="azureml", name="train_model"))
    response = transport(service).emit(event)
    assert response.status_code == 200
    assert response.json()["accepted"] == 0 and response.json()["notes"]


def test_wrong_or_read_only_keys_are_refused(service: str) -> None:
    event = training_step(RunState.START, str(uuid.uuid4()), str(uuid.uuid4()))
    with pytest.raises(requests.HTTPError) as unknown:
        transport(service, api_key="not-a-known-key-0123456").emit(event)
    assert unknown.value.response.status_code == 401
    with pytest.raises(requests.HTTPError) as read_only:
        transport(service, api_key=READ_TOKEN).emit(event)
    assert read_only.value.response.status_code == 403


def test_an_unmappable_event_is_a_422_naming_the_openlineage_field(service: str) -> None:
    response = httpx.post(f"{service}/api/v1/lineage", headers={"authorization": f"Bearer {TOKEN}"},
                          json={"eventType": "START", "eventTime": "2026-11-04T07:50:00Z", "producer": PRODUCER,
                                "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
                                "run": {}, "job": {"namespace": "azureml", "name": "train_model"}})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "run.runId" in response.json()["detail"]
