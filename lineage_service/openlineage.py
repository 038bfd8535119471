"""OpenLineage events as lineage events: the contract of ``POST /api/v1/lineage``.

``translate(data)`` takes one OpenLineage event (spec 2-0-2) parsed from JSON and returns a
``TranslatedEvent``: ``event`` is a ``lineage-event/1`` dict for the one ingestion path
(``graph_schema.events.parse_event`` accepts every dict returned here), or ``None`` when the event
carries nothing the graph can hold; ``notes`` say what was approximated or skipped. A malformed
event raises ``OpenLineageRejected`` listing each ``field: problem`` by its OpenLineage name. Pure:
no I/O, no web framework.

RunEvent (has ``run``) — one job version, its datasets, code and pipeline:

- the run → ``job`` node ``{system: job.namespace (lower-cased, no spaces), id: run.runId}``;
  props ``display_name`` (job.name), ``namespace`` (as sent), ``producer``, ``event_time``,
  ``status`` from eventType (START/RUNNING → running, COMPLETE → completed, FAIL → failed,
  ABORT → aborted; OTHER or no eventType leaves it unchanged), ``started_at`` (START) or
  ``ended_at`` (COMPLETE/FAIL/ABORT), and from facets: jobType → ``type`` (lower case),
  ``integration``, ``processing_type``; job and run tags → ``tags``; errorMessage → ``error``;
  sourceCodeLocation → ``source_code`` (type, url, repo_url, path, version, branch, tag).
- ``inputs[i]`` → ``dataset`` node, job —consumed→ dataset; ``outputs[i]`` → dataset
  —produced_by→ job. Key ``{name: dataset name, version: facets.version.datasetVersion}``; props
  ``namespace`` and, when the namespace is a URI (has ``://``), ``uri`` = namespace/name. The OL
  namespace is not part of the key, so equal names in two namespaces are one dataset.
  Without a version facet the version is ``"unversioned"`` (prop ``version_known: false``, and a
  note): every unversioned report of a name meets in one node, an honest "some version".
- job facet sourceCodeLocation with a 40-hex git ``version`` → ``commit`` node
  ``{repo: repoUrl, or url cut before /blob/, /tree/, /src/, …; sha}``, job —ran_code→ commit.
  A version that is not a full SHA, a type other than git, or no usable repository URL keeps the
  facet in ``source_code`` and skips the edge with a note; the event is still accepted.
- run facet ``parent`` → the parent run as a ``job`` node (system = parent job namespace, id =
  parent runId, ``display_name`` = parent job name), child —part_of→ parent: the pipeline run
  of a step. ``parent.root`` is not mapped (it need not be the parent's parent).

DatasetEvent (has ``dataset``) → the dataset node alone, as above (no edges).
JobEvent (``job``, no ``run``) → ``event`` is ``None`` with a note: a job definition has no run,
hence no version of a job for its datasets or code to hang on; send RunEvents for lineage.

Every edge has evidence ``observed`` (the running system reports it), the event ``source`` is
``openlineage`` and its ``time`` the eventTime (which must carry a UTC offset: the store keeps the
newest report of a property by that time). The event ``id`` is ``ol-<what>-<hash of the whole
event>``: a retried delivery has the same id and changes nothing, while two different events
reported at the same instant are both kept (applying one twice would be harmless, losing one not).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from graph_schema import canonical
from graph_schema.canonical import InvalidValue
from graph_schema.events import MAX_FACTS_PER_EVENT, SCHEMA_VERSION
from graph_schema.kinds import NodeKind
from lineage_service.json_reader import FieldReader
from lineage_service.json_reader import json_type as _type

SOURCE = "openlineage"
UNVERSIONED = "unversioned"
EVIDENCE = "observed"

# None: the eventType is valid but says nothing about the run's state.
_STATUS: dict[str, str | None] = {"START": "running", "RUNNING": "running", "COMPLETE": "completed",
                                  "FAIL": "failed", "ABORT": "aborted", "OTHER": None}
_ENDS = {"COMPLETE", "FAIL", "ABORT"}
_CODE_FIELDS = {"type": "type", "url": "url", "repoUrl": "repo_url", "path": "path", "version": "version",
                "branch": "branch", "tag": "tag"}
# Where a browse URL (…/blob/<sha>/dags/x.py) stops naming the repository.
_BROWSE_SUFFIX = re.compile(r"/(?:-/)?(?:blob|tree|src|commit|raw)/.*$")
_MAX_ERROR_CHARS = 1000

Json = dict[str, Any]


class OpenLineageRejected(ValueError):
    """An OpenLineage event that cannot be mapped; ``problems`` lists ``field: what was expected``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("OpenLineage event rejected: " + "; ".join(problems))


