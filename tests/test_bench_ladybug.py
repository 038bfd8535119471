"""The ladybug trace (bench/ladybug_engine.py) against a hand-computed answer and networkx, on a real database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from bench import ladybug_engine
from tests.components import require

# api_a → deployment → image and model (a diamond: the model is 2 hops away both ways) → job →
# dataset chain, with a cycle (dataset_3 produced_by the job that consumed it) and an edge from a
# node at the depth limit back to a reached node, which the answer keeps.
EDGES = [
    ("api_a", "deployment_a", "served_by"),
    ("deployment_a", "image_a", "runs_image"),
    ("deployment_a", "model_a", "serves_model"),
    ("image_a", "model_a", "bundles"),
    ("image_a", "commit_a", "built_from"),
    ("model_a", "job_a", "produced_by"),
    ("job_a", "dataset_3", "consumed"),
    ("job_a", "commit_a", "ran_code"),
    ("commit_a", "person_a", "authored_by"),
    ("dataset_3", "job_a", "produced_by"),
    ("dataset_3", "dataset_2", "derived_from"),
    ("dataset_2", "dataset_1", "derived_from"),
]
DEPTH = 4
EXPECTED_DEPTHS = {"api_a": 0, "deployment_a": 1, "image_a": 2, "model_a": 2, "commit_a": 3, "job_a": 3,
                   "person_a": 4, "dataset_3": 4}
# Every edge among the reached nodes: not dataset_3 → dataset_2, whose target is 5 hops away.
EXPECTED_EDGES = sorted(edge for edge in EDGES if edge[1] != "dataset_2" and edge[0] != "dataset_2")


@pytest.fixture(autouse=True)
def _ladybug() -> None:
    require(ladybug_engine.available() is not None, "ladybug is not installed (pip install -e '.[bench]')")


def _graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    for source, target, kind in EDGES:
        graph.add_edge(source, target, kind=kind)
    return graph


def _reopen(workdir: Path) -> Any:
    import ladybug

    database = ladybug.Database(str(workdir / ladybug_engine.DB_NAME), read_only=True)
    return database, ladybug.Connection(database)


def test_trace_answers_like_networkx_and_by_hand(tmp_path: Path) -> None:
    graph = _graph()
    roots = ["api_a", "model_a", "dataset_1", "dataset_3"]  # dataset_1 has no out-edge: the answer is itself
    result = ladybug_engine.compare(graph, roots, DEPTH, tmp_path, node_kinds={"api_a": "api"})

    assert result["version"] == ladybug_engine.available()
    assert (result["mismatches"], result["mismatches_vs_networkx"], result["mismatches_vs_store"]) == (0, 0, None)
    assert result["trace_ms"]["n"] == len(roots)
    assert result["disk_mb"] > 0 and result["load_seconds"] > 0
    assert "$root" in result["query"]

    database, connection = _reopen(tmp_path)
    with database, connection:
        depth_of, edges = ladybug_engine.trace(connection, result["query"], "api_a")
        assert depth_of == EXPECTED_DEPTHS
        assert sorted(edges) == EXPECTED_EDGES
        assert ladybug_engine.trace(connection, result["query"], "dataset_1") == ({"dataset_1": 0}, [])
        kinds = connection.execute("MATCH (n:Node) WHERE n.id IN $ids RETURN n.id, n.kind",
                                   {"ids": ["api_a", "dataset_3"]}).get_all()
        assert sorted(map(tuple, kinds)) == [("api_a", "api"), ("dataset_3", "dataset")]


def test_store_counts_that_differ_are_counted(tmp_path: Path) -> None:
    roots = ["api_a", "model_a"]
    store_counts = [(len(EXPECTED_DEPTHS), len(EXPECTED_EDGES)), (1, 0)]  # the second is wrong
    result = ladybug_engine.compare(_graph(), roots, DEPTH, tmp_path, store_counts=store_counts)
    assert (result["mismatches"], result["mismatches_vs_networkx"], result["mismatches_vs_store"]) == (1, 0, 1)


@pytest.mark.parametrize(("depth", "roots", "store_counts", "message"), [
    (0, ["api_a"], None, "depth must be an integer from 1 to 30"),
    ("4", ["api_a"], None, "depth must be an integer"),
    (DEPTH, ["api_a", "nowhere_x"], None, "not nodes of the graph, e.g. 'nowhere_x'"),
    (DEPTH, ["api_a"], [(1, 0), (1, 0)], "expected one per root"),
])
def test_bad_input_is_a_clear_error(tmp_path: Path, depth: Any, roots: list[str],
                                    store_counts: list[tuple[int, int]] | None, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        ladybug_engine.compare(_graph(), roots, depth, tmp_path, store_counts=store_counts)


def test_a_used_workdir_is_refused(tmp_path: Path) -> None:
    ladybug_engine.compare(_graph(), ["api_a"], DEPTH, tmp_path)
    with pytest.raises(ValueError, match="already holds a ladybug database"):
        ladybug_engine.compare(_graph(), ["api_a"], DEPTH, tmp_path)


def test_entry_point_on_a_small_synthetic_world(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ladybug_engine.main(["--nodes", "1500", "--roots", "15", "--workdir", str(tmp_path / "db")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["mismatches"] == 0
    assert result["trace_ms"]["n"] == 15
    assert result["nodes"] > 1000 and result["edges"] > result["nodes"]
