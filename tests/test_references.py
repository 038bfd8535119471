"""Human references resolve to one node of the demo, or fail with a message a person can act on.

Unknown references list what is known that is close; ambiguous ones list the candidates; a
reference in the wrong form names the form that was expected.
"""

from __future__ import annotations

from typing import Any

import pytest

from graph_schema.canonical import InvalidValue
from lineage_service.demo.history import (
    DOCKER_HUB_IMAGE,
    IMAGE,
    PREP_CHANGE_SHA,
    REPO,
    V122_DIGEST,
    V123_DIGEST,
    V123_SHA,
)
from lineage_service.ingest import ingest, validate_all
from lineage_service.query.references import Ambiguous, NotFound, Resolved, resolve
from lineage_service.store.base import GraphStore

Json = dict[str, Any]


def ref(kind: str, **key: str) -> Json:
    return {"kind": kind, "key": key}


def load(store: GraphStore, *nodes: Json, edges: list[Json] | None = None, event_id: str = "test-1") -> None:
    """Store nodes (and edges between them) through the one ingestion path, as one lineage event."""
    event = {"id": event_id, "time": "2026-11-20T10:00:00Z", "source": "test", "nodes": list(nodes),
             "edges": edges or []}
    result = ingest(store, validate_all([event]))
    assert result.accepted == [event_id] and not result.failed


def resolved_label(store: GraphStore, kind: str, reference: str) -> str:
    return resolve(store, kind, reference).node.label


# api ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reference", ["v1.2.3", "1.2.3", "taxi-api@v1.2.3", "taxi-api v1.2.3", " v1.2.3 "])
def test_api_release_resolves_with_or_without_v_and_service(demo_store: GraphStore, reference: str) -> None:
    resolved = resolve(demo_store, "api", reference)
    assert resolved.node.key == {"service": "taxi-api", "version": "1.2.3"}
    assert resolved.node.label == "taxi-api v1.2.3"
    assert resolved.note is None


def test_api_release_of_unknown_service_lists_the_known_release(demo_store: GraphStore) -> None:
    with pytest.raises(NotFound, match=r"no api matches 'fare-api@v1\.2\.3'; known: taxi-api v1\.2\.3") as caught:
        resolve(demo_store, "api", "fare-api@v1.2.3")
    assert [n.label for n in caught.value.candidates] == ["taxi-api v1.2.3"]


def test_unknown_api_version_lists_the_known_releases(demo_store: GraphStore) -> None:
    with pytest.raises(NotFound) as caught:
        resolve(demo_store, "api", "v9.9.9")
    assert "no api matches 'v9.9.9'" in str(caught.value)
    assert "taxi-api v1.2.2" in str(caught.value) and "taxi-api v1.2.3" in str(caught.value)
    assert {n.label for n in caught.value.candidates} == {"taxi-api v1.2.2", "taxi-api v1.2.3", "taxi-api v1.2.4-rc1"}


def test_version_shared_by_two_services_is_ambiguous_and_asks_for_the_service(store: GraphStore) -> None:
    load(store, ref("api", service="taxi-api", version="v2.0.0"), ref("api", service="fare-api", version="2.0.0"))
    with pytest.raises(Ambiguous) as caught:
        resolve(store, "api", "v2.0.0")
    message = str(caught.value)
    assert "matches 2 nodes" in message and "fare-api v2.0.0" in message and "taxi-api v2.0.0" in message
    assert "name the service" in message
    assert resolved_label(store, "api", "fare-api@2.0.0") == "fare-api v2.0.0"


def test_empty_reference_names_the_expected_form(demo_store: GraphStore) -> None:
    with pytest.raises(NotFound, match=r"empty api reference; expected v1\.2\.3, 1\.2\.3 or taxi-api@v1\.2\.3"):
        resolve(demo_store, "api", "   ")