@dataclass(frozen=True)
class TranslatedEvent:
    """What an OpenLineage event became: a lineage event dict, or ``None`` with notes saying why."""

    kind: Literal["run", "dataset", "job"]
    event: Json | None
    notes: tuple[str, ...] = ()


def translate(data: object) -> TranslatedEvent:
    """Map one parsed OpenLineage event; raises ``OpenLineageRejected`` naming every problem."""
    if not isinstance(data, dict):
        raise OpenLineageRejected([f"expected an OpenLineage event as a JSON object, got {_type(data)}"])
    reader = _Reader()
    time = _event_time(reader, data)
    if "run" in data:
        kind: Literal["run", "dataset", "job"] = "run"
        nodes, edges = _run_event(reader, data, time)
        what = str(data.get("eventType") or "run").lower()
    elif "dataset" in data:
        kind, what, edges = "dataset", "dataset", []
        dataset = reader.obj(data, "dataset", "dataset", required=True)
        nodes = [node] if dataset is not None and (node := _dataset(reader, dataset, "dataset")) else []
    elif "job" in data:
        job = reader.obj(data, "job", "job", required=True)
        namespace = reader.text(job, "job.namespace") if job is not None else None
        name = reader.text(job, "job.name") if job is not None else None
        reader.raise_problems()
        return TranslatedEvent("job", None, (
            f"JobEvent for {namespace}/{name}: a job without a run has no job version for datasets or code "
            f"to attach to; nothing was mapped (send RunEvents for lineage)",))
    else:
        raise OpenLineageRejected(["expected an OpenLineage RunEvent (run and job), DatasetEvent (dataset) "
                                   "or JobEvent (job); the object has none of run, dataset, job"])
    if len(nodes) > MAX_FACTS_PER_EVENT or len(edges) > MAX_FACTS_PER_EVENT:
        reader.problem("inputs/outputs", f"{len(nodes)} nodes; at most {MAX_FACTS_PER_EVENT} per event")
    reader.raise_problems()
    if time is None or not nodes:  # unreachable: whatever is missing was reported as a problem
        raise OpenLineageRejected(["eventTime: required"] if time is None else ["nothing to map"])
    event = {"schema": SCHEMA_VERSION, "id": f"ol-{what}-{_content_hash(data)}", "time": time.isoformat(),
             "source": SOURCE, "nodes": nodes, "edges": edges}
    return TranslatedEvent(kind, event, tuple(reader.notes))


def _run_event(reader: _Reader, data: Json, time: datetime | None) -> tuple[list[Json], list[Json]]:
    run = reader.obj(data, "run", "run", required=True)
    job = reader.obj(data, "job", "job", required=True)
    event_type = data.get("eventType")
    if event_type is not None and (not isinstance(event_type, str) or event_type not in _STATUS):
        reader.problem("eventType", f"expected one of {', '.join(_STATUS)}, got {json.dumps(event_type)}")
        event_type = None
    run_facets = reader.obj(run, "facets", "run.facets") if run else None
    job_facets = reader.obj(job, "facets", "job.facets") if job else None
    this = _job(reader, job, run, "job", "run")
    inputs = _datasets(reader, data, "inputs")
    outputs = _datasets(reader, data, "outputs")
    # Without a valid job the facets are still read, so that every problem is reported at once.
    props: Json = this["props"] if this is not None else {}
    if producer := reader.text(data, "producer", required=False):
        props["producer"] = producer
    if time is not None:
        props["event_time"] = time.isoformat()
        if event_type == "START":
            props["started_at"] = time.isoformat()
        elif event_type in _ENDS:
            props["ended_at"] = time.isoformat()
    if data.get("eventType") is None:
        reader.notes.append("eventType: not given (optional in spec 2-0-2); the job's status is left unchanged")
    elif (status := _STATUS.get(str(event_type))) is not None:
        props["status"] = status
    _job_facet_props(reader, job_facets, run_facets, props)
    commit = _commit(reader, job_facets, props)
    parent = _parent(reader, run_facets)
    if this is None:
        return [], []

    nodes, edges = [this], []
    for dataset in inputs:
        nodes.append(dataset)
        edges.append(_edge(this, dataset, "consumed"))
    for dataset in outputs:
        nodes.append(dataset)
        edges.append(_edge(dataset, this, "produced_by"))
    if commit is not None:
        nodes.append(commit)
        edges.append(_edge(this, commit, "ran_code"))
    if parent is not None:
        if parent["key"] == this["key"]:
            reader.notes.append("run.facets.parent: names the run itself; no part_of edge")
        else:
            nodes.append(parent)
            edges.append(_edge(this, parent, "part_of"))
    return nodes, edges


