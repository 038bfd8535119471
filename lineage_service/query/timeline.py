"""Answers about time: what a reference named then, a deployment's revisions, a service's releases, what ran.

- ``resolve_at``: ``deployment prod/taxi-api`` at a time is the revision active then (not today's);
  ``image ghcr.io/org/api:v1.2.3`` at a time is the digest the tag pointed to then.
- ``history``: every revision of a deployment, every release of a service, every digest of a tag.
- ``running``: the deployments active at a time, with their API versions, images and models.

Time windows follow ``windows`` (props ``active_from``/``active_to``, then link validity). Each
answer reads candidates with ``find_nodes`` and their links with one or two depth-1 walks, so
they run on any ``GraphStore`` backend.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime
from typing import Any

from graph_schema import canonical
from graph_schema.canonical import InvalidValue
from graph_schema.kinds import NodeKind, parse_kind
from lineage_service.query.chain import image_json, prop_dict, ref_json
from lineage_service.query.references import Ambiguous, InvalidReference, NotFound, Resolved, resolve
from lineage_service.query.windows import (
    Window,
    deployment_window,
    environment,
    iso,
    link_holds,
    link_window,
    pushed_at,
)
from lineage_service.query.windows import place as place_of
from lineage_service.store.base import Direction, Edge, GraphStore, Node

Json = dict[str, Any]

SCAN_LIMIT = 100_000  # deployments or releases read for one answer
HISTORY_KINDS = "deployment (its revisions), api (a service's releases) and image (a tag's digests)"


# As-of references ----------------------------------------------------------------------------------

def resolve_at(store: GraphStore, kind: str, reference: str, at: datetime) -> Resolved:
    """Resolve a reference as it was meant at ``at``; kinds without a time rule resolve as usual."""
    node_kind = parse_kind(kind)
    text = reference.strip()
    if node_kind is NodeKind.DEPLOYMENT and "#" not in text:
        return _deployment_at(store, text, at)
    if node_kind is NodeKind.IMAGE:
        tagged = _tag_candidates(store, text)
        if tagged is not None and tagged[1]:
            return _tag_at(text, tagged[0], tagged[1], at)
    return resolve(store, kind, reference)


def revisions(store: GraphStore, one: Node) -> list[Node]:
    """Every revision of the deployment ``one`` is a revision of (same platform, cluster, namespace, name)."""
    found = store.find_nodes("deployment", lookup=one.key["name"], limit=SCAN_LIMIT)
    return [n for n in found if place_of(n) == place_of(one)]


def served_by_links(store: GraphStore, deployments: list[Node]) -> dict[str, list[Edge]]:
    """The API → deployment links of each deployment, from one depth-1 downstream walk."""
    links: dict[str, list[Edge]] = defaultdict(list)
    if deployments:
        walked = store.walk([d.id for d in deployments], Direction.DOWNSTREAM, 1, limit=SCAN_LIMIT)
        for edge in walked.edges:
            if edge.kind == "served_by":
                links[edge.target].append(edge)
    return links


def _deployment_at(store: GraphStore, text: str, at: datetime) -> Resolved:
    one = resolve(store, "deployment", text).node
    found = revisions(store, one)
    served = served_by_links(store, found)
    active = [n for n in found if deployment_window(n, served[n.id]).contains(at)]
    if not active:
        listing = ", ".join(f"{n.label} ({_span(deployment_window(n, served[n.id]))})"
                            for n in sorted(found, key=_revision_order))
        raise NotFound(f"no revision of deployment {text} was active at {iso(at)}; revisions: {listing}", found)
    current = max(active, key=_revision_order)
    return Resolved(current, f"deployment {text} resolved to {current.label}, the revision active at {iso(at)}")


def _revision_order(node: Node) -> tuple[int, int | str]:
    revision = node.key["revision"]
    return (0, int(revision)) if revision.isdigit() else (1, revision)


def _span(window: Window) -> str:
    return f"{iso(window.start) or '?'} to {iso(window.end) or 'now'}"


def _tag_candidates(store: GraphStore, text: str) -> tuple[str, list[Node]] | None:
    """The images carrying a tag reference, or None when the text is a digest and not a tag."""
    bare = text.strip().lstrip("@")
    if canonical.is_digest(bare) or re.fullmatch(r"(sha256:)?[0-9a-f]{1,64}", bare.lower()):
        return None
    try:
        reference = canonical.image_reference(bare)
    except InvalidValue:
        return None
    if reference.digest:
        return None
    if reference.tag is None:
        reference = canonical.ImageReference(reference.registry, reference.repository, "latest")
    return str(reference), store.find_nodes("image", alias=str(reference), limit=SCAN_LIMIT)


def tag_history(images: list[Node]) -> list[tuple[Node, Window]]:
    """The digests a tag pointed to, oldest first, each until the next was pushed."""
    ordered = sorted(images, key=lambda n: (pushed_at(n), n.key["digest"]))
    return [(image, Window(pushed_at(image), pushed_at(ordered[i + 1]) if i + 1 < len(ordered) else None))
            for i, image in enumerate(ordered)]


def _tag_at(text: str, tag: str, images: list[Node], at: datetime) -> Resolved:
    history = tag_history(images)
    then = [image for image, window in history if window.contains(at)]
    if not then:
        raise NotFound(f"image {text!r}: the tag {tag} was first pushed at {iso(history[0][1].start)}, after "
                       f"{iso(at)}", [image for image, _ in history])
    note = None if len(history) == 1 else (
        f"image {tag} resolved to {then[0].label}, the digest it pointed to at {iso(at)} (it has pointed to "
        f"{len(history)} digests; see `lineage history image {tag}`)")
    return Resolved(then[0], note)


# History ----------------------------------------------------------------------------------------

def history(store: GraphStore, kind: str, reference: str | None) -> Json:
    node_kind = parse_kind(kind)
    text = (reference or "").strip()
    if node_kind is NodeKind.DEPLOYMENT:
        if not text:
            raise InvalidReference("history of a deployment needs one, e.g. prod/taxi-api")
        return _deployment_history(store, resolve(store, "deployment", text).node)
    if node_kind is NodeKind.API:
        return _service_history(store, _service(store, text))
    if node_kind is NodeKind.IMAGE:
        tagged = _tag_candidates(store, text) if text else None
        if tagged is None:
            raise InvalidReference(f"history of an image follows a tag, e.g. ghcr.io/org/api:v1.2.3; got {text!r}")
        if not tagged[1]:
            resolve(store, "image", text)  # raises the usual not-found answer, with what is close
        return _tag_history(store, tagged[0], tagged[1])
    raise InvalidValue(f"history answers {HISTORY_KINDS}, not {node_kind.value}; for a {node_kind.value} use "
                       f"`lineage impact {node_kind.value} …` (what was made from it, live or not)")


def _deployment_history(store: GraphStore, one: Node) -> Json:
    found = sorted(revisions(store, one), key=_revision_order)
    served = served_by_links(store, found)
    upstream = store.walk([n.id for n in found], Direction.UPSTREAM, 1, limit=SCAN_LIMIT)
    by_id = {n.id: n for n in upstream.nodes}
    out: dict[str, list[Edge]] = defaultdict(list)
    for edge in upstream.edges:
        out[edge.source].append(edge)
    apis = {n.id: n for n in store.get_nodes({e.source for links in served.values() for e in links})}
    rows = []
    for node in found:
        window = deployment_window(node, served[node.id])
        images = [by_id[e.target] for e in out[node.id] if e.kind == "runs_image" and e.target in by_id]
        models = sorted(by_id[e.target].label for e in out[node.id] if e.kind == "serves_model" and e.target in by_id)
        env = prop_dict(node, "env")
        rows.append({
            "label": node.label, "revision": node.key["revision"], "environment": environment(node),
            "active_from": iso(window.start), "active_to": iso(window.end), "live": window.open,
            "image": image_json(images[0]) if images else None,
            "apis": sorted(apis[e.source].label for e in served[node.id] if e.source in apis),
            "api_version": env.get("API_VERSION"), "models": models, "model_version": env.get("MODEL_VERSION"),
            "env": env})
    platform, cluster, namespace, name = place_of(one)
    return {"kind": "deployment", "subject": f"{cluster}/{namespace}/{name}", "platform": platform,
            "cluster": cluster, "namespace": namespace, "name": name, "revisions": rows, "notes": []}


def _service(store: GraphStore, text: str) -> str:
    """The service a reference names: a service name, a release of it, or the only service there is."""
    if text:
        named = [n for n in store.find_nodes("api", text=text, limit=SCAN_LIMIT) if n.key["service"] == text]
        if named:
            return text
        return resolve(store, "api", text).node.key["service"]
    services = sorted({n.key["service"] for n in store.find_nodes("api", limit=SCAN_LIMIT)})
    if len(services) == 1:
        return services[0]
    if not services:
        raise NotFound("the store has no api nodes yet (load some with `lineage ingest` or `lineage demo`)")
    raise Ambiguous(f"the store has {len(services)} services: {', '.join(services[:10])}; name one, "
                    f"e.g. lineage history api {services[0]}")


def _service_history(store: GraphStore, service: str) -> Json:
    releases = [n for n in store.find_nodes("api", text=service, limit=SCAN_LIMIT) if n.key["service"] == service]
    walked = store.walk([n.id for n in releases], Direction.UPSTREAM, 1, limit=SCAN_LIMIT)
    deployments = {n.id: n for n in walked.nodes if n.kind == "deployment"}
    links = [e for e in walked.edges if e.kind == "served_by" and e.target in deployments]
    by_target: dict[str, list[Edge]] = defaultdict(list)
    for edge in links:
        by_target[edge.target].append(edge)
    # One stretch per (release, place): consecutive revisions serving one release are one stretch.
    stretches: dict[tuple[str, tuple[str, ...]], list[tuple[Node, Window]]] = defaultdict(list)
    for edge in links:
        deployment = deployments[edge.target]
        window = link_window(edge, deployment_window(deployment, by_target[deployment.id]))
        stretches[(edge.source, place_of(deployment))].append((deployment, window))
    by_place: dict[tuple[str, ...], list[tuple[str, Window]]] = defaultdict(list)
    merged: dict[tuple[str, tuple[str, ...]], Window] = {}
    for (release_id, where), spans in stretches.items():
        start = min((w.start for _, w in spans if w.start), default=None)
        end = None if any(w.open for _, w in spans) else max(w.end for _, w in spans if w.end)
        merged[(release_id, where)] = Window(start, end)
        by_place[where].append((release_id, merged[(release_id, where)]))
    labels = {n.id: n.label for n in releases}
    rows = []
    for release in releases:
        places = []
        for (release_id, where), window in merged.items():
            if release_id != release.id:
                continue
            spans = stretches[(release_id, where)]
            places.append({"place": "/".join(where[1:]), "environment": environment(spans[0][0]), "cluster": where[1],
                           "from": iso(window.start), "to": iso(window.end), "live": window.open,
                           "revisions": sorted({d.label for d, _ in spans}),
                           "replaced_by": _successor(by_place[where], release_id, window, labels)})
        places.sort(key=lambda p: (p["from"] or "", p["place"]))
        starts = [p["from"] for p in places if p["from"]]
        rows.append({"label": release.label, "version": canonical.display_version(release.key["version"]),
                     "released_at": release.props.get("released_at"), "first_live": min(starts) if starts else None,
                     "live": any(p["live"] for p in places),
                     "last_live": None if any(p["live"] for p in places) or not places else max(
                         p["to"] for p in places if p["to"]), "deployments": places})
    rows.sort(key=lambda r: (r["first_live"] is None, r["first_live"] or "", r["version"]))
    return {"kind": "api", "subject": service, "service": service, "releases": rows, "notes": []}


def _successor(here: list[tuple[str, Window]], release: str, window: Window, labels: dict[str, str]) -> str | None:
    """The release that went live in the same place when this one's stretch ended."""
    if window.end is None:
        return None
    later = [(w.start, r) for r, w in here if r != release and w.start and w.start >= window.end]
    return labels.get(min(later)[1]) if later else None


