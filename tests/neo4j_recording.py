"""A recording stand-in for ``neo4j.Driver``: keeps every statement, answers with scripted rows.

No Neo4j server can run here; this checks what the Python side sends and how it reads answers
back (tests/test_neo4j_store.py, test_store_copy.py, and test_concurrency.py's scripted retries).
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from lineage_service.store import cypher
from lineage_service.store import neo4j as backend

Answer = Callable[[str, dict[str, Any]], list[dict[str, Any]]]


def default_answer(query: str, parameters: dict[str, Any]) -> list[dict[str, Any]]:
    if query == cypher.SCHEMA_VERSION:
        return [{"value": "1"}]
    if query == cypher.LOCK_COUNTER:
        return [{"value": 0}]
    if query == cypher.LOCK_NODES:  # every node new: MERGE created it without a kind
        return [{"node": {"id": node_id, "_lock": True}} for node_id in parameters["ids"]]
    if query == cypher.EXISTING_NODES:  # every edge end asked about is stored
        return [{"id": node_id} for node_id in parameters["ids"]]
    return []


class Result(list[dict[str, Any]]):
    def consume(self) -> None:
        return None


class RecordingDriver:
    """Enough of ``neo4j.Driver`` for the store: managed reads, write sessions, scripted answers."""

    execute_query_bookmark_manager = object()

    def __init__(self, answer: Answer = default_answer) -> None:
        self.answer = answer
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.closed = False

    def run(self, query: str, parameters: dict[str, Any] | None = None) -> Result:
        self.sent.append((query, dict(parameters or {})))
        return Result(self.answer(query, dict(parameters or {})))

    def execute_query(self, query: str, parameters: dict[str, Any] | None = None, **config: Any) -> SimpleNamespace:
        return SimpleNamespace(records=self.run(query, parameters))

    def session(self, **config: Any) -> RecordingDriver:
        return self

    def __enter__(self) -> RecordingDriver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def execute_write(self, work: Callable[..., Any], *args: Any) -> Any:
        return work(self, *args)  # the transaction's run() is the driver's own

    def close(self) -> None:
        self.closed = True


def recording_store(answer: Answer = default_answer) -> tuple[backend.Neo4jGraphStore, RecordingDriver]:
    driver = RecordingDriver(answer)
    return backend.Neo4jGraphStore(driver, "lineage", uri="bolt://db:7687"), driver  # type: ignore[arg-type]