def _job(reader: _Reader, job: Json | None, run: Json | None, job_at: str, run_at: str) -> Json | None:
    """A run of a job as a ``job`` node, its key checked field by field against the kind's rules."""
    namespace = reader.text(job, f"{job_at}.namespace") if job is not None else None
    name = reader.text(job, f"{job_at}.name") if job is not None else None
    run_id = reader.text(run, f"{run_at}.runId") if run is not None else None
    system = reader.key_field(NodeKind.JOB, "system", namespace, f"{job_at}.namespace")
    job_id = reader.key_field(NodeKind.JOB, "id", run_id, f"{run_at}.runId")
    if system is None or job_id is None or name is None:
        return None
    return {"kind": "job", "key": {"system": system, "id": job_id},
            "props": {"display_name": name, "namespace": namespace}}


def _parent(reader: _Reader, run_facets: Json | None) -> Json | None:
    at = "run.facets.parent"
    facet = reader.facet(run_facets, "parent", at)
    if facet is None:
        return None
    run = reader.obj(facet, "run", f"{at}.run", required=True)
    job = reader.obj(facet, "job", f"{at}.job", required=True)
    return _job(reader, job, run, f"{at}.job", f"{at}.run")


def _datasets(reader: _Reader, data: Json, field: str) -> list[Json]:
    items = data.get(field)
    if items is None:
        return []
    if not isinstance(items, list):
        reader.problem(field, f"expected an array of datasets, got {_type(items)}")
        return []
    found = [_dataset(reader, item, f"{field}[{index}]") for index, item in enumerate(items)]
    return [node for node in found if node is not None]


def _dataset(reader: _Reader, item: object, at: str) -> Json | None:
    if not isinstance(item, dict):
        reader.problem(at, f"expected a dataset object, got {_type(item)}")
        return None
    namespace, name = reader.text(item, f"{at}.namespace"), reader.text(item, f"{at}.name")
    facet = reader.facet(reader.obj(item, "facets", f"{at}.facets"), "version", f"{at}.facets.version")
    raw_version: object = UNVERSIONED
    if facet is not None:
        raw_version = facet.get("datasetVersion")
        if isinstance(raw_version, int) and not isinstance(raw_version, bool):
            raw_version = str(raw_version)  # spec says string; Azure ML versions are often sent as numbers
        if not isinstance(raw_version, str) or not raw_version.strip():
            reader.problem(f"{at}.facets.version.datasetVersion", f"required, a string, got {_type(raw_version)}")
            raw_version = None
    key_name = reader.key_field(NodeKind.DATASET, "name", name, f"{at}.name")
    version = reader.key_field(NodeKind.DATASET, "version", raw_version, f"{at}.facets.version.datasetVersion")
    if key_name is None or version is None or namespace is None:
        return None
    props: Json = {"namespace": namespace}
    if "://" in namespace and name is not None:
        props["uri"] = f"{namespace.rstrip('/')}/{name.lstrip('/')}"
    if facet is None:
        props["version_known"] = False
        reader.notes.append(f"{at} ({namespace} {name}): no version facet; recorded as version "
                            f"{UNVERSIONED!r} (send facets.version.datasetVersion to link the exact version)")
    return {"kind": "dataset", "key": {"name": key_name, "version": version}, "props": props}


