"""The store contract: what every backend must do, through the abstract ``GraphStore`` only.

The ``store`` fixture yields an empty store of each backend (SQLite always, Neo4j when
``LINEAGE_TEST_NEO4J_URI`` is set), so nothing here may reach into a backend's internals.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from graph_schema.edges import Evidence
from graph_schema.facts import EdgeFact, NodeFact, edge_fact, node_fact
from lineage_service.store.base import (
    Batch,
    Direction,
    Edge,
    GraphStore,
    MissingNode,
    NeighbourPage,
    NewEvent,
    Node,
    StoredEvent,
    Subgraph,
)

REPO = "https://github.com/nathansegers/mlops-2.0"
SHA = "05ee055698af2171294615a1e423f71f4098628e"
PREP_SHA = "5b7e2c9a1d3f4e6b8c0a2d4f6e8b0c2a4d6f8e0b"
PARENT_SHA = "9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d"
OLD_DIGEST = "sha256:" + "1c" * 32
DIGEST = "sha256:3f49a154a09c6e2b8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b"
TAG = "ghcr.io/nathansegers/azure-mlops-api:v1.2.3"
BUILT = datetime(2026, 11, 10, 14, 50, tzinfo=UTC)

API = node_fact("api", {"service": "taxi-api", "version": "v1.2.3"})
DEPLOYMENT = node_fact("deployment", {"platform": "kubernetes", "cluster": "aks-mlops-prod", "namespace": "prod",
                                      "name": "taxi-api", "revision": "8"}, {"replicas": 3})
IMAGE = node_fact("image", {"digest": DIGEST}, aliases=[TAG])
OLD_IMAGE = node_fact("image", {"digest": OLD_DIGEST})
COMMIT = node_fact("commit", {"repo": REPO, "sha": SHA}, {"message": "api: return a fare interval from /predict"})
PREP_COMMIT = node_fact("commit", {"repo": REPO, "sha": PREP_SHA})
PARENT_COMMIT = node_fact("commit", {"repo": REPO, "sha": PARENT_SHA})
MODEL = node_fact("model", {"name": "taxi-model", "version": "3"}, {"metrics": {"r2": 0.83}})
JOB = node_fact("job", {"system": "azureml", "id": "bold_river_4t6w9p3m1s_train_model"})
DATASET = node_fact("dataset", {"name": "green-taxi-data", "version": "5"})

# api -> deployment -> image -> commit -> parent commit; image -> model -> job -> dataset, job -> prep commit;
# the deployment also serves the model directly (a shorter path to it).
RELEASE_EDGES = [
    edge_fact(API, DEPLOYMENT), edge_fact(DEPLOYMENT, IMAGE, evidence=Evidence.OBSERVED),
    edge_fact(DEPLOYMENT, MODEL), edge_fact(IMAGE, COMMIT), edge_fact(IMAGE, MODEL),
    edge_fact(COMMIT, PARENT_COMMIT), edge_fact(MODEL, JOB), edge_fact(JOB, DATASET), edge_fact(JOB, PREP_COMMIT),
]
RELEASE_NODES = [API, DEPLOYMENT, IMAGE, COMMIT, PREP_COMMIT, PARENT_COMMIT, MODEL, JOB, DATASET]


def batch(*facts: NodeFact | EdgeFact, seen_at: datetime = BUILT, source: str = "github-actions",
          event_ids: Sequence[str] = ()) -> Batch:
    return Batch([f for f in facts if isinstance(f, NodeFact)], [f for f in facts if isinstance(f, EdgeFact)],
                 seen_at=seen_at, source=source, event_ids=tuple(event_ids))


def release(store: GraphStore) -> None:
    store.apply([batch(*RELEASE_NODES, *RELEASE_EDGES)])


def labels(graph: Subgraph) -> set[str]:
    return {node.label for node in graph.nodes}


def edge_set(graph: Subgraph) -> set[tuple[str, str, str]]:
    return {(edge.source, edge.kind, edge.target) for edge in graph.edges}


def dataset(version: int, name: str = "green-taxi-data") -> NodeFact:
    return node_fact("dataset", {"name": name, "version": str(version)})


# Writing -------------------------------------------------------------------------------------

def test_applied_node_is_read_back_with_key_label_props_aliases_and_times(store: GraphStore) -> None:
    store.apply([batch(IMAGE, node_fact("image", {"digest": DIGEST}, {"created": "2026-11-10T14:48:00Z"}))])
    [node] = store.get_nodes([IMAGE.id])
    assert (node.id, node.kind, node.key, node.label) == (IMAGE.id, "image", {"digest": DIGEST}, "sha256:3f49a154a09c")
    assert node.props == {"created": "2026-11-10T14:48:00Z"}
    assert node.aliases == [TAG]
    assert node.sources == ["github-actions"]
    assert node.first_seen == node.last_seen == BUILT


def test_get_nodes_leaves_out_unknown_ids(store: GraphStore) -> None:
    store.apply([batch(MODEL, JOB)])
    assert {n.id for n in store.get_nodes([MODEL.id, COMMIT.id, JOB.id])} == {MODEL.id, JOB.id}
    assert store.get_nodes([]) == []


def test_edge_to_unknown_node_raises_missing_node_and_stores_nothing_of_the_call(store: GraphStore) -> None:
    store.apply([batch(DATASET)])
    stats_before = store.stats()
    with pytest.raises(MissingNode):
        store.apply([batch(JOB, edge_fact(JOB, DATASET)),  # fine on its own
                     batch(IMAGE, MODEL, edge_fact(IMAGE, MODEL), edge_fact(IMAGE, COMMIT))])  # commit unknown
    assert store.get_nodes([JOB.id, IMAGE.id, MODEL.id]) == []
    assert store.neighbours(DATASET.id) == ([], [])
    assert store.stats()["nodes"] == stats_before["nodes"] == {"dataset": 1}
    assert store.stats()["edges"] == {}


def test_edge_to_a_node_stored_earlier_is_accepted(store: GraphStore) -> None:
    store.apply([batch(COMMIT)])
    store.apply([batch(IMAGE, edge_fact(IMAGE, COMMIT))])
    upstream, _ = store.neighbours(IMAGE.id)
    assert [(e.kind, e.target) for e in upstream] == [("built_from", COMMIT.id)]


def test_applying_the_same_batch_twice_changes_nothing(store: GraphStore) -> None:
    release(store)
    first = (store.stats(), store.get_nodes([IMAGE.id]), store.neighbours(IMAGE.id))
    release(store)
    assert (store.stats(), store.get_nodes([IMAGE.id]), store.neighbours(IMAGE.id)) == first
    assert store.stats()["nodes"] == {"api": 1, "commit": 3, "dataset": 1, "deployment": 1, "image": 1, "job": 1,
                                      "model": 1}
    assert sum(store.stats()["edges"].values()) == len(RELEASE_EDGES)


def test_repeated_edge_report_merges_evidence_sources_props_and_times(store: GraphStore) -> None:
    store.apply([batch(DEPLOYMENT, IMAGE, edge_fact(DEPLOYMENT, IMAGE, evidence=Evidence.DECLARED,
                                                    props={"container": "api"}), source="kubernetes")])
    later = BUILT + timedelta(hours=2)
    store.apply([batch(DEPLOYMENT, IMAGE, edge_fact(DEPLOYMENT, IMAGE, evidence=Evidence.OBSERVED,
                                                    props={"pulled": True}), source="registry", seen_at=later)])
    store.apply([batch(DEPLOYMENT, IMAGE, edge_fact(DEPLOYMENT, IMAGE, evidence=Evidence.INFERRED),
                       source="kubernetes", seen_at=BUILT - timedelta(hours=1))])
    [edge] = store.neighbours(DEPLOYMENT.id)[0]
    assert edge.evidence == "observed"
    assert sorted(edge.sources) == ["kubernetes", "registry"]
    assert edge.props == {"container": "api", "pulled": True}
    assert (edge.first_seen, edge.last_seen) == (BUILT - timedelta(hours=1), later)


def test_props_merge_as_a_json_merge_patch_where_null_deletes(store: GraphStore) -> None:
    deployed = node_fact("deployment", DEPLOYMENT.key, {"replicas": 3, "env": {"API_VERSION": "v1.2.3",
                                                                                "DEBUG": "1"}})
    store.apply([batch(deployed, IMAGE, edge_fact(deployed, IMAGE, props={"container": "api", "pull": "always"}))])
    scaled = node_fact("deployment", DEPLOYMENT.key, {"replicas": None, "env": {"DEBUG": None}, "paused": None})
    store.apply([batch(scaled, IMAGE, edge_fact(scaled, IMAGE, props={"pull": None}),
                       seen_at=BUILT + timedelta(minutes=5))])
    [node] = store.get_nodes([DEPLOYMENT.id])
    assert node.props == {"env": {"API_VERSION": "v1.2.3"}}
    assert store.neighbours(DEPLOYMENT.id)[0][0].props == {"container": "api"}


# Finding nodes -------------------------------------------------------------------------------

def test_find_by_exact_lookup_within_a_kind(store: GraphStore) -> None:
    same_name = node_fact("dataset", {"name": "taxi-model", "version": "3"})
    store.apply([batch(MODEL, same_name, COMMIT)])
    assert [n.id for n in store.find_nodes("model", lookup="taxi-model")] == [MODEL.id]
    assert [n.id for n in store.find_nodes("commit", lookup=SHA)] == [COMMIT.id]
    assert store.find_nodes("commit", lookup=SHA[:7]) == []
    assert {n.id for n in store.find_nodes(lookup="taxi-model")} == {MODEL.id, same_name.id}


def test_find_by_lookup_prefix(store: GraphStore) -> None:
    sibling = node_fact("commit", {"repo": REPO, "sha": "05ee0aa" + "0" * 33})
    store.apply([batch(COMMIT, sibling, PREP_COMMIT)])
    assert [n.id for n in store.find_nodes("commit", lookup_prefix="05ee055")] == [COMMIT.id]
    assert {n.id for n in store.find_nodes("commit", lookup_prefix="05ee0")} == {COMMIT.id, sibling.id}
    assert store.find_nodes("commit", lookup_prefix="05ef") == []


def test_find_by_alias(store: GraphStore) -> None:
    store.apply([batch(IMAGE, OLD_IMAGE)])
    assert [n.id for n in store.find_nodes("image", alias=TAG)] == [IMAGE.id]
    assert store.find_nodes("image", alias="ghcr.io/nathansegers/azure-mlops-api:v1.2") == []


def test_find_by_text_searches_labels_lookups_and_aliases(store: GraphStore) -> None:
    store.apply([batch(IMAGE, MODEL, JOB, DATASET)])
    assert [n.id for n in store.find_nodes(text="taxi-model:3")] == [MODEL.id]  # the label
    assert [n.id for n in store.find_nodes(text="bold_river")] == [JOB.id]  # the lookup
    assert [n.id for n in store.find_nodes(text="azure-mlops-api:v1.2")] == [IMAGE.id]  # an alias
    assert {n.id for n in store.find_nodes(text="taxi")} == {MODEL.id, DATASET.id}
    assert [n.id for n in store.find_nodes("dataset", text="taxi")] == [DATASET.id]


@pytest.mark.parametrize(("text", "expected"), [
    ("green_taxi", {"green_taxi_trips"}),  # '_' is not "any character": green-taxi-data stays out
    ("100%", {"trips-100%-sample"}),
    ("%", {"trips-100%-sample"}),
    ("o'hare", {"o'hare-trips"}),
    ('"', set()),
    ("\\", {"raw\\2026"}),
])
def test_find_by_text_treats_like_metacharacters_and_quotes_literally(store: GraphStore, text: str,
                                                                      expected: set[str]) -> None:
    names = ["green-taxi-data", "green_taxi_trips", "trips-100%-sample", "trips-1000-sample", "o'hare-trips",
             "raw\\2026"]
    store.apply([batch(*(dataset(1, name) for name in names))])
    assert {n.key["name"] for n in store.find_nodes("dataset", text=text)} == expected


def test_find_nodes_honours_the_limit(store: GraphStore) -> None:
    store.apply([batch(*(dataset(version) for version in range(1, 6)))])
    assert len(store.find_nodes("dataset", lookup="green-taxi-data", limit=2)) == 2
    assert len(store.find_nodes("dataset", lookup="green-taxi-data")) == 5


# Neighbours and walks ------------------------------------------------------------------------

def test_neighbours_are_the_edges_leaving_and_arriving(store: GraphStore) -> None:
    release(store)
    upstream, downstream = store.neighbours(IMAGE.id)
    assert {(e.kind, e.target) for e in upstream} == {("built_from", COMMIT.id), ("bundles", MODEL.id)}
    assert [(e.source, e.kind, e.evidence, e.sources) for e in downstream] == [
        (DEPLOYMENT.id, "runs_image", "observed", ["github-actions"])]
    assert store.neighbours("image_000000000000000000000000") == ([], [])


def test_walk_upstream_reaches_everything_that_produced_the_release(store: GraphStore) -> None:
    release(store)
    graph = store.walk([API.id], Direction.UPSTREAM, 12)
    assert {n.id for n in graph.nodes} == {n.id for n in RELEASE_NODES}
    assert edge_set(graph) == {(e.source, e.kind.value, e.target) for e in RELEASE_EDGES}
    assert not graph.truncated
    # The shortest distance counts: the deployment serves the model directly.
    assert graph.depth_of[API.id] == 0 and graph.depth_of[MODEL.id] == 2 and graph.depth_of[DATASET.id] == 4


def test_walk_stops_at_the_depth(store: GraphStore) -> None:
    release(store)
    assert [n.id for n in store.walk([API.id], Direction.UPSTREAM, 0).nodes] == [API.id]
    one = store.walk([API.id], Direction.UPSTREAM, 1)
    assert {n.id for n in one.nodes} == {API.id, DEPLOYMENT.id}
    assert edge_set(one) == {(API.id, "served_by", DEPLOYMENT.id)}
    assert labels(store.walk([API.id], Direction.UPSTREAM, 2)) == {"taxi-api v1.2.3", "prod/taxi-api#8",
                                                                    "sha256:3f49a154a09c", "taxi-model:3"}


def test_walk_downstream_finds_what_was_made_from_a_dataset(store: GraphStore) -> None:
    release(store)
    graph = store.walk([DATASET.id], Direction.DOWNSTREAM, 12)
    assert graph.depth_of == {DATASET.id: 0, JOB.id: 1, MODEL.id: 2, IMAGE.id: 3, DEPLOYMENT.id: 3, API.id: 4}
    assert (IMAGE.id, "bundles", MODEL.id) in edge_set(graph)
    assert labels(store.walk([DATASET.id], Direction.DOWNSTREAM, 2)) == {"green-taxi-data:5",
                                                                          "azureml/bold_river_4t6w9p3m1s_train_model",
                                                                          "taxi-model:3"}


def test_walk_skips_the_given_edge_kinds(store: GraphStore) -> None:
    release(store)
    assert PARENT_COMMIT.id in store.walk([IMAGE.id], Direction.UPSTREAM, 12).depth_of
    graph = store.walk([IMAGE.id], Direction.UPSTREAM, 12, skip_edge_kinds={"parent", "bundles"})
    assert {n.id for n in graph.nodes} == {IMAGE.id, COMMIT.id}
    assert edge_set(graph) == {(IMAGE.id, "built_from", COMMIT.id)}


def test_walk_from_several_or_unknown_starts(store: GraphStore) -> None:
    release(store)
    both = store.walk([COMMIT.id, DATASET.id], Direction.UPSTREAM, 1)
    assert both.depth_of == {COMMIT.id: 0, PARENT_COMMIT.id: 1, DATASET.id: 0}
    empty = store.walk(["model_000000000000000000000000"], Direction.UPSTREAM, 12)
    assert (empty.nodes, empty.edges, empty.truncated) == ([], [], False)


def test_walk_over_a_cycle_terminates_with_each_node_once(store: GraphStore) -> None:
    # A mislabelled pipeline can report two dataset versions derived from each other.
    v4, v5 = dataset(4), dataset(5)
    store.apply([batch(v4, v5, edge_fact(v5, v4), edge_fact(v4, v5))])
    for direction in Direction:
        graph = store.walk([v5.id], direction, 50, limit=10)
        assert graph.depth_of == {v5.id: 0, v4.id: 1}
        assert len(graph.nodes) == 2 and len(graph.edges) == 2
        assert not graph.truncated


def test_walk_limit_truncates_and_says_so(store: GraphStore) -> None:
    chain = [dataset(version) for version in range(1, 7)]  # each version derived from the previous one
    store.apply([batch(*chain, *(edge_fact(newer, older) for older, newer in pairwise(chain)))])
    newest = chain[-1].id
    complete = store.walk([newest], Direction.UPSTREAM, 12, limit=6)
    assert (len(complete.nodes), complete.truncated) == (6, False)
    cut = store.walk([newest], Direction.UPSTREAM, 12, limit=3)
    assert cut.truncated
    assert labels(cut) == {"green-taxi-data:6", "green-taxi-data:5", "green-taxi-data:4"}  # the nearest ones
    kept = {n.id for n in cut.nodes}
    assert all(e.source in kept and e.target in kept for e in cut.edges)


def test_walk_at_a_time_follows_the_edge_valid_then(store: GraphStore) -> None:
    # The deployment follows a moving tag: it ran the old digest until `moved`, the new one since.
    moved = datetime(2026, 11, 12, 9, 30, tzinfo=UTC)
    week_before = moved - timedelta(days=7)
    store.apply([batch(DEPLOYMENT, OLD_IMAGE, edge_fact(DEPLOYMENT, OLD_IMAGE, valid_from=week_before),
                       seen_at=week_before, source="kubernetes")])
    store.apply([batch(DEPLOYMENT, OLD_IMAGE, IMAGE,
                       edge_fact(DEPLOYMENT, OLD_IMAGE, valid_from=week_before, valid_to=moved),
                       edge_fact(DEPLOYMENT, IMAGE, valid_from=moved), seen_at=moved, source="kubernetes")])

    def images_at(at: datetime | None) -> set[str]:
        return {n.id for n in store.walk([DEPLOYMENT.id], Direction.UPSTREAM, 1, at=at).nodes} - {DEPLOYMENT.id}

    assert images_at(moved - timedelta(minutes=1)) == {OLD_IMAGE.id}
    assert images_at(moved) == {IMAGE.id}  # valid_to is exclusive, valid_from inclusive
    assert images_at(moved + timedelta(days=1)) == {IMAGE.id}
    assert images_at(week_before - timedelta(days=1)) == set()
    assert images_at(None) == {OLD_IMAGE.id, IMAGE.id}
    [old_edge] = [e for e in store.neighbours(DEPLOYMENT.id)[0] if e.target == OLD_IMAGE.id]
    assert (old_edge.valid_from, old_edge.valid_to) == (week_before, moved)


def test_walk_at_a_time_trusts_valid_from_of_a_window_reported_later(store: GraphStore) -> None:
    # A collector reading the rollout history reports both windows a day after the switch.
    moved = datetime(2026, 11, 12, 9, 30, tzinfo=UTC)
    store.apply([batch(DEPLOYMENT, OLD_IMAGE, IMAGE,
                       edge_fact(DEPLOYMENT, OLD_IMAGE, valid_from=moved - timedelta(days=7), valid_to=moved),
                       edge_fact(DEPLOYMENT, IMAGE, valid_from=moved), seen_at=moved + timedelta(days=1))])
    before = store.walk([DEPLOYMENT.id], Direction.UPSTREAM, 1, at=moved - timedelta(hours=1))
    after = store.walk([DEPLOYMENT.id], Direction.UPSTREAM, 1, at=moved + timedelta(hours=1))
    assert {n.id for n in before.nodes} == {DEPLOYMENT.id, OLD_IMAGE.id}
    assert {n.id for n in after.nodes} == {DEPLOYMENT.id, IMAGE.id}


def test_walk_at_a_time_skips_edges_without_window_reported_after_it(store: GraphStore) -> None:
    store.apply([batch(IMAGE, COMMIT, edge_fact(IMAGE, COMMIT))])
    assert {n.id for n in store.walk([IMAGE.id], Direction.UPSTREAM, 1, at=BUILT - timedelta(days=1)).nodes} == \
        {IMAGE.id}
    assert {n.id for n in store.walk([IMAGE.id], Direction.UPSTREAM, 1, at=BUILT).nodes} == {IMAGE.id, COMMIT.id}


# Wide nodes: a fan-out cap per node and edge kind, and paging the rest -------------------------

def job(number: int) -> NodeFact:
    return node_fact("job", {"system": "azureml", "id": f"prep-{number:03d}"})


def consumers(store: GraphStore, count: int, *, same_time: bool = False) -> list[NodeFact]:
    """DATASET consumed by ``count`` jobs, job i first reported i hours after BUILT (or all at
    once), and derived into one more dataset: two kinds of link arriving at it."""
    jobs = [job(i) for i in range(count)]
    derived = dataset(6)
    store.apply([batch(DATASET, derived, edge_fact(derived, DATASET))] + [
        batch(DATASET, consumer, edge_fact(consumer, DATASET),
              seen_at=BUILT if same_time else BUILT + timedelta(hours=i)) for i, consumer in enumerate(jobs)])
    return jobs


def test_walk_with_a_fanout_follows_the_newest_links_of_each_kind_and_counts_the_rest(store: GraphStore) -> None:
    jobs = consumers(store, 5)
    graph = store.walk([DATASET.id], Direction.DOWNSTREAM, 3, fanout=2)
    # The two newest consumers; the derived dataset is another kind, under its own cap.
    assert {n.id for n in graph.nodes} == {DATASET.id, jobs[4].id, jobs[3].id, dataset(6).id}
    [more] = graph.more
    assert (more.node, more.direction, more.kind, more.shown, more.total) == (
        DATASET.id, Direction.DOWNSTREAM, "consumed", 2, 5)
    followed = store.neighbour_page(DATASET.id, Direction.DOWNSTREAM, edge_kind="consumed", limit=more.shown)
    assert [e.source for e in followed.edges] == [jobs[4].id, jobs[3].id]  # what the walk followed, in order
    rest = store.neighbour_page(DATASET.id, Direction.DOWNSTREAM, edge_kind="consumed", skip=more.shown, limit=2)
    assert [e.source for e in rest.edges] == [jobs[2].id, jobs[1].id] and rest.total == 5
    assert rest.next is not None
    last = store.neighbour_page(DATASET.id, Direction.DOWNSTREAM, edge_kind="consumed", after=rest.next, limit=2)
    assert ([e.source for e in last.edges], last.next) == ([jobs[0].id], None)
    # Without a cap, or with one no node exceeds, the walk is the plain one.
    assert {n.id for n in store.walk([DATASET.id], Direction.DOWNSTREAM, 3).nodes} == \
        {DATASET.id, dataset(6).id, *(j.id for j in jobs)}
    wide_enough = store.walk([DATASET.id], Direction.DOWNSTREAM, 3, fanout=5)
    assert len(wide_enough.nodes) == 7 and wide_enough.more == ()


def test_a_wide_node_at_the_depth_limit_is_not_expanded_so_not_reported(store: GraphStore) -> None:
    consumers(store, 4)
    raw = dataset(1, "raw")
    store.apply([batch(DATASET, raw, edge_fact(DATASET, raw))])  # DATASET was derived from raw
    at_the_limit = store.walk([raw.id], Direction.DOWNSTREAM, 1, fanout=1)
    assert {n.id for n in at_the_limit.nodes} == {raw.id, DATASET.id} and at_the_limit.more == ()
    beyond = store.walk([raw.id], Direction.DOWNSTREAM, 2, fanout=1)
    assert [(m.node, m.kind, m.shown, m.total) for m in beyond.more] == [(DATASET.id, "consumed", 1, 4)]
    assert len(beyond.nodes) == 4  # raw, DATASET, the newest job, the derived dataset


def test_walk_with_a_fanout_upstream(store: GraphStore) -> None:
    inputs = [dataset(v, "raw") for v in range(4)]
    store.apply([batch(JOB, source_data, edge_fact(JOB, source_data), seen_at=BUILT + timedelta(minutes=v))
                 for v, source_data in enumerate(inputs)])
    graph = store.walk([JOB.id], Direction.UPSTREAM, 2, fanout=3)
    assert {n.id for n in graph.nodes} == {JOB.id, *(d.id for d in inputs[1:])}
    [more] = graph.more
    assert (more.direction, more.kind, more.shown, more.total) == (Direction.UPSTREAM, "consumed", 3, 4)
    rest = store.neighbour_page(JOB.id, Direction.UPSTREAM, skip=more.shown)
    assert [e.target for e in rest.edges] == [inputs[0].id] and rest.next is None


@pytest.mark.parametrize("same_time", [False, True])
def test_neighbour_pages_return_every_link_once_newest_first(store: GraphStore, same_time: bool) -> None:
    jobs = consumers(store, 7, same_time=same_time)
    seen: list[Edge] = []
    page = store.neighbour_page(DATASET.id, Direction.DOWNSTREAM, limit=3)
    pages = 1
    seen += page.edges
    while page.next is not None:
        page = store.neighbour_page(DATASET.id, Direction.DOWNSTREAM, after=page.next, limit=3)
        seen += page.edges
        pages += 1
        assert page.total == 8
    assert pages == 3 and len(seen) == 8
    assert {(e.source, e.kind) for e in seen} == {(j.id, "consumed") for j in jobs} | {(dataset(6).id, "derived_from")}
    times = [e.first_seen for e in seen]
    assert times == sorted(times, reverse=True)
    if not same_time:
        assert [e.source for e in seen if e.kind == "consumed"] == [j.id for j in reversed(jobs)]
    only = store.neighbour_page(DATASET.id, Direction.DOWNSTREAM, edge_kind="derived_from")
    assert ([e.source for e in only.edges], only.total, only.next) == ([dataset(6).id], 1, None)
    assert store.neighbour_page(DATASET.id, Direction.UPSTREAM) == NeighbourPage([], 0, None)
    assert store.neighbour_page("dataset_unknown", Direction.DOWNSTREAM) == NeighbourPage([], 0, None)


def test_neighbour_pages_at_a_time_follow_the_links_valid_then(store: GraphStore) -> None:
    consumers(store, 3)
    at = BUILT + timedelta(hours=1)  # jobs 0 and 1 were reported by then, and the derived dataset
    page = store.neighbour_page(DATASET.id, Direction.DOWNSTREAM, edge_kind="consumed", at=at)
    assert ([e.source for e in page.edges], page.total) == ([job(1).id, job(0).id], 2)


# Event log -----------------------------------------------------------------------------------

def new_event(event_id: str, source: str = "github-actions") -> NewEvent:
    return NewEvent(event_id, source, BUILT, f'{{"id": "{event_id}"}}')


def test_append_events_records_each_id_once(store: GraphStore) -> None:
    assert store.append_events([new_event("gha-7004455701-image"), new_event("gha-7004455701-run")]) == [True, True]
    assert store.append_events([new_event("gha-7004455701-image"), new_event("k8s-prod-taxi-api-8", "kubernetes"),
                                new_event("k8s-prod-taxi-api-8", "kubernetes")]) == [False, True, False]
    assert [e.id for e in store.list_events()] == ["gha-7004455701-image", "gha-7004455701-run",
                                                   "k8s-prod-taxi-api-8"]


def test_get_event_returns_what_was_recorded(store: GraphStore) -> None:
    store.append_events([new_event("gha-7004455701-image")])
    stored = store.get_event("gha-7004455701-image")
    assert stored is not None
    assert (stored.id, stored.source, stored.time, stored.payload, stored.status, stored.error) == (
        "gha-7004455701-image", "github-actions", BUILT, '{"id": "gha-7004455701-image"}', "pending", None)
    assert stored.received_at.tzinfo is not None
    assert store.get_event("gha-0") is None


def test_applying_a_batch_marks_its_events_applied(store: GraphStore) -> None:
    store.append_events([new_event("gha-7004455701-image"), new_event("gha-7004455701-run")])
    store.apply([batch(IMAGE, event_ids=["gha-7004455701-image"])])
    assert [(e.id, e.status) for e in store.list_events()] == [("gha-7004455701-image", "applied"),
                                                               ("gha-7004455701-run", "pending")]


def test_mark_failed_keeps_the_event_with_its_reason(store: GraphStore) -> None:
    store.append_events([new_event("gha-1"), new_event("gha-2")])
    store.mark_failed("gha-2", "edges point at nodes that are not stored")
    [failed] = store.list_events(status="failed")
    assert (failed.id, failed.status, failed.error) == ("gha-2", "failed", "edges point at nodes that are not stored")
    assert [e.id for e in store.list_events(status="pending")] == ["gha-1"]
    store.apply([batch(MODEL, event_ids=["gha-2"])])  # a retry that works clears the error
    retried = store.get_event("gha-2")
    assert retried is not None and (retried.status, retried.error) == ("applied", None)


def test_list_events_pages_after_an_id(store: GraphStore) -> None:
    ids = [f"gha-70044557{n:02d}" for n in range(7)]
    store.append_events([new_event(event_id) for event_id in ids])
    assert [e.id for e in store.list_events(limit=3)] == ids[:3]
    assert [e.id for e in store.list_events(limit=3, after=ids[2])] == ids[3:6]
    assert [e.id for e in store.list_events(after=ids[-1])] == []


def test_stats_count_nodes_edges_and_events(store: GraphStore) -> None:
    empty = store.stats()
    assert (empty["nodes"], empty["edges"], empty["events"]) == ({}, {}, {})
    store.append_events([new_event("gha-1"), new_event("gha-2")])
    store.apply([batch(IMAGE, COMMIT, MODEL, edge_fact(IMAGE, COMMIT), edge_fact(IMAGE, MODEL), event_ids=["gha-1"])])
    stats = store.stats()
    assert stats["nodes"] == {"commit": 1, "image": 1, "model": 1}
    assert stats["edges"] == {"built_from": 1, "bundles": 1}
    assert stats["events"] == {"applied": 1, "pending": 1}


def test_collector_cursors_are_kept_per_source(store: GraphStore) -> None:
    assert store.get_cursor("git:mlops-2.0") is None
    store.set_cursor("git:mlops-2.0", "05ee055698af2171294615a1e423f71f4098628e")
    store.set_cursor("kubernetes:aks-mlops-prod", "rv-1")
    store.set_cursor("git:mlops-2.0", "a3c97f1d2e4b6a8c0e2d4f6a8b0c2e4d6f8a1b3c")
    assert store.get_cursor("git:mlops-2.0") == "a3c97f1d2e4b6a8c0e2d4f6a8b0c2e4d6f8a1b3c"
    assert store.get_cursor("kubernetes:aks-mlops-prod") == "rv-1"
    assert store.list_cursors() == {"git:mlops-2.0": "a3c97f1d2e4b6a8c0e2d4f6a8b0c2e4d6f8a1b3c",
                                    "kubernetes:aks-mlops-prod": "rv-1"}


# Export and import (lineage store copy) ------------------------------------------------------

def test_export_nodes_pages_through_every_node_in_id_order(store: GraphStore) -> None:
    release(store)
    pages, after = [], None
    while page := store.export_nodes(after, 4):
        assert len(page) <= 4
        pages.append(page)
        after = page[-1].id
    exported = [node for page in pages for node in page]
    assert len(pages) == 3  # nine nodes: 4 + 4 + 1
    assert [n.id for n in exported] == sorted(n.id for n in RELEASE_NODES)
    # A page holds whole nodes, as get_nodes reads them.
    by_id = {n.id: n for n in store.get_nodes(n.id for n in RELEASE_NODES)}
    assert all(node == by_id[node.id] for node in exported)
    assert store.export_nodes(exported[-1].id, 4) == []
    assert [n.id for n in store.export_nodes(exported[2].id, 2)] == [exported[3].id, exported[4].id]


def test_export_edges_pages_through_every_edge_in_order(store: GraphStore) -> None:
    release(store)
    store.apply([batch(DEPLOYMENT, IMAGE, edge_fact(DEPLOYMENT, IMAGE, valid_from=BUILT), source="kubernetes")])
    pages, after = [], None
    while page := store.export_edges(after, 2):
        pages.append(page)
        last = page[-1]
        after = (last.source, last.kind, last.target)
    exported = [edge for page in pages for edge in page]
    keys = [(e.source, e.kind, e.target) for e in exported]
    assert keys == sorted((e.source, e.kind.value, e.target) for e in RELEASE_EDGES)
    assert len(pages) == 5
    # Edges carry everything neighbours() shows.
    walked = {(e.source, e.kind, e.target): e for n in RELEASE_NODES for e in store.neighbours(n.id)[0]}
    assert all(edge == walked[(edge.source, edge.kind, edge.target)] for edge in exported)
    [runs_image] = [e for e in exported if e.kind == "runs_image"]
    assert (runs_image.valid_from, sorted(runs_image.sources)) == (BUILT, ["github-actions", "kubernetes"])


def exported_release() -> tuple[list[Node], list[Edge], list[StoredEvent]]:
    """Nodes, edges and events as another store would export them: times, sources, states all set."""
    first, last = BUILT - timedelta(days=3), BUILT + timedelta(hours=5)
    image = Node(IMAGE.id, "image", IMAGE.key, IMAGE.label, {"created": "2026-11-10T14:48:00Z"}, [TAG],
                 ["registry", "github-actions"], first, last)
    commit = Node(COMMIT.id, "commit", COMMIT.key, COMMIT.label, {"message": "api: return a fare interval"}, [],
                  ["git"], first, BUILT)
    built_from = Edge(IMAGE.id, COMMIT.id, "built_from", "attested", {"predicate": "slsa"},
                      ["provenance", "github-actions"], first, last, BUILT - timedelta(days=1), BUILT)
    events = [StoredEvent("gha-7004455701-image", "github-actions", first, first + timedelta(seconds=2),
                          '{"id": "gha-7004455701-image"}', "applied"),
              StoredEvent("k8s-prod-taxi-api-8", "kubernetes", BUILT, last, '{"id": "k8s-prod-taxi-api-8"}', "failed",
                          "edges point at nodes that are not stored")]
    return [image, commit], [built_from], events


def test_import_batch_writes_what_was_exported_verbatim(store: GraphStore) -> None:
    nodes, edges, events = exported_release()
    store.import_batch(nodes, edges, events)
    assert sorted(store.get_nodes([IMAGE.id, COMMIT.id]), key=lambda n: n.id) == sorted(nodes, key=lambda n: n.id)
    assert store.neighbours(IMAGE.id)[0] == edges
    assert store.list_events() == events
    # Imported nodes are found like applied ones: by lookup, prefix and alias.
    assert [n.id for n in store.find_nodes("commit", lookup_prefix=SHA[:7])] == [COMMIT.id]
    assert [n.id for n in store.find_nodes("image", alias=TAG)] == [IMAGE.id]
    assert store.stats()["events"] == {"applied": 1, "failed": 1}


def test_import_batch_twice_changes_nothing_and_a_newer_version_replaces(store: GraphStore) -> None:
    nodes, edges, events = exported_release()
    store.import_batch(nodes, edges, events)
    store.import_batch(nodes, edges, events)
    assert store.stats()["nodes"] == {"commit": 1, "image": 1} and store.stats()["edges"] == {"built_from": 1}
    assert [e.id for e in store.list_events()] == [e.id for e in events]
    image = nodes[0]
    # Not merged as apply() would: the given version is what the store holds afterwards.
    replaced = Node(image.id, "image", image.key, image.label, {"size": 1}, [TAG], ["registry"], BUILT, BUILT)
    weaker = Edge(IMAGE.id, COMMIT.id, "built_from", "declared", {}, ["github-actions"], BUILT, BUILT)
    retried = StoredEvent(events[1].id, "kubernetes", BUILT, BUILT, events[1].payload, "applied")
    store.import_batch([replaced], [weaker], [retried])
    assert store.get_nodes([IMAGE.id]) == [replaced]
    assert store.neighbours(IMAGE.id)[0] == [weaker]
    assert store.list_events() == [events[0], retried]  # the known event keeps its place in the log


def test_imported_events_follow_the_log_in_the_order_given(store: GraphStore) -> None:
    store.append_events([new_event("gha-1")])
    imported = [StoredEvent(f"gha-{n}", "github-actions", BUILT, BUILT, "{}", "pending") for n in (9, 3, 5)]
    store.import_batch([], [], imported)
    store.append_events([new_event("gha-2")])
    assert [e.id for e in store.list_events()] == ["gha-1", "gha-9", "gha-3", "gha-5", "gha-2"]
    assert [e.id for e in store.list_events(after="gha-3", limit=2)] == ["gha-5", "gha-2"]


def test_import_batch_with_an_edge_to_an_unknown_node_writes_nothing(store: GraphStore) -> None:
    nodes, edges, events = exported_release()
    with pytest.raises(MissingNode, match=COMMIT.id):
        store.import_batch(nodes[:1], edges, events)
    assert store.get_nodes([IMAGE.id]) == [] and store.list_events() == []
    assert store.find_nodes("image", alias=TAG) == []
