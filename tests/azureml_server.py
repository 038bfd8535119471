"""A local HTTP server that answers like Azure ML, for ``MLClient`` to read through its own HTTP path.

How the SDK is pointed at it, with nothing patched:

- ``ARM_CLOUD_METADATA_URL`` names a URL serving ARM's cloud metadata (``/metadata``), and the
  collector's ``cloud`` setting names the cloud listed there (``state.cloud``, one per server,
  since the SDK caches clouds by name); the SDK then takes that cloud's ``resourceManager``
  (this server) as the base URL of every workspace call;
- it speaks TLS with a self-signed certificate that the test trusts through ``REQUESTS_CA_BUNDLE``
  (azure-core's requests transport honours it): the SDK refuses to send a bearer token over plain
  HTTP in several of its clients (workspaces, jobs, models), although ``MLClient`` relaxes that
  check for the others when the base URL is ``http://``;
- the workspace's ``discoveryUrl`` points back here, so the run-history calls (a pipeline's child
  jobs) come here too;
- the credential is a ``TokenCredential`` returning a fixed token, which the server checks.

The responses are JSON shaped like the Azure ML REST API (``2024-01-01-preview`` and run history
``v1.0``): ``{"value": [...], "nextLink": ...}`` pages, resources with ``id``, ``name``,
``properties`` and ``systemData``. Jobs come in pages of two, to exercise the SDK's paging.
``fail`` maps a path to a status code, to make one resource unreadable.
"""

from __future__ import annotations

import ipaddress
import json
import re
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from azure.core.credentials import AccessToken

from tests.azureml_world import API_IMAGE, DIRTY_JOB, LAPTOP_SHA, PIPELINE, PREP_SHA, STEPS, SUBSCRIPTION, TRAIN_STEP

Json = dict[str, Any]
TOKEN = "local-test-token"
RG, WS = "rg-mlops-prod", "mlw-taxi-prod"
PROVIDER = "Microsoft.MachineLearningServices"
WS_PATH = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}/providers/{PROVIDER}/workspaces/{WS}"
HISTORY = f"/history/v1.0{WS_PATH}"