def _commit(reader: _Reader, job_facets: Json | None, props: Json) -> Json | None:
    """The commit a sourceCodeLocation facet names, or None (with a note) when it names none."""
    at = "job.facets.sourceCodeLocation"
    facet = reader.facet(job_facets, "sourceCodeLocation", at)
    if facet is None:
        return None
    code = {ours: value.strip() for theirs, ours in _CODE_FIELDS.items()
            if isinstance(value := facet.get(theirs), str) and value.strip()}
    props["source_code"] = code
    if "version" not in code:
        return None
    if code.get("type", "git").lower() != "git":
        reader.notes.append(f"{at}.type: {code['type']!r} is not git; version kept in source_code, no commit")
        return None
    try:
        sha = canonical.git_sha(code["version"])
    except InvalidValue as exc:
        reader.notes.append(f"{at}.version: {exc}; kept in the job's source_code, no ran_code edge")
        return None
    for theirs, ours in (("repoUrl", "repo_url"), ("url", "url")):
        if ours not in code:
            continue
        candidate = code[ours] if ours == "repo_url" else _BROWSE_SUFFIX.sub("", re.split(r"[?#]", code[ours])[0])
        try:
            return {"kind": "commit", "key": {"repo": canonical.repo_url(candidate), "sha": sha}, "props": {}}
        except InvalidValue as exc:
            reader.notes.append(f"{at}.{theirs}: {exc}")
    reader.notes.append(f"{at}: commit {sha[:7]} has no usable repoUrl or url; no ran_code edge")
    return None


def _job_facet_props(reader: _Reader, job_facets: Json | None, run_facets: Json | None, props: Json) -> None:
    """The small facets worth keeping on the job; big ones (SQL, schemas, stack traces) stay out."""
    if job_type := reader.facet(job_facets, "jobType", "job.facets.jobType"):
        for theirs, ours in (("jobType", "type"), ("integration", "integration"),
                             ("processingType", "processing_type")):
            if isinstance(value := job_type.get(theirs), str) and value:
                # Lower case like the Azure ML collector's types ("command", "pipeline").
                props[ours] = value.lower() if ours == "type" else value
    tags: dict[str, str] = {}
    for facets, at in ((job_facets, "job.facets.tags"), (run_facets, "run.facets.tags")):
        facet = reader.facet(facets, "tags", at)
        items = facet.get("tags") if facet else None
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and isinstance(item.get("key"), str) and isinstance(item.get("value"), str):
                tags[item["key"]] = item["value"]
    if tags:
        props["tags"] = tags
    error = reader.facet(run_facets, "errorMessage", "run.facets.errorMessage")
    if error and isinstance(message := error.get("message"), str):
        props["error"] = message[:_MAX_ERROR_CHARS]


def _event_time(reader: _Reader, data: Json) -> datetime | None:
    text = reader.text(data, "eventTime")
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        reader.problem("eventTime", f"expected an ISO 8601 date-time like '2026-11-10T14:50:00Z', got {text!r}")
        return None
    if parsed.tzinfo is None:
        # Spec 2-0-2 asks for an offset, and the store orders reports by this time: guessing UTC
        # could let an older report overwrite a newer one.
        reader.problem("eventTime", f"needs a UTC offset (e.g. 'Z' or '+00:00'), got {text!r}")
        return None
    return parsed


def _edge(source: Json, target: Json, kind: str) -> Json:
    return {"source": {"kind": source["kind"], "key": source["key"]},
            "target": {"kind": target["kind"], "key": target["key"]}, "kind": kind, "evidence": EVIDENCE}


def _content_hash(data: Json) -> str:
    # Sorted keys: the same event is the same text however its sender ordered it.
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


class _Reader(FieldReader):
    """Reads an OpenLineage event, collecting every problem instead of stopping at the first."""

    rejection = OpenLineageRejected

    def facet(self, facets: Json | None, name: str, at: str) -> Json | None:
        facet = self.obj(facets, name, at) if facets is not None else None
        # A facet marked _deleted asks consumers to forget it: treat it as absent.
        return None if facet is None or facet.get("_deleted") is True else facet
