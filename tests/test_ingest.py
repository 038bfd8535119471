"""The ingestion path on a real store: reading input, validating a batch, idempotent apply, the log."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from graph_schema.events import LineageEvent
from graph_schema.facts import node_fact
from lineage_service.ingest import BatchRejected, InputError, apply_pending, ingest, read_events, validate_all
from lineage_service.store.base import GraphStore, NewEvent, Node

REPO = "https://github.com/nathansegers/mlops-2.0"
SHA = "05ee055698af2171294615a1e423f71f4098628e"
DIGEST = "sha256:3f49a154a09c6e2b8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b"
IMAGE = "ghcr.io/nathansegers/azure-mlops-api"

COMMIT = {"kind": "commit", "key": {"repo": REPO, "sha": SHA}}
IMAGE_NODE = {"kind": "image", "key": {"digest": DIGEST}}
MODEL = {"kind": "model", "key": {"name": "taxi-model", "version": "3"}}
DEPLOYMENT = {"kind": "deployment", "key": {"platform": "kubernetes", "cluster": "aks-mlops-prod",
                                           "namespace": "prod", "name": "taxi-api", "revision": "8"}}


def event(event_id: str, time: str = "2026-11-10T14:50:00Z", source: str = "github-actions",
          nodes: list[dict[str, Any]] | None = None, edges: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"schema": "lineage-event/1", "id": event_id, "time": time, "source": source,
            "nodes": nodes if nodes is not None else [{**IMAGE_NODE, "aliases": [f"{IMAGE}:v1.2.3"]}, COMMIT],
            "edges": edges if edges is not None else [{"source": IMAGE_NODE, "target": COMMIT}]}


def commit_report(event_id: str, time: str, props: dict[str, Any], source: str = "git") -> dict[str, Any]:
    return event(event_id, time, source, nodes=[{**COMMIT, "props": props}], edges=[])


def run(store: GraphStore, *raw: dict[str, Any]) -> Any:
    return ingest(store, validate_all(list(raw)))


def node(store: GraphStore, raw: dict[str, Any]) -> Node:
    [found] = store.get_nodes([node_fact(raw["kind"], raw["key"]).id])
    return found


def image_edge(store: GraphStore) -> Any:
    [edge] = store.neighbours(node_fact("image", {"digest": DIGEST}).id)[0]
    return edge


# Reading input -------------------------------------------------------------------------------

def test_read_events_accepts_one_object() -> None:
    assert read_events(json.dumps(event("gha-1"))) == [event("gha-1")]


def test_read_events_accepts_an_array() -> None:
    assert read_events(json.dumps([event("gha-1"), event("gha-2")], indent=2)) == [event("gha-1"), event("gha-2")]


def test_read_events_accepts_json_lines_with_blank_lines() -> None:
    text = json.dumps(event("gha-1")) + "\n\n" + json.dumps(event("gha-2")) + "\n"
    assert [raw["id"] for raw in read_events(text)] == ["gha-1", "gha-2"]


@pytest.mark.parametrize("text", ["", "  \n\t\n"])
def test_empty_input_is_an_error_that_says_what_was_expected(text: str) -> None:
    expected = "events.json: empty; expected a lineage event as JSON, a JSON array"
    with pytest.raises(InputError, match=re.escape(expected)):
        read_events(text, origin="events.json")


def test_invalid_json_error_gives_line_and_column() -> None:
    text = '[\n  {"id": "gha-1",\n   "time": }\n]'
    with pytest.raises(InputError, match=re.escape("events.json: invalid JSON at line 3 column 12: Expecting value")):
        read_events(text, origin="events.json")


def test_bad_json_lines_line_is_named() -> None:
    text = json.dumps(event("gha-1")) + '\n{"id": "gha-2", "time": \n' + json.dumps(event("gha-3"))
    with pytest.raises(InputError, match=r"events.jsonl: line 2 is not valid JSON \(Expecting value at column 25\); "
                                         "JSON Lines needs one complete event per line"):
        read_events(text, origin="events.jsonl")


# Validating a batch --------------------------------------------------------------------------

def test_validate_all_returns_canonical_events() -> None:
    [validated] = validate_all([event("gha-1", nodes=[IMAGE_NODE, {**COMMIT, "key": {"repo": "git@github.com:"
                                                                                   "NathanSegers/mlops-2.0.git",
                                                                                   "sha": SHA.upper()}}])])
    assert isinstance(validated, LineageEvent)
    assert validated.nodes[1].key == {"repo": REPO, "sha": SHA}


def test_one_bad_event_rejects_the_batch_listing_every_bad_event_and_storing_nothing(store: GraphStore) -> None:
    before = store.stats()
    raw = [event("gha-1"), commit_report("git-1", "2026-11-10T13:27:00Z", {}) | {"source": ""},
           event("gha-2"), event("gha-3", nodes=[{**COMMIT, "key": {"repo": REPO, "sha": "05ee055"}}], edges=[])]
    with pytest.raises(BatchRejected) as rejected:
        run(store, *raw)
    assert [exc.event_label for exc in rejected.value.rejected] == ["'git-1' (#2)", "'gha-3' (#4)"]
    assert str(rejected.value).splitlines() == [
        "event 'git-1' (#2) rejected: source: String should have at least 1 character",
        "event 'gha-3' (#4) rejected: nodes[0].key.sha: expected a full 40-character hexadecimal git SHA, "
        "got '05ee055' (short SHAs are accepted in queries, not in stored facts)"]
    assert store.stats() == before
    assert store.list_events() == []


def test_invalid_image_alias_is_rejected_before_anything_is_logged(store: GraphStore) -> None:
    bad = event("gha-1", nodes=[{**IMAGE_NODE, "aliases": [f"{IMAGE}:v1.2.3", "ghcr.io/NathanSegers/API:v1.2.3"]}],
                edges=[])
    with pytest.raises(BatchRejected, match=r"nodes\[0\]\.aliases\[1\]: expected an image reference"):
        run(store, bad)
    assert store.list_events() == []


# Applying ------------------------------------------------------------------------------------

def test_ingest_records_and_applies_an_event(store: GraphStore) -> None:
    result = run(store, event("gha-7004455701-image"))
    assert (result.accepted, result.duplicates, result.failed, result.nodes, result.edges) == (
        ["gha-7004455701-image"], [], {}, 2, 1)
    assert store.stats()["nodes"] == {"commit": 1, "image": 1}
    assert store.stats()["edges"] == {"built_from": 1}
    assert [(e.id, e.status) for e in store.list_events()] == [("gha-7004455701-image", "applied")]


def test_the_same_event_twice_is_a_duplicate_and_changes_nothing(store: GraphStore) -> None:
    run(store, event("gha-7004455701-image"))
    before = (store.stats(), node(store, IMAGE_NODE), store.list_events())
    again = run(store, event("gha-7004455701-image", time="2026-11-11T09:00:00Z"))
    assert (again.accepted, again.duplicates, again.nodes, again.edges) == ([], ["gha-7004455701-image"], 0, 0)
    assert (store.stats(), node(store, IMAGE_NODE), store.list_events()) == before


def test_the_same_event_twice_in_one_input_is_applied_once(store: GraphStore) -> None:
    result = run(store, event("gha-1"), event("gha-1"))
    assert (result.accepted, result.duplicates) == (["gha-1"], ["gha-1"])
    assert len(store.list_events()) == 1


def test_newer_report_wins_and_older_report_only_fills_gaps(store: GraphStore) -> None:
    run(store, commit_report("git-1", "2026-11-10T13:27:00Z", {"message": "wip", "author": "tom.dewulf@example.com",
                                                               "stats": {"files": 2}}))
    run(store, commit_report("git-2", "2026-11-10T13:30:00Z", {"message": "api: return a fare interval from /predict",
                                                               "stats": {"insertions": 40}}))
    run(store, commit_report("git-0", "2026-11-09T08:00:00Z", {"message": "draft", "branch": "feature/fare-interval",
                                                               "stats": {"files": 9, "deletions": 3}}))
    assert node(store, COMMIT).props == {
        "message": "api: return a fare interval from /predict",  # newest report
        "author": "tom.dewulf@example.com",  # kept: the newer report said nothing about it
        "branch": "feature/fare-interval",  # a gap the older report filled
        "stats": {"files": 2, "insertions": 40, "deletions": 3},  # merged recursively, newer values first
    }


def test_null_in_a_newer_report_deletes_a_property(store: GraphStore) -> None:
    run(store, commit_report("git-1", "2026-11-10T13:27:00Z", {"message": "wip", "dirty": True, "ci": {"run": 1}}))
    run(store, commit_report("git-2", "2026-11-10T13:30:00Z", {"dirty": None, "ci": {"run": None}, "draft": None}))
    assert node(store, COMMIT).props == {"message": "wip", "ci": {}}


def test_null_in_an_older_report_deletes_nothing(store: GraphStore) -> None:
    run(store, commit_report("git-1", "2026-11-10T13:27:00Z", {"message": "wip", "dirty": True}))
    run(store, commit_report("git-0", "2026-11-09T08:00:00Z", {"dirty": None, "ci": None, "branch": "main"}))
    assert node(store, COMMIT).props == {"message": "wip", "dirty": True, "branch": "main"}


def test_first_and_last_seen_widen(store: GraphStore) -> None:
    run(store, commit_report("git-1", "2026-11-10T13:27:00Z", {}))
    run(store, commit_report("git-0", "2026-11-09T08:00:00+01:00", {}))
    run(store, commit_report("git-2", "2026-11-12T09:30:00Z", {}))
    run(store, commit_report("git-3", "2026-11-11T00:00:00Z", {}))
    seen = node(store, COMMIT)
    assert (seen.first_seen.isoformat(), seen.last_seen.isoformat()) == ("2026-11-09T07:00:00+00:00",
                                                                         "2026-11-12T09:30:00+00:00")


def test_sources_accumulate_once_each(store: GraphStore) -> None:
    run(store, event("gha-1"))
    run(store, event("registry-1", source="registry"))
    run(store, event("gha-2"))
    assert node(store, IMAGE_NODE).sources == ["github-actions", "registry"]
    assert image_edge(store).sources == ["github-actions", "registry"]


def test_edge_keeps_the_strongest_evidence(store: GraphStore) -> None:
    def report(event_id: str, evidence: str, time: str) -> dict[str, Any]:
        return event(event_id, time, edges=[{"source": IMAGE_NODE, "target": COMMIT, "evidence": evidence}])

    run(store, report("gha-1", "declared", "2026-11-10T14:50:00Z"))
    run(store, report("slsa-1", "attested", "2026-11-10T14:55:00Z"))
    run(store, report("guess-1", "inferred", "2026-11-11T00:00:00Z"))
    assert image_edge(store).evidence == "attested"


def test_aliases_accumulate_in_canonical_form(store: GraphStore) -> None:
    def report(event_id: str, *aliases: str) -> dict[str, Any]:
        return event(event_id, nodes=[{**IMAGE_NODE, "aliases": list(aliases)}], edges=[])

    run(store, report("gha-1", f"{IMAGE}:v1.2.3"))
    run(store, report("gha-2", f"{IMAGE}:{SHA[:7]}", "nathansegers/azure-mlops-api:v1.2.3"))
    run(store, report("gha-3", f"{IMAGE}:v1.2.3"))
    assert sorted(node(store, IMAGE_NODE).aliases) == [
        "docker.io/nathansegers/azure-mlops-api:v1.2.3", f"{IMAGE}:05ee055", f"{IMAGE}:v1.2.3"]


def test_a_new_event_with_known_facts_is_accepted_without_new_nodes(store: GraphStore) -> None:
    run(store, event("gha-1"))
    result = run(store, event("gha-1-retry-with-new-id"))
    assert result.accepted == ["gha-1-retry-with-new-id"]
    assert store.stats()["nodes"] == {"commit": 1, "image": 1}
    assert store.stats()["edges"] == {"built_from": 1}


# The event log and replay --------------------------------------------------------------------

def record_only(store: GraphStore, *raw: dict[str, Any]) -> None:
    """What a crash right after the log write leaves behind: recorded, not applied."""
    store.append_events([NewEvent(e.id, e.source, e.time, e.model_dump_json(by_alias=True))
                         for e in validate_all(list(raw))])


def test_apply_pending_applies_recorded_but_unapplied_events(store: GraphStore) -> None:
    run(store, event("gha-1"))
    record_only(store, event("k8s-prod-taxi-api-8", "2026-11-12T09:30:00Z", "kubernetes",
                             nodes=[DEPLOYMENT, IMAGE_NODE], edges=[{"source": DEPLOYMENT, "target": IMAGE_NODE}]))
    assert store.stats()["nodes"] == {"commit": 1, "image": 1}
    result = apply_pending(store)
    assert (result.accepted, result.failed, result.nodes, result.edges) == (["k8s-prod-taxi-api-8"], {}, 2, 1)
    assert store.stats()["edges"] == {"built_from": 1, "runs_image": 1}
    assert [(e.id, e.status) for e in store.list_events()] == [("gha-1", "applied"), ("k8s-prod-taxi-api-8", "applied")]
    assert apply_pending(store).accepted == []


def test_apply_pending_retries_failed_events(store: GraphStore) -> None:
    record_only(store, event("gha-1"))
    store.mark_failed("gha-1", "edges point at nodes that are not stored")
    result = apply_pending(store)
    assert result.accepted == ["gha-1"] and not result.failed
    stored = store.get_event("gha-1")
    assert stored is not None and (stored.status, stored.error) == ("applied", None)
    assert store.stats()["edges"] == {"built_from": 1}


def test_logged_payload_replays_to_the_same_event(store: GraphStore) -> None:
    [validated] = validate_all([event("gha-1")])
    ingest(store, [validated])
    stored = store.get_event("gha-1")
    assert stored is not None
    assert LineageEvent.model_validate_json(stored.payload) == validated
    assert (stored.source, stored.time) == ("github-actions", validated.time)


def test_list_events_in_received_order_with_status_filter_and_paging(store: GraphStore) -> None:
    run(store, event("gha-3"), event("gha-1"))
    record_only(store, event("gha-2"))
    run(store, event("gha-0"))
    assert [e.id for e in store.list_events()] == ["gha-3", "gha-1", "gha-2", "gha-0"]
    assert [e.id for e in store.list_events(status="applied")] == ["gha-3", "gha-1", "gha-0"]
    assert [e.id for e in store.list_events(status="pending")] == ["gha-2"]
    assert [e.id for e in store.list_events(after="gha-1", limit=1)] == ["gha-2"]
    assert [e.id for e in store.list_events(status="applied", after="gha-1")] == ["gha-0"]
