"""The registry collector against a real distribution registry (``docker-registry``, ``tests/services.py``).

Images are built with ``podman build`` and pushed with ``podman push``; attestations and signatures are
written through the registry API the way cosign writes them (``sha256-<hex>.att``), since distribution
2.8 has no referrers API: that is the fallback the collector must use there. Basic auth is the
registry's own htpasswd; the bearer flow uses ``TokenServer``, a test double of an identity provider
whose signed tokens the real registry verifies.

The golden file ``tests/golden/registry-collector.json`` holds the events of the ``release`` repository
with volatile values replaced: the registry's port, each digest by ``<digest-N>`` in order of first
appearance (``podman build --timestamp 0`` makes them reproducible on one machine, but they change with
the podman version that compresses the layers), event ids' hashes and the collection time. The tests
check the real digests against what podman and the registry report. After an intended change:

    LINEAGE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_collect_registry.py
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from collectors import create
from collectors.base import CollectorError
from collectors.oci_registry import RegistryCollector, RegistryConfig
from lineage_service.collect import run_into_store
from lineage_service.store import open_store
from lineage_service.store.base import GraphStore
from tests import services
from tests.registry_writes import (
    OCI_INDEX,
    delete_manifest,
    normalised,
    push_attachment,
    push_blob,
    push_image,
    push_manifest,
)
from tests.services import PASSWORD, USER, Podman, Registry, TokenServer

# The session's services: pytest finds fixtures by name in the test module.
podman, registry = services.podman, services.registry
basic_registry, token_registry = services.basic_registry, services.token_registry
GOLDEN = Path(__file__).parent / "golden" / "registry-collector.json"
SHA = "05ee055698af2171294615a1e423f71f4098628e"
SHA_MULTI = "5b7e2c9d1f0a4b3c8e6d2a1f0b9c8d7e6f5a4b3c"
REPO_URL = "https://github.com/nathansegers/mlops-2.0"
LABELS = {"org.opencontainers.image.revision": SHA, "org.opencontainers.image.source": REPO_URL + ".git",
          "org.opencontainers.image.version": "1.2.3", "org.opencontainers.image.created": "2026-11-10T14:45:00Z"}
PROVENANCE = "https://slsa.dev/provenance/v1"
Json = dict[str, Any]


def collect(registry: Registry, repositories: list[str], cursor: str | None = None,
            **config: Any) -> tuple[list[Json], RegistryCollector]:
    settings = {"registry": registry.url, "insecure_http": True, "repositories": repositories, **config}
    collector = RegistryCollector(RegistryConfig.model_validate(settings))
    return list(collector.collect(cursor)), collector


def images(events: list[Json]) -> dict[str, Json]:
    """Image nodes by digest, merged across events in order (as the store merges them)."""
    found: dict[str, Json] = {}
    for event in events:
        for node in event["nodes"]:
            if node["kind"] == "image":
                merged = found.setdefault(node["key"]["digest"], {"props": {}, "aliases": []})
                merged["props"] = {**merged["props"], **node.get("props", {})}
                merged["aliases"] += node.get("aliases", [])
    return found


def built_from(events: list[Json]) -> dict[str, tuple[str, str, str]]:
    return {e["source"]["key"]["digest"]: (e["target"]["key"]["repo"], e["target"]["key"]["sha"], e["evidence"])
            for event in events for e in event["edges"] if e["kind"] == "built_from"}


def registry_json(registry: Registry, path: str, accept: str) -> Json:
    request = urllib.request.Request(registry.url + path, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return dict(json.loads(answer.read()))


@pytest.fixture(scope="module")
def release(podman: Podman, registry: Registry) -> Json:
    """``release/azure-mlops-api`` as the seed's CI leaves it: one image under its SHA, semver,
    latest and customer-release tags, a two-platform index, and a provenance attestation and a
    signature stored under cosign's tags."""
    name = f"{registry.host}/release/azure-mlops-api"
    image_id = podman.build(f"{name}:v1.2.3", LABELS, content="api 1.2.3")
    digests = set()
    for tag in ("v1.2.3", SHA, "latest", "customer-release"):
        podman.run("tag", f"{name}:v1.2.3", f"{name}:{tag}")
        digests.add(podman.push(f"{name}:{tag}"))
    [digest] = digests  # one image, four tags
    multi = {**LABELS, "org.opencontainers.image.revision": SHA_MULTI}
    for arch in ("amd64", "arm64"):
        podman.build(f"{name}:build-{arch}", multi, content="multi", platform=f"linux/{arch}")
    podman.run("manifest", "create", f"{name}:multi")
    for arch in ("amd64", "arm64"):
        podman.run("manifest", "add", f"{name}:multi", f"containers-storage:{name}:build-{arch}")
    index = podman.push_index(f"{name}:multi")
    index_json = registry_json(registry, f"/v2/release/azure-mlops-api/manifests/{index}", OCI_INDEX)
    platforms = {m["platform"]["architecture"]: m["digest"] for m in index_json["manifests"]}
    attestation = push_attachment(registry, "release/azure-mlops-api", digest, "att",
                                  "application/vnd.dsse.envelope.v1+json", "application/vnd.dsse.envelope.v1+json",
                                  {"predicateType": PROVENANCE})
    signature = push_attachment(registry, "release/azure-mlops-api", digest, "sig",
                                "application/vnd.dev.cosign.artifact.sig.v1+json",
                                "application/vnd.dev.cosign.simplesigning.v1+json")
    return {"name": name, "digest": digest, "image_id": image_id, "index": index, "platforms": platforms,
            "attestation": attestation, "signature": signature}


