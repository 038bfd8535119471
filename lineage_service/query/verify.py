"""Checks along a chain: does what runs match what CI built, and what the graph says it is?

``lineage verify api v1.2.3`` and ``GET /v1/verify``: one upstream walk from the node, then the checks
below, each finding with a severity (``fail``, ``warn``, ``ok``), its evidence (nodes, edges, the
sources that reported them) and a fix. ``passed`` is false when any finding fails.

- ``running-digest``: the digest a deployment runs (its ``runs_image`` link) is the digest its spec
  pins (``containers[].image`` with ``@sha256:…``), and the digest CI built for the tag it pulls: among
  the images carrying that tag, the ones with a build record (``built_by`` or ``built_from``). Running
  a digest no CI build has for that tag fails (a hotfix pushed by hand, a rebuilt tag); no recorded
  build at all warns.
- ``tag-moved``: tags have no link of their own: a tag is an alias on every digest it named. When a
  tag the deployment pulls (or a version or SHA tag of its image) is on several digests, it points
  now at the one pushed last (``windows.pushed_at``). If that is not what the deployment runs, a live
  deployment that pulls by tag without a digest fails (a restart pulls other code); otherwise warns.
- ``model-matches-image``: the model the deployment's env names (``MODEL_NAME``/``MODEL_VERSION``, else
  its ``serves_model`` link) is a model its image ``bundles``; a contradiction fails, a model that
  cannot be compared warns.
- ``clean-tree``: no image or job was built from a dirty tree (``azureml.git.dirty``, a ``dirty``
  prop, or an OCI revision label ending in ``-dirty``); a dirty one fails: its commit is not its code.
- ``known-commit``: images and training jobs link to a commit, the commit has ``in_repo`` (the git
  collector or a push saw it), and a job's ``azureml.git.commit`` is the commit it links to (a
  contradiction fails, the rest warns).
- ``link-evidence``: ``served_by`` and ``runs_image`` are facts of a live cluster, so they should be
  ``observed`` (or ``attested``); declared ones warn, and so does any link only ``inferred``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from graph_schema import canonical
from graph_schema.canonical import InvalidValue
from graph_schema.edges import Evidence
from lineage_service.query.chain import Chain, edge_evidence, plural, prop_dict, ref_json, walk_chain
from lineage_service.query.references import resolve
from lineage_service.query.timeline import tag_history
from lineage_service.query.windows import deployment_window, iso, pushed_at
from lineage_service.store.base import Direction, Edge, GraphStore, Node

Json = dict[str, Any]

CHECKS = {
    "running-digest": "the digest a deployment runs is the one its spec pins and the one CI built for its tag",
    "tag-moved": "the tags a deployment pulled still point at the digest it runs",
    "model-matches-image": "the model a deployment's env names (MODEL_NAME, MODEL_VERSION) is bundled in its image",
    "clean-tree": "images and training jobs were built from a clean working tree",
    "known-commit": "images and training jobs name a commit the graph knows, with its repository",
    "link-evidence": "links read from a live system are observed (or attested); none is only inferred",
}
SEVERITIES = ("fail", "warn", "ok")
GIT_FIX = "record the repository's commits with the git collector: `lineage collect git --repo <clone of {repo}>`"
EMIT_IMAGE_FIX = ("build images in CI and record each with `lineage emit image REF@DIGEST --tag … --model "
                  "NAME:VERSION`, which links the commit and the run")
_OBSERVED_LINKS = {
    "served_by": "read which deployment serves the API from the cluster (a Kubernetes collector) instead of "
                 "declaring it",
    "runs_image": "read the running digest from the cluster (the pods' imageID) instead of declaring it",
}
_IMMUTABLE_TAG = re.compile(r"v?\d+(\.\d+)+([-+][0-9A-Za-z.+-]*)?|[0-9a-f]{7,40}")
_REVISION_LABEL = "org.opencontainers.image.revision"


@dataclass
class _Findings:
    chain: Chain
    items: list[Json] = field(default_factory=list)
    looked_at: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, check: str, severity: str, subject: Node | None, message: str, *, nodes: tuple[Node, ...] = (),
            edges: tuple[Edge, ...] = (), fix: str | None = None) -> None:
        shown = {n.id: n for n in ((subject,) if subject else ()) + nodes}
        sources = sorted({s for n in shown.values() for s in n.sources} | {s for e in edges for s in e.sources})
        self.items.append({
            "check": check, "severity": severity, "subject": ref_json(subject) if subject else None,
            "message": message, "fix": fix,
            "evidence": {"nodes": [{"kind": n.kind, "label": n.label, "id": n.id} for n in shown.values()],
                         "edges": [edge_evidence(self.chain.nodes, e) for e in edges], "sources": sources}})

    def failed_or_warned(self, check: str) -> bool:
        return any(f["check"] == check and f["severity"] != "ok" for f in self.items)


def verify(store: GraphStore, kind: str, reference: str) -> Json:
    resolved = resolve(store, kind, reference)
    chain = walk_chain(store, resolved.node)
    findings = _Findings(chain)
    tags = _tag_images(store, chain)
    _running_digest(findings, chain, tags)
    _tag_moved(findings, chain, tags, store)
    _model_matches_image(findings, chain)
    _clean_tree(findings, chain)
    _known_commit(findings, chain)
    _link_evidence(findings, chain)
    order = {name: i for i, name in enumerate(CHECKS)}
    items = sorted(findings.items, key=lambda f: (SEVERITIES.index(f["severity"]), order[f["check"]]))
    counts = {severity: sum(f["severity"] == severity for f in items) for severity in SEVERITIES}
    return {"root": ref_json(resolved.node), "passed": counts["fail"] == 0, "counts": counts, "findings": items,
            "checks": [{"name": name, "describe": text} for name, text in CHECKS.items()],
            "notes": [resolved.note] if resolved.note else [],
            "truncated": chain.graph.truncated}


# Deployments and the images they run ------------------------------------------------------------

@dataclass(frozen=True)
class _Tagged:
    """The images carrying one tag, and which of them have a CI build record."""

    images: list[Node]
    builds: dict[str, list[Edge]]


def _spec_references(deployment: Node) -> list[canonical.ImageReference]:
    references = []
    containers = deployment.props.get("containers")
    for container in containers if isinstance(containers, list) else []:
        text = container.get("image") if isinstance(container, dict) else None
        if isinstance(text, str):
            try:
                references.append(canonical.image_reference(text))
            except InvalidValue:
                continue  # a spec we cannot read proves nothing either way
    return references


def _tag(reference: canonical.ImageReference) -> str:
    return str(canonical.ImageReference(reference.registry, reference.repository, reference.tag))


def _tag_images(store: GraphStore, chain: Chain) -> dict[str, _Tagged]:
    """For every tag a deployment of the chain pulls: the images carrying it, and their build links."""
    tags = sorted({_tag(r) for d in chain.deployments() for r in _spec_references(d) if r.tag})
    carrying = {tag: store.find_nodes("image", alias=tag, limit=100) for tag in tags}
    ids = sorted({n.id for images in carrying.values() for n in images})
    builds: dict[str, list[Edge]] = defaultdict(list)
    if ids:
        for edge in store.walk(ids, Direction.UPSTREAM, 1).edges:
            if edge.kind in ("built_by", "built_from") and edge.source in ids:
                builds[edge.source].append(edge)
    return {tag: _Tagged(images, {n.id: builds[n.id] for n in images if builds[n.id]})
            for tag, images in carrying.items()}


def _running(chain: Chain, deployment: Node) -> tuple[list[Node], list[Edge]]:
    links = chain.links(deployment.id, "runs_image")
    return [chain.nodes[e.target] for e in links], links


def _live(chain: Chain, deployment: Node) -> bool:
    return deployment_window(deployment, [e for e in chain.into[deployment.id] if e.kind == "served_by"]).open


def _running_digest(findings: _Findings, chain: Chain, tags: dict[str, _Tagged]) -> None:
    check = "running-digest"
    for deployment in chain.deployments():
        images, links = _running(chain, deployment)
        if not images:
            findings.add(check, "warn", deployment, f"deployment {deployment.label} has no running image recorded",
                         fix="collect it from the cluster, or `lineage emit deployment --image REF@DIGEST` in the "
                             "deploy step")
            continue
        running = {i.key["digest"]: i for i in images}
        shown = ", ".join(d[:19] for d in running)
        specs = _spec_references(deployment)
        for spec in specs:
            if spec.digest and spec.digest not in running:
                findings.add(check, "fail", deployment, f"deployment {deployment.label}'s spec pins {spec} but the "
                             f"cluster reports it runs {shown}", nodes=tuple(images), edges=tuple(links),
                             fix="find out which is stale: re-read the deployment from the cluster and redeploy "
                                 "the pinned digest")
        spec_tags = sorted({_tag(s) for s in specs if s.tag})
        for tag in spec_tags:
            tagged = tags.get(tag)
            built = tagged.builds if tagged else {}
            ours = [i for i in images if i.id in built]
            if ours:
                runs = sorted({chain.nodes[e.target].label if e.target in chain.nodes else e.target
                               for i in ours for e in built[i.id] if e.kind == "built_by"})
                findings.add(check, "ok", deployment, f"{deployment.label} runs {shown}, the digest CI built for "
                             f"{tag}" + (f" ({', '.join(runs)})" if runs else ""), nodes=tuple(ours),
                             edges=tuple(links) + tuple(e for i in ours for e in built[i.id]))
            elif built and tagged:
                ci = [n for n in tagged.images if n.id in built]
                ci_links = tuple(e for i in ci for e in built[i.id])
                findings.add(check, "fail", deployment, f"{deployment.label} runs {shown}, but CI built {tag} as "
                             f"{', '.join(n.label for n in ci)}; no CI build of that tag has the running digest",
                             nodes=(*images, *ci), edges=tuple(links) + ci_links,
                             fix=f"redeploy what CI built ({tag.rpartition(':')[0]}@{ci[-1].key['digest']}), or "
                                 f"build the change in CI and deploy that; pin deployments by digest")
            else:
                findings.add(check, "warn", deployment, f"no CI build of {tag} is recorded, so whether {shown} is "
                             f"what CI built cannot be checked", nodes=tuple(images), edges=tuple(links),
                             fix=EMIT_IMAGE_FIX)
        if not spec_tags:
            built_links = [e for i in images for e in chain.links(i.id, "built_by", "built_from")]
            if built_links:
                findings.add(check, "ok", deployment, f"{deployment.label} runs {shown}, which has a CI build on "
                             f"record (no tag in its spec to compare)", nodes=tuple(images),
                             edges=tuple(links) + tuple(built_links))
            else:
                findings.add(check, "warn", deployment, f"{deployment.label} runs {shown}, which has no CI build on "
                             f"record and no tag in its spec to compare", nodes=tuple(images), edges=tuple(links),
                             fix=EMIT_IMAGE_FIX)


def _tag_moved(findings: _Findings, chain: Chain, tags: dict[str, _Tagged], store: GraphStore) -> None:
    check = "tag-moved"
    for deployment in chain.deployments():
        images, links = _running(chain, deployment)
        if not images:
            continue
        ids = {i.id for i in images}
        live = _live(chain, deployment)
        specs = {_tag(s): s for s in _spec_references(deployment) if s.tag}
        # The tags it pulls, then the version and SHA tags of what it runs: those should never move.
        candidates: dict[str, list[Node]] = {tag: tags[tag].images for tag in specs if tag in tags}
        for image in images:
            for alias in image.aliases:
                if alias not in candidates and _IMMUTABLE_TAG.fullmatch(alias.rpartition(":")[2]):
                    candidates[alias] = store.find_nodes("image", alias=alias, limit=100)
        moved = False
        for tag, carrying in sorted(candidates.items()):
            history = tag_history(carrying)
            if len(history) < 2 or history[-1][0].id in ids:
                continue
            moved = True
            current = history[-1][0]
            pulled = tag in specs
            pinned = pulled and specs[tag].digest is not None
            severity = "fail" if live and pulled and not pinned else "warn"
            verb = "runs" if live else "ran"
            fix = (f"pin {deployment.label} by digest ({tag.rpartition(':')[0]}@…) or redeploy: a restart or a new "
                   f"node pulls {current.label}" if severity == "fail"
                   else f"push a new tag for each build instead of moving {tag}, so a tag names one build")
            findings.add(check, severity, deployment, f"{tag} now points to {current.label} (pushed "
                         f"{iso(pushed_at(current))}), not to the {', '.join(i.label for i in images)} "
                         f"{deployment.label} {verb}" + ("" if pulled else " (a tag of its image)"),
                         nodes=(*images, current), edges=tuple(links), fix=fix)
        if not moved:
            findings.add(check, "ok", deployment, f"the tags of what {deployment.label} runs point only at it",
                         nodes=tuple(images))


def _env_model(env: dict[str, Any]) -> tuple[str | None, str] | None:
    version = env.get("MODEL_VERSION")
    if version is None or not str(version).strip():
        return None
    text = str(version).strip()
    if ":" in text:
        name, _, number = text.rpartition(":")
        return name, number
    model_name = env.get("MODEL_NAME")
    return (str(model_name) if model_name else None), text


def _model_matches_image(findings: _Findings, chain: Chain) -> None:
    for deployment in chain.deployments():
        images, _ = _running(chain, deployment)
        bundled = {m.id: m for i in images for m in chain.bundled_models(i)}
        served_links = tuple(chain.links(deployment.id, "serves_model"))
        served = [chain.nodes[e.target] for e in served_links]
        env = prop_dict(deployment, "env")
        named = _env_model(env)
        said = f"{named[0] or '?'}:{named[1]}" if named else None
        nodes = (*images, *bundled.values(), *served)
        edges = served_links + tuple(e for i in images for e in chain.links(i.id, "bundles"))

        def report(severity: str, message: str, fix: str | None = None, subject: Node = deployment,
                   nodes: tuple[Node, ...] = nodes, edges: tuple[Edge, ...] = edges) -> None:
            findings.add("model-matches-image", severity, subject, message, nodes=nodes, edges=edges, fix=fix)

        def matches(model: Node, named: tuple[str | None, str] | None = named) -> bool:
            return named is not None and model.key["version"] == named[1] and named[0] in (None, model.key["name"])

        if named and served and not any(matches(m) for m in served):
            report("fail", f"{deployment.label}'s MODEL_VERSION says {said} but its serves_model link says "
                   f"{', '.join(m.label for m in served)}", "re-read the deployment: one of the two reports is stale")
        wanted = [m for m in bundled.values() if matches(m)] if named else [m for m in served if m.id in bundled]
        what = said or ", ".join(m.label for m in served)
        if (named or served) and bundled:
            if wanted:
                report("ok", f"{deployment.label} serves {what}, the model its image bundles")
            else:
                report("fail", f"{deployment.label}'s env names {what} but its image bundles "
                       f"{', '.join(m.label for m in bundled.values())}",
                       f"set MODEL_VERSION to the bundled model, or deploy an image that bundles {what}")
        elif named or served:
            report("warn", f"{deployment.label} names {what}, but no model is recorded in the image it runs, so "
                   f"they cannot be compared", "record the bundled model: `lineage emit image … --model NAME:VERSION`")
        elif bundled:
            report("ok", f"{deployment.label} serves the bundled {', '.join(m.label for m in bundled.values())} "
                   f"(no MODEL_VERSION to compare)")
        else:
            report("warn", f"no model is recorded for {deployment.label}: no MODEL_VERSION in its env and none "
                   f"bundled in its image", "set MODEL_NAME and MODEL_VERSION in the deployment, and record the "
                   "bundled model with `lineage emit image … --model NAME:VERSION`")


# Builds and their code ---------------------------------------------------------------------------

def _dirty_reason(node: Node) -> str | None:
    if str(prop_dict(node, "properties").get("azureml.git.dirty", "")).lower() == "true":
        return "azureml.git.dirty=True"
    if node.props.get("dirty") is True:
        return "dirty: true"
    labels = prop_dict(node, "labels")
    revision = str(labels.get(_REVISION_LABEL, ""))
    if revision.endswith("-dirty"):
        return f"{_REVISION_LABEL}={revision}"
    return None


def _clean_tree(findings: _Findings, chain: Chain) -> None:
    built = [n for n in chain.images() + chain.of_kind("job") if chain.walked(n.id) or n.id == chain.root.id]
    for node in built:
        reason = _dirty_reason(node)
        if reason:
            findings.add("clean-tree", "fail", node, f"{node.kind} {node.label} was built from a dirty working tree "
                         f"({reason}): its commit does not fully describe its code",
                         fix="rebuild from a clean checkout of a pushed commit (as CI does)")
    if built and not findings.failed_or_warned("clean-tree"):
        images = sum(n.kind == "image" for n in built)
        findings.add("clean-tree", "ok", None, f"{plural(images, 'image')} and {plural(len(built) - images, 'job')} "
                     f"were built from a clean tree, as far as they report it")


def _known_commit(findings: _Findings, chain: Chain) -> None:
    check = "known-commit"
    commits: dict[str, Node] = {}
    for image in chain.images():
        if not chain.walked(image.id):
            continue
        found = chain.image_commits(image)
        commits.update((c.id, c) for c in found)
        if found:
            continue
        labels = prop_dict(image, "labels")
        revision = labels.get(_REVISION_LABEL)
        said = f" (its {_REVISION_LABEL} label says {str(revision)[:12]}, a commit the graph does not know)" \
            if revision else ""
        findings.add(check, "warn", image, f"image {image.label} has no source commit recorded{said}",
                     fix=EMIT_IMAGE_FIX)
    for job in chain.training_jobs():
        if not chain.walked(job.id):
            continue
        found = chain.job_commits(job)
        commits.update((c.id, c) for c in found)
        properties = prop_dict(job, "properties")
        declared = str(properties.get("azureml.git.commit") or "").lower() or None
        shas = {c.key["sha"] for c in found}
        if declared and found and not any(sha.startswith(declared) for sha in shas):
            findings.add(check, "fail", job, f"job {job.label} says it ran {declared[:12]} (azureml.git.commit) but "
                         f"is linked to {', '.join(c.label for c in found)}", nodes=tuple(found),
                         fix="re-collect the job from Azure ML; one of the two reports is wrong")
        elif not found:
            said = f" (azureml.git.commit says {declared[:12]}, a commit the graph does not know)" if declared else ""
            findings.add(check, "warn", job, f"training job {job.label} has no code commit recorded{said}",
                         fix="tag Azure ML jobs with the git SHA, or `lineage emit training` in the pipeline step")
    for commit in sorted(commits.values(), key=lambda n: n.label):
        if chain.walked(commit.id) and not chain.links(commit.id, "in_repo"):
            findings.add(check, "warn", commit, f"commit {commit.label} is only named by "
                         f"{', '.join(commit.sources) or 'a build'}; the graph has no record of it in its repository "
                         f"(not pushed, a fork, or the repository is not collected)",
                         fix=GIT_FIX.format(repo=commit.key["repo"]))
    if commits and not findings.failed_or_warned(check):
        findings.add(check, "ok", None, f"{plural(len(commits), 'commit')} named by images and training jobs "
                     f"known, with their repository", nodes=tuple(sorted(commits.values(), key=lambda n: n.label)))


def _link_evidence(findings: _Findings, chain: Chain) -> None:
    check = "link-evidence"
    for edge in sorted(chain.graph.edges, key=lambda e: (e.kind, e.source, e.target)):
        level = Evidence.parse(edge.evidence)
        source, target = chain.nodes.get(edge.source), chain.nodes.get(edge.target)
        if source is None or target is None:
            continue
        if edge.kind in _OBSERVED_LINKS and level < Evidence.OBSERVED:
            findings.add(check, "warn", source, f"{source.kind} {source.label} {edge.kind} → {target.kind} "
                         f"{target.label} is only {edge.evidence} (by {', '.join(edge.sources)}); it should be "
                         f"observed in the cluster", nodes=(target,), edges=(edge,), fix=_OBSERVED_LINKS[edge.kind])
        elif level is Evidence.INFERRED:
            findings.add(check, "warn", source, f"{source.kind} {source.label} {edge.kind} → {target.kind} "
                         f"{target.label} is only inferred", nodes=(target,), edges=(edge,),
                         fix="report the link from the system that knows it (`lineage emit`, a collector)")
    if chain.graph.edges and not findings.failed_or_warned(check):
        findings.add(check, "ok", None, f"{plural(len(chain.graph.edges), 'link')} checked: cluster links "
                     f"observed, none only inferred")