def test_api_version_with_stray_characters_names_the_expected_form(demo_store: GraphStore) -> None:
    with pytest.raises(NotFound, match=r"expected a release version like 'v1\.2\.3' or '1\.2\.3', got 'v1\.2\.3!'"):
        resolve(demo_store, "api", "taxi-api@v1.2.3!")


def test_unknown_kind_is_rejected_with_the_known_kinds(demo_store: GraphStore) -> None:
    with pytest.raises(InvalidValue, match=r"unknown node kind 'release'; expected one of: api, deployment"):
        resolve(demo_store, "release", "v1.2.3")


def test_empty_store_says_how_to_load_nodes(store: GraphStore) -> None:
    with pytest.raises(NotFound, match=r"the store has no api nodes yet .*lineage demo"):
        resolve(store, "api", "v1.2.3")


# model and dataset -------------------------------------------------------------------------------

@pytest.mark.parametrize("reference", ["taxi-model:3", "taxi-model@3"])
def test_model_version_resolves_exactly_without_a_note(demo_store: GraphStore, reference: str) -> None:
    resolved = resolve(demo_store, "model", reference)
    assert resolved.node.key == {"name": "taxi-model", "version": "3"}
    assert resolved.note is None


def test_model_without_version_resolves_to_the_latest_and_says_so(demo_store: GraphStore) -> None:
    resolved = resolve(demo_store, "model", "taxi-model")
    assert resolved.node.label == "taxi-model:3"
    assert resolved.note == "model taxi-model resolved to taxi-model:3, the latest version"


def test_latest_model_version_compares_numbers_not_text(store: GraphStore) -> None:
    load(store, *(ref("model", name="taxi-model", version=str(v)) for v in (2, 9, 10)))
    assert resolved_label(store, "model", "taxi-model") == "taxi-model:10"


def test_dataset_latest_resolves_to_the_newest_version_and_says_so(demo_store: GraphStore) -> None:
    resolved = resolve(demo_store, "dataset", "green-taxi-data:latest")
    assert resolved.node.label == "green-taxi-data:5"
    assert resolved.note is not None
    assert "green-taxi-data:latest resolved to green-taxi-data:5" in resolved.note
    assert "latest version" in resolved.note


def test_dataset_exact_version_is_not_the_latest(demo_store: GraphStore) -> None:
    resolved = resolve(demo_store, "dataset", "green-taxi-data:4")
    assert resolved.node.label == "green-taxi-data:4" and resolved.note is None


def test_unknown_version_of_a_known_model_lists_its_versions(demo_store: GraphStore) -> None:
    with pytest.raises(NotFound, match=r"^model taxi-model has no version 9; known versions: 2, 3$"):
        resolve(demo_store, "model", "taxi-model:9")


def test_unknown_dataset_version_lists_versions_in_numeric_order(demo_store: GraphStore) -> None:
    with pytest.raises(NotFound, match=r"green-taxi-data has no version 6; known versions: 3, 4, 5$"):
        resolve(demo_store, "dataset", "green-taxi-data:6")


def test_misspelt_model_name_lists_close_models(demo_store: GraphStore) -> None:
    with pytest.raises(NotFound) as caught:
        resolve(demo_store, "model", "taxi-modle:3")
    assert str(caught.value).startswith("no model matches 'taxi-modle:3'; known: ")
    assert {n.label for n in caught.value.candidates} == {"taxi-model:2", "taxi-model:3"}


def test_model_name_with_spaces_names_the_expected_form(demo_store: GraphStore) -> None:
    with pytest.raises(NotFound, match=r"expected a model name without spaces"):
        resolve(demo_store, "model", "taxi model")


