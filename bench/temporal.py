"""Diff, as-of and the very wide nodes, timed in a lean child process that holds only the store.

- **diff**: ``lineage_service.query.diff.diff(store, "api", a, b)`` between two consecutive releases
  of one service (what changed between v1.2.2 and v1.2.3), for random pairs;
- **as-of**: ``trace(store, release, at=...)`` at a past moment, halfway between a release and the
  next one of its service (while it was the live dev release), for random releases;
- **wide nodes**: impact of the reference dataset every training step reads and of the bot that
  authors a large share of commits (``bench.synthetic``): without a per-node fan-out cap (or, once
  ``trace()`` has a ``fanout`` parameter, with the largest it allows) and with its default cap.

Run as ``python -m bench.temporal`` with the request on stdin, as ``bench.queries`` is, so that the
numbers come from a process that holds only the store. ``measure`` does that and returns the results.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import itertools
import json
import random
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.synthetic import BOT_AUTHOR, REFERENCE_DATASET
from bench.timings import Timings, in_child, own_peak_rss_mib, sizes
from graph_schema.canonical import display_version
from graph_schema.kinds import NodeKind, canonical_key, node_id
from lineage_service.query.diff import diff
from lineage_service.query.references import ReferenceProblem
from lineage_service.query.trace import DEFAULT_DEPTH, trace
from lineage_service.store import open_store
from lineage_service.store.base import Direction, GraphStore, Node

# The cap used when trace() offers a fan-out parameter without a default of its own.
FANOUT_WHEN_NO_DEFAULT = 100
# The "uncapped" walk once trace() caps by default: the largest cap it accepts, if it says.
def _largest_fanout() -> int | None:
    try:
        cursors = importlib.import_module("lineage_service.query.cursors")
    except ImportError:  # a revision without the cap
        return None
    largest = getattr(cursors, "MAX_FANOUT", None)
    return largest if isinstance(largest, int) else None


LARGEST_FANOUT = _largest_fanout()

Release = tuple[str, str, str]  # service, canonical version, released_at (ISO)


def measure(db: Path, seed: int, pairs: int, wide_runs: int, depth: int = DEFAULT_DEPTH) -> dict[str, Any]:
    """Run the measurements below in a fresh interpreter on the SQLite store ``db``."""
    request = {"db": str(db), "seed": seed, "pairs": pairs, "wide_runs": wide_runs, "depth": depth}
    return in_child("bench.temporal", request, "diff/as-of")


def consecutive_releases(db: Path) -> list[tuple[Release, Release]]:
    """Every (release, next release of the same service), in release order, read from the store file."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        rows = connection.execute("SELECT key, json_extract(props, '$.released_at') FROM nodes "
                                  "WHERE kind = 'api'").fetchall()
    connection.close()
    by_service: dict[str, list[Release]] = {}
    for key_text, released_at in rows:
        key = json.loads(key_text)
        if released_at:
            by_service.setdefault(key["service"], []).append((key["service"], key["version"], released_at))
    pairs = []
    for service in sorted(by_service):
        ordered = sorted(by_service[service], key=lambda release: release[2])
        pairs += list(itertools.pairwise(ordered))
    return pairs


def _reference(release: Release) -> str:
    return f"{release[0]}@{display_version(release[1])}"


def _diffs(store: GraphStore, pairs: Sequence[tuple[Release, Release]]) -> dict[str, Any]:
    timings, failures, changed = Timings(), [], 0
    for a, b in pairs:
        start = time.perf_counter()
        try:
            answer = diff(store, "api", _reference(a), _reference(b))
        except ReferenceProblem as exc:
            failures.append(f"{_reference(a)} → {_reference(b)}: {str(exc)[:200]}")
            continue
        timings.add(time.perf_counter() - start)
        changed += bool(answer["code"].get("commits") or answer["image"])
    return {"pairs": len(pairs), "diff_ms": timings.summary(), "failures": len(failures),
            "failure_examples": failures[:5], "with_changes": changed}


