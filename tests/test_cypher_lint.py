"""Every Cypher statement the Neo4j store can send, checked by Neo4j's own parser and semantic analysis.

``tools/cypher-lint`` holds the checker (@neo4j-cypher/language-support, pinned in its
package-lock.json, installed by ``make test``). The statements come from ``cypher.all_statements()``;
tests/test_neo4j_store.py checks that the store sends nothing else. Labels, relationship types and
parameter names are declared to the checker, so a name outside the whitelists is reported too.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from lineage_service.store import cypher
from tests.components import require

LINT_DIR = Path(__file__).resolve().parent.parent / "tools" / "cypher-lint"
PACKAGE = LINT_DIR / "node_modules" / "@neo4j-cypher" / "language-support" / "package.json"
VERSIONS = ["CYPHER 5"]  # what Neo4j 5 runs, and Neo4j 2025 by default


def lint(statements: list[tuple[str, str]]) -> list[dict[str, Any]]:
    node = shutil.which("node")
    require(node is not None, "node is not installed (needed to check Cypher with Neo4j's parser)")
    require(PACKAGE.is_file(), f"the Cypher checker is not installed: run `make test` or `npm ci` in {LINT_DIR}")
    request = {"statements": statements, "versions": VERSIONS,
               "labels": [*cypher.LABELS.values(), *cypher.INTERNAL_LABELS],
               "relationshipTypes": [*cypher.REL_TYPES.values(), cypher.ALIAS_OF],
               "parameters": sorted(cypher.PARAMETERS)}
    done = subprocess.run([str(node), str(LINT_DIR / "lint.cjs")], input=json.dumps(request), capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    diagnostics: list[dict[str, Any]] = json.loads(done.stdout)
    return diagnostics


@cache
def diagnostics_of_all_statements() -> tuple[tuple[str, str, str, str], ...]:
    return tuple((d["name"], d["severity"], d["message"], d["excerpt"]) for d in lint(cypher.all_statements()))


def test_the_checker_reports_syntax_semantic_and_whitelist_problems() -> None:
    # Without this, a checker that silently stopped analysing would pass every statement.
    found = {(d["name"], d["severity"]) for d in lint([
        ("syntax", "MATCH (n:Node RETURN n"),
        ("semantics", "MATCH (n:Node) RETURN m"),
        ("quantifier", "MATCH p = ANY SHORTEST (s:Node)-[r:PARENT]->{0,0}(n:Node) RETURN p"),
        ("label", "MATCH (n:Nodes) RETURN n"),
        ("parameter", "MATCH (n:Node {id: $identifier}) RETURN n"),
        ("fine", "MATCH (n:Node {id: $id}) RETURN n"),
    ])}
    assert found == {("syntax", "error"), ("semantics", "error"), ("quantifier", "error"), ("label", "warning"),
                     ("parameter", "error")}


def test_every_statement_passes_neo4js_parser_and_semantic_analysis() -> None:
    errors = [d for d in diagnostics_of_all_statements() if d[1] == "error"]
    assert errors == []


def test_no_statement_draws_a_warning() -> None:
    # Warnings here are names outside the declared labels and types, or deprecated syntax and
    # functions: each is a statement to fix, none is noise.
    assert list(diagnostics_of_all_statements()) == []


@pytest.mark.parametrize("kind", [*cypher.LABELS, None])
def test_all_statements_cover_every_kind_edge_type_direction_and_depth_class(kind: str | None) -> None:
    statements = dict(cypher.all_statements())
    assert f"find_nodes[{kind or '*'},lookup]" in statements
    if kind:
        assert f"write_nodes[{kind}]" in statements
    assert {f"write_edges[{edge}]" for edge in cypher.REL_TYPES} <= set(statements)
    assert {f"walk[{d},{depth}]" for d in ("upstream", "downstream") for depth in (0, 1, cypher.MAX_WALK_DEPTH)} \
        <= set(statements)


def test_the_queries_in_the_neo4j_guide_pass_too() -> None:
    guide = (Path(__file__).resolve().parent.parent / "docs" / "neo4j.md").read_text()
    queries = re.findall(r"```cypher\n(.*?)```", guide, flags=re.DOTALL)
    assert len(queries) == 3
    assert lint([(f"docs/neo4j.md query {i}", query) for i, query in enumerate(queries, 1)]) == []
