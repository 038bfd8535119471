"""Review fixes on the query side: as-of cursors, incomplete impact answers, bounded suggestions,
parameter errors titled as such.

A real SQLite store loaded through ingestion, the FastAPI app through its test client, the CLI
through typer's runner; the demo store for a graph with deployments.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from graph_schema.kinds import node_id
from lineage_service.api.app import DESCRIPTION, create_app
from lineage_service.query import answers
from lineage_service.query.cursors import decode
from lineage_service.query.references import MAX_CLOSE_LOOKUPS, NotFound, resolve
from lineage_service.settings import Settings
from lineage_service.store import open_store
from lineage_service.store.base import Direction, GraphStore
from tests.incident_support import invoke, link, load, node

EARLY, LATE = "2026-11-01T00:00:00Z", "2026-11-10T00:00:00Z"
BETWEEN = "2026-11-05T00:00:00Z"
DATA = node("dataset", name="wide-data", version="1")


def job(name: str) -> dict[str, Any]:
    return node("job", system="azureml", id=name)


EARLY_JOBS = [f"early-{n}" for n in range(3)]
LATE_JOBS = [f"late-{n}" for n in range(4)]


@pytest.fixture(scope="module")
def store_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    uri = f"sqlite:///{tmp_path_factory.mktemp('bounds') / 'lineage.db'}"
    with open_store(uri) as store:
        # Three consumers reported early, four later: as of BETWEEN only the early three exist.
        load(store, [DATA], [link(job(n), DATA, "consumed") for n in EARLY_JOBS], event_id="early", time=EARLY)
        load(store, [DATA], [link(job(n), DATA, "consumed") for n in LATE_JOBS], event_id="late", time=LATE)
    return uri


@pytest.fixture
def store(store_uri: str) -> Iterator[GraphStore]:
    with open_store(store_uri) as opened:
        yield opened


def resolve_id(name: str) -> str:
    return node_id("job", {"system": "azureml", "id": name})


# 1. the cursor of an as-of answer keeps its time ----------------------------------------------

def test_paging_an_as_of_impact_continues_among_the_links_valid_then(store: GraphStore) -> None:
    moment = answers.parse_moment(BETWEEN)
    answer = answers.lineage(store, Direction.DOWNSTREAM, "dataset", "wide-data:1", at=moment, fanout=2)
    [more] = answer["more"]
    assert (more["shown"], more["total"]) == (2, 3)
    assert decode(more["after"]).at == moment
    shown = {n["id"] for n in answer["nodes"] if n["kind"] == "job"}
    # The cursor alone, as the web explorer and `lineage neighbours --after` send it.
    rest = answers.neighbours(store, None, None, after=more["after"], limit=10)
    paged = {link["source"] for link in rest["links"]}
    assert rest["total"] == 3 and rest["next"] is None
    assert shown | paged == {resolve_id(n) for n in EARLY_JOBS} and not shown & paged


def test_a_page_of_an_as_of_listing_hands_out_a_next_cursor_with_the_same_time(store: GraphStore) -> None:
    moment = answers.parse_moment(BETWEEN)
    first = answers.neighbours(store, "dataset", "wide-data:1", limit=2, at=moment)
    assert decode(first["next"]).at == moment
    second = answers.neighbours(store, None, None, after=first["next"], limit=2, at=moment)  # same time: fine
    assert {link["source"] for link in first["links"] + second["links"]} == {resolve_id(n) for n in EARLY_JOBS}


def test_a_cursor_without_a_time_still_pages_every_link(store: GraphStore) -> None:
    answer = answers.lineage(store, Direction.DOWNSTREAM, "dataset", "wide-data:1", fanout=2)
    [more] = answer["more"]
    assert decode(more["after"]).at is None and more["total"] == 7
    rest = answers.neighbours(store, None, None, after=more["after"], limit=10)
    assert len(rest["links"]) == 5


def test_an_explicit_time_that_differs_from_the_cursors_is_a_400_that_says_so(store_uri: str) -> None:
    with TestClient(create_app(Settings(store=store_uri))) as client:
        impact = client.get("/v1/impact", params={"kind": "dataset", "ref": "wide-data:1", "fanout": 1,
                                                  "at": BETWEEN})
        token = impact.json()["more"][0]["after"]
        same = client.get("/v1/neighbours", params={"after": token, "at": BETWEEN})
        assert same.status_code == 200 and same.json()["total"] == 3
        for other in (LATE, None):
            plain = client.get("/v1/impact", params={"kind": "dataset", "ref": "wide-data:1", "fanout": 1})
            cursor = token if other else plain.json()["more"][0]["after"]
            refused = client.get("/v1/neighbours", params={"after": cursor, "at": other or BETWEEN})
            assert refused.status_code == 400
            body = refused.json()
            assert body["title"] == "Invalid parameter"
            assert "the cursor pages links as of" in body["detail"] and "leave --at" in body["detail"]
        assert "now (all links" in body["detail"]  # the last refused cursor carried no time


# 3. an impact capped per node does not claim that nothing is running ----------------------------

def test_a_capped_impact_with_nothing_reached_says_the_answer_is_incomplete(store_uri: str) -> None:
    with open_store(store_uri) as store:
        capped = answers.lineage(store, Direction.DOWNSTREAM, "dataset", "wide-data:1", fanout=2)
        full = answers.lineage(store, Direction.DOWNSTREAM, "dataset", "wide-data:1")
    assert (capped["summary"]["live"]["complete"], full["summary"]["live"]["complete"]) == (False, True)
    tree = invoke("impact", "dataset", "wide-data:1", "--fanout", "2", "--format", "tree", "--store", store_uri)
    assert tree.exit_code == 0, tree.output
    assert "the answer is incomplete" in tree.stdout and "nothing built from it is running" not in tree.stdout
    whole = invoke("impact", "dataset", "wide-data:1", "--format", "tree", "--store", store_uri)
    assert "nothing built from it is running" in whole.stdout and "incomplete" not in whole.stdout


@pytest.fixture(scope="module")
def demo_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    uri = f"sqlite:///{tmp_path_factory.mktemp('bounds-demo') / 'demo.db'}"
    assert invoke("demo", "--quiet", "--store", uri).exit_code == 0
    return uri


def test_a_capped_impact_that_reached_a_deployment_says_at_least(demo_uri: str) -> None:
    args = ("impact", "commit", "05ee055", "--format", "tree", "--store", demo_uri)
    capped = invoke(*args, "--fanout", "1")
    assert capped.exit_code == 0, capped.output
    assert "at least these 1: the answer is incomplete" in capped.stdout
    full = invoke(*args)
    assert "Live now:" in full.stdout and "at least" not in full.stdout


# 9. suggestions for an unknown reference cost a bounded number of lookups ------------------------

class CountingStore:
    """The real store, counting its ``find_nodes`` calls."""

    def __init__(self, store: GraphStore) -> None:
        self.store, self.lookups = store, 0

    def find_nodes(self, *args: Any, **kwargs: Any) -> Any:
        self.lookups += 1
        return self.store.find_nodes(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@pytest.mark.parametrize(("kind", "reference"), [
    ("model", "Qa" * 120),  # the longest a model name may be: every shortening in two cases
    ("dataset", "Q" * 120 + ":" + "z" * 120),
    ("job", "/".join(f"w{n:02d}x" for n in range(40))),  # forty words
    ("api", "q" * 1000)])
def test_an_unknown_long_reference_is_a_404_after_a_bounded_number_of_lookups(demo_uri: str, kind: str,
                                                                             reference: str) -> None:
    with open_store(demo_uri) as store:
        counting = CountingStore(store)
        with pytest.raises(NotFound) as raised:
            resolve(counting, kind, reference)  # type: ignore[arg-type]
    # The resolver's own lookups, the capped suggestions, and the fallback listing of the kind.
    assert counting.lookups <= MAX_CLOSE_LOOKUPS + 4
    assert "; known: " in str(raised.value)


def test_a_typo_late_in_a_long_name_still_finds_the_name(demo_uri: str) -> None:
    with open_store(demo_uri) as store, pytest.raises(NotFound) as raised:
        resolve(store, "dataset", "green-taxi-datq:5")
    labels = [n.label for n in raised.value.candidates]
    assert labels and all(label.startswith("green-taxi-data:") for label in labels)


# 24, 21b. parameter errors are titled as such; the description lists /v1/neighbours ---------------

def test_a_bad_parameter_is_an_invalid_parameter_and_a_bad_reference_an_invalid_reference(demo_uri: str) -> None:
    with TestClient(create_app(Settings(store=demo_uri))) as client:
        for path, params in (("/v1/neighbours", {"kind": "model", "ref": "taxi-model:3", "direction": "up"}),
                             ("/v1/neighbours", {"after": "garbage"}),
                             ("/v1/neighbours", {"kind": "model", "ref": "taxi-model:3", "edge_kind": "x"}),
                             ("/v1/trace", {"kind": "api", "ref": "v1.2.3", "at": "yesterday-ish"})):
            refused = client.get(path, params=params)
            assert (refused.status_code, refused.json()["title"]) == (400, "Invalid parameter"), params
        history = client.get("/v1/history", params={"kind": "image", "ref": "sha256:3f49a154a09c"})
        assert (history.status_code, history.json()["title"]) == (400, "Invalid reference")
        assert "follows a tag" in history.json()["detail"]


def test_the_api_description_lists_the_neighbours_route(tmp_path: Path) -> None:
    assert "`/v1/neighbours`" in DESCRIPTION
    with TestClient(create_app(Settings(store=f"sqlite:///{tmp_path / 'l.db'}"))) as client:
        assert "/v1/neighbours" in client.get("/openapi.json").json()["info"]["description"]
