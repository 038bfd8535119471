"""Deployments, their ReplicaSets and pods (API JSON) as one lineage event per deployment revision.

Pure functions, no I/O. A Deployment's revisions are its ReplicaSets (``ownerReferences`` → the
Deployment's uid), numbered by the annotation ``deployment.kubernetes.io/revision``. A revision is
active from its ReplicaSet's ``creationTimestamp`` until the next revision's; the highest has no
end. A rollback re-uses an old ReplicaSet under a new number, so its creation time says nothing
about when it went live: then ``active_from`` is left out (and the previous revision's end with
it) and the report says so, rather than a window that is wrong.

Per revision: ``deployment`` {platform: kubernetes, cluster, namespace, name, revision} with
environment, replicas, env (only the variables named in the config, literal values only: env
values can hold secrets), containers, labels, active_from/active_to, replicaset; ``api``
{service, version} —served_by→ deployment (valid_from/valid_to the revision's window) when a
container sets the API version variable (else the version label); deployment —runs_image→ image
(``observed``: the digests its pods report) and —serves_model→ model (``declared``, from the
model variables).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import datetime

from collectors.event_builder import EventBuilder, Json, id_part, parse_time, utc_text
from graph_schema import canonical
from graph_schema.kinds import NodeKind

SOURCE = "kubernetes"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
_RUNTIME_PREFIX = re.compile(r"^[a-z][a-z0-9+.-]*://")  # docker-pullable://, docker://, containerd://


@dataclass(frozen=True)
class Naming:
    """Where the collector finds versions and names (the config's fields)."""

    cluster: str
    env_api_version: str = "API_VERSION"
    env_model_version: str = "MODEL_VERSION"
    model_name_env: str = "MODEL_NAME"
    service_label: str = "app.kubernetes.io/name"
    version_label: str = "app.kubernetes.io/version"
    environment_label: str | None = None
    record_env: tuple[str, ...] = ()

    @property
    def recorded(self) -> tuple[str, ...]:
        return (self.env_api_version, self.env_model_version, self.model_name_env, *self.record_env)


@dataclass(frozen=True)
class Running:
    """What a container's status says it runs."""

    digest: str | None  # the registry digest of ``repository@sha256:…``
    repository: str | None
    image_id: str  # as reported, without the runtime's scheme


def parse_image_id(value: str) -> Running:
    """``status.containerStatuses[].imageID``: ``docker-pullable://ghcr.io/org/api@sha256:…`` (Docker),
    ``ghcr.io/org/api@sha256:…`` (containerd, CRI-O), or an image id without a repository
    (``docker://sha256:…``, a locally built image): that is the image's config digest, not a
    registry manifest digest, so it names no image in a registry and gives no digest here."""
    text = _RUNTIME_PREFIX.sub("", value.strip())
    if "@" not in text:
        return Running(None, None, text)
    try:
        reference = canonical.image_reference(text)
    except canonical.InvalidValue:
        return Running(None, None, text)
    return Running(reference.digest, reference.name, text)


@dataclass
class Revision:
    deployment: Json
    replica_set: Json
    number: int
    active_from: datetime | None = None
    active_to: datetime | None = None
    pods: list[Json] = field(default_factory=list)


def owned_by(item: Json, uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in (item.get("metadata") or {}).get("ownerReferences") or [])


def revisions(deployment: Json, replica_sets: list[Json], pods: list[Json], warn: list[str]) -> list[Revision]:
    """The deployment's revisions, oldest first, with their windows and pods."""
    meta = deployment.get("metadata") or {}
    found: list[Revision] = []
    for replica_set in replica_sets:
        if not owned_by(replica_set, str(meta.get("uid"))):
            continue
        annotations = (replica_set.get("metadata") or {}).get("annotations") or {}
        number = str(annotations.get(REVISION) or "")
        if number.isdigit():
            uid = str((replica_set.get("metadata") or {}).get("uid"))
            found.append(Revision(deployment, replica_set, int(number),
                                  parse_time((replica_set.get("metadata") or {}).get("creationTimestamp")),
                                  pods=[pod for pod in pods if owned_by(pod, uid)]))
    found.sort(key=lambda revision: revision.number)
    for earlier, later in itertools.pairwise(found):
        if later.active_from and earlier.active_from and later.active_from < earlier.active_from:
            warn.append(f"{meta.get('namespace')}/{meta.get('name')} revision {later.number} re-uses an older "
                        f"ReplicaSet (a rollback): when it went live is not known")
            later.active_from = None
        earlier.active_to = later.active_from
    return found


def _labels(item: Json) -> dict[str, str]:
    labels = (item.get("metadata") or {}).get("labels") or {}
    return {str(k): str(v) for k, v in labels.items()}


def _containers(replica_set: Json) -> list[Json]:
    spec = ((replica_set.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [c for c in spec.get("containers") or [] if isinstance(c, dict)]


def _env(containers: list[Json], naming: Naming, where: str, warn: list[str]) -> dict[str, str]:
    """The recorded variables, literal values only, the first container that sets one winning."""
    found: dict[str, str] = {}
    for container in containers:
        for variable in container.get("env") or []:
            name = variable.get("name")
            if name not in naming.recorded or name in found:
                continue
            if isinstance(variable.get("value"), str):
                found[name] = variable["value"]
            elif variable.get("valueFrom") and name in (naming.env_api_version, naming.env_model_version):
                source = next(iter(variable["valueFrom"]), "valueFrom")
                warn.append(f"{where}: {name} comes from {source}, which is not read; set it as a value")
    return found


def revision_event(revision: Revision, naming: Naming, warn: list[str]) -> Json:
    deployment, replica_set = revision.deployment, revision.replica_set
    meta = deployment.get("metadata") or {}
    namespace, name = str(meta.get("namespace")), str(meta.get("name"))
    where = f"{namespace}/{name}#{revision.number}"
    template = _labels((replica_set.get("spec") or {}).get("template") or {})
    labels = {**_labels(deployment), **template}
    containers = _containers(replica_set)
    env = _env(containers, naming, where, warn)
    active_from, active_to = utc_text(revision.active_from), utc_text(revision.active_to)
    environment = labels.get(naming.environment_label or "") or namespace
    builder = EventBuilder()
    key = {"platform": "kubernetes", "cluster": naming.cluster, "namespace": namespace, "name": name,
           "revision": str(revision.number)}
    found = [_container(revision, container, where, warn) for container in containers]
    # What the deployment node says of its containers; pulled-from repositories go into image aliases.
    shown = [{k: v for k, v in c.items() if k != "repositories" and v is not None} for c in found]
    deploy = builder.node(NodeKind.DEPLOYMENT, key, {
        "environment": environment, "replicas": (replica_set.get("spec") or {}).get("replicas"),
        "active_from": active_from, "active_to": active_to, "env": env, "containers": shown,
        "labels": {k: v for k, v in template.items() if k != "pod-template-hash"} or None,
        "replicaset": (replica_set.get("metadata") or {}).get("name"),
        "revision_history": ((replica_set.get("metadata") or {}).get("annotations") or {}).get(REVISION_HISTORY)},
        # The live revision says it is live: a deployment deleted and created again under the same name
        # starts again at revision 1, whose node must not keep the old one's end.
        clear=("active_to", "deleted") if revision.active_to is None else ())
    for target, evidence, props in builder_images(builder, found):
        builder.edge(deploy, target, "runs_image", evidence, props)
    version, via = env.get(naming.env_api_version), f"env {naming.env_api_version}"
    if version is None and naming.version_label in labels:
        version, via = labels[naming.version_label], f"label {naming.version_label}"
    if version:
        service = labels.get(naming.service_label) or name
        api = builder.node(NodeKind.API, {"service": service, "version": version})
        builder.edge(api, deploy, "served_by", "observed", {"via": via}, active_from, active_to)
    model = _model(env, naming)
    if model:
        builder.edge(deploy, builder.node(NodeKind.MODEL, {"name": model[0], "version": model[1]}), "serves_model",
                     "declared", {"env_var": naming.env_model_version})
    elif env.get(naming.env_model_version):
        warn.append(f"{where}: {naming.env_model_version}={env[naming.env_model_version]!r} names no model "
                    f"(set {naming.model_name_env}, or name:version); no model link")
    moments = [revision.active_from, revision.active_to, *(parse_time((p.get("status") or {}).get("startTime"))
                                                           for p in revision.pods)]
    time = utc_text(max((m for m in moments if m), default=None)) or ""
    prefix = f"k8s-{id_part(naming.cluster, 40)}-{id_part(namespace, 40)}-{id_part(name, 60)}-{revision.number}"
    return builder.event(prefix, time, SOURCE)


def _container(revision: Revision, container: Json, where: str, warn: list[str]) -> Json:
    """The container as the spec names its image, with the digests its pods run."""
    reference = str(container.get("image") or "")
    name = str(container.get("name") or "")
    running: dict[str, Running] = {}
    pods: dict[str, int] = {}
    for pod in revision.pods:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            if status.get("name") == name and status.get("imageID"):
                seen = parse_image_id(str(status["imageID"]))
                running.setdefault(seen.digest or seen.image_id, seen)
                pods[seen.digest or seen.image_id] = pods.get(seen.digest or seen.image_id, 0) + 1
    try:
        spec: canonical.ImageReference | None = canonical.image_reference(reference)
    except canonical.InvalidValue:
        spec = None
    digests = sorted(d for d, seen in running.items() if seen.digest)
    if len(digests) > 1:
        warn.append(f"{where}: pods of container {name} run {len(digests)} different digests of {reference} "
                    f"(a tag that moved between pulls)")
    if spec and spec.digest and digests and spec.digest not in digests:
        warn.append(f"{where}: container {name} runs {digests[0][:19]} while its spec pins {spec.digest[:19]} "
                    f"(a multi-arch index and the platform manifest the node pulled, or a copy in another "
                    f"registry); both are recorded")
    if not digests and not (spec and spec.digest):
        local = [i for i, seen in running.items() if not seen.digest]
        why = (f"its pods report only a local image id ({local[0][:19]})" if local
               else "no running pod reports a digest")
        warn.append(f"{where}: container {name} names only a tag ({reference}) and {why}; no image link")
    repositories = {d: sorted({seen.repository} if seen.repository else set()) for d, seen in running.items()}
    return {"name": name, "image": reference, "digests": digests or None, "pods": pods or None,
            "repositories": repositories,
            "spec_digest": spec.digest if spec else None,
            "tag_reference": f"{spec.name}:{spec.tag}" if spec and spec.tag else None,
            "image_ids": sorted(i for i, seen in running.items() if not seen.digest) or None}


def builder_images(builder: EventBuilder, shown: list[Json]) -> list[tuple[Json, str, Json]]:
    """Image nodes and the runs_image edge props of each container.

    The digests the pods report are ``observed``, with the alias ``repository@digest`` they were
    pulled as. A digest the spec pins that no pod reports is ``declared`` (what the spec asks for).
    The tag the spec names goes on the pinned digest when there is one, else on what the pods run,
    so that ``image ghcr.io/org/api:v1.2.3`` finds what the cluster runs under that name.
    """
    links: list[tuple[Json, str, Json]] = []
    for container in shown:
        tag = [container["tag_reference"]] if container["tag_reference"] else []
        pinned = container["spec_digest"]
        for digest in container["digests"] or []:
            pulled = [f"{repository}@{digest}" for repository in container["repositories"].get(digest, [])]
            image = builder.node(NodeKind.IMAGE, {"digest": digest}, None, pulled + (tag if not pinned else []))
            links.append((image, "observed", {"container": container["name"], "reference": container["image"],
                                              "pods": container["pods"][digest], "spec_digest": pinned}))
        if pinned:
            image = builder.node(NodeKind.IMAGE, {"digest": pinned}, None, tag)
            if pinned not in (container["digests"] or []):
                links.append((image, "declared", {"container": container["name"], "reference": container["image"],
                                                  "role": "spec"}))
    return links


def _model(env: dict[str, str], naming: Naming) -> tuple[str, str] | None:
    version = env.get(naming.env_model_version, "").strip()
    if not version:
        return None
    name = env.get(naming.model_name_env, "").strip()
    if not name and ":" in version:  # MODEL_VERSION=taxi-model:3
        name, _, version = version.rpartition(":")
    return (name, version) if name and version else None