class FixedToken:
    """A ``TokenCredential``: the SDK asks it for a bearer token and sends it on every request."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, claims: str | None = None, tenant_id: str | None = None,
                  enable_cae: bool = False, **kwargs: Any) -> AccessToken:
        self.scopes.extend(scopes)
        return AccessToken(TOKEN, int(time.time()) + 3600)


def system(created: str) -> Json:
    return {"createdAt": created, "createdBy": "ava.peeters@example.com", "createdByType": "User",
            "lastModifiedAt": created, "lastModifiedBy": "ava.peeters@example.com", "lastModifiedByType": "User"}


def git(sha: str, dirty: bool = False) -> Json:
    return {"azureml.git.repository_uri": "https://github.com/nathansegers/mlops-2.0.git", "azureml.git.branch": "main",
            "azureml.git.commit": sha, "azureml.git.dirty": str(dirty), "mlflow.source.git.commit": sha}


def literal(value: str) -> Json:
    return {"value": value, "job_input_type": "literal"}


def bound(value: str) -> Json:
    return {"value": value, "type": "literal"}


def pipeline_job() -> Json:
    """The pipeline as the service returns it: the label kept as submitted by REST (``@latest``)."""
    def node(name: str, inputs: Json, outputs: Json) -> Json:
        return {"name": name, "type": "command", "componentId": f"{WS_PATH}/components/azureml_anonymous/versions/1",
                "inputs": inputs, "outputs": outputs}

    return {"id": f"{WS_PATH}/jobs/{PIPELINE}", "name": PIPELINE, "type": f"{PROVIDER}/workspaces/jobs",
            "systemData": system("2026-11-04T07:45:00Z"),
            "properties": {
                "jobType": "Pipeline", "displayName": "taxi-training-pipeline",
                "experimentName": "taxi-fare-regression",
                "status": "Completed", "tags": {"git_sha": PREP_SHA}, "properties": git(PREP_SHA),
                "settings": {"default_compute": f"{WS_PATH}/computes/cpu-cluster"},
                "inputs": {"green_taxi_data": {"jobInputType": "uri_folder", "uri": "azureml:green-taxi-data@latest"},
                           "yellow_taxi_data": {"jobInputType": "uri_folder",
                                                "uri": f"azureml:{WS_PATH}/data/yellow-taxi-data/versions/3"}},
                "outputs": {"train_data": {"jobOutputType": "uri_folder", "assetName": "taxi-train-data",
                                           "assetVersion": "8"},
                            "trained_model": {"jobOutputType": "mlflow_model"}},
                "jobs": {
                    "prep_data": node("prep_data", {"green": literal("${{parent.inputs.green_taxi_data}}"),
                                                    "yellow": literal("${{parent.inputs.yellow_taxi_data}}")},
                                      {"train_data": bound("${{parent.outputs.train_data}}")}),
                    "train_model": node("train_model",
                                        {"train_data": literal("${{parent.jobs.prep_data.outputs.train_data}}")},
                                        {"model_output": bound("${{parent.outputs.trained_model}}")}),
                }}}


def dirty_job() -> Json:
    return {"id": f"{WS_PATH}/jobs/{DIRTY_JOB}", "name": DIRTY_JOB, "type": f"{PROVIDER}/workspaces/jobs",
            "systemData": system("2026-11-18T16:02:00Z"),
            "properties": {
                "jobType": "Command", "displayName": "retrain-from-laptop", "experimentName": "taxi-fare-regression",
                "status": "Completed", "tags": {"git_sha": LAPTOP_SHA}, "properties": git(LAPTOP_SHA, dirty=True),
                "command": "python train.py --train_data ${{inputs.train_data}}",
                "environmentId": f"{WS_PATH}/environments/taxi-train-env/versions/2",
                "computeId": f"{WS_PATH}/computes/cpu-cluster",
                "inputs": {"train_data": {"jobInputType": "uri_folder",
                                          "uri": f"azureml:{WS_PATH}/data/taxi-train-data/versions/8"}},
                "outputs": {"model_output": {"jobOutputType": "mlflow_model"}}}}


def drift_job() -> Json:
    """An older job of another experiment, which failed: the third job, on the second page."""
    return {"id": f"{WS_PATH}/jobs/drift_check_2p1", "name": "drift_check_2p1", "type": f"{PROVIDER}/workspaces/jobs",
            "systemData": system("2026-10-20T06:00:00Z"),
            "properties": {
                "jobType": "Command", "displayName": "drift-check", "experimentName": "taxi-data-drift",
                "status": "Failed", "tags": {}, "properties": git(PREP_SHA), "command": "python drift.py",
                "environmentId": f"{WS_PATH}/environments/taxi-train-env/versions/2",
                "computeId": f"{WS_PATH}/computes/cpu-cluster",
                "inputs": {"current": {"jobInputType": "uri_folder", "uri": "azureml:green-taxi-data:4"}},
                "outputs": {}}}


def child_run(step: str, run_id: str, created: str) -> Json:
    """A pipeline step as run history lists it (``runs/{parent}/children``)."""
    return {"runId": run_id, "parentRunId": PIPELINE, "rootRunId": PIPELINE, "displayName": step, "status": "Completed",
            "experimentId": "6b8a2c1e-0f3d-4e5a-9b7c-1d2e3f4a5b6c", "createdUtc": created,
            "lastModifiedUtc": created, "tags": {"git_sha": PREP_SHA},
            "properties": {**git(PREP_SHA), "azureml.nodeid": run_id[:8], "azureml.pipeline": PIPELINE},
            "compute": {"target": "cpu-cluster"}}


def version(kind: str, name: str, number: str, created: str, properties: Json) -> Json:
    return {"id": f"{WS_PATH}/{kind}/{name}/versions/{number}", "name": number,
            "type": f"{PROVIDER}/workspaces/{kind}/versions", "systemData": system(created),
            "properties": {"isArchived": False, "tags": {}, "properties": {}, **properties}}


def data(name: str, number: str, created: str) -> Json:
    return version("data", name, number, created, {
        "dataType": "uri_folder", "dataUri": f"azureml://datastores/workspaceblobstore/paths/taxi/{name}/v{number}/"})


def model(number: str, job: str, created: str) -> Json:
    return version("models", "taxi-model", number, created, {
        "modelType": "mlflow_model", "jobName": job, "flavors": {"python_function": {"data": {
            "loader_module": "mlflow.sklearn"}}}, "stage": "Production", "tags": {"git_sha": PREP_SHA},
        "modelUri": f"azureml://jobs/{job}/outputs/artifacts/paths/model/"})


@dataclass
class AzureML:
    """The workspace's resources as REST documents, editable between runs of a test."""

    jobs: list[Json] = field(default_factory=lambda: [dirty_job(), pipeline_job(), drift_job()])  # newest first
    children: dict[str, list[Json]] = field(default_factory=lambda: {PIPELINE: [
        child_run(step, run_id, f"2026-11-04T07:{46 + i}:00Z") for i, (step, run_id) in enumerate(
            (s, STEPS[s]) for s in ("prep_data", "train_model"))]})
    data: dict[str, list[Json]] = field(default_factory=lambda: {
        "green-taxi-data": [data("green-taxi-data", "4", "2026-10-01T00:00:00Z"),
                            data("green-taxi-data", "5", "2026-11-01T00:00:00Z"),
                            data("green-taxi-data", "6", "2026-11-15T00:00:00Z")],
        "yellow-taxi-data": [data("yellow-taxi-data", "3", "2026-11-01T00:00:00Z")],
        "taxi-train-data": [data("taxi-train-data", "8", "2026-11-04T07:52:00Z")]})
    models: dict[str, list[Json]] = field(default_factory=lambda: {"taxi-model": [
        model("3", TRAIN_STEP, "2026-11-04T07:58:00Z"), model("4", DIRTY_JOB, "2026-11-18T16:20:00Z")]})
    online: dict[str, list[Json]] = field(default_factory=lambda: {"taxi-fare-online": [online_deployment("blue")]})
    batch: dict[str, list[Json]] = field(default_factory=lambda: {"taxi-fare-batch": [batch_deployment("nightly")]})
    environments: dict[str, str] = field(default_factory=lambda: {
        "taxi-serve-env/1": API_IMAGE, "taxi-train-env/2": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest"})
    fail: dict[str, int] = field(default_factory=dict)  # path -> status code
    # The SDK caches clouds by name for the life of the process: each server names its own.
    cloud: str = ""
    requests: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)


def online_deployment(name: str, model_version: str = "3", api_version: str = "v1.2.3",
                      modified: str = "2026-11-12T09:30:00Z") -> Json:
    return {"id": f"{WS_PATH}/onlineEndpoints/taxi-fare-online/deployments/{name}", "name": name,
            "location": "westeurope", "sku": {"name": "Default", "capacity": 2}, "kind": "Managed",
            "systemData": {**system("2026-11-12T09:30:00Z"), "lastModifiedAt": modified},
            "properties": {"endpointComputeType": "Managed", "instanceType": "Standard_DS3_v2",
                           "scaleSettings": {"scaleType": "Default"}, "appInsightsEnabled": False,
                           "model": f"{WS_PATH}/models/taxi-model/versions/{model_version}",
                           "environmentId": f"{WS_PATH}/environments/taxi-serve-env/versions/1",
                           "environmentVariables": {"API_VERSION": api_version, "MODEL_VERSION": model_version,
                                                    "AZURE_STORAGE_KEY": "do-not-copy-me"},
                           "codeConfiguration": {"codeId": f"{WS_PATH}/codes/taxi-score/versions/1",
                                                 "scoringScript": "score.py"},
                           "provisioningState": "Succeeded"}}


def batch_deployment(name: str) -> Json:
    return {"id": f"{WS_PATH}/batchEndpoints/taxi-fare-batch/deployments/{name}", "name": name,
            "location": "westeurope", "systemData": system("2026-11-12T10:00:00Z"),
            "properties": {"model": {"referenceType": "Id", "assetId": f"{WS_PATH}/models/taxi-model/versions/3"},
                           "compute": f"{WS_PATH}/computes/cpu-cluster",
                           "environmentId": f"{WS_PATH}/environments/taxi-train-env/versions/2",
                           "provisioningState": "Succeeded"}}


def endpoint(kind: str, name: str) -> Json:
    properties: Json = {"authMode": "Key", "provisioningState": "Succeeded", "properties": {},
                        "scoringUri": f"https://{name}.westeurope.inference.ml.azure.com/score"}
    if kind == "onlineEndpoints":
        properties["traffic"] = {"blue": 100}
    return {"id": f"{WS_PATH}/{kind}/{name}", "name": name, "location": "westeurope",
            "identity": {"type": "SystemAssigned"}, "systemData": system("2026-11-12T09:00:00Z"),
            "properties": properties}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the test reads ``requests``
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        state, base = self.server.state, f"https://127.0.0.1:{self.server.server_port}"
        state.requests.append(parts.path)
        if parts.path not in ("/metadata", "/discovery"):  # public on Azure too: the SDK sends no token there
            state.tokens.append(self.headers.get("Authorization", ""))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._send(401, {"error": {"code": "AuthenticationFailed", "message": "no valid token"}})
        if parts.path in state.fail:
            return self._send(state.fail[parts.path], {"error": {"code": "InternalServerError",
                                                                  "message": f"{parts.path} is broken today"}})
        body = route(state, parts.path, parse_qs(parts.query), base)
        if body is None:
            return self._send(404, {"error": {"code": "ResourceNotFound", "message": f"no resource at {parts.path}"}})
        self._send(200, body)

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    state: AzureML


def _page(items: list[Json], query: dict[str, list[str]], url: str, size: int | None = None) -> Json:
    if size is None:
        return {"value": items}
    start = int(query.get("$skipToken", ["0"])[0])
    following = f"{url}?api-version=2024-01-01-preview&$skipToken={start + size}" if start + size < len(items) else None
    return {"value": items[start:start + size], "nextLink": following}


def route(state: AzureML, path: str, query: dict[str, list[str]], base: str) -> object:
    if path == "/metadata":  # ARM's cloud metadata, as management.azure.com/metadata/endpoints gives it
        return [{"name": state.cloud, "portal": "https://portal.azure.com", "resourceManager": base + "/",
                 "authentication": {"loginEndpoint": base + "/login/", "audiences": [base + "/"]},
                 "suffixes": {"storage": "core.windows.net"}}]
    if path == "/discovery":
        return {"api": base, "catalog": base, "experimentation": base, "history": base}
    if path == WS_PATH:
        return {"id": WS_PATH, "name": WS, "location": "westeurope", "type": f"{PROVIDER}/workspaces",
                "properties": {"discoveryUrl": base + "/discovery",
                               "workspaceId": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"}}
    if path == WS_PATH + "/jobs":
        return _page(state.jobs, query, base + path, size=2)
    if found := re.fullmatch(re.escape(WS_PATH) + r"/jobs/([^/]+)", path):
        return next((job for job in state.jobs if job["name"] == found.group(1)), None)
    if found := re.fullmatch(re.escape(HISTORY) + r"/runs/([^/]+)/children", path):
        return {"value": state.children.get(found.group(1), []), "continuationToken": None, "nextLink": None}
    for kind, assets in (("data", state.data), ("models", state.models)):
        if path == f"{WS_PATH}/{kind}":
            return _page([_container(kind, name, versions) for name, versions in assets.items()], query, "")
        if found := re.fullmatch(re.escape(f"{WS_PATH}/{kind}/") + r"([^/]+)/versions", path):
            return _page(list(reversed(assets.get(found.group(1), []))), query, "")
        if found := re.fullmatch(re.escape(f"{WS_PATH}/{kind}/") + r"([^/]+)/versions/([^/]+)", path):
            return next((v for v in assets.get(found.group(1), []) if v["name"] == found.group(2)), None)
        if found := re.fullmatch(re.escape(f"{WS_PATH}/{kind}/") + r"([^/]+)", path):
            versions = assets.get(found.group(1))
            return _container(kind, found.group(1), versions) if versions else None
    for kind, endpoints in (("onlineEndpoints", state.online), ("batchEndpoints", state.batch)):
        if path == f"{WS_PATH}/{kind}":
            return _page([endpoint(kind, name) for name in endpoints], query, "")
        if found := re.fullmatch(re.escape(f"{WS_PATH}/{kind}/") + r"([^/]+)/deployments", path):
            return _page(endpoints.get(found.group(1), []), query, "")
    if found := re.fullmatch(re.escape(f"{WS_PATH}/environments/") + r"([^/]+)/versions/([^/]+)", path):
        image = state.environments.get(f"{found.group(1)}/{found.group(2)}")
        return version("environments", found.group(1), found.group(2), "2026-10-01T00:00:00Z",
                       {"image": image, "osType": "Linux"}) if image else None
    return None


def _container(kind: str, name: str, versions: list[Json]) -> Json:
    latest = max(versions, key=lambda v: v["systemData"]["createdAt"])["name"]
    properties: Json = {"latestVersion": latest, "isArchived": False, "tags": {}, "properties": {}}
    if kind == "data":
        properties["dataType"] = "uri_folder"
    return {"id": f"{WS_PATH}/{kind}/{name}", "name": name, "systemData": versions[0]["systemData"],
            "properties": properties}


def certificate(directory: Path) -> Path:
    """A self-signed certificate for 127.0.0.1 (key and certificate in one PEM file), made with
    ``cryptography``, which azure-identity already requires."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lineage local azureml")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path = directory / "azureml-local.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return path


@contextmanager
def local_azureml(pem: Path, state: AzureML | None = None) -> Iterator[tuple[AzureML, str]]:
    """The server over TLS with ``pem``'s certificate, on a socket bound before it starts (nothing
    waits for it to come up); yields its state and base URL."""
    server = _Server(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.state = state or AzureML()
    server.state.cloud = f"LineageLocal{server.server_port}"
    # A short poll interval only bounds how long ``shutdown`` waits for the loop to notice.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.state, f"https://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)
