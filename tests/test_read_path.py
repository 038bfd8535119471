"""The fast read path keeps its answers: times printed from their stored text, suggestions from indexes.

Times read from SQLite keep their text (``StoredTime.iso``) so that answers do not format every
datetime back; the text must print exactly as ``isoformat()`` with ``Z`` would. An unknown
reference suggests close nodes by indexed prefix searches instead of scanning every alias.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lineage_service.ingest import ingest, validate_all
from lineage_service.query.references import NotFound, resolve
from lineage_service.query.trace import node_json, trace
from lineage_service.store import open_store
from lineage_service.store.base import GraphStore

Json = dict[str, Any]


def ref(kind: str, **key: str) -> Json:
    return {"kind": kind, "key": key}


def load(store: GraphStore, event_id: str, time: str, nodes: list[Json], edges: list[Json] | None = None) -> None:
    event = {"id": event_id, "time": time, "source": "test", "nodes": nodes, "edges": edges or []}
    result = ingest(store, validate_all([event]))
    assert result.accepted == [event_id] and not result.failed


def edge(source: Json, target: Json) -> Json:
    return {"source": source, "target": target, "evidence": "declared"}


API = ref("api", service="taxi-api", version="v2.0.0")
DEPLOYMENT = ref("deployment", platform="kubernetes", cluster="aks", namespace="prod", name="taxi-api", revision="1")


@pytest.mark.parametrize(("reported", "printed"), [
    ("2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z"),  # isoformat() leaves zero microseconds out
    ("2026-11-20T10:00:00.250000Z", "2026-11-20T10:00:00.250000Z"),
    ("2026-11-20T11:00:00.000001+01:00", "2026-11-20T10:00:00.000001Z"),  # stored, and printed, in UTC
])
def test_trace_prints_node_and_edge_times_as_reported_in_utc(store: GraphStore, reported: str, printed: str) -> None:
    load(store, "release", reported, [API, DEPLOYMENT], [edge(API, DEPLOYMENT)])
    answer = trace(store, resolve(store, "api", "taxi-api@v2.0.0").node)
    deployment = next(n for n in answer["nodes"] if n["kind"] == "deployment")
    assert (answer["root"]["first_seen"], answer["root"]["last_seen"]) == (printed, printed)
    assert (deployment["first_seen"], deployment["last_seen"]) == (printed, printed)
    assert [(e["props"]["first_seen"], e["props"]["last_seen"]) for e in answer["edges"]] == [(printed, printed)]


def test_a_copied_node_prints_the_same_times(store: GraphStore) -> None:
    # A copy (or an unpickled node) keeps the datetime but not its stored text: formatted instead.
    load(store, "release", "2026-11-20T10:00:00.5Z", [API])
    node = resolve(store, "api", "taxi-api@v2.0.0").node
    assert node_json(copy.deepcopy(node)) == node_json(node)
    assert node_json(node)["first_seen"] == "2026-11-20T10:00:00.500000Z"


def test_times_compare_and_order_as_plain_datetimes(store: GraphStore) -> None:
    load(store, "first", "2026-11-20T10:00:00Z", [API])
    load(store, "second", "2026-11-21T10:00:00Z", [API])
    node = resolve(store, "api", "taxi-api@v2.0.0").node
    assert node.first_seen < node.last_seen
    assert (node.last_seen - node.first_seen).days == 1


# Unknown references ------------------------------------------------------------------------------

def test_misspelt_name_among_many_suggests_the_name_it_shares_a_prefix_with(store: GraphStore) -> None:
    # Twelve models sort before taxi-model: a listing of "the first ten" would not show it.
    models = [ref("model", name=f"alpha-{n:02d}", version="1") for n in range(12)]
    load(store, "models", "2026-11-20T10:00:00Z", [*models, ref("model", name="taxi-model", version="1"),
                                                  ref("model", name="taxi-model", version="2")])
    with pytest.raises(NotFound) as caught:
        resolve(store, "model", "taxi-modle:3")
    assert {n.label for n in caught.value.candidates} == {"taxi-model:1", "taxi-model:2"}
    assert str(caught.value).startswith("no model matches 'taxi-modle:3'; known: taxi-model:1, taxi-model:2")


def test_unknown_service_suggests_the_releases_of_that_version(store: GraphStore) -> None:
    apis = [ref("api", service=f"svc-{n:02d}", version="v0.1.0") for n in range(12)]
    load(store, "apis", "2026-11-20T10:00:00Z", [*apis, ref("api", service="taxi-api", version="v1.2.3")])
    with pytest.raises(NotFound) as caught:
        resolve(store, "api", "fare-api@v1.2.3")
    assert [n.label for n in caught.value.candidates] == ["taxi-api v1.2.3"]


def test_nothing_close_lists_the_first_nodes_of_the_kind(store: GraphStore) -> None:
    load(store, "models", "2026-11-20T10:00:00Z", [ref("model", name=f"m{n:02d}", version="1") for n in range(12)])
    with pytest.raises(NotFound) as caught:
        resolve(store, "model", "zzz:1")
    assert [n.label for n in caught.value.candidates] == [f"m{n:02d}:1" for n in range(10)]


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[GraphStore]:
    opened = open_store(f"sqlite:///{tmp_path / 'lineage.db'}")
    yield opened
    opened.close()


def test_unknown_image_tag_reads_indexes_only(sqlite_store: GraphStore) -> None:
    # A substring search (LIKE) read every image and alias: over half a second at a million nodes.
    images = [ref("image", digest="sha256:" + f"{n:02x}" * 32) for n in range(3)]
    load(sqlite_store, "images", "2026-11-20T10:00:00Z", images)
    statements: list[str] = []
    reader = sqlite_store._reader  # type: ignore[attr-defined]  # this thread's read connection
    reader.set_trace_callback(statements.append)
    try:
        with pytest.raises(NotFound) as caught:
            resolve(sqlite_store, "image", "ghcr.io/org/api:v9.9.9")
    finally:
        reader.set_trace_callback(None)
    assert len(caught.value.candidates) == 3
    assert statements and not [s for s in statements if " LIKE " in s.upper()]
