"""The Kubernetes collector through the official client against a local server answering as an API server.

``tests/kubernetes_api_server.py`` serves ``tests/fixtures/kubernetes-api`` (see ``SOURCES.md`` there)
over real HTTP; the client connects with a kubeconfig file pointing at it, with a bearer token.
Nothing of the client is mocked.

The golden file ``tests/golden/kubernetes-collector.json`` holds the events of a first run over
``prod`` and ``canary``. Event times come from the objects (no clock), so nothing is normalised.
Regenerate after an intended change and review the diff:

    LINEAGE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_collect_kubernetes.py
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from collectors.base import CollectorError
from collectors.github import GitHubCollector, GitHubConfig
from collectors.kubernetes import KubernetesCollector, KubernetesConfig
from collectors.kubernetes_map import parse_image_id
from lineage_service.collect import run_into_store
from lineage_service.query.answers import lineage
from lineage_service.query.references import resolve
from lineage_service.store import open_store
from lineage_service.store.base import Direction, GraphStore
from tests.fixture_http import Request, serve
from tests.github_api_server import FakeClock, FakeGitHub
from tests.kubernetes_api_server import FIXTURES, FakeKubernetes, kubeconfig

GOLDEN = Path(__file__).parent / "golden" / "kubernetes-collector.json"
TOKEN = "k8s-b3arer-t0ken-that-must-never-be-shown"
IMAGE = "ghcr.io/nathansegers/azure-mlops-api"
V123 = "sha256:3f49a154a09c6e2b8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b"
V123_AMD64 = "sha256:7c0de4a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d"
V124 = "sha256:2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b"
OTEL = "sha256:5e1a7c9b3d2f4e6a8c0b1d3f5e7a9c2b4d6f8e0a1c3b5d7f9e2a4c6b8d0f1e3a"  # the sidecar's image
Json = dict[str, Any]


class Cluster:
    def __init__(self, fake: FakeKubernetes, base: str, requests: list[Request], config: Path) -> None:
        self.fake, self.base, self.requests, self.kubeconfig = fake, base, requests, config

    def collector(self, **config: Any) -> KubernetesCollector:
        config.setdefault("namespaces", ["prod", "canary"])
        return KubernetesCollector(KubernetesConfig(kubeconfig=self.kubeconfig, **config))

    def collect(self, cursor: str | None = None, **config: Any) -> tuple[list[Json], KubernetesCollector]:
        collector = self.collector(**config)
        return list(collector.collect(cursor)), collector


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    fake = FakeKubernetes(TOKEN)
    requests: list[Request] = []
    with serve(fake.handle, requests) as base:
        yield Cluster(fake, base, requests, kubeconfig(tmp_path / "kubeconfig", base, TOKEN))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[GraphStore]:
    with open_store(f"sqlite:///{tmp_path / 'lineage.db'}") as opened:
        yield opened


def revision_node(events: list[Json], label: str) -> Json:
    """The deployment node ``namespace/name#revision`` of the events (the last report of it)."""
    path, _, revision = label.partition("#")
    namespace, name = path.split("/")
    return [n for e in events for n in e["nodes"] if n["kind"] == "deployment" and n["key"]["namespace"] == namespace
            and n["key"]["name"] == name and n["key"]["revision"] == revision][-1]


def links(events: list[Json], kind: str) -> list[tuple[str, str, Json]]:
    def name(key: Json) -> str:
        if "revision" in key:
            return f"{key['namespace']}/{key['name']}#{key['revision']}"
        return str(key.get("digest") or (f"{key['name']}:{key['version']}" if "name" in key else key["version"]))

    return [(name(e["source"]["key"]), name(e["target"]["key"]), e)
            for event in events for e in event["edges"] if e["kind"] == kind]


