"""The ladybug comparison, when ``bench/ladybug_engine.py`` and the ``ladybug`` package are there.

Another module owns the engine (load the networkx floor graph into an on-disk ladybug database,
run the same walk in Cypher); this one only decides whether it can run and records why not, so
that ``bench.run`` works, and says so in its results, on a machine without ladybug.
"""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import networkx as nx

ENGINE = "bench.ladybug_engine"


def engine() -> tuple[ModuleType | None, str]:
    """(the engine module, its ladybug version) or (None, why it cannot run)."""
    try:
        module = importlib.import_module(ENGINE)
    except ImportError as exc:
        return None, f"not installed ({ENGINE} cannot be imported: {exc})"
    version = module.available()
    if not version:
        return None, "not installed (the ladybug package is missing: pip install -e '.[bench]')"
    return module, str(version)


def compare(graph: nx.DiGraph, roots: Sequence[str], depth: int, node_kinds: Mapping[str, str] | None,
            store_counts: Sequence[tuple[int, int]] | None, workdir: Path) -> dict[str, Any]:
    """The engine's comparison in a scratch directory under ``workdir``, or ``{"status": "not installed"}``."""
    module, version = engine()
    if module is None:
        return {"status": "not installed", "reason": version}
    with tempfile.TemporaryDirectory(prefix="ladybug-", dir=workdir) as scratch:
        result: dict[str, Any] = module.compare(graph, roots, depth, Path(scratch), node_kinds=node_kinds,
                                                store_counts=store_counts)
    return {"status": "measured", **result}
