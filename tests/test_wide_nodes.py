"""Wide nodes stay bounded (issue 9): a dataset consumed by 100,000 jobs, a person with 3,000 commits.

One real SQLite store, built once for the module through ``store.apply`` batches; trace and impact
through the wide nodes in process, over the HTTP API (FastAPI's test client) and with the CLI. The
100k impact is timed once and printed (``-s`` shows it); nothing asserts on time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli.main import app as cli_app
from graph_schema.facts import NodeFact, edge_fact, node_fact
from lineage_service.api.app import create_app
from lineage_service.query import answers
from lineage_service.query.cursors import decode
from lineage_service.settings import Settings
from lineage_service.store import open_store
from lineage_service.store.base import Batch, Direction, GraphStore

JOBS = 100_000
PER_BATCH = 10_000
COMMITS = 3_000
BUILT = datetime(2026, 11, 1, tzinfo=UTC)
BASE = node_fact("dataset", {"name": "base-data", "version": "1"})
DERIVED = node_fact("dataset", {"name": "base-data-clean", "version": "1"})
PERSON = node_fact("person", {"id": "alice"})
REPO = node_fact("repo", {"url": "https://github.com/org/monorepo"})


def consumer(number: int) -> NodeFact:
    return node_fact("job", {"system": "azureml", "id": f"prep-{number:06d}"})


def commit(number: int) -> NodeFact:
    return node_fact("commit", {"repo": REPO.key["url"], "sha": f"{number:040x}"})


@pytest.fixture(scope="module")
def store_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    uri = f"sqlite:///{tmp_path_factory.mktemp('wide') / 'lineage.db'}"
    with open_store(uri) as store:
        # Batch b is first reported b minutes after BUILT: the last batch holds the newest links.
        batches = [Batch([BASE, DERIVED], [edge_fact(DERIVED, BASE)], seen_at=BUILT, source="azureml")]
        for start in range(0, JOBS, PER_BATCH):
            jobs = [consumer(n) for n in range(start, start + PER_BATCH)]
            batches.append(Batch([BASE, *jobs], [edge_fact(j, BASE) for j in jobs],
                                 seen_at=BUILT + timedelta(minutes=start // PER_BATCH), source="azureml"))
        commits = [commit(n) for n in range(COMMITS)]
        batches.append(Batch([PERSON, REPO, *commits],
                             [edge_fact(c, target) for c in commits for target in (PERSON, REPO)],
                             seen_at=BUILT, source="git"))
        store.apply(batches)
    return uri


@pytest.fixture
def store(store_uri: str) -> Iterator[GraphStore]:
    with open_store(store_uri) as opened:
        yield opened


def newest_batch() -> set[str]:
    return {consumer(n).id for n in range(JOBS - PER_BATCH, JOBS)}


def test_impact_through_a_dataset_consumed_by_100k_jobs_shows_the_newest_and_counts_the_rest(
        store: GraphStore) -> None:
    start = time.perf_counter()
    answer = answers.lineage(store, Direction.DOWNSTREAM, "dataset", "base-data:1")
    print(f"\nimpact through a node with {JOBS:,} consumers: {(time.perf_counter() - start) * 1000:.0f} ms "
          f"(SQLite, fanout 100, loaded machine)")
    jobs = {n["id"] for n in answer["nodes"] if n["kind"] == "job"}
    assert len(jobs) == 100 and jobs <= newest_batch()
    assert {n["id"] for n in answer["nodes"]} == {BASE.id, DERIVED.id} | jobs  # other kinds keep their own cap
    assert not answer["truncated"]
    [more] = answer["more"]
    assert {k: more[k] for k in ("node", "kind", "label", "direction", "edge_kind", "shown", "total")} == {
        "node": BASE.id, "kind": "dataset", "label": "base-data:1", "direction": "downstream",
        "edge_kind": "consumed", "shown": 100, "total": JOBS}
    assert more["see"] == f"lineage neighbours --after {more['after']}"
    [warning] = [w for w in answer["warnings"] if "base-data:1" in w]
    assert "100,000 consumed links downstream" in warning and more["see"] in warning


@pytest.mark.slow
def test_paging_from_the_marker_returns_every_other_consumer_exactly_once(store: GraphStore) -> None:
    answer = answers.lineage(store, Direction.DOWNSTREAM, "dataset", "base-data:1")
    shown = [n["id"] for n in answer["nodes"] if n["kind"] == "job"]
    token = answer["more"][0]["after"]
    first = answers.neighbours(store, None, None, after=token, limit=50)  # the answer a person pages with
    request = decode(token)
    assert (request.node, request.direction, request.edge_kind, request.skip) == (
        BASE.id, Direction.DOWNSTREAM, "consumed", 100)
    assert [link["source"] for link in first["links"]] == [e.source for e in store.neighbour_page(
        BASE.id, Direction.DOWNSTREAM, edge_kind="consumed", skip=100, limit=50).edges]
    assert decode(first["next"]).skip == 0  # further pages continue from a position
    # The rest through the store, in big pages: building JSON for 100,000 links would only slow the test.
    page = store.neighbour_page(BASE.id, request.direction, edge_kind=request.edge_kind, skip=request.skip,
                                limit=25_000)
    paged, pages = [edge.source for edge in page.edges], 1
    while page.next is not None:
        page = store.neighbour_page(BASE.id, request.direction, edge_kind=request.edge_kind, after=page.next,
                                    limit=25_000)
        assert page.total == JOBS
        paged += [edge.source for edge in page.edges]
        pages += 1
    assert pages == 4
    assert len(shown) + len(paged) == JOBS
    assert set(shown) | set(paged) == {consumer(n).id for n in range(JOBS)}


def test_trace_upstream_from_a_consumer_is_unchanged(store: GraphStore) -> None:
    answer = answers.lineage(store, Direction.UPSTREAM, "job", "azureml/prep-000042")
    assert {n["id"] for n in answer["nodes"]} == {consumer(42).id, BASE.id}
    assert answer["more"] == []


def test_impact_of_a_person_and_a_repo_with_thousands_of_commits(store: GraphStore) -> None:
    for kind, reference in (("person", "alice"), ("repo", REPO.key["url"])):
        answer = answers.lineage(store, Direction.DOWNSTREAM, kind, reference, fanout=25)
        assert len([n for n in answer["nodes"] if n["kind"] == "commit"]) == 25
        edge_kind = "authored_by" if kind == "person" else "in_repo"
        assert [(m["edge_kind"], m["shown"], m["total"]) for m in answer["more"]] == [(edge_kind, 25, COMMITS)]


def test_show_lists_at_most_a_page_each_way_with_the_total(store: GraphStore) -> None:
    shown = answers.show(store, "dataset", "base-data:1")
    assert len(shown["downstream"]) == 100 and [link["source"] for link in shown["upstream"]] == []
    [more] = shown["more"]
    assert (more["direction"], more["shown"], more["total"]) == ("downstream", 100, JOBS + 1)
    rest = answers.neighbours(store, None, None, after=more["after"], limit=5)
    assert rest["edge_kind"] is None and len(rest["links"]) == 5 and rest["total"] == JOBS + 1


def test_the_http_api_takes_fanout_and_pages_neighbours(store_uri: str) -> None:
    with TestClient(create_app(Settings(store=store_uri))) as client:
        impact = client.get("/v1/impact", params={"kind": "dataset", "ref": "base-data:1", "fanout": 5})
        assert impact.status_code == 200
        [more] = impact.json()["more"]
        assert (more["shown"], more["total"]) == (5, JOBS)
        page = client.get("/v1/neighbours", params={"after": more["after"], "limit": 3})
        assert page.status_code == 200
        assert len(page.json()["links"]) == 3 and page.json()["next"]
        first = client.get("/v1/neighbours", params={"kind": "person", "ref": "alice", "limit": 2})
        assert first.status_code == 200
        assert (first.json()["direction"], first.json()["total"], len(first.json()["links"])) == (
            "downstream", COMMITS, 2)
        refusals: list[tuple[dict[str, str | int], str]] = [
            ({"kind": "dataset", "ref": "base-data:1", "fanout": 0}, "fanout"),
            ({"kind": "dataset", "ref": "base-data:1", "fanout": "many"}, "fanout")]
        for params, words in refusals:
            refused = client.get("/v1/impact", params=params)
            assert refused.status_code == 400 and words in refused.json()["detail"]
        page_refusals: list[tuple[dict[str, str | int], str]] = [
            ({"after": "not-a-cursor"}, "not one lineage gave out"),
            ({"kind": "dataset", "ref": "base-data:1", "direction": "sideways"}, "direction"),
            ({"kind": "dataset", "ref": "base-data:1", "edge_kind": "bogus"}, "edge kind"),
            ({"kind": "dataset"}, "name the node"),
            ({"after": more["after"], "direction": "upstream"}, "downstream"),
            ({"kind": "dataset", "ref": "base-data:1", "limit": 0}, "limit")]
        for params, words in page_refusals:
            refused = client.get("/v1/neighbours", params=params)
            assert refused.status_code == 400, params
            assert words in refused.json()["detail"], refused.json()
            assert refused.headers["content-type"].startswith("application/problem+json")


def test_the_cli_shows_the_marker_and_pages_with_its_cursor(store_uri: str) -> None:
    runner = CliRunner()
    env = {"COLUMNS": "300", "LINEAGE_URL": "", "LINEAGE_STORE": store_uri}
    tree = runner.invoke(cli_app, ["impact", "dataset", "base-data:1", "--fanout", "3", "--format", "tree"], env=env)
    assert tree.exit_code == 0, tree.output
    assert "… and 99,997 more consumed (lineage neighbours --after " in tree.output
    as_json = runner.invoke(cli_app, ["impact", "dataset", "base-data:1", "--fanout", "3", "--format", "json"],
                            env=env)
    token = json.loads(as_json.stdout)["more"][0]["after"]
    page = runner.invoke(cli_app, ["neighbours", "--after", token, "--limit", "4", "--format", "json"], env=env)
    assert page.exit_code == 0, page.output
    assert len(json.loads(page.stdout)["links"]) == 4
    listed = runner.invoke(cli_app, ["neighbours", "person", "alice", "-n", "2", "--format", "tree"], env=env)
    assert listed.exit_code == 0 and "3,000 links downstream, newest first" in listed.output
    assert "next page: lineage neighbours --after " in listed.output
    for args, words in ((["impact", "dataset", "base-data:1", "--fanout", "0"], "--fanout"),
                        (["neighbours"], "give --after"),
                        (["neighbours", "--after", "garbage"], "not one lineage gave out")):
        refused = runner.invoke(cli_app, args, env=env)
        assert refused.exit_code == 2, refused.output
        assert words in refused.output
