"""A report plus the CI context becomes one ``lineage-event/1`` event.

Shapes follow the demo history (``lineage_service.demo.history``): the run checked out the commit
(``at_commit``, observed: the CI system says so), artifacts point upstream at what made them
(declared: the pipeline step says so). Keys are put in canonical form here, so ``--dry-run`` shows
exactly what the service will store and a malformed key fails before anything is sent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from graph_schema.kinds import NodeKind, canonical_key
from lineage_service.emit.context import CiContext
from lineage_service.emit.reports import (
    DatasetReport,
    DeploymentReport,
    ImageReport,
    ModelReport,
    Report,
    TrainingReport,
)
from lineage_service.emit.values import Versioned

Json = dict[str, Any]
SCHEMA = "lineage-event/1"
OBSERVED, DECLARED = "observed", "declared"


class _Event:
    """Nodes declared once each (the richest description kept first), and edges between them."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[str, str], Json] = {}
        self.edges: list[Json] = []
        self._linked: set[str] = set()

    def node(self, kind: NodeKind, key: dict[str, str], props: Json | None = None,
             aliases: tuple[str, ...] = ()) -> Json:
        canon = canonical_key(kind, key)
        identity = (kind.value, json.dumps(canon, sort_keys=True))
        found = self.nodes.setdefault(identity, {"kind": kind.value, "key": canon})
        clean = {name: value for name, value in (props or {}).items() if value not in (None, {}, [], "")}
        if clean:
            found["props"] = {**found.get("props", {}), **clean}
        if aliases:
            found["aliases"] = list(dict.fromkeys([*found.get("aliases", []), *aliases]))
        return found

    def edge(self, source: Json, target: Json, kind: str, evidence: str = DECLARED, **props: Any) -> None:
        edge: Json = {"source": _ref(source), "target": _ref(target), "kind": kind, "evidence": evidence}
        # The commit and the run are reached from several artifacts; their own links go in once.
        identity = json.dumps([edge["source"], edge["target"], kind], sort_keys=True)
        if identity in self._linked:
            return
        self._linked.add(identity)
        clean = {name: value for name, value in props.items() if value is not None}
        if clean:
            edge["props"] = clean
        self.edges.append(edge)


def _ref(node: Json) -> Json:
    return {"kind": node["kind"], "key": node["key"]}


def _versioned(event: _Event, kind: NodeKind, value: Versioned, props: Json | None = None) -> Json:
    return event.node(kind, {"name": value.name, "version": value.version}, props)


def _commit(event: _Event, context: CiContext) -> Json:
    """The commit of this step, in its repository, with its author when git told us."""
    commit = event.node(NodeKind.COMMIT, {"repo": context.repo, "sha": context.sha}, {
        "author": context.author, "message": context.message, "committed_at": context.committed_at})
    repo = event.node(NodeKind.REPO, {"url": context.repo})
    event.edge(commit, repo, "in_repo", OBSERVED)
    if context.author:
        event.edge(commit, event.node(NodeKind.PERSON, {"id": context.author}), "authored_by", OBSERVED)
    return commit


def _run(event: _Event, context: CiContext) -> Json | None:
    """The CI run, which checked out the commit; ``None`` outside CI."""
    if not context.in_ci:
        return None
    assert context.run_id is not None
    run = event.node(NodeKind.RUN, {"system": context.system, "id": context.run_id}, {
        "workflow": context.workflow, "url": context.url, "attempt": context.attempt, "branch": context.branch,
        "trigger": context.trigger, "actor": context.actor})
    event.edge(run, _commit(event, context), "at_commit", OBSERVED)
    return run


def _job(event: _Event, context: CiContext, system: str, job_id: str) -> Json:
    """A job this run submitted (an Azure ML job): it ran this commit's code."""
    job = event.node(NodeKind.JOB, {"system": system, "id": job_id})
    event.edge(job, _commit(event, context), "ran_code", DECLARED)
    run = _run(event, context)
    if run is not None:
        event.edge(job, run, "triggered_by", DECLARED)
    return job


def _ci_job(event: _Event, context: CiContext) -> Json | None:
    """The CI job running this step, as the producer of what the step made on the runner itself.

    Its id is the run id and the job name, opaque (never parsed back); ``None`` outside CI.
    """
    run = _run(event, context)
    if run is None or context.run_id is None:
        return None
    name = context.job or "job"
    job = event.node(NodeKind.JOB, {"system": context.system, "id": f"{context.run_id}.{name}"}, {
        "type": "ci-job", "display_name": name, "url": context.url})
    event.edge(job, run, "triggered_by", OBSERVED)
    event.edge(job, _commit(event, context), "ran_code", OBSERVED)
    return job


def _producer(event: _Event, context: CiContext, system: str, job_id: str | None) -> Json | None:
    return _job(event, context, system, job_id) if job_id else _ci_job(event, context)


