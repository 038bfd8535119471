"""The Python merge (``lineage_service.store.merge``, used by the Neo4j backend) against SQLite's SQL.

The SQLite backend merges in its upsert statements; the Neo4j backend reads, merges in Python and
writes back. Random sequences of ``apply`` calls go to a real SQLite store and to an in-memory
model driven by ``plan_apply``, and both must hold the same nodes and edges afterwards, down to
property order, sources order, times, evidence, validity and which calls failed with MissingNode.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph_schema.edges import Evidence
from graph_schema.facts import EdgeFact, NodeFact, edge_fact, node_fact
from lineage_service.store.base import Batch, MissingNode
from lineage_service.store.merge import EdgeKey, EdgeState, NodeState, merge_patch, plan_apply
from lineage_service.store.sqlite import SQLiteGraphStore

T0 = datetime(2026, 11, 10, 14, 50, tzinfo=UTC)
DATASETS = [node_fact("dataset", {"name": "green-taxi-data", "version": str(v)}) for v in range(3)]
JOB = node_fact("job", {"system": "azureml", "id": "bold_river_train"})
NODES = [*DATASETS, JOB]
PAIRS = [(JOB, DATASETS[0]), (DATASETS[1], DATASETS[0]), (DATASETS[2], DATASETS[1]), (DATASETS[0], JOB)]

leaf = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["a", "b", "é"]))
json_value = st.recursive(leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=2), st.dictionaries(st.sampled_from(["x", "y"]), inner, max_size=2)), max_leaves=4)
props = st.dictionaries(st.sampled_from(["replicas", "env", "tags", "url"]), json_value, max_size=3)
times = st.integers(0, 4).map(lambda h: T0 + timedelta(hours=h))


@st.composite
def node_report(draw: st.DrawFn) -> NodeFact:
    base = draw(st.sampled_from(NODES))
    aliases = draw(st.lists(st.sampled_from(["taxi:latest", "taxi:prod"]), max_size=2))
    return node_fact(base.kind, base.key, draw(props), aliases=aliases)


@st.composite
def edge_report(draw: st.DrawFn) -> EdgeFact:
    source, target = draw(st.sampled_from(PAIRS))
    valid_from, valid_to = draw(st.one_of(st.none(), times)), draw(st.one_of(st.none(), times))
    return edge_fact(source, target, evidence=draw(st.sampled_from(list(Evidence))), props=draw(props),
                     valid_from=valid_from, valid_to=valid_to)


@st.composite
def batch(draw: st.DrawFn) -> Batch:
    return Batch(draw(st.lists(node_report(), max_size=3)), draw(st.lists(edge_report(), max_size=3)),
                 seen_at=draw(times), source=draw(st.sampled_from(["git", "kubernetes", "azureml"])))


class Model:
    """What the Neo4j backend keeps, without Neo4j: the state ``plan_apply`` computes, call after call."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeState] = {}
        self.aliases: dict[str, set[str]] = {}
        self.edges: dict[EdgeKey, EdgeState] = {}

    def apply(self, batches: list[Batch]) -> None:
        plan = plan_apply(batches, self.nodes, self.edges)  # raises before anything changes
        self.nodes.update(plan.nodes)
        for node_id, alias in plan.aliases:
            self.aliases.setdefault(node_id, set()).add(alias)
        self.edges.update(plan.edges)


def sqlite_state(store: SQLiteGraphStore) -> tuple[dict[str, Any], dict[EdgeKey, Any]]:
    nodes = {n.id: (n.props, list(n.props), n.sources, n.first_seen, n.last_seen, n.aliases)
             for n in store.get_nodes(n.id for n in NODES)}
    edges = {(e.source, e.kind, e.target): (e.evidence, e.props, list(e.props), e.sources, e.first_seen, e.last_seen,
                                            e.valid_from, e.valid_to)
             for n in NODES for e in store.neighbours(n.id)[0]}
    return nodes, edges


def model_state(model: Model) -> tuple[dict[str, Any], dict[EdgeKey, Any]]:
    nodes = {i: (n.props, list(n.props), list(n.sources), n.first_seen, n.last_seen, sorted(model.aliases.get(i, ())))
             for i, n in model.nodes.items()}
    edges = {k: (e.evidence.label, e.props, list(e.props), list(e.sources), e.first_seen, e.last_seen, e.valid_from,
                 e.valid_to) for k, e in model.edges.items()}
    return nodes, edges


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=st.lists(st.lists(batch(), min_size=1, max_size=3), min_size=1, max_size=5))
def test_plan_apply_keeps_what_sqlite_keeps(tmp_path_factory: Any, calls: list[list[Batch]]) -> None:
    path: Path = tmp_path_factory.mktemp("merge") / "lineage.db"
    store, model = SQLiteGraphStore(path), Model()
    try:
        for call in calls:
            outcomes = []
            for target in (store, model):
                try:
                    target.apply(call)
                    outcomes.append("applied")
                except MissingNode:
                    outcomes.append("missing node")
            assert outcomes[0] == outcomes[1]
            assert sqlite_state(store) == model_state(model)
    finally:
        store.close()


def test_merge_patch_is_rfc_7396() -> None:
    # The examples of RFC 7396, appendix A, that start from an object.
    assert merge_patch({"a": "b"}, {"a": "c"}) == {"a": "c"}
    assert merge_patch({"a": "b"}, {"b": "c"}) == {"a": "b", "b": "c"}
    assert merge_patch({"a": "b"}, {"a": None}) == {}
    assert merge_patch({"a": "b", "b": "c"}, {"a": None}) == {"b": "c"}
    assert merge_patch({"a": ["b"]}, {"a": "c"}) == {"a": "c"}
    assert merge_patch({"a": "c"}, {"a": ["b"]}) == {"a": ["b"]}
    assert merge_patch({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}) == {"a": {"b": "d"}}
    assert merge_patch({"a": [{"b": "c"}]}, {"a": [1]}) == {"a": [1]}
    assert merge_patch({"e": None}, {"a": 1}) == {"e": None, "a": 1}
    assert merge_patch({}, {"a": {"bb": {"ccc": None}}}) == {"a": {"bb": {}}}
