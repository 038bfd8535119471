"""Property tests: the parsers take any input, mapping it or refusing it with their documented error.

Starting from real payloads (GitHub's and Azure DevOps' documented deliveries, OpenLineage and
SLSA provenance documents), hypothesis drops keys, changes types, inserts huge strings and deep
nesting. Each parser must either translate or raise its own error type with a message; never
another exception. What a translator produces must be a valid lineage event (``parse_event``),
because the routes put it in the event log as is.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph_schema.events import EventRejected, parse_event
from lineage_service import openlineage, provenance
from lineage_service.webhooks import azure_devops, github
from tests.components import require
from tests.github_payloads import PAYLOADS

FIXTURES = Path(__file__).parent / "fixtures"
# GitHub's documented deliveries, found as test_webhooks_github finds them (tests/github_payloads.py).
SHARED_GITHUB_FILES = sorted(PAYLOADS.glob("*.json"))
GITHUB_FILES = SHARED_GITHUB_FILES + sorted((FIXTURES / "github").glob("*.json"))
AZURE_FILES = sorted((FIXTURES / "azure-devops").glob("*.json"))
RECEIVED = datetime(2026, 11, 20, 14, 5, tzinfo=UTC)
# LINEAGE_FUZZ_EXAMPLES=5000 searches longer (and LINEAGE_FUZZ_SEED makes it random).
FUZZ = settings(max_examples=int(os.environ.get("LINEAGE_FUZZ_EXAMPLES", "100")),
                derandomize="LINEAGE_FUZZ_SEED" not in os.environ, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

OPENLINEAGE_RUN: dict[str, Any] = {
    "eventType": "COMPLETE", "eventTime": "2026-11-10T14:30:00Z",
    "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.24.0/client/python",
    "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    "run": {"runId": "0192f3a4-5b6c-7d8e-9f00-112233445566", "facets": {
        "parent": {"run": {"runId": "0192f3a4-0000-7d8e-9f00-112233445566"},
                   "job": {"namespace": "azureml", "name": "taxi-pipeline"}}}},
    "job": {"namespace": "azureml", "name": "train-taxi-model", "facets": {
        "sourceCodeLocation": {"type": "git", "url": "https://github.com/nathansegers/mlops-2.0",
                               "version": "05ee055698af2171294615a1e423f71f4098628e"}}},
    "inputs": [{"namespace": "azureml", "name": "green-taxi-data", "facets": {"version": {"datasetVersion": "5"}}}],
    "outputs": [{"namespace": "azureml", "name": "taxi-model", "facets": {"version": {"datasetVersion": "3"}}}],
}


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8-sig"))


def _provenance_documents() -> list[Any]:
    folder = FIXTURES / "provenance"
    documents = [_load(folder / "attest-build-provenance.statement.json"),
                 _load(folder / "attest-build-provenance.sigstore.json")]
    documents += [json.loads(line) for line in (folder / "generator-container.intoto.jsonl").read_text().splitlines()
                  if line.strip()]
    # A statement inside a DSSE envelope, as cosign writes it.
    documents.append({"payloadType": "application/vnd.in-toto+json", "signatures": [{"sig": "c2ln"}],
                      "payload": base64.b64encode(json.dumps(documents[0]).encode()).decode()})
    return documents


# Mutations ----------------------------------------------------------------------------------------
def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:20]):
            found += _paths(item, (*prefix, index))
    return found


def _nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=False), st.text(max_size=30),
                    st.sampled_from(["", " ", "\x00", "a\u0430", "１.２.３", "\u202ev1.2.3", "' OR 1=1 --",
                                     ") MATCH (n) DETACH DELETE n //", "%", "_", "sha256:", "0" * 40,
                                     "2026-13-45T99:99:99Z", "x" * 100_000]))
REPLACEMENTS = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(st.text(max_size=10), SCALARS, max_size=3),
    st.integers(min_value=10, max_value=400).map(lambda depth: _nested(depth, "deep")),
)


def _set(root: Any, path: tuple[Any, ...], action: str, replacement: Any) -> Any:
    if not path:
        return replacement if action == "replace" else root
    parent = root
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "drop":
        del parent[last]
    else:
        parent[last] = replacement
    return root


@st.composite
def mutated(draw: st.DrawFn, documents: list[Any]) -> Any:
    """A real document with one to four keys dropped or values replaced by other types and sizes."""
    document = json.loads(json.dumps(draw(st.sampled_from(documents))))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        path = draw(st.sampled_from(_paths(document)))
        action = draw(st.sampled_from(["drop", "replace"]))
        document = _set(document, path, action, draw(REPLACEMENTS))
    return document


def require_shared_payloads() -> None:
    """Without the shared examples the corpus would shrink to our own few fixtures, silently."""
    require(bool(SHARED_GITHUB_FILES), f"no GitHub payload examples in {PAYLOADS}: they live in "
            "../shared/testdata/github-webhooks beside the checkout (or set LINEAGE_TEST_GITHUB_WEBHOOKS)")


def assert_valid_event(event: dict[str, Any] | None) -> None:
    """A translator's event is one the ingestion path accepts: it goes into the log as is."""
    if event is not None:
        parse_event(event)


