"""A release's chain read from one upstream walk: deployments, images, code commits, models, jobs, data.

``diff``, ``verify`` and ``gaps`` ask the same questions of a walk (which image does this deployment
run, which job made this model, which data did it read); ``Chain`` answers them from the walked
subgraph in memory, so each of those answers costs one walk in the store, on any backend.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from graph_schema.edges import UNTRAVERSED
from lineage_service.query.trace import DEFAULT_DEPTH, DEFAULT_LIMIT
from lineage_service.store.base import Direction, Edge, GraphStore, Node, Subgraph

Json = dict[str, Any]


def walk_chain(store: GraphStore, root: Node, *, at: datetime | None = None, depth: int = DEFAULT_DEPTH) -> Chain:
    graph = store.walk([root.id], Direction.UPSTREAM, depth, skip_edge_kinds=UNTRAVERSED, at=at, limit=DEFAULT_LIMIT)
    return Chain(root, graph, depth)


class Chain:
    def __init__(self, root: Node, graph: Subgraph, depth: int = DEFAULT_DEPTH) -> None:
        self.root, self.graph, self.depth = root, graph, depth
        self.nodes = {n.id: n for n in graph.nodes}
        self.nodes.setdefault(root.id, root)
        self.out: dict[str, list[Edge]] = defaultdict(list)
        self.into: dict[str, list[Edge]] = defaultdict(list)
        for edge in graph.edges:
            self.out[edge.source].append(edge)
            self.into[edge.target].append(edge)

    # Navigation ----------------------------------------------------------------------------
    def links(self, node_id: str, *kinds: str) -> list[Edge]:
        return [e for e in self.out[node_id] if e.kind in kinds and e.target in self.nodes]

    def targets(self, node_id: str, *kinds: str) -> list[Node]:
        found = {e.target: self.nodes[e.target] for e in self.links(node_id, *kinds)}
        return sorted(found.values(), key=lambda n: n.label)

    def of_kind(self, kind: str) -> list[Node]:
        return sorted((n for n in self.nodes.values() if n.kind == kind),
                      key=lambda n: (self.graph.depth_of.get(n.id, 0), n.label))

    def walked(self, node_id: str) -> bool:
        """Whether the walk followed this node's own links (it was not cut by the depth)."""
        return self.graph.depth_of.get(node_id, 0) < self.depth and not self.graph.truncated

    # The chain -----------------------------------------------------------------------------
    def deployments(self) -> list[Node]:
        return self.of_kind("deployment")

    def images(self) -> list[Node]:
        return self.of_kind("image")

    def code_commits(self) -> list[Node]:
        """The commits the code was built from: the images' (or their CI runs'), else the training jobs'."""
        if self.root.kind == "commit":
            return [self.root]
        found: dict[str, Node] = {}
        for image in self.images():
            found.update((c.id, c) for c in self.image_commits(image))
        if not found:
            for job in self.training_jobs():
                found.update((c.id, c) for c in self.job_commits(job))
        if not found and self.root.kind == "run":
            found.update((c.id, c) for c in self.targets(self.root.id, "at_commit"))
        return sorted(found.values(), key=lambda n: n.label)

    def image_commits(self, image: Node) -> list[Node]:
        """The commit an image was built from, else the commit its CI run checked out."""
        return self.targets(image.id, "built_from") or sorted(
            {c.id: c for run in self.targets(image.id, "built_by") for c in self.targets(run.id, "at_commit")}.values(),
            key=lambda n: n.label)

    def served_models(self, deployment: Node) -> list[Node]:
        return self.targets(deployment.id, "serves_model")

    def bundled_models(self, image: Node) -> list[Node]:
        return self.targets(image.id, "bundles")

    def models(self) -> list[Node]:
        return self.of_kind("model")

    def training_jobs(self) -> list[Node]:
        """Jobs that produced a model of the chain (the root too, when it is a job)."""
        found: dict[str, Node] = {}
        for model in self.models():
            found.update((j.id, j) for j in self.targets(model.id, "produced_by"))
        if self.root.kind == "job":
            found.setdefault(self.root.id, self.root)
        return sorted(found.values(), key=lambda n: n.label)

    def family(self, job: Node) -> list[Node]:
        """A job and the pipeline jobs it is a step of."""
        return [job, *self.targets(job.id, "part_of")]

    def job_commits(self, job: Node) -> list[Node]:
        """The code a job ran: its own commit, else its pipeline's."""
        return self.targets(job.id, "ran_code") or [
            c for parent in self.targets(job.id, "part_of") for c in self.targets(parent.id, "ran_code")]

    def job_inputs(self, job: Node) -> list[Node]:
        """Datasets a training job read, its own or, when a step records none, its pipeline's steps'."""
        family = self.family(job)
        read = {d.id: d for member in family for d in self.targets(member.id, "consumed")}
        if not read:
            ids = {member.id for member in family}
            siblings = [n for n in self.nodes.values()
                        if n.kind == "job" and any(e.target in ids for e in self.links(n.id, "part_of"))]
            read = {d.id: d for sibling in siblings for d in self.targets(sibling.id, "consumed")}
        return sorted(read.values(), key=lambda n: n.label)

    def datasets(self) -> list[Node]:
        return self.of_kind("dataset")

    def requested_as(self, dataset: Node) -> str | None:
        """How a pipeline asked for this version (``latest``), from the links that read it."""
        asked = sorted({str(e.props["requested_as"]) for e in self.into[dataset.id] if e.props.get("requested_as")})
        return asked[0] if asked else None

    def apis_of(self, deployment: Node) -> list[Node]:
        return sorted((self.nodes[e.source] for e in self.into[deployment.id]
                       if e.kind == "served_by" and e.source in self.nodes), key=lambda n: n.label)


# JSON pieces shared by the incident answers ------------------------------------------------------

def ref_json(node: Node) -> Json:
    return {"id": node.id, "kind": node.kind, "label": node.label, "key": node.key}


def commit_json(node: Node) -> Json:
    props = node.props
    return {"sha": node.key["sha"], "short": node.key["sha"][:7], "repo": node.key["repo"],
            "author": props.get("author"), "message": first_line(props.get("message")),
            "committed_at": props.get("committed_at")}


def prop_dict(node: Node, name: str) -> dict[str, Any]:
    """A property that should be an object (``env``, ``labels``, ``properties``), or an empty one."""
    value = node.props.get(name)
    return dict(value) if isinstance(value, dict) else {}


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def first_line(text: object) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return None
    return text.strip().splitlines()[0]


def primary_reference(references: list[str]) -> str | None:
    """The most telling tag: a version tag first, registries before Docker Hub."""
    ordered = sorted(references, key=lambda reference: reference.startswith("docker.io/"))
    for reference in ordered:
        tag = reference.rpartition(":")[2]
        if tag[:1] == "v" and tag[1:2].isdigit():
            return reference
    return ordered[0] if ordered else None


def image_json(node: Node) -> Json:
    return {"digest": node.key["digest"], "short": node.key["digest"][:19], "reference": primary_reference(
        node.aliases), "references": sorted(node.aliases)}


def edge_evidence(chain_nodes: dict[str, Node], edge: Edge) -> Json:
    """An edge as evidence: its ends by label, how sure it is and who said so."""
    def name(node_id: str) -> str:
        node = chain_nodes.get(node_id)
        return f"{node.kind} {node.label}" if node else node_id

    return {"source": name(edge.source), "target": name(edge.target), "kind": edge.kind, "evidence": edge.evidence,
            "sources": edge.sources}