# image -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reference", [
    f"{IMAGE}:v1.2.3",  # ghcr.io/nathansegers/azure-mlops-api:v1.2.3
    f"{DOCKER_HUB_IMAGE}:v1.2.3",  # the Docker Hub short name
    f"docker.io/{DOCKER_HUB_IMAGE}:v1.2.3",
    f"{IMAGE}:{V123_SHA[:7]}",  # the SHA tag CI pushes
    f"{IMAGE}:customer-release",
    IMAGE,  # no tag means :latest, which the v1.2.3 build also pushed
    V123_DIGEST,
    f"@{V123_DIGEST}",
    f"{IMAGE}@{V123_DIGEST}",
    f"{IMAGE}:v1.2.3@{V123_DIGEST}",
    V123_DIGEST.removeprefix("sha256:"),  # a bare 64-hex digest, as `docker images --digests` shows it
    "3f49a154a09c",  # a digest prefix
    "sha256:3f49a1",
])
def test_image_resolves_by_tag_digest_or_digest_prefix(demo_store: GraphStore, reference: str) -> None:
    assert resolve(demo_store, "image", reference).node.key == {"digest": V123_DIGEST}


def test_image_tag_of_the_older_release_resolves_to_its_own_digest(demo_store: GraphStore) -> None:
    assert resolve(demo_store, "image", f"{DOCKER_HUB_IMAGE}:v1.2.2").node.key == {"digest": V122_DIGEST}


def test_unknown_image_tag_names_the_full_reference_looked_for(demo_store: GraphStore) -> None:
    with pytest.raises(NotFound) as caught:
        resolve(demo_store, "image", f"{IMAGE}:v9.9.9")
    message = str(caught.value)
    assert message.startswith(f"no image is tagged {IMAGE}:v9.9.9; known: ")
    assert "sha256:3f49a154a09c" in message


def test_untagged_docker_hub_name_says_it_looked_for_latest(demo_store: GraphStore) -> None:
    # Only the ghcr.io repository got a :latest tag in the demo; Docker Hub has none.
    with pytest.raises(NotFound) as caught:
        resolve(demo_store, "image", DOCKER_HUB_IMAGE)
    assert str(caught.value).startswith(
        f"no image is tagged docker.io/{DOCKER_HUB_IMAGE}:latest (you typed '{DOCKER_HUB_IMAGE}')")


def test_digest_prefix_shorter_than_six_characters_says_so(demo_store: GraphStore) -> None:
    for reference in ("3f49", "sha256:3f4"):
        with pytest.raises(NotFound, match=r"a digest prefix needs at least 6 hexadecimal characters") as caught:
            resolve(demo_store, "image", reference)
        assert "known:" not in str(caught.value)  # it does not claim a miss and then list the match


def test_digest_prefix_shared_by_two_images_is_ambiguous(store: GraphStore) -> None:
    load(store, ref("image", digest="sha256:ab12cd" + "0" * 58), ref("image", digest="sha256:ab12cd" + "1" * 58))
    with pytest.raises(Ambiguous) as caught:
        resolve(store, "image", "ab12cd")
    assert "matches 2 nodes" in str(caught.value)
    assert "give more characters of the digest" in str(caught.value)
    assert len(caught.value.candidates) == 2


def test_malformed_image_reference_names_the_expected_form(demo_store: GraphStore) -> None:
    with pytest.raises(NotFound, match=r"expected an image reference like 'ghcr\.io/org/api:v1\.2\.3'"):
        resolve(demo_store, "image", "Not An Image")


# commit ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reference", ["05ee055", "05EE055", "05ee", V123_SHA])
def test_commit_resolves_by_unique_sha_prefix(demo_store: GraphStore, reference: str) -> None:
    resolved = resolve(demo_store, "commit", reference)
    assert resolved.node.key == {"repo": REPO, "sha": V123_SHA}
    assert resolved.node.props["author"] == "tom.dewulf@example.com"