def _as_of(store: GraphStore, pairs: Sequence[tuple[Release, Release]], depth: int) -> dict[str, Any]:
    """Trace each first release as it was halfway to the next release of its service."""
    timings, nodes, empty = Timings(), [], 0
    for a, b in pairs:
        moment = _midpoint(a[2], b[2])
        start = time.perf_counter()
        root = store.get_nodes([node_id(NodeKind.API, canonical_key(NodeKind.API, {"service": a[0],
                                                                                    "version": a[1]}))])[0]
        answer = trace(store, root, depth=depth, at=moment)
        timings.add(time.perf_counter() - start)
        nodes.append(len(answer["nodes"]))
        empty += len(answer["nodes"]) <= 1
    return {"releases": len(pairs), "trace_at_ms": timings.summary(), "answer_nodes": sizes(nodes),
            "answers_with_only_the_root": empty}


def _midpoint(first: str, second: str) -> datetime:
    a, b = datetime.fromisoformat(first.replace("Z", "+00:00")), datetime.fromisoformat(second.replace("Z", "+00:00"))
    return a + (b - a) / 2


def fanout_parameter() -> tuple[bool, int | None]:
    """Whether ``trace()`` takes a ``fanout`` cap (another change adds it), and its default (what users get)."""
    parameter = inspect.signature(trace).parameters.get("fanout")
    if parameter is None:
        return False, None
    default = parameter.default
    return True, default if isinstance(default, int) and default > 0 else FANOUT_WHEN_NO_DEFAULT


def _wide(store: GraphStore, runs: int, depth: int) -> dict[str, Any]:
    wide = {"dataset": (NodeKind.DATASET, {"name": REFERENCE_DATASET[0], "version": REFERENCE_DATASET[1]}),
            "person": (NodeKind.PERSON, {"id": BOT_AUTHOR})}
    has_fanout, cap = fanout_parameter()
    widest = LARGEST_FANOUT if has_fanout else None
    results: dict[str, Any] = {"fanout_parameter": has_fanout, "fanout": cap, "uncapped_fanout": widest}
    for name, (kind, key) in wide.items():
        found = store.get_nodes([node_id(kind, canonical_key(kind, key))])
        if not found:
            results[name] = {"missing": f"{kind.value} {key} is not in the store (a world built before wide nodes?)"}
            continue
        root = found[0]
        entry: dict[str, Any] = {"node": root.label, "impact": _timed(_impact(store, root, depth, widest), runs)}
        if has_fanout:
            entry["impact_with_fanout"] = _timed(_impact(store, root, depth, cap), runs)
        results[name] = entry
    return results


def _impact(store: GraphStore, root: Node, depth: int, fanout: int | None) -> Callable[[], dict[str, Any]]:
    """Impact of ``root``; with ``fanout``, through the cap that only newer versions of ``trace()`` take."""
    extra = {} if fanout is None else {"fanout": fanout}
    return lambda: trace(store, root, Direction.DOWNSTREAM, depth=depth, **extra)  # type: ignore[arg-type]


def _timed(call: Callable[[], dict[str, Any]], runs: int) -> dict[str, Any]:
    timings, answer = Timings(), {}
    for _ in range(runs):
        start = time.perf_counter()
        answer = call()
        timings.add(time.perf_counter() - start)
    return {"ms": timings.summary(), "answer_nodes": len(answer.get("nodes", [])),
            "truncated": bool(answer.get("truncated"))}


def _serve(request: dict[str, Any]) -> dict[str, Any]:
    db, depth = Path(request["db"]), request["depth"]
    everything = consecutive_releases(db)
    sample = random.Random(request["seed"]).sample(everything, min(request["pairs"], len(everything)))
    with open_store(f"sqlite:///{db}") as store:
        # A few untimed calls first, as bench.queries warms up, so that the first sample does not
        # pay for importing and opening.
        for a, b in sample[:10]:
            with contextlib.suppress(ReferenceProblem):  # counted as failures by the timed run
                diff(store, "api", _reference(a), _reference(b))
        return {"diff": _diffs(store, sample), "as_of": _as_of(store, sample, depth),
                "wide": _wide(store, request["wide_runs"], depth), "peak_rss_mib": own_peak_rss_mib()}


if __name__ == "__main__":
    json.dump(_serve(json.load(sys.stdin)), sys.stdout)
