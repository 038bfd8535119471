"""Shared fixtures: a store per backend (the contract suite runs on each), and the demo store.

The Neo4j leg joins wherever ``LINEAGE_TEST_NEO4J_URI`` points at a server; everything else runs
on the embedded SQLite store, a real database file in a temporary directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lineage_service.demo.history import demo_events
from lineage_service.ingest import ingest, validate_all
from lineage_service.store import open_store
from lineage_service.store.base import GraphStore

BACKENDS = ["sqlite"] + (["neo4j"] if os.environ.get("LINEAGE_TEST_NEO4J_URI") else [])


def open_test_store(backend: str, tmp_path: Path) -> GraphStore:
    if backend == "sqlite":
        return open_store(f"sqlite:///{tmp_path / 'lineage.db'}")
    store = open_store(os.environ["LINEAGE_TEST_NEO4J_URI"])
    store.clear()  # type: ignore[attr-defined]  # a test-only reset the Neo4j backend provides
    return store


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    """An empty store of each backend."""
    opened = open_test_store(request.param, tmp_path)
    yield opened
    opened.close()


@pytest.fixture
def demo_store(store: GraphStore) -> GraphStore:
    """The store with the demo history loaded through the normal ingestion path."""
    result = ingest(store, validate_all(demo_events()))
    assert not result.failed
    return store