def _tag_history(store: GraphStore, tag: str, images: list[Node]) -> Json:
    walked = store.walk([n.id for n in images], Direction.UPSTREAM, 1, limit=SCAN_LIMIT)
    by_id = {n.id: n for n in walked.nodes}
    out: dict[str, list[Edge]] = defaultdict(list)
    for edge in walked.edges:
        out[edge.source].append(edge)
    rows = []
    for image, window in tag_history(images):
        def linked(kind: str, image_id: str = image.id) -> list[str]:
            return sorted(by_id[e.target].label for e in out[image_id] if e.kind == kind and e.target in by_id)

        rows.append({**image_json(image), "from": iso(window.start), "to": iso(window.end), "current": window.open,
                     "built_by": linked("built_by"), "built_from": linked("built_from"), "bundles": linked("bundles")})
    return {"kind": "image", "subject": tag, "digests": rows,
            "notes": ["a tag's history is read from when each digest was pushed (pushed_at, else created, else "
                      "first reported); registries do not report moves back to an older digest"]}


# What was running --------------------------------------------------------------------------------

def running(store: GraphStore, at: datetime | None = None, env: str | None = None) -> Json:
    """Deployments active at ``at`` (live now without it), with their API versions, images and models."""
    candidates = store.find_nodes("deployment", limit=SCAN_LIMIT)
    if env:
        candidates = [n for n in candidates if env in (environment(n), n.key["namespace"])]
    served = served_by_links(store, candidates)
    windows = {n.id: deployment_window(n, served[n.id]) for n in candidates}
    active = [n for n in candidates if (windows[n.id].contains(at) if at else windows[n.id].open)]
    upstream = store.walk([n.id for n in active], Direction.UPSTREAM, 1, limit=SCAN_LIMIT) if active else None
    by_id = {n.id: n for n in upstream.nodes} if upstream else {}
    out: dict[str, list[Edge]] = defaultdict(list)
    for edge in upstream.edges if upstream else []:
        if link_holds(edge, at):
            out[edge.source].append(edge)
    apis = {n.id: n for n in store.get_nodes({e.source for n in active for e in served[n.id]})}
    rows = []
    for node in sorted(active, key=lambda n: (environment(n), n.key["cluster"], n.label)):
        links = [e for e in served[node.id] if link_holds(e, at)]
        images = [by_id[e.target] for e in out[node.id] if e.kind == "runs_image" and e.target in by_id]
        env_vars = prop_dict(node, "env")
        rows.append({
            **ref_json(node), "environment": environment(node), "cluster": node.key["cluster"],
            "platform": node.key["platform"], "active_from": iso(windows[node.id].start),
            "active_to": iso(windows[node.id].end),
            "apis": sorted(apis[e.source].label for e in links if e.source in apis),
            "api_version": env_vars.get("API_VERSION"),
            "image": image_json(images[0]) if images else None,
            "models": sorted(by_id[e.target].label for e in out[node.id] if e.kind == "serves_model"
                             and e.target in by_id),
            "model_version": env_vars.get("MODEL_VERSION"), "env": env_vars})
    return {"at": iso(at), "env": env, "deployments": rows,
            "notes": [] if len(candidates) < SCAN_LIMIT else [f"only the first {SCAN_LIMIT} deployments were read"]}

