"""The SQLite store's schema versions and the walk's SQL (issue 9): a store of schema 1 is migrated
in place, a newer one is refused untouched, wide nodes are ranked by an index, skipped kinds match
whole names.

Real store files in a temporary directory; a schema-1 store is the same file with schema 1's index
(``edges_by_target (dst, kind, src)``) and version, exactly what lineage-service of schema 1 wrote:
the tables are the same in both versions.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from graph_schema.edges import EdgeKind
from graph_schema.facts import edge_fact, node_fact
from lineage_service.demo.history import demo_events
from lineage_service.ingest import ingest, validate_all
from lineage_service.query.references import resolve
from lineage_service.query.trace import trace
from lineage_service.store import StoreUnavailable, open_store
from lineage_service.store.base import Batch, Direction, NewerStoreSchema
from lineage_service.store.sqlite import SCHEMA_VERSION, SQLiteGraphStore
from lineage_service.store.sqlite_walk import NEIGHBOUR_PAGE, WALK_CAPPED, skip_list

Json = dict[str, Any]
SCHEMA_1_INDEX = "CREATE INDEX edges_by_target ON edges (dst, kind, src)"


def schema(path: Path) -> tuple[str, list[str]]:
    """The stored version and the names of the edges table's indexes, read with plain sqlite3."""
    with closing(sqlite3.connect(path)) as db:
        version = db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()[0]
        indexes = [row[0] for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'edges' ORDER BY name")]
    return version, indexes


def set_schema(path: Path, *statements: str) -> None:
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        for statement in statements:
            db.execute(statement)


def answers(store: SQLiteGraphStore) -> list[Json]:
    """Trace and impact of the demo, now and at a past time, and the neighbours of a dataset."""
    release, dataset = resolve(store, "api", "v1.2.3").node, resolve(store, "dataset", "green-taxi-data:5").node
    past = datetime(2026, 11, 11, tzinfo=UTC)
    traced = [trace(store, node, direction, at=at)
              for node, direction in ((release, Direction.UPSTREAM), (dataset, Direction.DOWNSTREAM))
              for at in (None, past)]
    pages = [store.neighbour_page(dataset.id, direction) for direction in Direction]
    return [*traced, *({"edges": [(e.source, e.target, e.kind) for e in page.edges], "total": page.total}
                       for page in pages)]


@pytest.fixture
def demo_path(tmp_path: Path) -> Path:
    path = tmp_path / "lineage.db"
    with closing(SQLiteGraphStore(path)) as store:
        assert not ingest(store, validate_all(demo_events())).failed
    return path


def test_a_schema_1_store_is_migrated_in_place_once_and_answers_the_same(demo_path: Path) -> None:
    with closing(SQLiteGraphStore(demo_path)) as store:
        expected = answers(store)
    set_schema(demo_path, "DROP INDEX edges_by_target_newest", SCHEMA_1_INDEX,
               "UPDATE meta SET value = '1' WHERE name = 'schema_version'")
    assert schema(demo_path) == ("1", ["edges_by_target"])

    with closing(SQLiteGraphStore(demo_path)) as store:
        assert answers(store) == expected
        assert store.integrity_check() == ["ok"]
    assert schema(demo_path) == (str(SCHEMA_VERSION), ["edges_by_target_newest"])
    with closing(SQLiteGraphStore(demo_path)) as store:  # opening again changes nothing
        assert answers(store) == expected
    assert schema(demo_path) == (str(SCHEMA_VERSION), ["edges_by_target_newest"])


def test_the_index_an_older_service_created_before_it_refused_the_store_is_dropped(demo_path: Path) -> None:
    # lineage-service of schema 1 runs its CREATE INDEX IF NOT EXISTS, then reads the version and refuses.
    set_schema(demo_path, SCHEMA_1_INDEX)
    with closing(SQLiteGraphStore(demo_path)):
        pass
    assert schema(demo_path) == (str(SCHEMA_VERSION), ["edges_by_target_newest"])


def test_a_newer_store_is_refused_with_a_clear_error_and_left_untouched(demo_path: Path) -> None:
    newer = str(SCHEMA_VERSION + 1)
    set_schema(demo_path, "DROP INDEX edges_by_target_newest",
               f"UPDATE meta SET value = '{newer}' WHERE name = 'schema_version'")
    with pytest.raises(NewerStoreSchema, match=f"newer lineage-service \\(store schema {newer}\\); upgrade"):
        SQLiteGraphStore(demo_path)
    with pytest.raises(StoreUnavailable, match="upgrade lineage-service to open it"):
        open_store(f"sqlite:///{demo_path}")
    assert schema(demo_path) == (newer, [])  # no index created, no version written


def test_skip_list_names_whole_kinds() -> None:
    assert skip_list([]) == ""
    assert skip_list(["parent"]) == ",parent,"
    assert skip_list(["parent", "consumed", "parent"]) == ",consumed,parent,"
    # A name with a comma is no edge kind: left out, its parts would otherwise match kinds.
    assert skip_list(["x,consumed"]) == ""
    assert not [kind for kind in EdgeKind if "," in kind.value]


def test_a_skipped_name_skips_only_that_kind_not_kinds_inside_it(tmp_path: Path) -> None:
    job, data, older = (node_fact("job", {"system": "azureml", "id": "train-1"}),
                        node_fact("dataset", {"name": "taxi", "version": "2"}),
                        node_fact("dataset", {"name": "taxi", "version": "1"}))
    with closing(SQLiteGraphStore(tmp_path / "lineage.db")) as store:
        store.apply([Batch([job, data, older], [edge_fact(job, data), edge_fact(data, older)],
                           seen_at=datetime(2026, 11, 1, tzinfo=UTC), source="test")])
        for fanout in (None, 1):
            def reached(skip: set[str], fanout: int | None = fanout) -> set[str]:
                walked = store.walk([job.id], Direction.UPSTREAM, 5, skip_edge_kinds=skip, fanout=fanout)
                return {node.id for node in walked.nodes}

            assert reached(set()) == {job.id, data.id, older.id}
            assert reached({"consumed"}) == {job.id}
            assert reached({"derived_from"}) == {job.id, data.id}
            assert reached({"x,consumed", "consume", "onsumed"}) == {job.id, data.id, older.id}


def _plan(path: Path, statement: str) -> list[tuple[int, int, str]]:
    names = {"start", "depth", "skip_list", "at", "limit", "rows", "fanout", "node", "edge_kind", "after_time",
             "after_kind", "after_node", "skip"}
    with closing(sqlite3.connect(path)) as db:
        return [(row[0], row[1], row[3]) for row in db.execute("EXPLAIN QUERY PLAN " + statement,
                                                                {name: None for name in names})]


def test_a_wide_nodes_links_of_a_kind_are_ranked_and_paged_by_the_index_not_sorted(tmp_path: Path) -> None:
    # The plan, not a time: the first :fanout links of a kind and a page after a cursor are ranges of
    # edges_by_target_newest; a sort of the node's links would show as a temporary B-tree.
    path = tmp_path / "lineage.db"
    SQLiteGraphStore(path).close()
    walk = _plan(path, WALK_CAPPED[Direction.DOWNSTREAM, True])
    [ranking] = [row for row in walk if row[2] == "CO-ROUTINE first"]
    under_ranking = [row[2] for row in walk if row[1] == ranking[0]]
    assert any(detail.startswith("SEARCH e USING INDEX edges_by_target_newest (dst=? AND kind=?)")
               or detail.startswith("SEARCH e USING COVERING INDEX edges_by_target_newest (dst=? AND kind=?)")
               for detail in under_ranking), under_ranking
    assert not [detail for detail in under_ranking if "TEMP B-TREE" in detail]

    page = _plan(path, NEIGHBOUR_PAGE[Direction.DOWNSTREAM, True, True])
    [inner] = [row for row in page if row[2] == "MATERIALIZE page"]
    under_page = [row[2] for row in page if row[1] == inner[0]]
    assert any("edges_by_target_newest (dst=? AND kind=? AND first_seen<" in detail for detail in under_page), \
        under_page
    assert not [detail for detail in under_page if "TEMP B-TREE" in detail]


def test_a_walk_through_a_wide_node_counts_and_pages_the_links_it_did_not_follow(tmp_path: Path) -> None:
    # A node with links of two kinds past the cap, some with a validity window: the "more" rows
    # count per kind (and at a time), and paging from the cap returns every other link once.
    base = node_fact("dataset", {"name": "base", "version": "1"})
    jobs = [node_fact("job", {"system": "azureml", "id": f"prep-{n:03d}"}) for n in range(30)]
    derived = [node_fact("dataset", {"name": f"d{n}", "version": "1"}) for n in range(12)]
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with closing(SQLiteGraphStore(tmp_path / "lineage.db")) as store:
        store.apply([Batch([base, *jobs[n::3], *derived[n::3]],
                           [edge_fact(j, base, valid_to=start + timedelta(days=1) if n == 0 else None)
                            for j in jobs[n::3]] + [edge_fact(d, base) for d in derived[n::3]],
                           seen_at=start + timedelta(hours=n), source="test") for n in range(3)])
        fanout = 4
        walked = store.walk([base.id], Direction.DOWNSTREAM, 3, fanout=fanout)
        assert {(m.kind, m.total) for m in walked.more} == {("consumed", 30), ("derived_from", 12)}
        later = store.walk([base.id], Direction.DOWNSTREAM, 3, fanout=fanout, at=start + timedelta(days=2))
        assert {(m.kind, m.total) for m in later.more} == {("consumed", 20), ("derived_from", 12)}
        # Newest first: the batch seen last (n = 2) holds the first links, by node seq within it.
        followed = {n.id for n in walked.nodes if n.kind == "job"}
        assert followed == {j.id for j in jobs[2::3][:fanout]}

        seen, page = set(followed), store.neighbour_page(base.id, Direction.DOWNSTREAM, edge_kind="consumed",
                                                         skip=fanout, limit=7)
        while True:
            assert page.total == 30
            assert not seen & {e.source for e in page.edges}
            seen |= {e.source for e in page.edges}
            if page.next is None:
                break
            page = store.neighbour_page(base.id, Direction.DOWNSTREAM, edge_kind="consumed", after=page.next,
                                        limit=7)
        assert seen == {j.id for j in jobs}
