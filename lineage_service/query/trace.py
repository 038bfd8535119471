"""Trace (upstream) and impact (downstream) answers.

The store walks the graph in one query; this module turns the subgraph into the answer a person
wants first: a summary grouped by what they ask about (commits with author and message, dataset
versions, models, images, deployments), and warnings for gaps in the chain. The JSON shape
``{"root", "nodes", "edges", "summary", "warnings"}`` is shared by the CLI and the HTTP API.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from graph_schema.edges import UNTRAVERSED
from lineage_service.query.cursors import (
    DEFAULT_FANOUT,
    PageRequest,
    check_fanout,
    encode,
    more_json,
    more_warning,
)
from lineage_service.query.windows import Window, deployment_window, environment
from lineage_service.store.base import Direction, Edge, GraphStore, Node, Subgraph

DEFAULT_DEPTH = 12
DEFAULT_LIMIT = 5_000
SHOW_LIMIT = 100  # links each way in `lineage show`; `lineage neighbours` pages the rest

Json = dict[str, Any]


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    # A time read from the store carries its text already (StoredTime): no formatting per value.
    iso: str | None = getattr(moment, "iso", None)
    return iso or moment.isoformat().replace("+00:00", "Z")


def node_json(node: Node, depth: int | None = None) -> Json:
    result: Json = {"id": node.id, "kind": node.kind, "key": node.key, "label": node.label, "props": node.props,
                    "aliases": node.aliases, "sources": node.sources,
                    "first_seen": _iso(node.first_seen), "last_seen": _iso(node.last_seen)}
    if depth is not None:
        result["depth"] = depth
    return result


def edge_json(edge: Edge) -> Json:
    props = {**edge.props, "evidence": edge.evidence, "sources": edge.sources,
             "first_seen": _iso(edge.first_seen), "last_seen": _iso(edge.last_seen)}
    if edge.valid_from:
        props["valid_from"] = _iso(edge.valid_from)
    if edge.valid_to:
        props["valid_to"] = _iso(edge.valid_to)
    return {"source": edge.source, "target": edge.target, "kind": edge.kind, "props": props}


def trace(store: GraphStore, node: Node, direction: Direction = Direction.UPSTREAM, *,
          depth: int = DEFAULT_DEPTH, at: datetime | None = None, limit: int = DEFAULT_LIMIT,
          notes: list[str] | None = None, fanout: int = DEFAULT_FANOUT) -> Json:
    """The lineage of ``node``: upstream for trace, downstream for impact.

    From any node the walk follows at most ``fanout`` links of each kind, the newest first; each
    node and kind with more is listed in ``more`` with its total and a cursor to page the rest.
    """
    graph = store.walk([node.id], direction, depth, skip_edge_kinds=UNTRAVERSED, at=at, limit=limit,
                       fanout=check_fanout(fanout))
    ordered = sorted(graph.nodes, key=lambda n: (graph.depth_of[n.id], n.kind, n.label))
    by_id = {n.id: n for n in graph.nodes}
    more = [more_json(entry, by_id.get(entry.node), at) for entry in graph.more]
    answer: Json = {
        "root": node_json(node, 0),
        "direction": direction.value,
        "depth": depth,
        "at": _iso(at),
        "nodes": [node_json(n, graph.depth_of[n.id]) for n in ordered],
        "edges": [edge_json(e) for e in sorted(graph.edges, key=lambda e: (e.source, e.kind, e.target))],
        "summary": summarize(graph, node.id, at),
        "warnings": gaps(graph, depth, at) if direction is Direction.UPSTREAM else [],
        "notes": list(notes or []),
        "truncated": graph.truncated,
        "more": more,
    }
    if direction is Direction.DOWNSTREAM:
        answer["summary"]["live"] = live_section(graph, at)
    answer["warnings"] += [more_warning(entry) for entry in more]
    if graph.truncated:
        answer["warnings"].append(f"the answer is incomplete: the walk stopped at its limit ({limit}); "
                                  "narrow it with --depth")
    return answer


def _is_live(node: Node) -> bool:
    """Live now: the last report of the revision gave no end."""
    return node.kind == "deployment" and not node.props.get("active_to")


def _state(window: Window, at: datetime) -> str:
    """Where ``at`` falls in a revision's window: an as-of walk can reach a revision outside it
    (a link reported without validity, read as valid from when it was first seen)."""
    if window.contains(at):
        return "live"
    return "not started" if window.start is not None and at < window.start else "ended"


def _deployment_entry(node: Node, links_in: list[Edge], at: datetime | None) -> Json:
    """A deployment of the summary. Without ``at``, live means live now (as it always has); with it,
    live then, by the same window ``live_section`` and ``lineage running --at`` read."""
    props = node.props
    entry: Json = {"label": node.label, **node.key, "environment": props.get("environment")}
    if at is None:
        live = _is_live(node)
        return {**entry, "live": live, "state": "live" if live else "ended",
                "active_from": props.get("active_from"), "active_to": props.get("active_to"),
                "env": props.get("env", {})}
    window = deployment_window(node, [e for e in links_in if e.kind == "served_by"])
    return {**entry, "live": window.contains(at), "state": _state(window, at),
            "active_from": _iso(window.start), "active_to": _iso(window.end), "env": props.get("env", {})}


def summarize(graph: Subgraph, root_id: str, at: datetime | None = None) -> Json:
    """What a person wants first, grouped by kind, nearest first.

    With ``at`` (an as-of answer), a deployment is ``live`` when it was active at that time and an
    API when one of its deployments was; without it, when no end is reported (live now).
    """
    by_id = {n.id: n for n in graph.nodes}
    into: dict[str, list[Edge]] = defaultdict(list)
    out: dict[str, list[Edge]] = defaultdict(list)
    for edge in graph.edges:
        into[edge.target].append(edge)
        out[edge.source].append(edge)

    def via(node: Node) -> list[str]:
        return sorted({by_id[e.source].label for e in into[node.id] if e.source in by_id})

    summary: Json = {key: [] for key in
                     ("apis", "deployments", "images", "commits", "models", "jobs", "datasets", "runs", "authors")}
    authors: set[str] = set()
    deployments = {n.id: _deployment_entry(n, into[n.id], at) for n in graph.nodes if n.kind == "deployment"}
    for node in sorted(graph.nodes, key=lambda n: (graph.depth_of[n.id], n.label)):
        if node.id == root_id:
            continue
        props, key = node.props, node.key
        match node.kind:
            case "api":
                live = any(deployments[e.target]["live"] for e in out[node.id] if e.target in deployments)
                summary["apis"].append({"label": node.label, **key, "live": live})
            case "deployment":
                summary["deployments"].append(deployments[node.id])
            case "image":
                summary["images"].append({"label": node.label, "digest": key["digest"], "references": node.aliases,
                                          "via": via(node)})
            case "commit":
                author = props.get("author") or next(
                    (by_id[e.target].key["id"] for e in out[node.id]
                     if e.kind == "authored_by" and e.target in by_id), None)
                if author:
                    authors.add(author)
                summary["commits"].append({
                    "sha": key["sha"], "short": key["sha"][:7], "repo": key["repo"], "author": author,
                    "message": props.get("message"), "committed_at": props.get("committed_at"), "via": via(node)})
            case "model":
                summary["models"].append({"label": node.label, **key, "metrics": props.get("metrics"),
                                          "tags": props.get("tags"), "via": via(node)})
            case "job":
                summary["jobs"].append({
                    "label": node.label, **key, "name": props.get("display_name"), "type": props.get("type"),
                    "status": props.get("status"), "dirty": _dirty(node)})
            case "dataset":
                requested = sorted({str(e.props["requested_as"]) for e in into[node.id] if "requested_as" in e.props})
                summary["datasets"].append({"label": node.label, **key,
                                            "requested_as": requested[0] if requested else None,
                                            "via": via(node)})
            case "run":
                summary["runs"].append({"label": node.label, **key, "workflow": props.get("workflow"),
                                        "url": props.get("url"), "conclusion": props.get("conclusion")})
            case "person":
                authors.add(key["id"])
    summary["authors"] = sorted(authors)
    return summary


def live_section(graph: Subgraph, at: datetime | None = None) -> Json:
    """The blast radius of an impact answer: deployments live now (or at ``at``) and those that ended.

    Live now means the last report gave no end (``active_to``); with ``at``, active at that time.
    ``complete`` is false when the walk was capped (fanout, ``more``) or cut at its limit: then the
    lists are what the walk reached, and an empty one does not mean nothing is running.
    """
    by_id = {n.id: n for n in graph.nodes}
    serving: dict[str, list[Edge]] = defaultdict(list)
    for edge in graph.edges:
        if edge.kind == "served_by" and edge.source in by_id:
            serving[edge.target].append(edge)
    live: list[Json] = []
    ended: list[Json] = []
    for node in sorted((n for n in graph.nodes if n.kind == "deployment"),
                       key=lambda n: (environment(n), n.key["cluster"], n.label)):
        window = deployment_window(node, serving[node.id])
        entry = {"label": node.label, "environment": environment(node), "cluster": node.key["cluster"],
                 "apis": sorted(by_id[e.source].label for e in serving[node.id]),
                 "active_from": _iso(window.start), "active_to": _iso(window.end)}
        (live if (window.contains(at) if at else window.open) else ended).append(entry)
    return {"at": _iso(at), "deployments": live, "environments": sorted({d["environment"] for d in live}),
            "apis": sorted({a for d in live for a in d["apis"]}), "historical": ended,
            "complete": not (graph.truncated or graph.more)}


def _dirty(node: Node) -> bool:
    properties = node.props.get("properties") or {}
    flag = properties.get("azureml.git.dirty") if isinstance(properties, dict) else None
    return str(flag).lower() == "true" or node.props.get("dirty") is True


# Which upstream link each kind should have; missing ones are gaps in the evidence.
_EXPECTED = {
    "api": ("served_by", "no deployment recorded"),
    "deployment": ("runs_image", "no image recorded"),
    "image": ("built_from", "no source commit recorded"),
    "model": ("produced_by", "no training job recorded"),
}


def gaps(graph: Subgraph, depth: int, at: datetime | None = None) -> list[str]:
    """Warnings for links missing from an upstream chain, and for chains that contradict themselves.

    With ``at``, a missing link may only be missing at that time (a release not deployed yet), so
    the warning says when. A truncated walk proves nothing missing, so it reports no missing links.
    """
    when = f" at {_iso(at)}" if at else ""
    complete = not graph.truncated
    by_id = {n.id: n for n in graph.nodes}
    out: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    # The steps a pipeline job is part of, parent to children: a job's siblings without a scan per model.
    children: dict[str, list[str]] = defaultdict(list)
    for edge in graph.edges:
        out[edge.source][edge.kind].append(edge.target)
        if edge.kind == "part_of":
            children[edge.target].append(edge.source)
    warnings = []
    # In walk order, so that the same answer always lists its warnings in the same order.
    in_walk_order = sorted(graph.nodes, key=lambda n: (graph.depth_of[n.id], n.label))
    for node in in_walk_order:
        if graph.depth_of[node.id] >= depth:
            continue  # its upstream was not walked
        links = out[node.id]
        if complete and node.kind in _EXPECTED and not links[_EXPECTED[node.kind][0]]:
            warnings.append(f"{node.kind} {node.label} has {_EXPECTED[node.kind][1]}{when}")
        if node.kind == "job":
            parents = links["part_of"]
            parents_walked = all(graph.depth_of.get(p, depth) < depth for p in parents)
            if complete and parents_walked and not links["ran_code"] and not any(out[p]["ran_code"] for p in parents):
                warnings.append(f"job {node.label} has no code commit recorded")
            if _dirty(node):
                warnings.append(f"job {node.label} ran from a dirty working tree (azureml.git.dirty): "
                                f"its commit does not fully describe the code")
        if node.kind == "deployment":
            served = {by_id[m].label for m in links["serves_model"] if m in by_id}
            bundled = {by_id[m].label for i in links["runs_image"] for m in out[i]["bundles"] if m in by_id}
            if served and bundled and not served & bundled:
                warnings.append(f"deployment {node.label} serves {', '.join(sorted(served))} but its image "
                                f"bundles {', '.join(sorted(bundled))}")
    produced_models = [n.id for n in in_walk_order if n.kind == "model" and complete]
    for model_id in produced_models:
        for job_id in out[model_id]["produced_by"]:
            family = [job_id, *out[job_id]["part_of"]]
            siblings = [s for p in family for s in children.get(p, ())]
            if not any(out[j]["consumed"] for j in family + siblings) and graph.depth_of.get(job_id, depth) < depth:
                warnings.append(f"job {by_id[job_id].label} that produced model {by_id[model_id].label} "
                                f"has no input datasets recorded")
    return warnings


def neighbourhood(store: GraphStore, node: Node, limit: int = SHOW_LIMIT) -> Json:
    """A node with the links that leave it (upstream) and arrive at it (downstream).

    At most ``limit`` links each way: a person who authored 100,000 commits lists the newest, and
    ``more`` gives per direction the total and the cursor of the rest (``lineage neighbours``).
    """
    pages = {direction: store.neighbour_page(node.id, direction, limit=limit) for direction in Direction}
    upstream, downstream = pages[Direction.UPSTREAM].edges, pages[Direction.DOWNSTREAM].edges
    others = {n.id: n for n in store.get_nodes({e.target for e in upstream} | {e.source for e in downstream})}

    def link(edge: Edge, other_id: str) -> Json:
        other = others.get(other_id)
        return {**edge_json(edge), "node": node_json(other) if other else None}

    def ordered(edges: list[Edge], direction: Direction) -> list[Edge]:
        # A complete list reads best by kind; a cut one keeps the newest-first order its cursor follows.
        if pages[direction].next is not None:
            return edges
        return sorted(edges, key=lambda e: (e.kind, e.target if direction is Direction.UPSTREAM else e.source))

    more = []
    for direction, found in pages.items():
        if found.next is not None:
            token = encode(PageRequest(node.id, direction, None, found.next))
            more.append({"direction": direction.value, "shown": len(found.edges), "total": found.total,
                         "after": token, "see": f"lineage neighbours --after {token}"})
    return {"node": node_json(node),
            "upstream": [link(e, e.target) for e in ordered(upstream, Direction.UPSTREAM)],
            "downstream": [link(e, e.source) for e in ordered(downstream, Direction.DOWNSTREAM)],
            "more": more}