@pytest.fixture
def graph(tmp_path: Path) -> Any:
    with open_store(f"sqlite:///{tmp_path / 'lineage.db'}") as opened:
        yield opened


def test_golden_events_of_a_release_repository(registry: Registry, release: Json) -> None:
    events, collector = collect(registry, ["release/azure-mlops-api"])
    shown = normalised(events, [registry.host])
    if os.environ.get("LINEAGE_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(shown, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert shown == json.loads(GOLDEN.read_text(encoding="utf-8")), "regenerate: LINEAGE_UPDATE_GOLDEN=1"

    # What the golden file must say, against what podman and the registry report.
    name, digest = release["name"], release["digest"]
    found = images(events)
    api = found[digest]
    assert sorted(api["aliases"]) == sorted(f"{name}:{t}" for t in ("v1.2.3", SHA, "latest", "customer-release"))
    assert api["props"]["tags"] == dict.fromkeys(api["aliases"], True)
    assert api["props"]["config_digest"] == release["image_id"]  # the engine's IMAGE ID
    assert (api["props"]["version"], api["props"]["created"]) == ("1.2.3", "2026-11-10T14:45:00Z")
    assert built_from(events)[digest] == (REPO_URL, SHA, "declared")  # source label canonicalised
    # The index: tag → index digest; each platform its own node, linked to its own declared commit.
    index = found[release["index"]]
    assert index["aliases"] == [f"{name}:multi"]
    assert {p["platform"]: p["digest"] for p in index["props"]["platforms"]} == {
        f"linux/{arch}": d for arch, d in release["platforms"].items()}
    for arch, platform_digest in release["platforms"].items():
        assert found[platform_digest]["props"]["in_index"] == {release["index"]: f"linux/{arch}"}
        assert found[platform_digest]["aliases"] == []
        assert built_from(events)[platform_digest] == (REPO_URL, SHA_MULTI, "declared")
    assert built_from(events)[release["index"]] == (REPO_URL, SHA_MULTI, "declared")  # all platforms agree
    # Attachments by cosign's tag schema: distribution 2.8 answers the referrers API with 404.
    attached = api["props"]["attestations"]
    assert attached[release["attestation"]]["predicate_types"] == [PROVENANCE]
    assert attached[release["attestation"]]["kind"] == "attestation"
    assert attached[release["signature"]]["kind"] == "signature"
    assert {a["via"] for a in attached.values()} == {"tag"}
    assert release["digest"] not in {a for d, n in found.items() if d != digest for a in n["props"].get(
        "attestations", {})}
    report = collector.report.as_dict()
    assert (report["seen"], report["emitted"], report["failed"], report["warnings"]) == (5, 3, 0, [])
    # 5 image tags and 2 attachment tags resolved; manifests: image, index, 2 platforms, 2 attachments;
    # configs: image and 2 platforms; one referrers call, whose 404 turns the API off for the run.
    assert report["requests"] == {"tags_list": 1, "manifest_head": 7, "manifest_get": 6, "blob_get": 3,
                                  "referrers": 1, "total": 18}


def test_events_go_in_and_a_platform_digest_traces_to_its_commit(registry: Registry, release: Json,
                                                                 tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    env = {"LINEAGE_URL": "", "COLUMNS": "200"}
    done = runner.invoke(app, ["collect", "registry", "--registry", registry.url, "--insecure-http",
                               "-r", "release/azure-mlops-api", "--store", uri, "--format", "json"], env=env)
    assert done.exit_code == 0, done.output
    [source] = json.loads(done.stdout)["sources"]
    assert (source["collector"], source["ok"], source["accepted"], source["cursor_saved"]) == (
        "registry", True, 3, True)
    assert source["requests"]["total"] == 18
    traced = runner.invoke(app, ["trace", "image", f"{release['name']}:customer-release", "--store", uri,
                                 "--format", "json"], env=env)
    assert traced.exit_code == 0, traced.output
    assert [c["sha"] for c in json.loads(traced.stdout)["summary"]["commits"]] == [SHA]
    # What a cluster may report: the arm64 manifest's digest, not the index's tag.
    arm = release["platforms"]["arm64"]
    traced = runner.invoke(app, ["trace", "image", arm, "--store", uri, "--format", "json"], env=env)
    assert traced.exit_code == 0, traced.output
    assert [c["sha"] for c in json.loads(traced.stdout)["summary"]["commits"]] == [SHA_MULTI]


def test_a_second_run_reads_no_manifest(registry: Registry, release: Json) -> None:
    _, first = collect(registry, ["release/azure-mlops-api"])
    events, second = collect(registry, ["release/azure-mlops-api"], first.cursor)
    assert events == [] and second.report.emitted == 0 and second.cursor == first.cursor
    # Every tag is re-resolved by HEAD (a moved tag is only seen that way); no manifest, no blob.
    assert dict(second.report.requests) == {"tags_list": 1, "manifest_head": 7, "total": 8}
    assert second.report.skipped == 5
    # SHA and semver tags never move: with only `latest` mutable, one HEAD plus the attachment tags.
    _, third = collect(registry, ["release/azure-mlops-api"], first.cursor, mutable_tags=["latest"])
    assert dict(third.report.requests) == {"tags_list": 1, "manifest_head": 3, "total": 4}


def test_a_moved_tag_is_read_on_the_next_run(podman: Podman, registry: Registry, graph: GraphStore) -> None:
    repository = "moving/api"
    name = f"{registry.host}/{repository}"
    podman.build(f"{name}:v1", LABELS, content="one")
    podman.run("tag", f"{name}:v1", f"{name}:latest")
    old = podman.push(f"{name}:v1")
    assert podman.push(f"{name}:latest") == old
    config = {"registry": registry.url, "insecure_http": True, "repositories": [repository]}
    assert run_into_store(create("registry", config), graph).ok
    podman.build(f"{name}:v2", {**LABELS, "org.opencontainers.image.revision": SHA_MULTI}, content="two")
    podman.run("tag", f"{name}:v2", f"{name}:latest")
    new = podman.push(f"{name}:v2")
    assert podman.push(f"{name}:latest") == new != old

    moved = run_into_store(create("registry", config), graph)
    assert moved.ok and moved.report.emitted == 1
    # Only the new digest is read: one manifest and one config; v1 kept its digest, so it is not.
    assert (moved.report.requests["manifest_get"], moved.report.requests["blob_get"]) == (1, 1)
    [new_node] = graph.find_nodes("image", lookup=new)
    [old_node] = graph.find_nodes("image", lookup=old)
    assert set(new_node.aliases) == {f"{name}:v2", f"{name}:latest"}
    assert new_node.props["tags"] == {f"{name}:v2": True, f"{name}:latest": True}
    assert old_node.props["tags"] == {f"{name}:v1": True}  # latest: null, which the merge deleted
    assert run_into_store(create("registry", config), graph).report.emitted == 0

    # A tag put on a digest read before needs no manifest read; a deleted tag leaves its digest.
    podman.run("tag", f"{name}:v1", f"{name}:stable")
    podman.push(f"{name}:stable")
    delete_manifest(registry, repository, new)  # removes v2 and latest with it
    changed = run_into_store(create("registry", config), graph)
    assert changed.ok and changed.report.emitted == 1
    assert "manifest_get" not in changed.report.requests
    [old_node] = graph.find_nodes("image", lookup=old)
    [new_node] = graph.find_nodes("image", lookup=new)
    assert old_node.props["tags"] == {f"{name}:v1": True, f"{name}:stable": True}
    assert new_node.props.get("tags") == {}


def test_a_broken_repository_is_reported_and_the_others_go_on(registry: Registry, graph: GraphStore) -> None:
    good = push_image(registry, "broken/good", "v1", LABELS, content="good")
    bad = push_image(registry, "broken/bad", "v1", LABELS, content="bad")
    push_image(registry, "broken/bad", "v2", LABELS, content="bad, but readable")
    # Break the registry's storage under one image: its config blob is gone from disk.
    manifest = registry_json(registry, f"/v2/broken/bad/manifests/{bad}", "application/vnd.oci.image.manifest.v1+json")
    config_hex = manifest["config"]["digest"].removeprefix("sha256:")
    (registry.storage / "docker/registry/v2/blobs/sha256" / config_hex[:2] / config_hex / "data").unlink()
    config = {"registry": registry.url, "insecure_http": True,
              "repositories": ["broken/good", "broken/missing", "broken/bad"]}
    result = run_into_store(create("registry", config), graph)
    failures = {f.item: f.error for f in result.report.failures}
    assert set(failures) == {"repository broken/missing", f"{registry.host}/broken/bad@{bad[:19]} (v1)"}
    assert "HTTP 404" in failures["repository broken/missing"] and "NAME_UNKNOWN" in failures[
        "repository broken/missing"]
    assert "image config" in failures[f"{registry.host}/broken/bad@{bad[:19]} (v1)"]
    assert not result.ok and result.error is None and result.cursor_saved  # failures are listed, not fatal
    assert graph.find_nodes("image", lookup=good)
    assert len(graph.find_nodes("image", alias=f"{registry.host}/broken/bad:v2")) == 1
    cursor = json.loads(graph.get_cursor("registry") or "")["repositories"]
    assert "v1" not in cursor["broken/bad"] and "broken/missing" not in cursor  # read again next time
    again = run_into_store(create("registry", config), graph)
    assert {f.item for f in again.report.failures} == set(failures)


def test_an_unreachable_registry_stops_the_source() -> None:
    closed = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(CollectorError, match=r"cannot reach 127\.0\.0\.1:\d+: .*check the registry URL"):
        collect(Registry(closed.removeprefix("http://"), Path()), ["any/repo"])


def test_tags_are_filtered(registry: Registry) -> None:
    for tag in ("v1.0.0", "v1.1.0", "v2.0.0", "latest", "dev-7"):
        push_image(registry, "filtered/api", tag, LABELS, content=tag)
    events, collector = collect(registry, ["filtered/api"], tags=["v*", "latest"])
    aliases = {a for node in images(events).values() for a in node["aliases"]}
    assert aliases == {f"{registry.host}/filtered/api:{t}" for t in ("v1.0.0", "v1.1.0", "v2.0.0", "latest")}
    assert collector.report.seen == 4 and collector.report.requests["manifest_head"] == 4


def test_without_repositories_the_catalog_is_read_page_by_page(registry: Registry) -> None:
    for name in ("catalogued/api", "catalogued/worker", "catalogued/web"):
        push_image(registry, name, "v1", LABELS, content=name)
    events, whole = collect(registry, [])
    assert whole.report.requests["catalog"] == 1
    tagged = {a for n in images(events).values() for a in n["aliases"]}
    assert {f"{registry.host}/{name}:v1" for name in ("catalogued/api", "catalogued/worker")} <= tagged
    # Distribution pages its catalog with Link headers (its tag lists come whole); the same pages() reads both.
    paged_events, paged = collect(registry, [], page_size=2)
    assert paged.report.requests["catalog"] >= 3
    assert json.loads(paged.cursor or "")["repositories"] == json.loads(whole.cursor or "")["repositories"]
    assert len(paged_events) == len(events)


def test_a_buildx_index_with_attestation_manifests(registry: Registry) -> None:
    """buildx stores provenance as an extra index entry (platform unknown/unknown) naming its subject."""
    platform = push_image(registry, "buildx/api", "platform-only", LABELS, content="buildx")
    statement = push_blob(registry, "buildx/api", b'{"_type": "https://in-toto.io/Statement/v1"}')
    empty = push_blob(registry, "buildx/api", b"{}")
    attestation = push_manifest(registry, "buildx/api", "attestation", {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": statement, "size": 45,
                    "annotations": {"in-toto.io/predicate-type": PROVENANCE}}]})
    index = push_manifest(registry, "buildx/api", "v1", {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": platform, "size": 1,
         "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": attestation, "size": 1,
         "platform": {"os": "unknown", "architecture": "unknown"},
         "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                         "vnd.docker.reference.digest": platform, "in-toto.io/predicate-type": PROVENANCE}}]})
    events, collector = collect(registry, ["buildx/api"], tags=["v1"])
    found = images(events)
    assert [p["digest"] for p in found[index]["props"]["platforms"]] == [platform]  # not the attestation
    assert found[platform]["props"]["attestations"] == {attestation: {
        "media_type": "application/vnd.oci.image.manifest.v1+json", "via": "index", "predicate_types": [PROVENANCE]}}
    assert attestation not in found and collector.report.failures == []


# --- auth --------------------------------------------------------------------------------------------


def test_basic_auth(podman: Podman, basic_registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"{basic_registry.host}/private/api"
    podman.build(f"{name}:v1.2.3", LABELS, content="private")
    digest = podman.push(f"{name}:v1.2.3", creds=f"{USER}:{PASSWORD}")
    events, collector = collect(basic_registry, ["private/api"], username=USER, password=PASSWORD)
    assert list(images(events)) == [digest] and not collector.report.failures
    assert collector.report.requests["unauthorized"] == 1  # once; afterwards Basic is sent up front
    _, anonymous = collect(basic_registry, ["private/api"])
    [failure] = anonymous.report.failures
    assert "asks for a username and password" in failure.error
    _, wrong = collect(basic_registry, ["private/api"], username=USER, password="not-the-password")
    assert "HTTP 401" in wrong.report.failures[0].error
    # From the environment, as lineage.yaml and the command line take it.
    monkeypatch.setenv("TEST_REGISTRY_PASSWORD", PASSWORD)
    events, _ = collect(basic_registry, ["private/api"], username=USER, password_env="TEST_REGISTRY_PASSWORD")
    assert list(images(events)) == [digest]
    _assert_no_secret([events, collector.report.as_dict(), wrong.report.as_dict(), collector.cursor, str(
        collector.config), repr(collector.config)])


def test_bearer_token_flow(podman: Podman, token_registry: tuple[Registry, TokenServer]) -> None:
    registry, tokens = token_registry
    digests = {}
    for repository in ("team/api", "team/worker"):
        podman.build(f"{registry.host}/{repository}:v1", LABELS, content=repository)
        digests[repository] = podman.push(f"{registry.host}/{repository}:v1", creds=f"{USER}:{PASSWORD}")
    tokens.issued.clear()
    events, collector = collect(registry, ["team/api", "team/worker"], username=USER, password=PASSWORD)
    assert set(images(events)) == set(digests.values()) and not collector.report.failures
    # One token per repository scope; only the first request met a 401, the second scope's token was
    # fetched before its first request.
    assert tokens.issued == ["repository:team/api:pull", "repository:team/worker:pull"]
    assert (collector.report.requests["token"], collector.report.requests["unauthorized"]) == (2, 1)
    _, anonymous = collect(registry, ["team/api"])
    assert "refused anonymous access; set username and password" in anonymous.report.failures[0].error
    # A token obtained elsewhere is sent as is; it grants one repository only.
    token = _token_for(tokens, "repository:team/api:pull")
    events, with_token = collect(registry, ["team/api", "team/worker"], token=token)
    assert set(images(events)) == {digests["team/api"]}
    [failure] = with_token.report.failures
    assert failure.item == "repository team/worker" and "refused the configured token" in failure.error
    _assert_no_secret([events, collector.report.as_dict(), with_token.report.as_dict(), repr(with_token.config)],
                      token)


def test_cli_takes_the_password_from_the_environment_and_never_prints_it(
        podman: Podman, basic_registry: Registry, tmp_path: Path) -> None:
    name = f"{basic_registry.host}/cli/api"
    podman.build(f"{name}:v1", LABELS, content="cli")
    podman.push(f"{name}:v1", creds=f"{USER}:{PASSWORD}")
    args = ["collect", "registry", "--registry", basic_registry.url, "--insecure-http", "-r", "cli/api",
            "--username", USER, "--password-env", "CLI_REGISTRY_PASSWORD",
            "--store", f"sqlite:///{tmp_path / 'cli.db'}", "--format", "json"]
    done = CliRunner().invoke(app, args, env={"LINEAGE_URL": "", "CLI_REGISTRY_PASSWORD": PASSWORD})
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["sources"][0]["accepted"] == 1
    missing = CliRunner().invoke(app, args, env={"LINEAGE_URL": "", "CLI_REGISTRY_PASSWORD": ""})
    assert missing.exit_code == 1
    assert "CLI_REGISTRY_PASSWORD (password_env) is not set" in json.loads(missing.stdout)["sources"][0]["error"]
    _assert_no_secret([done.output, missing.output])


@pytest.mark.parametrize(("config", "says"), [
    ({"registry": "http://127.0.0.1:5000"}, "set insecure_http"),
    ({"registry": "http://registry.internal:5000", "insecure_http": True, "username": "u", "password": "p"},
     "refusing to send credentials over plain HTTP to registry.internal:5000"),
    ({"registry": "https://u:p@ghcr.io"}, "not in the URL"),
    ({"registry": "ghcr.io", "username": "u"}, "username and password"),
    ({"registry": "ghcr.io", "token": "t", "username": "u", "password": "p"}, "either token or username"),
    ({"registry": "ghcr.io/org"}, "expected a registry like ghcr.io"),
    ({"registry": "ghcr.io", "repositories": ["Org/API"]}, "lower case"),
    ({"registry": "ghcr.io", "tag": ["v*"]}, "Extra inputs are not permitted"),
])
def test_config_errors_name_the_fix(config: Json, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        RegistryConfig.model_validate(config)


def test_registry_names() -> None:
    hub = RegistryConfig(registry="docker.io", repositories=["ubuntu", "nathansegers/azure-mlops-api"])
    assert (hub.api, hub.host) == ("https://registry-1.docker.io", "docker.io")
    assert hub.repositories == ["library/ubuntu", "nathansegers/azure-mlops-api"]
    local = RegistryConfig(registry="http://127.0.0.1:5000/", insecure_http=True, username="u", password=PASSWORD)
    assert (local.api, local.host) == ("http://127.0.0.1:5000", "127.0.0.1:5000")
    assert PASSWORD not in repr(local) and PASSWORD not in local.model_dump_json()


def _assert_no_secret(outputs: list[Any], *secrets: str) -> None:
    text = json.dumps(outputs, default=str)
    for secret in (PASSWORD, *secrets):
        assert secret not in text


def _token_for(tokens: TokenServer, scope: str) -> str:
    import base64

    service = tokens.service
    request = urllib.request.Request(f"{tokens.realm}?service={service}&scope={scope}", headers={
        "Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return str(json.loads(answer.read())["token"])


def _closed_port() -> int:
    from tests.services import free_port

    return free_port()  # bound and released: nothing listens there
