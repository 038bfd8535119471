"""Azure ML entities → lineage events: pure functions of ``azure.ai.ml.entities`` objects.

No client and no network here: the collector (``collectors.azureml``) reads the workspace and
hands the entities to these functions, and tests hand them entities they built. What maps to what:

- a **job** (``Command``/``CommandJob``, ``PipelineJob``, sweeps…) is ``job {system: azureml, id:
  <job name>}`` with its type, display name, experiment, status, compute, tags, properties, URL,
  literal parameters and the inputs/outputs it declared. A pipeline's steps (its child jobs) are
  jobs of their own, ``part_of`` → the pipeline, all in the pipeline's event;
- ``azureml.git.commit`` + ``azureml.git.repository_uri`` (or their ``mlflow.source.git.*``
  twins) → ``ran_code`` → ``commit`` → ``in_repo`` → ``repo``; ``azureml.git.dirty=True`` sets
  ``dirty: true`` on the job and is a warning, since the commit is then not exactly the code;
- an input naming a **data asset** → ``consumed`` → ``dataset {name, version}`` (prop ``input``);
  a label (``@latest``) is resolved by the caller's ``Resolver`` and the edge records
  ``requested_as``. A step input bound to the pipeline's input (``${{parent.inputs.x}}``) consumes
  what that input resolved to; one bound to a sibling's output consumes the data asset that
  output was registered as, if any. An output registered as a named, versioned asset →
  ``dataset`` ``produced_by`` → the step that wrote it (or the job);
- a **data asset version** → ``dataset`` with ``uri``, ``type``, ``tags``, ``created``;
- a **model version** → ``model`` with ``type``, ``tags``, ``stage``, ``registered_at``, and
  ``produced_by`` → the job named by ``model.job_name``.

Every link is ``observed`` (read from the workspace). Events are self-contained (every edge end
is declared) and their ids hash their content, so reading an unchanged workspace again yields
duplicates, and a job whose status changed a new report of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from collectors.azureml_refs import AssetRef, GitInfo, asset_ref, git_info
from collectors.azureml_values import (
    EventBuilder,
    Mapped,
    Port,
    Workspace,
    as_text,
    context_time,
    created_at,
    dataset_key,
    job_ref,
    plain,
    ports,
)

if TYPE_CHECKING:
    from azure.ai.ml.entities import Data, Job, Model

Json = dict[str, Any]
# Job states after which nothing about a job changes any more (Azure ML's JobStatus values).
TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Canceled", "NotResponding"})
_MODEL_TYPES = frozenset({"mlflow_model", "custom_model", "triton_model"})
_PARENT_INPUT = re.compile(r"\$\{\{\s*parent\.inputs\.([\w.-]+)\s*\}\}")
_PARENT_OUTPUT = re.compile(r"\$\{\{\s*parent\.outputs\.([\w.-]+)\s*\}\}")
_SIBLING_OUTPUT = re.compile(r"\$\{\{\s*parent\.jobs\.([\w.-]+)\.outputs\.([\w.-]+)\s*\}\}")


@dataclass(frozen=True)
class Resolution:
    """What a label (``latest``) stood for: a version, and how that was decided."""

    version: str
    how: str  # "as of the job's creation" (from version creation times) or "at collection"


# (asset name, label, the job's creation time) -> the version, or None when it cannot be told.
Resolver = Callable[[str, str, "datetime | None"], "Resolution | None"]


class _JobMapper:
    """One top-level job and its steps, into one event."""

    def __init__(self, workspace: Workspace, resolve: Resolver) -> None:
        self.builder = EventBuilder(workspace)
        self.workspace = workspace
        self.resolve = resolve
        self.warnings: list[str] = []

    def job(self, job: Job, extra: Json | None = None) -> Json:
        git = git_info(job.properties)
        inputs, outputs = ports(getattr(job, "inputs", None)), ports(getattr(job, "outputs", None))
        props: Json = {
            "type": job.type, "display_name": job.display_name, "experiment": job.experiment_name,
            "status": job.status, "workspace": self.workspace.name, "compute": _compute(job.compute),
            "created_at": context_time(job, "created_at"), "url": job.studio_url,
            "tags": plain(job.tags), "properties": plain(job.properties), "dirty": True if git.dirty else None,
            "git_branch": git.branch,
            "parameters": {p.name: p.literal for p in inputs if p.literal is not None} or None,
            "inputs": {p.name: p.shown() for p in inputs if p.literal is None} or None,
            "outputs": {p.name: p.shown() for p in outputs} or None, **(extra or {})}
        ref = self.builder.node("job", job_ref(str(job.name))["key"], props)
        self._code(ref, str(job.name), git)
        return ref

    def _code(self, job: Json, name: str, git: GitInfo) -> None:
        for problem in git.problems:
            self.warnings.append(f"job {name}: {problem}")
        if git.dirty:
            short = f" {git.sha[:7]}" if git.sha else ""
            self.warnings.append(f"job {name} ran from a dirty working tree (azureml.git.dirty=True): its code is "
                                 f"not exactly commit{short}")
        if git.sha and git.repo:
            commit = self.builder.node("commit", {"repo": git.repo, "sha": git.sha})
            self.builder.edge(job, commit, "ran_code", dirty=True if git.dirty else None)
            self.builder.edge(commit, self.builder.node("repo", {"url": git.repo}), "in_repo")

    def consume(self, job: Json, name: str, port: Port, as_of: datetime | None) -> Json | None:
        """Link ``job`` to the data asset ``port`` names; returns the dataset ref, or None."""
        ref = asset_ref(port.path)
        if ref is None or ref.kind in ("model", "environment") or (port.type or "") in _MODEL_TYPES:
            return None
        version, how = self._version(name, ref, as_of)
        if version is None:
            return None
        dataset = self.builder.node("dataset", dataset_key(ref.name, version))
        self.builder.edge(job, dataset, "consumed", input=port.name, requested_as=ref.label, resolved=how)
        return dataset

    def _version(self, job: str, ref: AssetRef, as_of: datetime | None) -> tuple[str | None, str | None]:
        if ref.version:
            return ref.version, None
        label = ref.label or "latest"
        resolution = self.resolve(ref.name, label, as_of)
        if resolution is None:
            self.warnings.append(f"job {job}: cannot tell which version of {ref} it read (no such asset or label "
                                 f"in the workspace); the input is kept on the job only")
            return None, None
        return resolution.version, resolution.how

    def produce(self, producer: Json, port: Port) -> Json | None:
        if not (port.asset_name and port.asset_version) or (port.type or "") in _MODEL_TYPES:
            return None  # not registered as a named asset, or a version Azure ML assigns later
        dataset = self.builder.node("dataset", dataset_key(port.asset_name, port.asset_version))
        self.builder.edge(dataset, producer, "produced_by", output=port.name)
        return dataset


def job_event(job: Job, steps: Sequence[Job], workspace: Workspace, resolve: Resolver, time: str) -> Mapped:
    """A top-level job and, for a pipeline, its steps (the child jobs ``jobs.list(parent_job_name=…)`` gives)."""
    mapper = _JobMapper(workspace, resolve)
    name, as_of = str(job.name), created_at(job)
    top = mapper.job(job)
    consumed: dict[str, Json] = {}
    for port in ports(getattr(job, "inputs", None)):
        dataset = mapper.consume(top, name, port, as_of)
        if dataset is not None:
            consumed[port.name] = dataset
    nodes = _pipeline_nodes(job)
    by_step = _match_steps(steps, nodes)
    produced_by_step = {m.group(1) for n in nodes.values() for p in ports(getattr(n, "outputs", None))
                        if p.path and (m := _PARENT_OUTPUT.fullmatch(p.path))}
    outputs = {port.name: port for port in ports(getattr(job, "outputs", None))}
    for port in outputs.values():
        if port.name not in produced_by_step:
            mapper.produce(top, port)
    for child in steps:
        node_name = by_step.get(str(child.name))
        node = nodes.get(node_name) if node_name else None
        # A child job as run history lists it has no type of its own ("base") and names its
        # experiment by id: the pipeline's node and the pipeline say it better.
        node_type = getattr(node, "type", None)
        step = mapper.job(child, {"pipeline": name, "step": node_name, "experiment": job.experiment_name,
                                  "type": node_type if isinstance(node_type, str) else None})
        mapper.builder.edge(step, top, "part_of")
        if node is not None:
            _step_ports(mapper, step, str(child.name), node, nodes, consumed, outputs, as_of)
    return Mapped(mapper.builder.build("job", name, time), mapper.warnings)


def _step_ports(mapper: _JobMapper, step: Json, child: str, node: object, nodes: Mapping[str, object],
                consumed: Mapping[str, Json], outputs: Mapping[str, Port], as_of: datetime | None) -> None:
    """A step's inputs and outputs, through the pipeline's bindings to its own inputs and outputs."""
    inputs, outputs_of_step = ports(getattr(node, "inputs", None)), ports(getattr(node, "outputs", None))
    mapper.builder.node("job", step["key"], {"inputs": {p.name: p.shown() for p in inputs if p.literal is None},
                                             "parameters": {p.name: p.literal for p in inputs if p.literal is not None},
                                             "outputs": {p.name: p.shown() for p in outputs_of_step}})
    for port in inputs:
        binding = port.binding or ""
        if parent := _PARENT_INPUT.fullmatch(binding):
            source = consumed.get(parent.group(1))
            if source is not None:
                mapper.builder.edge(step, source, "consumed", input=port.name,
                                    **_edge_props(mapper, source, parent.group(1)))
        elif sibling := _SIBLING_OUTPUT.fullmatch(binding):
            registered = _sibling_asset(nodes.get(sibling.group(1)), sibling.group(2), outputs)
            if registered is not None:
                dataset = mapper.builder.node("dataset", dataset_key(*registered))
                mapper.builder.edge(step, dataset, "consumed", input=port.name)
        elif not binding:
            mapper.consume(step, child, port, as_of)
    for port in outputs_of_step:
        if port.path and (bound := _PARENT_OUTPUT.fullmatch(port.path)) and bound.group(1) in outputs:
            mapper.produce(step, Port(port.name, type=outputs[bound.group(1)].type,
                                      asset_name=outputs[bound.group(1)].asset_name,
                                      asset_version=outputs[bound.group(1)].asset_version))
        else:
            mapper.produce(step, port)


def _edge_props(mapper: _JobMapper, dataset: Json, parent_input: str) -> Json:
    """A step bound to a pipeline input asked for it as the pipeline did (``requested_as``)."""
    for edge in mapper.builder.edges:
        if edge["target"] == dataset and edge["kind"] == "consumed" and edge.get("props", {}).get("input") == (
                parent_input):
            return {k: v for k, v in edge["props"].items() if k in ("requested_as", "resolved")}
    return {}


def _sibling_asset(node: object, output: str, outputs: Mapping[str, Port]) -> tuple[str, str] | None:
    for port in ports(getattr(node, "outputs", None)):
        if port.name != output:
            continue
        if port.path and (bound := _PARENT_OUTPUT.fullmatch(port.path)):
            port = outputs.get(bound.group(1), port)
        if port.asset_name and port.asset_version and (port.type or "") not in _MODEL_TYPES:
            return port.asset_name, port.asset_version
    return None


def _pipeline_nodes(job: Job) -> dict[str, object]:
    nodes = getattr(job, "jobs", None)
    return {str(name): node for name, node in nodes.items()} if isinstance(nodes, Mapping) else {}


def _match_steps(steps: Iterable[Job], nodes: Mapping[str, object]) -> dict[str, str]:
    """Child job name → the pipeline node it ran. A child's display name is its node's display name,
    which defaults to the node's name; the child job's own name is a generated id."""
    by_display = {str(getattr(node, "display_name", None) or name): name for name, node in nodes.items()}
    found = {}
    for child in steps:
        shown = str(child.display_name or "")
        match = shown if shown in nodes else by_display.get(shown)
        if match:
            found[str(child.name)] = match
    return found


def _compute(value: object) -> str | None:
    """``azureml:cpu-cluster`` or an ARM id → ``cpu-cluster``."""
    if not isinstance(value, str) or not value:
        return None
    return value.rstrip("/").rsplit("/", 1)[-1].removeprefix("azureml:")


def data_event(versions: Sequence[Data], workspace: Workspace, time: str) -> Mapped:
    """Versions of data assets (one name or several) as ``dataset`` nodes."""
    builder = EventBuilder(workspace)
    for data in versions:
        builder.node("dataset", dataset_key(str(data.name), str(data.version)), {
            "uri": as_text(data.path), "type": data.type, "description": data.description, "tags": plain(data.tags),
            "created": context_time(data, "created_at"), "workspace": workspace.name})
    names = sorted({str(data.name) for data in versions})
    subject = names[0] if len(names) == 1 else f"{len(names)}-assets"
    return Mapped(builder.build("data", subject, time))


def model_event(model: Model, workspace: Workspace, time: str) -> Mapped:
    """One registered model version, ``produced_by`` the job that logged it."""
    builder = EventBuilder(workspace)
    key = {"name": str(model.name), "version": str(model.version)}
    ref = builder.node("model", key, {
        "type": model.type, "path": as_text(model.path), "description": model.description, "stage": model.stage,
        "tags": plain(model.tags), "properties": plain(model.properties),
        "registered_at": context_time(model, "created_at"), "workspace": workspace.name,
        "job": model.job_name})
    if model.job_name:
        builder.edge(ref, builder.node("job", job_ref(str(model.job_name))["key"]), "produced_by")
    return Mapped(builder.build("model", f"{model.name}-{model.version}", time))


class DataCatalog:
    """Data asset versions and their creation times: what ``@latest`` meant when a job was created.

    Azure ML's ``latest`` is the most recently *created* version, so the answer for a job is the
    newest version created before the job; without the job's time, the newest one now.
    """

    def __init__(self) -> None:
        self._versions: dict[str, list[tuple[datetime, str]]] = {}

    def add(self, name: str, versions: Iterable[Data]) -> None:
        dated = self._versions.setdefault(name, [])
        dated += [(when, str(data.version)) for data in versions if (when := created_at(data)) is not None]

    def knows(self, name: str) -> bool:
        return name in self._versions

    def resolve(self, name: str, label: str, as_of: datetime | None) -> Resolution | None:
        if label != "latest":
            return None  # other labels are not tied to creation times; the workspace must say
        dated = [(when, version) for when, version in self._versions.get(name, []) if as_of is None or when <= as_of]
        if not dated:
            return None
        return Resolution(max(dated)[1], "as of the job's creation" if as_of else "at collection")
