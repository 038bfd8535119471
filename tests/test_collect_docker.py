"""The docker collector against a real engine: podman's Docker API on a unix socket (``tests/services.py``).

Images are built with ``podman build --timestamp 0`` from scratch and pushed to a real registry; the
engine then holds them as a host that pulled them does (``Podman.publish``), so its RepoDigests are the
registry's digests, which the tests check against what the push reported. Each test works in its own
repository namespace and filters on it: the engine is shared by the session.

The golden file ``tests/golden/docker-collector.json`` holds the events of ``golden_engine`` with the
registry's port, the digests (``<digest-N>`` in order of first appearance) and event hashes replaced, as
in ``tests/test_collect_registry.py``. After an intended change:

    LINEAGE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_collect_docker.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from collectors import create
from collectors.base import CollectorError
from collectors.docker import DockerCollector, DockerConfig
from lineage_service.collect import run_into_store
from lineage_service.store import open_store
from lineage_service.store.base import GraphStore
from tests import services
from tests.registry_writes import normalised
from tests.services import Podman, Registry

# The session's services: pytest finds fixtures by name in the test module.
podman, registry = services.podman, services.registry
GOLDEN = Path(__file__).parent / "golden" / "docker-collector.json"
SHA = "05ee055698af2171294615a1e423f71f4098628e"
REPO_URL = "https://github.com/nathansegers/mlops-2.0"
LABELS = {"org.opencontainers.image.revision": SHA, "org.opencontainers.image.source": REPO_URL,
          "org.opencontainers.image.version": "1.2.3", "org.opencontainers.image.created": "2026-11-10T14:45:00Z"}
Json = dict[str, Any]


def collect(podman: Podman, repositories: list[str], cursor: str | None = None,
            **config: Any) -> tuple[list[Json], DockerCollector]:
    collector = DockerCollector(DockerConfig(base_url=podman.base_url, repositories=repositories, **config))
    return list(collector.collect(cursor)), collector


def images(events: list[Json]) -> dict[str, Json]:
    return {n["key"]["digest"]: n for e in events for n in e["nodes"] if n["kind"] == "image"}


def built_from(events: list[Json]) -> dict[str, tuple[str, str, str]]:
    return {e["source"]["key"]["digest"]: (e["target"]["key"]["repo"], e["target"]["key"]["sha"], e["evidence"])
            for event in events for e in event["edges"] if e["kind"] == "built_from"}


@pytest.fixture(scope="module")
def golden_engine(podman: Podman, registry: Registry) -> Json:
    """A host that pulled the API release under its semver and SHA tags, pulled a tool whose labels
    name no repository, and built a development image it never pushed."""
    api = f"{registry.host}/engine/azure-mlops-api"
    image_id = podman.build(f"{api}:v1.2.3", LABELS, content="api")
    podman.run("tag", f"{api}:v1.2.3", f"{api}:{SHA}")
    digest = podman.publish(f"{api}:v1.2.3", f"{api}:{SHA}")
    tool = f"{registry.host}/engine/tool:1"
    podman.build(tool, {"org.opencontainers.image.revision": SHA}, content="tool")
    tool_digest = podman.publish(tool)
    dev_id = podman.build("localhost/engine/dev:wip", LABELS, content="work in progress")
    return {"api": api, "digest": digest, "image_id": image_id, "tool_digest": tool_digest, "dev_id": dev_id}


@pytest.fixture
def graph(tmp_path: Path) -> Any:
    with open_store(f"sqlite:///{tmp_path / 'lineage.db'}") as opened:
        yield opened


def test_golden_events_of_an_engine(podman: Podman, registry: Registry, golden_engine: Json) -> None:
    events, collector = collect(podman, ["*/engine/*"])
    shown = normalised(events, [registry.host])
    if os.environ.get("LINEAGE_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(shown, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert shown == json.loads(GOLDEN.read_text(encoding="utf-8")), "regenerate: LINEAGE_UPDATE_GOLDEN=1"

    # The registry's digest (what the push reported), the engine's image id, both tags, the declared commit.
    api, digest = golden_engine["api"], golden_engine["digest"]
    found = images(events)
    assert set(found) == {digest, golden_engine["tool_digest"]}
    assert found[digest]["aliases"] == sorted([f"{api}:v1.2.3", f"{api}:{SHA}"])
    assert found[digest]["props"]["image_id"] == golden_engine["image_id"]
    assert (found[digest]["props"]["version"], found[digest]["props"]["created"]) == ("1.2.3", "2026-11-10T14:45:00Z")
    assert built_from(events) == {digest: (REPO_URL, SHA, "declared")}  # the tool names no repository
    assert found[golden_engine["tool_digest"]]["props"]["created"] == "1970-01-01T00:00:00Z"  # --timestamp 0
    report = collector.report
    assert (report.seen, report.emitted, report.skipped, report.failures) == (3, 2, 1, [])
    [tool, dev, podman_note] = report.warnings  # in the order of the images' names
    assert golden_engine["dev_id"][:19] in dev and "localhost/engine/dev:wip" in dev and "never pushed" in dev
    assert "no org.opencontainers.image.source label" in tool and "no repo_url" in tool
    assert podman_note.startswith("podman lists")


def test_engine_and_registry_name_the_same_image(podman: Podman, registry: Registry, golden_engine: Json) -> None:
    """A host's pulled image and the registry's manifest are one node, joined by digest."""
    events, _ = collect(podman, ["*/engine/azure-mlops-api"])
    registry_collector = create("registry", {"registry": registry.url, "insecure_http": True,
                                             "repositories": ["engine/azure-mlops-api"]})
    from_registry = images(list(registry_collector.collect(None)))
    engine_node = images(events)[golden_engine["digest"]]
    registry_node = from_registry[golden_engine["digest"]]
    assert engine_node["props"]["image_id"] == registry_node["props"]["config_digest"]
    assert engine_node["aliases"] == registry_node["aliases"]


def test_repo_url_names_the_repository_labels_leave_out(podman: Podman, golden_engine: Json) -> None:
    events, collector = collect(podman, ["*/engine/tool"], repo_url="git@github.com:NathanSegers/mlops-2.0.git")
    assert built_from(events) == {golden_engine["tool_digest"]: (REPO_URL, SHA, "declared")}
    assert not [w for w in collector.report.warnings if "no built_from" in w]


def test_an_unchanged_engine_emits_nothing_and_changes_are_picked_up(podman: Podman, registry: Registry,
                                                                      graph: GraphStore) -> None:
    name = f"{registry.host}/incremental/api"
    podman.build(f"{name}:v1", LABELS, content="v1")
    first = podman.publish(f"{name}:v1")
    config = {"base_url": podman.base_url, "repositories": ["*/incremental/*"]}
    assert run_into_store(create("docker", config), graph).report.emitted == 1
    quiet = run_into_store(create("docker", config), graph)
    assert (quiet.report.seen, quiet.report.emitted, quiet.report.skipped, quiet.ok) == (1, 0, 1, True)

    podman.build(f"{name}:v2", {**LABELS, "org.opencontainers.image.version": "2.0.0"}, content="v2")
    second = podman.publish(f"{name}:v2")
    added = run_into_store(create("docker", config), graph)
    assert added.report.emitted == 1 and added.delivered.accepted == 1
    [event] = [json.loads(e.payload) for e in graph.list_events(limit=100)][-1:]
    assert list(images([event])) == [second]

    podman.run("tag", f"{name}:v1", f"{name}:stable")  # a new name for an image already collected
    retagged = run_into_store(create("docker", config), graph)
    assert retagged.report.emitted == 1
    [node] = graph.find_nodes("image", lookup=first)
    assert set(node.aliases) == {f"{name}:v1", f"{name}:stable"}
    assert run_into_store(create("docker", config), graph).report.emitted == 0


def test_two_digests_in_one_repository_get_no_tags(podman: Podman, registry: Registry) -> None:
    """A local build that was pushed and then pulled: podman holds both manifests and lists both."""
    name = f"{registry.host}/ambiguous/api"
    podman.build(f"{name}:v1", LABELS, content="ambiguous")
    pushed = podman.push(f"{name}:v1")
    podman.run("pull", "--quiet", "--tls-verify=false", f"{name}:v1")
    listed = json.loads(podman.run("image", "inspect", f"{name}:v1"))[0]["RepoDigests"]
    assert len(listed) == 2, f"podman no longer lists its local manifest's digest: {listed}"
    events, collector = collect(podman, ["*/ambiguous/*"])
    found = images(events)
    assert pushed in found and len(found) == 2
    assert all(not node.get("aliases") and "tags" not in node["props"] for node in found.values())
    assert any("2 digests in" in w and "without its" in w for w in collector.report.warnings)


def test_an_unreachable_engine_stops_the_source(tmp_path: Path) -> None:
    collector = DockerCollector(DockerConfig(base_url=f"unix://{tmp_path / 'no-engine.sock'}"))
    with pytest.raises(CollectorError, match=r"no-engine\.sock.*start the engine, or point base_url"):
        list(collector.collect(None))


def test_a_cursor_of_another_engine_is_not_trusted(podman: Podman, golden_engine: Json) -> None:
    _, first = collect(podman, ["*/engine/*"])
    other = json.dumps({"engine": "unix:///var/run/docker.sock", "images": json.loads(first.cursor or "")["images"]})
    events, collector = collect(podman, ["*/engine/*"], cursor=other)
    assert len(events) == 2 and "is for unix:///var/run/docker.sock" in collector.report.warnings[0]
    assert collect(podman, ["*/engine/*"], cursor=first.cursor)[0] == []


def test_repository_patterns() -> None:
    assert DockerConfig(repositories=["nathansegers/azure-mlops-api", "ghcr.io/org/*"]).repositories == [
        "docker.io/nathansegers/azure-mlops-api", "ghcr.io/org/*"]
    with pytest.raises(ValueError, match=r"expected a repository like ghcr\.io/org/api"):
        DockerConfig(repositories=["Not A Repository"])


def test_cli_collect_then_trace_the_tag(podman: Podman, golden_engine: Json, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    env = {"LINEAGE_URL": "", "COLUMNS": "200"}
    done = runner.invoke(app, ["collect", "docker", "--base-url", podman.base_url, "-r", "*/engine/*",
                               "--store", uri, "--format", "json"], env=env)
    assert done.exit_code == 0, done.output
    [source] = json.loads(done.stdout)["sources"]
    assert (source["collector"], source["seen"], source["accepted"], source["ok"]) == ("docker", 3, 2, True)
    traced = runner.invoke(app, ["trace", "image", f"{golden_engine['api']}:v1.2.3", "--store", uri,
                                 "--format", "json"], env=env)
    assert traced.exit_code == 0, traced.output
    answer = json.loads(traced.stdout)
    assert answer["root"]["key"] == {"digest": golden_engine["digest"]}
    assert [c["sha"] for c in answer["summary"]["commits"]] == [SHA]
    unreachable = runner.invoke(app, ["collect", "docker", "--base-url", f"unix://{tmp_path / 'none.sock'}",
                                      "--store", uri, "--format", "json"], env=env)
    assert unreachable.exit_code == 1 and "start the engine" in json.loads(unreachable.stdout)["sources"][0]["error"]