def _dataset(event: _Event, context: CiContext, report: DatasetReport) -> None:
    dataset = _versioned(event, NodeKind.DATASET, report.dataset, {"uri": report.uri, "tags": report.tags})
    producer = _producer(event, context, report.job_system, report.from_job)
    if producer is not None:
        event.edge(dataset, producer, "produced_by")
    else:
        # Outside CI and without a job nothing links it to code, so it carries the SHA as the seed's
        # pipelines tag their data assets.
        dataset.setdefault("props", {})["git_sha"] = context.sha
    for source in report.derived_from:
        upstream = _versioned(event, NodeKind.DATASET, source)
        event.edge(dataset, upstream, "derived_from", requested_as=source.requested_as)
        if producer is not None:
            event.edge(producer, upstream, "consumed", requested_as=source.requested_as)


def _training(event: _Event, context: CiContext, report: TrainingReport) -> None:
    job = event.node(NodeKind.JOB, {"system": report.job_system, "id": report.job}, {
        "parameters": report.parameters, "metrics": report.metrics, "tags": report.tags})
    event.edge(job, _commit(event, context), "ran_code")
    submitted = job
    if report.pipeline_job:
        # As Azure ML reports it: the step is part of the pipeline job that the run submitted.
        submitted = event.node(NodeKind.JOB, {"system": report.job_system, "id": report.pipeline_job},
                               {"type": "pipeline"})
        event.edge(job, submitted, "part_of")
        event.edge(submitted, _commit(event, context), "ran_code")
    run = _run(event, context)
    if run is not None:
        event.edge(submitted, run, "triggered_by")
    for source in report.inputs:
        event.edge(job, _versioned(event, NodeKind.DATASET, source), "consumed", requested_as=source.requested_as)
    model = _versioned(event, NodeKind.MODEL, report.model, {"metrics": report.metrics, "tags": report.tags})
    event.edge(model, job, "produced_by")


def _model(event: _Event, context: CiContext, report: ModelReport) -> None:
    model = _versioned(event, NodeKind.MODEL, report.model, {"tags": report.tags})
    producer = _producer(event, context, report.job_system, report.job)
    if producer is not None:
        event.edge(model, producer, "produced_by")
    else:
        model.setdefault("props", {})["git_sha"] = context.sha


def _image(event: _Event, context: CiContext, report: ImageReport) -> None:
    image = event.node(NodeKind.IMAGE, {"digest": report.image.digest},
                       {"repositories": list(report.image.repositories)}, report.image.references)
    event.edge(image, _commit(event, context), "built_from")
    run = _run(event, context)
    if run is not None:
        event.edge(image, run, "built_by")
    if report.model is not None:
        event.edge(image, _versioned(event, NodeKind.MODEL, report.model), "bundles")


def _deployment(event: _Event, context: CiContext, report: DeploymentReport, time: str) -> None:
    image = report.image
    deployed_by = {"system": context.system, "id": context.run_id, "url": context.url} if context.in_ci else None
    deployment = event.node(NodeKind.DEPLOYMENT, {
        "platform": report.platform, "cluster": report.cluster, "namespace": report.namespace, "name": report.name,
        "revision": report.revision}, {
        "environment": report.environment, "active_from": time, "deployed_by": deployed_by,
        # What the pods carry (the seed's API_VERSION and MODEL_VERSION environment variables).
        "env": {"API_VERSION": report.api_version, "MODEL_NAME": report.model.name,
                "MODEL_VERSION": report.model.version},
        "containers": [{"image": image.reference}]})
    api = event.node(NodeKind.API, {"service": report.service, "version": report.api_version})
    event.edge(api, deployment, "served_by")
    event.edge(deployment, event.node(NodeKind.IMAGE, {"digest": image.digest}, None, image.references),
               "runs_image")
    event.edge(deployment, _versioned(event, NodeKind.MODEL, report.model), "serves_model",
               env_var="MODEL_VERSION")


def event_id(context: CiContext, report: Report) -> str:
    """Readable and deterministic: who reported, what about, and a hash of everything reported.

    The time is left out, so a retried step (same run, same attempt, same arguments) sends the same
    id and the service records it once; a new attempt of the run is a new report.
    """
    fingerprint = json.dumps({"context": dataclasses.asdict(context), "verb": report.verb,
                              "report": dataclasses.asdict(report)}, sort_keys=True, default=str)
    digest = hashlib.blake2b(fingerprint.encode(), digest_size=8).hexdigest()
    who = f"{context.run_id}-{context.attempt}" if context.in_ci else context.sha[:12]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", report.subject).strip("-")[:80]
    return f"{context.system}-{who}-{report.verb}-{slug}-{digest}"


def build_event(context: CiContext, report: Report, now: datetime | None = None) -> Json:
    """The event for ``report``; every edge endpoint is declared in ``nodes``."""
    time = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    event = _Event()
    match report:
        case DatasetReport():
            _dataset(event, context, report)
        case TrainingReport():
            _training(event, context, report)
        case ModelReport():
            _model(event, context, report)
        case ImageReport():
            _image(event, context, report)
        case DeploymentReport():
            _deployment(event, context, report, time)
    return {"schema": SCHEMA, "id": event_id(context, report), "time": time, "source": context.system,
            "nodes": list(event.nodes.values()), "edges": event.edges}
