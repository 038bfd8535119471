"""The vocabulary: canonical forms, node identity, edge kinds, evidence, and event validation."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from graph_schema import canonical
from graph_schema.canonical import ImageReference, InvalidValue, image_reference, repo_url
from graph_schema.edges import UNTRAVERSED, EdgeKind, Evidence, check_edge, parse_edge_kind
from graph_schema.events import EventRejected, parse_event
from graph_schema.facts import edge_fact, node_fact
from graph_schema.kinds import NodeKind, canonical_key, label, node_id, parse_kind

REPO = "https://github.com/nathansegers/mlops-2.0"
SHA = "05ee055698af2171294615a1e423f71f4098628e"
DIGEST = "sha256:3f49a154a09c6e2b8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b"
IMAGE = "ghcr.io/nathansegers/azure-mlops-api"

# Canonical forms must not depend on how fast the machine is.
properties = settings(deadline=None, max_examples=200)

HEX = "0123456789abcdefABCDEF"


# SHAs and digests ----------------------------------------------------------------------------

def test_git_sha_is_lower_cased_and_trimmed() -> None:
    assert canonical.git_sha(f"  {SHA.upper()}\n") == SHA


def test_short_git_sha_is_rejected_with_a_pointer_to_queries() -> None:
    with pytest.raises(InvalidValue, match=r"full 40-character .* got '05ee055' \(short SHAs are accepted in queries"):
        canonical.git_sha("05ee055")


@pytest.mark.parametrize("value", ["g" * 40, SHA + "0", "", "05ee055698af2171294615a1e423f71f4098628"])
def test_values_that_are_not_40_hex_characters_are_not_shas(value: str) -> None:
    with pytest.raises(InvalidValue, match="expected a full 40-character hexadecimal git SHA"):
        canonical.git_sha(value)


def test_non_hex_value_gets_no_short_sha_hint() -> None:
    with pytest.raises(InvalidValue) as error:
        canonical.git_sha("main")
    assert "short SHAs" not in str(error.value)


def test_sha_prefix_needs_four_hex_characters() -> None:
    assert canonical.sha_prefix("05EE") == "05ee"
    for value in ("05e", "05ee05x", SHA + "0"):
        with pytest.raises(InvalidValue, match="4 to 40 hexadecimal characters"):
            canonical.sha_prefix(value)


@pytest.mark.parametrize("value", [DIGEST, DIGEST.upper().replace("SHA256", "sha256"), DIGEST.removeprefix("sha256:"),
                                   f" {DIGEST.upper()} "])
def test_digest_spellings_become_one_sha256_digest(value: str) -> None:
    assert canonical.digest(value) == DIGEST
    assert canonical.is_digest(value)


def test_sha512_digest_is_accepted() -> None:
    assert canonical.digest("sha512:" + "ab" * 64) == "sha512:" + "ab" * 64


@pytest.mark.parametrize("value", ["sha256:3f49a154a09c", "md5:" + "a" * 64, "sha256:" + "g" * 64, "a" * 63,
                                   "sha256:" + "a" * 65, "sha512:" + "a" * 64, ""])
def test_malformed_digests_are_rejected(value: str) -> None:
    with pytest.raises(InvalidValue, match=r"expected an image digest like 'sha256:<64 hex characters>'"):
        canonical.digest(value)
    assert not canonical.is_digest(value)


@properties
@given(st.text(alphabet=HEX, min_size=40, max_size=40))
def test_git_sha_is_idempotent(value: str) -> None:
    once = canonical.git_sha(value)
    assert canonical.git_sha(once) == once == value.lower()


@properties
@given(st.text(alphabet=HEX, min_size=64, max_size=64), st.booleans())
def test_digest_is_idempotent(hex_part: str, prefixed: bool) -> None:
    once = canonical.digest(("sha256:" if prefixed else "") + hex_part)
    assert canonical.digest(once) == once == "sha256:" + hex_part.lower()


# Release versions and names --------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("v1.2.3", "1.2.3"), ("1.2.3", "1.2.3"), ("V1.2.3", "1.2.3"), (" v1.2.3 ", "1.2.3"),
    ("v1.2.3-rc.1", "1.2.3-rc.1"), ("2024-05-rc", "2024-05-rc"), ("customer-release", "customer-release"),
])
def test_release_versions_drop_the_leading_v(value: str, expected: str) -> None:
    assert canonical.release_version(value) == expected


@pytest.mark.parametrize("value", ["", "   ", "v 1.2.3", "1.2 beta", "-rc"])
def test_release_versions_with_spaces_or_empty_are_rejected(value: str) -> None:
    with pytest.raises(InvalidValue, match=re.escape("expected a release version like 'v1.2.3' or '1.2.3'")):
        canonical.release_version(value)


def test_display_version_puts_the_v_back_only_on_numeric_versions() -> None:
    assert canonical.display_version("1.2.3") == "v1.2.3"
    assert canonical.display_version("customer-release") == "customer-release"


@properties
@given(st.text(alphabet="vV0123456789.-+rcab_", min_size=1, max_size=20))
def test_release_version_is_idempotent(value: str) -> None:
    try:
        once = canonical.release_version(value)
    except InvalidValue:
        return
    assert canonical.release_version(once) == once


def test_names_and_asset_versions_reject_spaces() -> None:
    assert canonical.name(" green-taxi-data ") == "green-taxi-data"
    assert canonical.asset_version(3) == "3"
    with pytest.raises(InvalidValue, match="expected a dataset name without spaces"):
        canonical.name("green taxi data", "dataset name")
    with pytest.raises(InvalidValue, match="expected a version without spaces"):
        canonical.asset_version("")


# Repository URLs -----------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "git@github.com:nathansegers/mlops-2.0.git",
    "git@github.com:NathanSegers/MLOps-2.0.git",
    "https://token@github.com/nathansegers/mlops-2.0/",
    "https://x-access-token:ghs_s3cret@github.com/NathanSegers/mlops-2.0.git",
    "https://GitHub.com/nathansegers/mlops-2.0",
    "ssh://git@github.com/nathansegers/mlops-2.0.git",
    "github.com/nathansegers/mlops-2.0",
    REPO,
])
def test_repo_url_spellings_name_the_same_repository(value: str) -> None:
    assert repo_url(value) == REPO


def test_repo_url_drops_credentials() -> None:
    url = repo_url("https://build:p4ssw0rd@dev.azure.com/contoso/mlops/_git/taxi-api")
    assert url == "https://dev.azure.com/contoso/mlops/_git/taxi-api"
    assert "p4ssw0rd" not in url


def test_azure_devops_ssh_url_becomes_its_https_form() -> None:
    https = "https://dev.azure.com/contoso/mlops/_git/taxi-api"
    assert repo_url("git@ssh.dev.azure.com:v3/contoso/mlops/taxi-api") == https
    assert repo_url("https://contoso@dev.azure.com/contoso/mlops/_git/taxi-api") == https


def test_repo_paths_keep_their_case_outside_github() -> None:
    assert repo_url("https://dev.azure.com/Contoso/MLOps/_git/Taxi") == "https://dev.azure.com/Contoso/MLOps/_git/Taxi"


@pytest.mark.parametrize("value", ["ftp://github.com/nathansegers/mlops-2.0", "https://github.com/", "github.com",
                                   "https://intranet/nathansegers/mlops-2.0", "git@github.com:org/repo?tab=readme"])
def test_values_that_do_not_name_a_repository_are_rejected(value: str) -> None:
    with pytest.raises(InvalidValue, match="expected a repository URL"):
        repo_url(value)


_segment = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,15}", fullmatch=True)


@st.composite
def repo_spellings(draw: st.DrawFn) -> str:
    host = draw(st.sampled_from(["github.com", "GitHub.com", "gitlab.com", "dev.azure.com", "git.example.org"]))
    path = "/".join(draw(st.lists(_segment, min_size=2, max_size=3)))
    suffix = draw(st.sampled_from(["", ".git", "/", ".git/"]))
    form = draw(st.sampled_from(["https://{h}/{p}", "https://ci-token@{h}/{p}", "git@{h}:{p}", "ssh://git@{h}/{p}",
                                 "{h}/{p}"]))
    return form.format(h=host, p=path + suffix)


@properties
@given(repo_spellings())
@example("git@github.com:nathansegers/mlops-2.0.git.git")
@example("git@github.com:nathansegers/mlops-2.0/.git")
@example("git@github.com:nathansegers/mlops-2.0#readme")
@example("git@github.com:nathansegers/mlops\t-2.0")
def test_repo_url_is_idempotent(value: str) -> None:
    try:
        once = repo_url(value)
    except InvalidValue:
        return
    assert repo_url(once) == once
    assert "ci-token" not in once


# Image references ----------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("nathansegers/azure-mlops-api:v1.2.3",
     ImageReference("docker.io", "nathansegers/azure-mlops-api", "v1.2.3")),
    ("ubuntu", ImageReference("docker.io", "library/ubuntu")),
    ("ubuntu:22.04", ImageReference("docker.io", "library/ubuntu", "22.04")),
    ("docker.io/ubuntu", ImageReference("docker.io", "library/ubuntu")),
    ("index.docker.io/library/ubuntu", ImageReference("docker.io", "library/ubuntu")),
    ("localhost:5000/taxi-api:v1.2.3", ImageReference("localhost:5000", "taxi-api", "v1.2.3")),
    ("localhost:5000/taxi-api", ImageReference("localhost:5000", "taxi-api")),
    ("localhost/taxi-api", ImageReference("localhost", "taxi-api")),
    ("mlopsregistry.azurecr.io/mlops/taxi-api:05ee055", ImageReference("mlopsregistry.azurecr.io", "mlops/taxi-api",
                                                                         "05ee055")),
    (f"GHCR.io/nathansegers/azure-mlops-api@{DIGEST}",
     ImageReference("ghcr.io", "nathansegers/azure-mlops-api", None, DIGEST)),
    (f"{IMAGE}:v1.2.3@{DIGEST.upper().replace('SHA256', 'sha256')}",
     ImageReference("ghcr.io", "nathansegers/azure-mlops-api", "v1.2.3", DIGEST)),
])
def test_image_references_are_parsed_like_docker_does(value: str, expected: ImageReference) -> None:
    assert image_reference(value) == expected


def test_image_reference_prints_registry_repository_tag_and_digest() -> None:
    parsed = image_reference(f"{IMAGE}:v1.2.3@{DIGEST}")
    assert str(parsed) == f"{IMAGE}:v1.2.3@{DIGEST}"
    assert parsed.name == IMAGE
    assert str(image_reference("nathansegers/azure-mlops-api")) == "docker.io/nathansegers/azure-mlops-api"


@pytest.mark.parametrize("value", ["", "ghcr.io/NathanSegers/azure-mlops-api:v1.2.3", f"{IMAGE}:",
                                   f"{IMAGE}:v1 2", "ghcr.io/nathansegers//azure-mlops-api", ":v1.2.3",
                                   f"{IMAGE}:{'x' * 129}", f"{IMAGE}:-v1"])
def test_invalid_image_references_are_rejected(value: str) -> None:
    with pytest.raises(InvalidValue, match=re.escape("expected an image reference like 'ghcr.io/org/api:v1.2.3'")):
        image_reference(value)


def test_image_reference_with_a_bad_digest_says_what_is_wrong_with_the_digest() -> None:
    with pytest.raises(InvalidValue, match=r"expected an image reference .*\(expected an image digest"):
        image_reference(f"{IMAGE}@sha256:3f49a154a09c")


_component = st.from_regex(r"[a-z0-9]+(?:[._-][a-z0-9]+)?", fullmatch=True)


@st.composite
def image_spellings(draw: st.DrawFn) -> str:
    registry = draw(st.sampled_from(["", "ghcr.io/", "GHCR.IO/", "localhost:5000/", "docker.io/",
                                     "index.docker.io/", "mlopsregistry.azurecr.io/"]))
    text = registry + "/".join(draw(st.lists(_component, min_size=1, max_size=3)))
    if draw(st.booleans()):
        text += ":" + draw(st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True))
    if draw(st.booleans()):
        text += "@sha256:" + draw(st.text(alphabet=HEX, min_size=64, max_size=64))
    return text


@properties
@given(image_spellings())
def test_image_reference_round_trips_through_its_string(value: str) -> None:
    parsed = image_reference(value)
    assert image_reference(str(parsed)) == parsed
    assert str(image_reference(str(parsed))) == str(parsed)


def test_image_aliases_are_stored_as_full_references_once() -> None:
    fact = node_fact("image", {"digest": DIGEST}, aliases=["nathansegers/azure-mlops-api:v1.2.3",
                                                           "docker.io/nathansegers/azure-mlops-api:v1.2.3"])
    assert fact.aliases == ("docker.io/nathansegers/azure-mlops-api:v1.2.3",)


# Node kinds, keys and ids --------------------------------------------------------------------

def test_parse_kind_accepts_any_case_and_lists_kinds_when_unknown() -> None:
    assert parse_kind(" Model ") is NodeKind.MODEL
    with pytest.raises(InvalidValue, match="unknown node kind 'pipeline'; expected one of: api, deployment"):
        parse_kind("pipeline")


def test_canonical_key_puts_every_field_in_canonical_form() -> None:
    key = canonical_key(NodeKind.COMMIT, {"repo": "git@github.com:nathansegers/mlops-2.0.git", "sha": SHA.upper()})
    assert key == {"repo": REPO, "sha": SHA}
    assert canonical_key(NodeKind.MODEL, {"name": "taxi-model", "version": 3}) == {"name": "taxi-model",
                                                                                   "version": "3"}


@pytest.mark.parametrize(("key", "message"), [
    ({"name": "taxi-model"}, "key.version: required for kind 'model'"),
    ({"name": "taxi-model", "version": "  "}, "key.version: required for kind 'model'"),
    ({"name": "taxi-model", "version": "3", "stage": "prod"}, r"key: unexpected field\(s\) \['stage'\]"),
    ({"name": "taxi-model", "version": True}, "key.version: expected a string, got bool"),
    ({"name": "taxi model", "version": "3"}, "key.name: expected a model name without spaces"),
])
def test_canonical_key_errors_name_the_field(key: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        canonical_key(NodeKind.MODEL, key)


def test_node_id_is_the_same_for_every_spelling_of_a_key() -> None:
    ssh = node_fact("commit", {"repo": "git@github.com:NathanSegers/mlops-2.0.git", "sha": SHA.upper()})
    https = node_fact(NodeKind.COMMIT, {"repo": REPO, "sha": SHA})
    assert ssh.id == https.id
    assert ssh.id.startswith("commit_") and len(ssh.id) == len("commit_") + 24
    assert node_id("commit", https.key) == node_id(NodeKind.COMMIT, https.key) == https.id


def test_node_ids_of_different_kinds_with_the_same_key_differ() -> None:
    key = {"name": "taxi-model", "version": "3"}
    assert node_id(NodeKind.MODEL, key) != node_id(NodeKind.DATASET, key)


def test_node_id_cannot_be_confused_by_separators_inside_values() -> None:
    # Joined with ':' both would read "azureml:run:7004455701"; the length prefix keeps them apart.
    assert node_id(NodeKind.JOB, {"system": "azureml", "id": "run:7004455701"}) != \
        node_id(NodeKind.JOB, {"system": "azureml:run", "id": "7004455701"})
    assert node_id(NodeKind.JOB, {"system": "azureml", "id": "1:a"}) != \
        node_id(NodeKind.JOB, {"system": "azureml1", "id": "a"})


_key_value = st.text(alphabet="az09:_-./#", min_size=1, max_size=12)


@properties
@given(st.tuples(_key_value, _key_value), st.tuples(_key_value, _key_value))
def test_node_id_is_injective_over_distinct_keys(first: tuple[str, str], second: tuple[str, str]) -> None:
    a, b = ({"system": system, "id": job_id} for system, job_id in (first, second))
    assert (node_id(NodeKind.JOB, a) == node_id(NodeKind.JOB, b)) == (a == b)


@pytest.mark.parametrize(("kind", "key", "expected"), [
    ("api", {"service": "taxi-api", "version": "v1.2.3"}, "taxi-api v1.2.3"),
    ("deployment", {"platform": "kubernetes", "cluster": "aks-mlops-prod", "namespace": "prod",
                    "name": "taxi-api", "revision": "8"}, "prod/taxi-api#8"),
    ("image", {"digest": DIGEST}, "sha256:3f49a154a09c"),
    ("model", {"name": "taxi-model", "version": "3"}, "taxi-model:3"),
    ("job", {"system": "AzureML", "id": "bold_river_4t6w9p3m1s"}, "azureml/bold_river_4t6w9p3m1s"),
    ("commit", {"repo": REPO, "sha": SHA}, "05ee055"),
    ("repo", {"url": "git@github.com:nathansegers/mlops-2.0.git"}, "github.com/nathansegers/mlops-2.0"),
    ("person", {"id": "Tom.Dewulf@example.com"}, "tom.dewulf@example.com"),
])
def test_node_labels_are_short_and_human(kind: str, key: dict[str, str], expected: str) -> None:
    fact = node_fact(kind, key)
    assert fact.label == label(kind, fact.key) == expected


# Edge kinds and evidence ---------------------------------------------------------------------

@pytest.mark.parametrize(("source", "target", "expected"), [
    (NodeKind.IMAGE, NodeKind.COMMIT, EdgeKind.BUILT_FROM),
    (NodeKind.MODEL, NodeKind.JOB, EdgeKind.PRODUCED_BY),
    (NodeKind.DATASET, NodeKind.JOB, EdgeKind.PRODUCED_BY),
    (NodeKind.JOB, NodeKind.DATASET, EdgeKind.CONSUMED),
    (NodeKind.API, NodeKind.DEPLOYMENT, EdgeKind.SERVED_BY),
])
def test_edge_kind_is_inferred_when_only_one_links_the_pair(source: NodeKind, target: NodeKind,
                                                            expected: EdgeKind) -> None:
    assert check_edge(None, source, target) is expected


def test_swapped_source_and_target_are_explained() -> None:
    with pytest.raises(InvalidValue, match=r"no edge goes from commit to image; edges point upstream .* did you swap"):
        check_edge(None, NodeKind.COMMIT, NodeKind.IMAGE)


def test_explicit_edge_kind_must_fit_the_pair() -> None:
    with pytest.raises(InvalidValue, match="kind: a 'built_from' edge goes image->commit, not commit->image"):
        check_edge(EdgeKind.BUILT_FROM, NodeKind.COMMIT, NodeKind.IMAGE)
    with pytest.raises(InvalidValue, match="kind: a 'bundles' edge goes image->model, not image->commit"):
        edge_fact(node_fact("image", {"digest": DIGEST}), node_fact("commit", {"repo": REPO, "sha": SHA}), "bundles")


def test_edge_kind_parsing() -> None:
    assert parse_edge_kind(" Built_From ") is EdgeKind.BUILT_FROM
    with pytest.raises(InvalidValue, match="unknown edge kind 'trained_on'; expected one of: served_by"):
        parse_edge_kind("trained_on")


def test_only_commit_parent_edges_are_skipped_by_walks() -> None:
    assert frozenset({"parent"}) == UNTRAVERSED


def test_evidence_parses_labels_and_orders_weakest_first() -> None:
    assert Evidence.parse(" Observed ") is Evidence.OBSERVED
    assert Evidence.INFERRED < Evidence.DECLARED < Evidence.OBSERVED < Evidence.ATTESTED
    assert Evidence.ATTESTED.label == "attested"
    with pytest.raises(InvalidValue, match="unknown evidence 'certain'; expected one of: inferred, declared, observed"):
        Evidence.parse("certain")


# Events --------------------------------------------------------------------------------------

def _image() -> dict[str, Any]:
    return {"kind": "image", "key": {"digest": DIGEST}}


def _commit(sha: str = SHA, repo: str = REPO) -> dict[str, Any]:
    return {"kind": "commit", "key": {"repo": repo, "sha": sha}}


def build_event(**changes: Any) -> dict[str, Any]:
    """The README's image build event, with top-level fields replaced."""
    event: dict[str, Any] = {
        "schema": "lineage-event/1", "id": "gha-7004455701-image", "time": "2026-11-10T14:50:00Z",
        "source": "github-actions",
        "nodes": [{**_image(), "aliases": [f"{IMAGE}:v1.2.3"]}, _commit()],
        "edges": [{"source": _image(), "target": _commit(), "kind": "built_from", "evidence": "declared"}],
    }
    event.update(copy.deepcopy(changes))
    return event


