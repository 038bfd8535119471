"""Helpers for the incident tests: small stores built through the ingestion path, and the CLI in-process."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner, Result

from cli.main import app
from lineage_service.ingest import ingest, validate_all
from lineage_service.store.base import GraphStore

Json = dict[str, Any]
REPO = "https://github.com/example/fares"
IMAGE = "ghcr.io/example/fares-api"
RUNNER = CliRunner()


def sha(n: int) -> str:
    """A full SHA whose 7-character prefix differs for each n: 0101010…, 0202020…"""
    return f"{n:02x}" * 20


def digest(n: int) -> str:
    return "sha256:" + f"{n:02x}" * 32


def node(kind: str, props: Json | None = None, aliases: list[str] | None = None, **key: str) -> Json:
    result: Json = {"kind": kind, "key": key, "props": props or {}}
    if aliases:
        result["aliases"] = aliases
    return result


def link(source: Json, target: Json, kind: str | None = None, evidence: str = "observed", **extra: Any) -> Json:
    edge: Json = {"source": {"kind": source["kind"], "key": source["key"]},
                  "target": {"kind": target["kind"], "key": target["key"]}, "evidence": evidence}
    if kind:
        edge["kind"] = kind
    for name in ("valid_from", "valid_to"):
        if name in extra:
            edge[name] = extra.pop(name)
    if extra:
        edge["props"] = extra
    return edge


def load(store: GraphStore, nodes: list[Json], edges: list[Json], *, event_id: str = "test-1",
         time: str = "2026-11-20T10:00:00Z", source: str = "test") -> None:
    """One event through validation and the event log; edge endpoints are declared for the caller."""
    declared: dict[str, Json] = {}
    for item in nodes + [e[end] for e in edges for end in ("source", "target")]:
        declared.setdefault(json.dumps([item["kind"], item["key"]], sort_keys=True), item)
    event = {"schema": "lineage-event/1", "id": event_id, "time": time, "source": source,
             "nodes": list(declared.values()), "edges": edges}
    result = ingest(store, validate_all([event]))
    assert not result.failed, result.failed


def commit(n: int, *, author: str = "dev@example.com", when: str = "2026-11-01T00:00:00Z") -> Json:
    return node("commit", {"author": author, "message": f"change {n}", "committed_at": when}, repo=REPO, sha=sha(n))


def deployment(revision: int, *, environment: str = "prod", name: str = "fares-api", **props: Any) -> Json:
    return node("deployment", {"environment": environment, **props}, platform="kubernetes", cluster="aks-1",
                namespace=environment, name=name, revision=str(revision))


def plain(answer: Any) -> Any:
    """An answer as the HTTP API sends it (datetimes and the like as strings)."""
    return json.loads(json.dumps(answer, default=str))


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """The CLI in-process; it must end in an exit code, never an unhandled exception."""
    result = RUNNER.invoke(app, list(args), env={"COLUMNS": "200", "LINEAGE_URL": "", "LINEAGE_TOKEN": "",
                                                  **(env or {})})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stdout + result.stderr
    return result