def test_ambiguous_commit_prefix_lists_the_candidates(store: GraphStore) -> None:
    other = "05ee0aa" + "1" * 33
    load(store, ref("commit", repo=REPO, sha=V123_SHA), ref("commit", repo=REPO, sha=other))
    with pytest.raises(Ambiguous) as caught:
        resolve(store, "commit", "05ee0")
    message = str(caught.value)
    assert message.startswith("commit '05ee0' matches 2 commits: ")
    assert "05ee055 in github.com/nathansegers/mlops-2.0" in message
    assert "05ee0aa in github.com/nathansegers/mlops-2.0" in message
    assert message.endswith("give more characters of the SHA")
    assert {n.key["sha"] for n in caught.value.candidates} == {V123_SHA, other}
    # One more character is enough.
    assert resolve(store, "commit", "05ee05").node.key["sha"] == V123_SHA


def test_ambiguous_commits_sharing_a_long_prefix_are_listed_distinctly(store: GraphStore) -> None:
    shared = "0123456789ab"
    load(store, ref("commit", repo=REPO, sha=shared + "c" * 28), ref("commit", repo=REPO, sha=shared + "d" * 28))
    with pytest.raises(Ambiguous) as caught:
        resolve(store, "commit", "0123")
    # The 7-character labels would both read 0123456; the listing shows where they differ.
    assert f"{shared}c in" in str(caught.value) and f"{shared}d in" in str(caught.value)


def test_same_commit_in_a_fork_is_ambiguous_and_names_both_repositories(store: GraphStore) -> None:
    load(store, ref("commit", repo=REPO, sha=V123_SHA),
         ref("commit", repo="https://github.com/tomdewulf/mlops-2.0", sha=V123_SHA))
    with pytest.raises(Ambiguous) as caught:
        resolve(store, "commit", "05ee055")
    message = str(caught.value)
    assert "github.com/nathansegers/mlops-2.0" in message and "github.com/tomdewulf/mlops-2.0" in message
    assert "the commit is in several repositories" in message


def test_more_candidates_than_listed_are_not_counted_exactly(store: GraphStore) -> None:
    load(store, *(ref("commit", repo=REPO, sha=f"beef{n:036x}") for n in range(12)))
    with pytest.raises(Ambiguous) as caught:
        resolve(store, "commit", "beef")
    assert "matches more than 10 commits" in str(caught.value)
    assert len(caught.value.candidates) == 10


def test_unknown_commit_prefix_lists_known_commits(demo_store: GraphStore) -> None:
    with pytest.raises(NotFound) as caught:
        resolve(demo_store, "commit", "ffff")
    assert str(caught.value).startswith("no commit matches 'ffff'; known: ")
    assert {"05ee055", "5b7e2c9"} <= {n.label for n in caught.value.candidates}


@pytest.mark.parametrize("reference", ["05e", "zzzz", "05ee055 5b7e2c9"])
def test_invalid_commit_reference_names_the_expected_form(demo_store: GraphStore, reference: str) -> None:
    with pytest.raises(NotFound, match=r"expected 4 to 40 hexadecimal characters of a commit SHA"):
        resolve(demo_store, "commit", reference)


# deployment --------------------------------------------------------------------------------------

def test_deployment_without_revision_resolves_to_the_live_one_with_a_note(demo_store: GraphStore) -> None:
    resolved = resolve(demo_store, "deployment", "prod/taxi-api")
    assert resolved.node.label == "prod/taxi-api#8"
    assert "active_to" not in resolved.node.props
    assert resolved.note == ("deployment prod/taxi-api resolved to its live revision, prod/taxi-api#8; "
                             "add #<revision> for another")


def test_deployment_with_revision_resolves_to_that_revision(demo_store: GraphStore) -> None:
    resolved = resolve(demo_store, "deployment", "prod/taxi-api#7")
    assert resolved.node.label == "prod/taxi-api#7"
    assert resolved.node.props["active_to"] == "2026-11-12T09:30:00Z"
    assert resolved.note is None


def test_deployment_named_with_its_cluster_resolves(demo_store: GraphStore) -> None:
    resolved = resolve(demo_store, "deployment", "aks-mlops-dev/dev/taxi-api")
    assert resolved.node.label == "dev/taxi-api#13"
    assert resolved.node.key["cluster"] == "aks-mlops-dev"