def problems_of(data: Any) -> list[str]:
    with pytest.raises(EventRejected) as rejected:
        parse_event(data, position="#1")
    return rejected.value.problems


def test_valid_event_becomes_canonical_facts() -> None:
    event = parse_event(build_event(edges=[{"source": _image(), "target": _commit(repo="git@github.com:nathansegers/"
                                                                                       "mlops-2.0.git")}]))
    nodes, edges = event.facts()
    assert [node.label for node in nodes] == ["sha256:3f49a154a09c", "05ee055"]
    assert nodes[0].aliases == (f"{IMAGE}:v1.2.3",)
    assert nodes[1].key == {"repo": REPO, "sha": SHA}
    assert [(e.source, e.target, e.kind, e.evidence) for e in edges] == [
        (nodes[0].id, nodes[1].id, EdgeKind.BUILT_FROM, Evidence.DECLARED)]


def test_node_declared_twice_in_one_event_is_merged_in_order() -> None:
    event = parse_event(build_event(nodes=[
        {**_commit(), "props": {"message": "wip", "author": "tom.dewulf@example.com"}},
        {**_commit(), "props": {"message": "api: return a fare interval from /predict"}},
        _image()]))
    nodes, _ = event.facts()
    assert len(nodes) == 2
    assert nodes[0].props == {"message": "api: return a fare interval from /predict",
                              "author": "tom.dewulf@example.com"}