# Properties ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", GITHUB_FILES, ids=lambda path: path.name)
def test_the_real_github_payloads_translate(path: Path) -> None:
    require_shared_payloads()
    event = path.name.split(".")[0]
    translated = github.translate(event, "delivery-1", _load(path), RECEIVED)
    assert translated.event is not None
    assert_valid_event(translated.event)


@FUZZ
@given(st.sampled_from(["push", "workflow_run", "workflow_job", "registry_package", "package",
                        "deployment_status", "release", "issues"]),
       mutated([_load(path) for path in GITHUB_FILES]))
def test_github_translator_never_raises_and_builds_valid_events(event: str, payload: Any) -> None:
    require_shared_payloads()
    translated = github.translate(event, "delivery-1", payload, RECEIVED)
    assert_valid_event(translated.event)


@FUZZ
@given(mutated([_load(path) for path in AZURE_FILES]))
def test_azure_devops_translator_never_raises_and_builds_valid_events(payload: Any) -> None:
    translated = azure_devops.translate(payload, RECEIVED, "sha-fallback")
    assert_valid_event(translated.event)


@FUZZ
@given(mutated([OPENLINEAGE_RUN]))
def test_openlineage_translates_or_names_the_problem(data: Any) -> None:
    try:
        translated = openlineage.translate(data)
    except openlineage.OpenLineageRejected as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
        return
    assert_valid_event(translated.event)


@FUZZ
@given(mutated(_provenance_documents()))
def test_provenance_translates_or_names_the_problem(document: Any) -> None:
    try:
        translated = provenance.translate(document, received_at=RECEIVED)
    except provenance.ProvenanceRejected as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
        return
    assert_valid_event(translated.event)


@FUZZ
@given(st.one_of(mutated([{"id": "e1", "time": "2026-11-20T14:05:00Z", "source": "ci",
                           "nodes": [{"kind": "commit", "key": {"repo": "https://github.com/org/api",
                                                                "sha": "05ee055698af2171294615a1e423f71f4098628e"},
                                      "props": {"message": "m"}},
                                     {"kind": "image", "key": {"digest": "sha256:" + "a" * 64},
                                      "aliases": ["ghcr.io/org/api:v1"]}],
                           "edges": [{"source": {"kind": "image", "key": {"digest": "sha256:" + "a" * 64}},
                                      "target": {"kind": "commit", "key": {
                                          "repo": "https://github.com/org/api",
                                          "sha": "05ee055698af2171294615a1e423f71f4098628e"}},
                                      "kind": "built_from"}]}]),
                 REPLACEMENTS))
def test_parse_event_accepts_or_names_each_problem(data: Any) -> None:
    try:
        event = parse_event(data)
    except EventRejected as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
        return
    event.facts()  # an accepted event must turn into facts: it is applied after being acknowledged