def test_deployment_name_in_two_namespaces_is_ambiguous_and_suggests_full_names(demo_store: GraphStore) -> None:
    with pytest.raises(Ambiguous) as caught:
        resolve(demo_store, "deployment", "taxi-api")
    message = str(caught.value)
    assert "exists in 2 places" in message
    assert "aks-mlops-dev/dev/taxi-api" in message and "aks-mlops-prod/prod/taxi-api" in message


def test_deployment_with_no_live_revision_says_none_is_live(store: GraphStore) -> None:
    key = {"platform": "kubernetes", "cluster": "aks-mlops-dev", "namespace": "staging", "name": "taxi-api"}
    load(store, {"kind": "deployment", "key": {**key, "revision": "1"}, "props": {"active_to": "2026-11-01T00:00:00Z"}},
         {"kind": "deployment", "key": {**key, "revision": "2"}, "props": {"active_to": "2026-11-05T00:00:00Z"}})
    resolved = resolve(store, "deployment", "staging/taxi-api")
    assert resolved.node.label == "staging/taxi-api#2"
    assert resolved.note is not None
    assert "live revision" not in resolved.note
    assert "none is live; it ended 2026-11-05T00:00:00Z" in resolved.note


def test_unknown_deployment_revision_lists_the_known_revisions(demo_store: GraphStore) -> None:
    with pytest.raises(NotFound) as caught:
        resolve(demo_store, "deployment", "prod/taxi-api#99")
    assert "no deployment matches 'prod/taxi-api#99'" in str(caught.value)
    assert {"prod/taxi-api#7", "prod/taxi-api#8"} <= {n.label for n in caught.value.candidates}


def test_deployment_path_with_too_many_parts_names_the_expected_form(demo_store: GraphStore) -> None:
    with pytest.raises(NotFound, match=r"expected prod/taxi-api \(the live revision\) or prod/taxi-api#8"):
        resolve(demo_store, "deployment", "aks/prod/taxi-api/extra")


# job and run -------------------------------------------------------------------------------------

@pytest.mark.parametrize("reference", ["bold_river_4t6w9p3m1s_train_model",
                                       "azureml/bold_river_4t6w9p3m1s_train_model"])
def test_job_resolves_by_id_or_system_and_id(demo_store: GraphStore, reference: str) -> None:
    resolved = resolve(demo_store, "job", reference)
    assert resolved.node.key == {"system": "azureml", "id": "bold_river_4t6w9p3m1s_train_model"}
    assert resolved.node.props["display_name"] == "train_model"


def test_pipeline_job_id_is_exact_even_though_its_steps_share_the_prefix(demo_store: GraphStore) -> None:
    assert resolved_label(demo_store, "job", "bold_river_4t6w9p3m1s") == "azureml/bold_river_4t6w9p3m1s"


def test_job_id_prefix_matching_several_steps_lists_them(demo_store: GraphStore) -> None:
    with pytest.raises(Ambiguous) as caught:
        resolve(demo_store, "job", "bold_river")
    message = str(caught.value)
    assert "matches 5 nodes" in message
    assert "azureml/bold_river_4t6w9p3m1s_prep_data" in message
    assert "azureml/bold_river_4t6w9p3m1s_train_model" in message


def test_job_in_the_wrong_system_is_not_found(demo_store: GraphStore) -> None:
    with pytest.raises(NotFound, match=r"no job matches 'github-actions/bold_river_4t6w9p3m1s'"):
        resolve(demo_store, "job", "github-actions/bold_river_4t6w9p3m1s")


@pytest.mark.parametrize("reference", ["7004455701", "github-actions/7004455701", "GitHub-Actions/7004455701"])
def test_run_resolves_by_id_or_system_and_id(demo_store: GraphStore, reference: str) -> None:
    resolved = resolve(demo_store, "run", reference)
    assert resolved.node.key == {"system": "github-actions", "id": "7004455701"}
    assert resolved.node.props["url"] == "https://github.com/nathansegers/mlops-2.0/actions/runs/7004455701"