def test_short_sha_error_names_the_field_and_the_expected_form() -> None:
    assert problems_of(build_event(nodes=[_commit("05ee055")], edges=[])) == [
        "nodes[0].key.sha: expected a full 40-character hexadecimal git SHA, got '05ee055' "
        "(short SHAs are accepted in queries, not in stored facts)"]


def test_rejection_message_names_the_event_and_its_position() -> None:
    with pytest.raises(EventRejected, match=r"^event 'gha-7004455701-image' \(#1\) rejected: nodes\[0\]\.key\.sha"):
        parse_event(build_event(nodes=[_commit("05ee055")], edges=[]), position="#1")


@pytest.mark.parametrize(("changes", "expected"), [
    ({"edges": [{"source": {"kind": "image", "key": {"digest": "sha256:3f49a154a09c"}}, "target": _commit()}]},
     "edges[0].source.key.digest: expected an image digest like 'sha256:<64 hex characters>', "
     "got 'sha256:3f49a154a09c'"),
    ({"nodes": [_image(), _commit(), {"kind": "pipeline", "key": {}}]},
     "nodes[2].kind: unknown node kind 'pipeline'; expected one of: api, deployment, image"),
    ({"edges": [{"source": _image(), "target": _commit(), "kind": "trained_on"}]},
     "edges[0].kind: unknown edge kind 'trained_on'; expected one of: served_by"),
    ({"edges": [{"source": _commit(), "target": _image(), "kind": "built_from"}]},
     "edges[0].kind: a 'built_from' edge goes image->commit, not commit->image"),
    ({"edges": [{"source": _commit(), "target": _image()}]},
     "edges[0]: no edge goes from commit to image; edges point upstream"),
    ({"edges": [{"source": _image(), "target": _commit(), "evidence": "certain"}]},
     "edges[0].evidence: unknown evidence 'certain'; expected one of: inferred, declared, observed, attested"),
    ({"nodes": [{"kind": "model", "key": {"name": "taxi-model"}}], "edges": []},
     "nodes[0].key.version: required for kind 'model' (key is ['name', 'version'])"),
    ({"nodes": [{"kind": "model", "key": {"name": "taxi-model", "version": "3", "stage": "prod"}}], "edges": []},
     "nodes[0].key: unexpected field(s) ['stage'] for kind 'model'; its key is ['name', 'version']"),
    ({"nodes": [{"kind": "model", "key": {"name": "taxi-model", "version": True}}], "edges": []},
     "nodes[0].key.version: expected a string, got bool"),
    ({"nodes": [{"kind": "model", "key": {"name": "taxi-model", "version": ["3"]}}], "edges": []},
     "nodes[0].key.version: expected a string, got list"),
    ({"edges": [{"source": _image(), "target": _commit(), "valid_from": "2026-11-10T15:10:00Z",
                 "valid_to": "2026-11-10T15:00:00Z"}]},
     "edges[0].valid_to: must not be before valid_from"),
    ({"nodes": [{**_image(), "aliases": ["ghcr.io/NathanSegers/API:v1.2.3"]}], "edges": []},
     "nodes[0].aliases[0]: expected an image reference like 'ghcr.io/org/api:v1.2.3'"),
    ({"time": "2026-11-10T14:50:00"}, "time: Input should have timezone info"),
    ({"schema": "lineage-event/2"}, "schema: Input should be 'lineage-event/1'"),
    ({"nodes": [], "edges": []}, "nodes: an event needs at least one node"),
])
def test_invalid_event_errors_name_the_field_path_and_expected_form(changes: dict[str, Any], expected: str) -> None:
    problems = problems_of(build_event(**changes))
    assert len(problems) == 1
    assert problems[0].startswith(expected)


