"""``lineage verify`` and ``GET /v1/verify``: each check along the chain, with severity, evidence and fix.

The demo's v1.2.3 passes every check. Its release candidate v1.2.4-rc1 fails one: dev/taxi-api-rc#2 runs
a digest someone pushed over the ``v1.2.4-rc1`` tag by hand, not the one CI built. Small stores
built through the ingestion path drive each rule on its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lineage_service.api.app import create_app
from lineage_service.demo.history import HOTFIX_DIGEST, RC_DIGEST
from lineage_service.query.references import NotFound
from lineage_service.query.verify import CHECKS, verify
from lineage_service.settings import Settings
from lineage_service.store.base import GraphStore
from lineage_service.tokens import hash_token
from tests.incident_support import (
    IMAGE,
    REPO,
    commit,
    deployment,
    digest,
    invoke,
    link,
    load,
    node,
    plain,
    sha,
)
from tests.servers import live_server

Json = dict[str, Any]
TOKEN = "incident-verify-token-0123"


def findings(answer: Json, check: str, severity: str | None = None) -> list[Json]:
    return [f for f in answer["findings"] if f["check"] == check and severity in (None, f["severity"])]


# The demo ------------------------------------------------------------------------------------------

def test_v123_passes_every_check(demo_store: GraphStore) -> None:
    answer = verify(demo_store, "api", "v1.2.3")
    assert answer["passed"] is True
    assert answer["counts"]["fail"] == 0 and answer["counts"]["warn"] == 0
    assert {f["check"] for f in answer["findings"]} == set(CHECKS)
    ok = findings(answer, "running-digest", "ok")
    assert [f["subject"]["label"] for f in ok] == ["dev/taxi-api#13", "prod/taxi-api#8"]
    assert "the digest CI built for ghcr.io/nathansegers/azure-mlops-api:v1.2.3 (github-actions/7004455701)" \
        in ok[0]["message"]


def test_the_hotfix_pushed_over_the_rc_tag_fails_with_evidence_and_a_fix(demo_store: GraphStore) -> None:
    answer = verify(demo_store, "api", "v1.2.4-rc1")
    assert answer["passed"] is False
    [failed] = [f for f in answer["findings"] if f["severity"] == "fail"]
    assert failed["check"] == "running-digest" and failed["subject"]["label"] == "dev/taxi-api-rc#2"
    assert HOTFIX_DIGEST[:19] in failed["message"] and f"as {RC_DIGEST[:19]}" in failed["message"]
    edges = {(e["kind"], e["evidence"], tuple(e["sources"])) for e in failed["evidence"]["edges"]}
    assert ("runs_image", "observed", ("kubernetes",)) in edges
    assert ("built_by", "declared", ("github-actions",)) in edges
    assert {"kubernetes", "github-actions"} <= set(failed["evidence"]["sources"])
    assert f"@{RC_DIGEST}" in failed["fix"] and "pin deployments by digest" in failed["fix"]
    # The first revision ran what CI built; the tag has moved since: a warning about the past.
    assert [f["subject"]["label"] for f in findings(answer, "running-digest", "ok")] == ["dev/taxi-api-rc#1"]
    [moved] = findings(answer, "tag-moved", "warn")
    assert moved["subject"]["label"] == "dev/taxi-api-rc#1" and "now points to sha256:0df72004f5b8" in moved["message"]
    [unknown] = findings(answer, "known-commit", "warn")
    assert unknown["subject"]["label"] == HOTFIX_DIGEST[:19] and "lineage emit image" in unknown["fix"]
    assert len(findings(answer, "model-matches-image", "warn")) == 2  # the rc names no model at all


def test_findings_are_ordered_fail_warn_ok(demo_store: GraphStore) -> None:
    severities = [f["severity"] for f in verify(demo_store, "api", "v1.2.4-rc1")["findings"]]
    assert severities == sorted(severities, key=["fail", "warn", "ok"].index)


def test_an_unknown_reference_is_not_found(demo_store: GraphStore) -> None:
    with pytest.raises(NotFound):
        verify(demo_store, "api", "v9.9.9")


# One rule at a time, on small stores --------------------------------------------------------------

def served(store: GraphStore, *, revision: Json, image: Json, extra_nodes: list[Json] | None = None,
           extra_edges: list[Json] | None = None, runs_evidence: str = "observed", event_id: str = "release") -> None:
    """api fares-api 2.0.0 served by ``revision``, which runs ``image`` (built from commit 1 by run 1)."""
    api, code, run = node("api", service="fares-api", version="2.0.0"), commit(1), node("run", system="ci", id="1")
    repo = node("repo", url=REPO)
    load(store, [api, revision, image, code, run, repo, *(extra_nodes or [])], [
        link(api, revision), link(revision, image, evidence=runs_evidence), link(image, code, evidence="declared"),
        link(image, run, evidence="declared"), link(code, repo), *(extra_edges or [])], event_id=event_id)


def image(n: int, *tags: str, **props: Any) -> Json:
    return node("image", {"created": f"2026-11-{n:02d}T00:00:00Z", **props}, [f"{IMAGE}:{t}" for t in tags],
                digest=digest(n))


def test_a_spec_pinning_another_digest_than_the_cluster_runs_fails(store: GraphStore) -> None:
    revision = deployment(1, containers=[{"image": f"{IMAGE}:2.0.0@{digest(9)}"}])
    served(store, revision=revision, image=image(1, "2.0.0"))
    [failed] = findings(verify(store, "deployment", "prod/fares-api"), "running-digest", "fail")
    assert f"pins {IMAGE}:2.0.0@{digest(9)}" in failed["message"]


def test_running_the_ci_build_of_the_pulled_tag_is_ok(store: GraphStore) -> None:
    served(store, revision=deployment(1, containers=[{"image": f"{IMAGE}:2.0.0"}]), image=image(1, "2.0.0"))
    answer = verify(store, "api", "2.0.0")
    assert [f["severity"] for f in findings(answer, "running-digest")] == ["ok"]
    assert answer["passed"] is True


def test_a_live_deployment_pulling_a_moved_tag_unpinned_fails_and_pinned_warns(store: GraphStore) -> None:
    served(store, revision=deployment(1, containers=[{"image": f"{IMAGE}:2.0.0"}]), image=image(1, "2.0.0"))
    # A week later someone pushes another build over the same tag; the live revision still runs the old one.
    load(store, [image(8, "2.0.0")], [], event_id="registry-push", time="2026-11-21T00:00:00Z", source="registry")
    [failed] = findings(verify(store, "api", "2.0.0"), "tag-moved", "fail")
    assert failed["message"].startswith(f"{IMAGE}:2.0.0 now points to {digest(8)[:19]} (pushed 2026-11-08T00:00:00Z)")
    assert "pin prod/fares-api#1 by digest" in failed["fix"]
    load(store, [deployment(1, containers=[{"image": f"{IMAGE}:2.0.0@{digest(1)}"}])], [], event_id="pinned",
         time="2026-11-22T00:00:00Z")
    assert [f["severity"] for f in findings(verify(store, "api", "2.0.0"), "tag-moved")] == ["warn"]


def test_an_env_model_that_is_not_the_bundled_model_fails(store: GraphStore) -> None:
    bundled, named = node("model", name="fares", version="4"), node("model", name="fares", version="5")
    revision = deployment(1, env={"MODEL_NAME": "fares", "MODEL_VERSION": "5"})
    served(store, revision=revision, image=image(1), extra_nodes=[bundled, named],
           extra_edges=[link(image(1), bundled), link(revision, named, evidence="declared")])
    [failed] = findings(verify(store, "api", "2.0.0"), "model-matches-image", "fail")
    assert failed["message"] == "prod/fares-api#1's env names fares:5 but its image bundles fares:4"
    assert "set MODEL_VERSION to the bundled model" in failed["fix"]


def test_an_env_model_matching_the_bundled_model_by_version_is_ok(store: GraphStore) -> None:
    bundled = node("model", name="fares", version="4")
    served(store, revision=deployment(1, env={"MODEL_VERSION": "4"}), image=image(1), extra_nodes=[bundled],
           extra_edges=[link(image(1), bundled)])
    assert [f["severity"] for f in findings(verify(store, "api", "2.0.0"), "model-matches-image")] == ["ok"]


@pytest.mark.parametrize(("props", "reason"), [
    ({"properties": {"azureml.git.dirty": "True"}}, "azureml.git.dirty=True"),
    ({"dirty": True}, "dirty: true"),
])
def test_a_training_job_from_a_dirty_tree_fails(store: GraphStore, props: Json, reason: str) -> None:
    model, job = node("model", name="fares", version="4"), node("job", props, system="azureml", id="train-4")
    served(store, revision=deployment(1), image=image(1), extra_nodes=[model, job],
           extra_edges=[link(image(1), model), link(model, job), link(job, commit(1))])
    [failed] = findings(verify(store, "api", "2.0.0"), "clean-tree", "fail")
    assert failed["subject"]["label"] == "azureml/train-4" and reason in failed["message"]


def test_an_image_whose_revision_label_says_dirty_fails(store: GraphStore) -> None:
    dirty = image(1, labels={"org.opencontainers.image.revision": f"{sha(1)}-dirty"})
    served(store, revision=deployment(1), image=dirty)
    [failed] = findings(verify(store, "api", "2.0.0"), "clean-tree", "fail")
    assert f"{sha(1)}-dirty" in failed["message"]


def test_a_commit_without_its_repository_warns_and_names_the_git_collector(store: GraphStore) -> None:
    api, revision, built = node("api", service="fares-api", version="2.0.0"), deployment(1), image(1)
    load(store, [api, revision, built, commit(1)], [link(api, revision), link(revision, built),
                                                    link(built, commit(1), evidence="declared")])
    [warned] = findings(verify(store, "api", "2.0.0"), "known-commit", "warn")
    assert warned["subject"]["label"] == sha(1)[:7]
    assert "lineage collect git --repo" in warned["fix"] and REPO in warned["fix"]


def test_a_job_linked_to_another_commit_than_it_reports_fails(store: GraphStore) -> None:
    model = node("model", name="fares", version="4")
    job = node("job", {"properties": {"azureml.git.commit": sha(7)}}, system="azureml", id="train-4")
    served(store, revision=deployment(1), image=image(1), extra_nodes=[model, job],
           extra_edges=[link(image(1), model), link(model, job), link(job, commit(1))])
    [failed] = findings(verify(store, "api", "2.0.0"), "known-commit", "fail")
    assert f"says it ran {sha(7)[:12]}" in failed["message"]


def test_cluster_links_only_declared_warn_and_inferred_links_warn(store: GraphStore) -> None:
    model = node("model", name="fares", version="4")
    served(store, revision=deployment(1), image=image(1), runs_evidence="declared", extra_nodes=[model],
           extra_edges=[link(image(1), model, evidence="inferred")])
    warned = findings(verify(store, "api", "2.0.0"), "link-evidence", "warn")
    assert [(w["evidence"]["edges"][0]["kind"], w["evidence"]["edges"][0]["evidence"]) for w in warned] == [
        ("bundles", "inferred"), ("runs_image", "declared")]
    assert "from the cluster" in warned[1]["fix"]


# CLI, HTTP, remote -----------------------------------------------------------------------------------

@pytest.fixture
def demo_uri(tmp_path: Path) -> str:
    uri = f"sqlite:///{tmp_path / 'demo.db'}"
    assert invoke("demo", "--quiet", "--store", uri).exit_code == 0
    return uri


def test_cli_exits_1_when_a_check_fails_and_0_when_all_pass(demo_uri: str) -> None:
    failed = invoke("verify", "api", "v1.2.4-rc1", "--format", "tree", "--store", demo_uri)
    assert failed.exit_code == 1
    assert failed.stdout.startswith("Verify api taxi-api v1.2.4-rc1: FAILED  (1 fail, 4 warn, 4 ok)")
    assert "FAIL  running-digest" in failed.stdout and "fix: redeploy what CI built" in failed.stdout
    passed = invoke("verify", "api", "v1.2.3", "--format", "json", "--store", demo_uri)
    assert passed.exit_code == 0 and json.loads(passed.stdout)["passed"] is True


def test_cli_json_has_findings_and_passed_even_when_it_fails(demo_uri: str) -> None:
    result = invoke("verify", "api", "v1.2.4-rc1", "--format", "json", "--store", demo_uri)
    assert result.exit_code == 1
    answer = json.loads(result.stdout)
    assert answer["passed"] is False and answer["findings"][0]["severity"] == "fail"


def test_http_verify_answers_200_with_passed_false(demo_uri: str, demo_store: GraphStore) -> None:
    with TestClient(create_app(Settings(store=demo_uri))) as client:  # type: ignore[arg-type]
        response = client.get("/v1/verify", params={"kind": "api", "ref": "v1.2.4-rc1"})
        assert response.status_code == 200
        assert response.json() == plain(verify(demo_store, "api", "v1.2.4-rc1"))
        assert client.get("/v1/verify", params={"kind": "api", "ref": "v9"}).status_code == 404


@pytest.fixture
def service(demo_uri: str) -> Iterator[str]:
    with live_server(Settings(store=demo_uri, tokens=f"oncall read {hash_token(TOKEN)}")) as url:  # type: ignore[arg-type]
        yield url


@pytest.mark.parametrize("args", [["verify", "api", "v1.2.3"], ["verify", "api", "v1.2.4-rc1"],
                                  ["verify", "deployment", "dev/taxi-api-rc"], ["verify", "api", "v9.9.9"]])
def test_remote_verify_is_the_local_verify(service: str, demo_uri: str, args: list[str]) -> None:
    local = invoke(*args, "--format", "json", "--store", demo_uri)
    remote = invoke(*args, "--format", "json", env={"LINEAGE_URL": service, "LINEAGE_TOKEN": TOKEN})
    assert remote.exit_code == local.exit_code
    assert (json.loads(remote.stdout) if remote.stdout else None) == (json.loads(local.stdout) if local.stdout
                                                                      else None)