def test_run_id_prefix_matching_two_runs_is_ambiguous(demo_store: GraphStore) -> None:
    with pytest.raises(Ambiguous) as caught:
        resolve(demo_store, "run", "700445")
    assert {n.label for n in caught.value.candidates} == {"github-actions/7004455667", "github-actions/7004455701"}


def test_unknown_run_lists_known_runs(demo_store: GraphStore) -> None:
    with pytest.raises(NotFound) as caught:
        resolve(demo_store, "run", "github-actions/1")
    assert "known: github-actions/" in str(caught.value)


# repo and person ---------------------------------------------------------------------------------

@pytest.mark.parametrize("reference", [REPO, "git@github.com:NathanSegers/mlops-2.0.git",
                                       "github.com/nathansegers/mlops-2.0/"])
def test_repo_resolves_from_any_spelling_of_its_url(demo_store: GraphStore, reference: str) -> None:
    assert resolve(demo_store, "repo", reference).node.key == {"url": REPO}


def test_person_resolves_case_insensitively(demo_store: GraphStore) -> None:
    resolved: Resolved = resolve(demo_store, "person", "Ava.Peeters@example.com")
    assert resolved.node.label == "ava.peeters@example.com"


def test_prep_change_commit_and_its_author_resolve(demo_store: GraphStore) -> None:
    resolved = resolve(demo_store, "commit", PREP_CHANGE_SHA[:7])
    assert resolved.node.props["message"] == "prep: drop zero-distance trips and cap fares at 250"


def test_a_named_service_release_resolves_however_many_services_share_the_version(store: GraphStore) -> None:
    # 150 services released 0.1.0: more than one page of lookups by version alone.
    events = [{"id": f"api-{n}", "time": "2026-11-01T00:00:00Z", "source": "test",
               "nodes": [{"kind": "api", "key": {"service": f"svc-{n:03d}", "version": "0.1.0"}}]}
              for n in range(150)]
    ingest(store, validate_all(events))
    assert resolve(store, "api", "svc-149@v0.1.0").node.key == {"service": "svc-149", "version": "0.1.0"}
    with pytest.raises(Ambiguous):
        resolve(store, "api", "0.1.0")


def test_a_moved_tag_resolves_to_the_digest_that_holds_it_now(store: GraphStore) -> None:
    tag = "ghcr.io/nathansegers/azure-mlops-api:latest"
    old, new = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    events = [
        {"id": "push-1", "time": "2026-11-01T00:00:00Z", "source": "registry",
         "nodes": [{"kind": "image", "key": {"digest": old}, "aliases": [tag], "props": {"tags": {tag: True}}}]},
        {"id": "push-2", "time": "2026-11-10T00:00:00Z", "source": "registry",
         "nodes": [{"kind": "image", "key": {"digest": old}, "props": {"tags": {tag: None}}},
                   {"kind": "image", "key": {"digest": new}, "aliases": [tag], "props": {"tags": {tag: True}}}]},
    ]
    ingest(store, validate_all(events))
    resolved = resolve(store, "image", tag)
    assert resolved.node.key["digest"] == new
    assert resolved.note and "has moved" in resolved.note and old[:19] in resolved.note


def test_a_tag_on_two_digests_without_tag_history_stays_ambiguous(store: GraphStore) -> None:
    tag = "ghcr.io/nathansegers/azure-mlops-api:latest"
    events = [{"id": f"img-{n}", "time": "2026-11-01T00:00:00Z", "source": "ci",
               "nodes": [{"kind": "image", "key": {"digest": "sha256:" + str(n) * 64}, "aliases": [tag]}]}
              for n in (1, 2)]
    ingest(store, validate_all(events))
    with pytest.raises(Ambiguous):
        resolve(store, "image", tag)