def test_first_run_golden_events(cluster: Cluster) -> None:
    events, collector = cluster.collect()
    if os.environ.get("LINEAGE_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(events, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert events == json.loads(GOLDEN.read_text(encoding="utf-8")), "regenerate: LINEAGE_UPDATE_GOLDEN=1"

    # What the golden file must say, spelled out so that a wrong golden file cannot pass.
    assert [e["id"].rsplit("-", 1)[0] for e in events] == [
        "k8s-aks-mlops-prod-prod-taxi-api-7", "k8s-aks-mlops-prod-prod-taxi-api-8",
        "k8s-aks-mlops-prod-canary-taxi-api-13", "k8s-aks-mlops-prod-canary-taxi-api-rc-1"]
    assert (collector.report.seen, collector.report.emitted, collector.report.failures) == (3, 4, [])
    old, live = revision_node(events, "prod/taxi-api#7")["props"], revision_node(events, "prod/taxi-api#8")["props"]
    assert (old["active_from"], old["active_to"]) == ("2026-10-08T09:00:00Z", "2026-11-12T09:30:00Z")
    assert old["replicas"] == 0
    # The live revision's end is a null: it deletes a stale one (a deployment deleted and created again).
    assert (live["active_from"], live["active_to"], live["deleted"], live["replicas"]) == (
        "2026-11-12T09:30:00Z", None, None, 3)
    assert live["env"] == {"API_VERSION": "v1.2.3", "MODEL_NAME": "taxi-model", "MODEL_VERSION": "3"}
    assert live["environment"] == "prod" and "pod-template-hash" not in live["labels"]
    assert live["containers"][0] == {"name": "api", "image": f"{IMAGE}:v1.2.3", "digests": [V123], "pods": {V123: 3},
                                     "tag_reference": f"{IMAGE}:v1.2.3"}
    served = {(api, deploy): (e.get("valid_from"), e.get("valid_to"), e["evidence"])
              for api, deploy, e in links(events, "served_by")}
    assert served[("1.2.2", "prod/taxi-api#7")] == ("2026-10-08T09:00:00Z", "2026-11-12T09:30:00Z", "observed")
    assert served[("1.2.3", "prod/taxi-api#8")] == ("2026-11-12T09:30:00Z", None, "observed")
    assert served[("1.2.4-rc1", "canary/taxi-api-rc#1")][2] == "observed"
    runs = {(d, i): e for d, i, e in links(events, "runs_image")}
    assert runs[("prod/taxi-api#8", V123)]["evidence"] == "observed" and runs[("prod/taxi-api#8", V123)]["props"] == {
        "container": "api", "reference": f"{IMAGE}:v1.2.3", "pods": 3}
    image = next(n for n in events[1]["nodes"] if n["key"] == {"digest": V123})
    assert image["aliases"] == [f"{IMAGE}@{V123}", f"{IMAGE}:v1.2.3"]
    assert {(d, m, e["evidence"]) for d, m, e in links(events, "serves_model")} == {
        ("prod/taxi-api#7", "taxi-model:2", "declared"), ("prod/taxi-api#8", "taxi-model:3", "declared"),
        ("canary/taxi-api#13", "taxi-model:3", "declared")}
    # The digest trap: the spec pins the index CI pushed, the node runs the platform manifest.
    assert runs[("canary/taxi-api#13", V123_AMD64)]["evidence"] == "observed"
    assert runs[("canary/taxi-api#13", V123)]["evidence"] == "declared"
    assert runs[("canary/taxi-api#13", V123)]["props"]["role"] == "spec"
    canary = revision_node(events, "canary/taxi-api#13")["props"]["containers"][0]
    assert (canary["digests"], canary["spec_digest"]) == ([V123_AMD64], V123)
    rc = revision_node(events, "canary/taxi-api-rc#1")["props"]
    assert not [1 for d, _, _ in links(events, "runs_image") if d == "canary/taxi-api-rc#1"]
    local_id = "sha256:d41d8cd98f00b204e9800998ecf8427e0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"
    assert rc["containers"][0]["image_ids"] == [local_id]
    assert len(collector.report.warnings) == 4
    assert any("canary/taxi-api#13: container api runs sha256:7c0de4a1b2c3 while its spec pins sha256:3f49a154a09c"
               in w for w in collector.report.warnings)
    assert any("canary/taxi-api-rc#1" in w and "only a local image id" in w for w in collector.report.warnings)
    # Environment values that are not versions never reach the graph.
    text = json.dumps(events)
    assert "hunter2" not in text and "AZURE_CLIENT_SECRET" not in text and "LOG_LEVEL" not in text


def test_image_ids_of_every_runtime_are_parsed() -> None:
    docker = parse_image_id(f"docker-pullable://{IMAGE}@{V123}")
    containerd = parse_image_id(f"{IMAGE}@{V123}")
    assert (docker.digest, docker.repository) == (containerd.digest, containerd.repository) == (V123, IMAGE)
    assert parse_image_id(f"docker.io/library/nginx@{V123}").repository == "docker.io/library/nginx"
    local = parse_image_id(f"docker://{V123}")
    assert (local.digest, local.repository, local.image_id) == (None, None, V123)
    assert parse_image_id("not an image id").digest is None


def rollout(fake: FakeKubernetes) -> None:
    """prod/taxi-api goes from revision 8 (v1.2.3) to 9 (v1.2.4, model 4): a new ReplicaSet and its pods."""
    replica_sets, pods = fake.data[("prod", "replicasets")], fake.data[("prod", "pods")]
    text = json.dumps(replica_sets[1]).replace("v1.2.3", "v1.2.4").replace("7f6b9d4c8", "9a8b7c6d5")
    new = json.loads(text.replace("a7f0c0de-0008", "a7f0c0de-0009"))
    new["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "9"
    new["metadata"]["creationTimestamp"] = "2026-11-20T10:00:00Z"
    for variable in new["spec"]["template"]["spec"]["containers"][0]["env"]:
        if variable["name"] == "MODEL_VERSION":
            variable["value"] = "4"
    replica_sets[1]["spec"]["replicas"] = 0
    replica_sets.append(new)
    started = json.loads(json.dumps(pods).replace("v1.2.3", "v1.2.4").replace("7f6b9d4c8", "9a8b7c6d5").replace(
        "a7f0c0de-0008", "a7f0c0de-0009").replace(V123, V124).replace("2026-11-12T09:3", "2026-11-20T10:0"))
    pods[:] = started
    fake.data[("prod", "deployments")][0]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "9"


def test_second_run_emits_nothing_then_a_rollout_ends_the_old_revision(cluster: Cluster, store: GraphStore) -> None:
    first = run_into_store(cluster.collector(), store)
    assert first.ok and first.cursor_saved and first.delivered.accepted == 4  # warnings do not make a run fail
    cluster.requests.clear()
    quiet = run_into_store(cluster.collector(), store)
    assert (quiet.report.emitted, quiet.report.skipped, quiet.delivered.accepted) == (0, 4, 0)
    assert quiet.report.warnings == []  # reported once, when the revision was emitted
    assert len(cluster.requests) == 6  # three lists per namespace

    rollout(cluster.fake)
    third = run_into_store(cluster.collector(), store)
    assert (third.report.emitted, third.report.skipped) == (2, 3)  # #8 ended, #9 new; #7 and canary's two unchanged
    answer = lineage(store, Direction.UPSTREAM, "api", "v1.2.4")
    assert [d["label"] for d in answer["summary"]["deployments"]] == ["prod/taxi-api#9"]
    assert sorted(i["digest"] for i in answer["summary"]["images"]) == sorted([V124, OTEL])
    assert [m["label"] for m in answer["summary"]["models"]] == ["taxi-model:4"]
    ended = resolve(store, "deployment", "prod/taxi-api#8").node
    assert ended.props["active_to"] == "2026-11-20T10:00:00Z"
    served = [e for e in store.neighbours(ended.id)[1] if e.kind == "served_by"]
    assert [e.valid_to for e in served] == [datetime(2026, 11, 20, 10, tzinfo=UTC)]
    # The revision that no longer has pods keeps the digest it was seen running.
    assert [e.kind for e in store.neighbours(ended.id)[0] if e.kind == "runs_image"] == ["runs_image"] * 2
    assert resolve(store, "deployment", "prod/taxi-api").node.key["revision"] == "9"
    assert run_into_store(cluster.collector(), store).report.emitted == 0


def test_a_pod_running_another_digest_under_the_same_tag_is_recorded(cluster: Cluster, store: GraphStore) -> None:
    run_into_store(cluster.collector(), store)
    drifted = "sha256:" + "d" * 64
    pod = cluster.fake.data[("prod", "pods")][2]
    pod["status"]["containerStatuses"][0]["imageID"] = f"docker-pullable://{IMAGE}@{drifted}"
    pod["status"]["startTime"] = "2026-11-18T03:00:00Z"
    result = run_into_store(cluster.collector(), store)
    assert result.report.emitted == 1
    assert any("pods of container api run 2 different digests" in w for w in result.report.warnings)
    node = resolve(store, "deployment", "prod/taxi-api#8").node
    images = {e.target for e in store.neighbours(node.id)[0] if e.kind == "runs_image"}
    assert {n.key["digest"] for n in store.get_nodes(list(images))} >= {V123, drifted}


def test_a_forbidden_namespace_is_a_failure_and_the_others_are_read(cluster: Cluster, store: GraphStore) -> None:
    result = run_into_store(cluster.collector(namespaces=["locked", "prod", "canary"]), store)
    [failure] = result.report.failures
    assert failure.item == "namespace locked" and failure.error.startswith("forbidden (403): deployments.apps is "
                                                                           "forbidden")
    assert "get/list on deployments and replicasets (apps) and pods" in failure.error
    assert (result.report.seen, result.delivered.accepted, result.error) == (3, 4, None)
    assert result.cursor_saved and not result.ok


def test_every_namespace_with_cluster_wide_lists(cluster: Cluster) -> None:
    events, _ = cluster.collect(namespaces=[])
    assert {e["id"] for e in events} == {e["id"] for e in json.loads(GOLDEN.read_text(encoding="utf-8"))}
    assert [r.path for r in cluster.requests] == ["/apis/apps/v1/deployments", "/apis/apps/v1/replicasets",
                                                  "/api/v1/pods"]
    cluster.fake.cluster_wide_forbidden = True
    with pytest.raises(CollectorError, match=r"cannot list .* cluster-wide on aks-mlops-prod .*--namespace"):
        cluster.collect(namespaces=[])


def test_a_deleted_deployment_is_ended_when_a_run_no_longer_sees_it(cluster: Cluster, store: GraphStore) -> None:
    run_into_store(cluster.collector(), store)
    for kind in ("deployments", "replicasets", "pods"):
        listed = cluster.fake.data[("canary", kind)]
        listed[:] = [item for item in listed if "taxi-api-rc" not in item["metadata"]["name"]]
    collector = cluster.collector()
    collector.clock = lambda: datetime(2026, 11, 21, 8, 0, tzinfo=UTC).timestamp()
    result = run_into_store(collector, store)
    assert result.report.emitted == 1 and result.report.warnings == [
        "canary/taxi-api-rc is gone; its revision 1 ended at 2026-11-21T08:00:00Z"]
    gone = resolve(store, "deployment", "canary/taxi-api-rc#1").node
    assert gone.props["active_to"] == "2026-11-21T08:00:00Z" and gone.props["deleted"] is True
    [served] = [e for e in store.neighbours(gone.id)[1] if e.kind == "served_by"]
    assert served.valid_to == datetime(2026, 11, 21, 8, tzinfo=UTC)
    assert served.valid_from == datetime(2026, 11, 16, 11, tzinfo=UTC)  # the earliest given is kept
    assert run_into_store(cluster.collector(), store).report.emitted == 0  # said once
    # Created again under the same name (after the deletion was recorded), it starts again at revision 1:
    # live again, not ended.
    for kind in ("deployments", "replicasets", "pods"):
        text = (FIXTURES / "canary" / f"{kind}.json").read_text(encoding="utf-8")
        cluster.fake.data[("canary", kind)] = json.loads(text.replace("2026-11-16T11:00", "2026-11-22T11:00"))["items"]
    assert run_into_store(cluster.collector(), store).report.emitted == 1
    again = resolve(store, "deployment", "canary/taxi-api-rc").node
    assert again.key["revision"] == "1" and "active_to" not in again.props and "deleted" not in again.props


def test_chunked_lists_and_a_label_selector(cluster: Cluster) -> None:
    events, _ = cluster.collect(chunk_size=1)
    assert {e["id"] for e in events} == {e["id"] for e in json.loads(GOLDEN.read_text(encoding="utf-8"))}
    assert [r.query.get("continue") for r in cluster.requests if r.path.endswith("/prod/pods")] == [None, "1", "2"]
    cluster.requests.clear()
    events, _ = cluster.collect(label_selector="app.kubernetes.io/name=taxi-api")
    assert {revision_node(events, "canary/taxi-api#13")["key"]["name"]} == {"taxi-api"}
    assert not [n for e in events for n in e["nodes"] if n["key"].get("name") == "taxi-api-rc"]
    assert {r.query.get("labelSelector") for r in cluster.requests if r.path.endswith("/deployments")} == {
        "app.kubernetes.io/name=taxi-api"}


def test_the_cluster_name_comes_from_the_context_or_the_config(cluster: Cluster) -> None:
    events, _ = cluster.collect(cluster="aks-west-1")
    assert {n["key"]["cluster"] for e in events for n in e["nodes"] if n["kind"] == "deployment"} == {"aks-west-1"}
    events, _ = cluster.collect(context="elsewhere")  # another context: its cluster's name
    assert {n["key"]["cluster"] for e in events for n in e["nodes"] if n["kind"] == "deployment"} == {
        "another-cluster"}
    with pytest.raises(CollectorError, match=r"no context 'nope' in .*kubeconfig \(contexts: aks-mlops-prod-collector, "
                                             r"elsewhere\)"):
        cluster.collect(context="nope")


def test_a_cursor_of_another_cluster_is_not_trusted(cluster: Cluster) -> None:
    _, first = cluster.collect()
    events, other = cluster.collect(first.cursor, cluster="aks-west-1")
    assert len(events) == 4 and other.report.warnings[0].startswith("the saved cursor is for cluster aks-mlops-prod")


def test_the_token_is_sent_and_never_shown(cluster: Cluster, tmp_path: Path) -> None:
    events, collector = cluster.collect()
    assert {r.headers.get("authorization") for r in cluster.requests} == {f"Bearer {TOKEN}"}
    assert TOKEN not in json.dumps([events, collector.report.as_dict(), collector.cursor])
    wrong = kubeconfig(tmp_path / "wrong", cluster.base, "an-0ld-t0ken")
    with pytest.raises(CollectorError) as caught:
        list(KubernetesCollector(KubernetesConfig(kubeconfig=wrong, namespaces=["prod"])).collect(None))
    assert "rejected the credentials" in str(caught.value) and "an-0ld-t0ken" not in str(caught.value)


def test_collect_github_and_kubernetes_then_trace_api_v123(cluster: Cluster, store: GraphStore,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end: from API v1.2.3 to the deployment, the running digest, the model, and the commit."""
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_unused_here")
    clock = FakeClock()
    with serve(FakeGitHub(clock=clock).handle) as github_api:
        github = GitHubCollector(GitHubConfig(
            repositories=["nathansegers/mlops-2.0"], base_url=github_api, registry="ghcr.io", request_interval=0,
            packages=["nathansegers/azure-mlops-api=nathansegers/mlops-2.0"]))
        assert run_into_store(github, store).ok
    assert not run_into_store(cluster.collector(namespaces=["prod"]), store).report.failures
    answer = lineage(store, Direction.UPSTREAM, "api", "v1.2.3")
    summary = answer["summary"]
    assert [(d["label"], d["live"], d["environment"]) for d in summary["deployments"]] == [
        ("prod/taxi-api#8", True, "prod")]
    images = {i["digest"]: i for i in summary["images"]}
    assert set(images) == {V123, OTEL} and f"{IMAGE}:v1.2.3" in images[V123]["references"]
    assert [m["label"] for m in summary["models"]] == ["taxi-model:3"]
    assert [c["short"] for c in summary["commits"]] == ["05ee055"] and summary["authors"] == ["tom.dewulf@example.com"]
    # As of a time before the rollout, v1.2.2 was served by revision 7.
    earlier = lineage(store, Direction.UPSTREAM, "api", "v1.2.2")
    assert [d["label"] for d in earlier["summary"]["deployments"]] == ["prod/taxi-api#7"]


def test_cli_collect_kubernetes_then_trace(cluster: Cluster, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    env = {"LINEAGE_URL": "", "COLUMNS": "200"}
    collected = runner.invoke(app, ["collect", "kubernetes", "--kubeconfig", str(cluster.kubeconfig), "-n", "prod",
                                    "--store", uri, "--format", "json"], env=env)
    assert collected.exit_code == 0, collected.output
    [source] = json.loads(collected.stdout)["sources"]
    assert (source["name"], source["seen"], source["accepted"], source["ok"]) == ("kubernetes", 1, 2, True)
    assert TOKEN not in collected.output and "hunter2" not in collected.output
    traced = runner.invoke(app, ["trace", "api", "v1.2.3", "--store", uri, "--format", "json"], env=env)
    assert traced.exit_code == 0, traced.output
    summary = json.loads(traced.stdout)["summary"]
    assert [d["label"] for d in summary["deployments"]] == ["prod/taxi-api#8"]
    assert {i["digest"] for i in summary["images"]} == {V123, OTEL}
    assert [m["label"] for m in summary["models"]] == ["taxi-model:3"]
    locked = runner.invoke(app, ["collect", "kubernetes", "--kubeconfig", str(cluster.kubeconfig), "-n", "locked",
                                 "--store", uri, "--format", "json"], env=env)
    assert locked.exit_code == 1
    assert json.loads(locked.stdout)["sources"][0]["failures"][0]["item"] == "namespace locked"


def test_an_unreachable_api_server_stops_the_source(tmp_path: Path) -> None:
    closed = kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9", TOKEN)  # the discard port: refused
    with pytest.raises(CollectorError, match=r"cannot reach the API server at http://127.0.0.1:9"):
        list(KubernetesCollector(KubernetesConfig(kubeconfig=closed, namespaces=["prod", "canary"])).collect(None))