def test_edge_to_an_undeclared_node_is_rejected() -> None:
    problems = problems_of(build_event(nodes=[_image()]))
    assert problems == [f'edges[0].target: commit {{"repo": "{REPO}", "sha": "{SHA}"}} is not declared in nodes; '
                        "add it to nodes (props may be empty)"]


@pytest.mark.parametrize(("where", "expected"), [
    (lambda e: e, "colour: Extra inputs are not permitted"),
    (lambda e: e["nodes"][1], "nodes[1].colour: Extra inputs are not permitted"),
    (lambda e: e["edges"][0], "edges[0].colour: Extra inputs are not permitted"),
    (lambda e: e["edges"][0]["target"], "edges[0].target.colour: Extra inputs are not permitted"),
])
def test_unknown_fields_are_rejected_everywhere(where: Any, expected: str) -> None:
    event = build_event()
    where(event)["colour"] = "blue"
    assert problems_of(event) == [expected]


def test_every_problem_of_an_event_is_listed() -> None:
    event = build_event(source="", nodes=[_commit("05ee055"), {"kind": "image", "key": {"digest": "latest"}}],
                        edges=[])
    problems = problems_of(event)
    assert [problem.split(":")[0] for problem in problems] == ["source", "nodes[0].key.sha", "nodes[1].key.digest"]


@pytest.mark.parametrize("data", [[build_event()], "gha-7004455701-image", None])
def test_an_event_must_be_a_json_object(data: Any) -> None:
    assert problems_of(data) == [f"expected a JSON object with id, time, source, nodes, edges; "
                                 f"got {type(data).__name__}"]
