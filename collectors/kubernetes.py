"""The Kubernetes collector: which API version, image digest and model each deployment revision ran.

Per namespace (``namespaces``; empty: every namespace, with one cluster-wide list of each kind) it
lists Deployments, ReplicaSets and Pods, and emits one event per deployment revision, as
``collectors.kubernetes_map`` describes: the deployment node, api —served_by→ deployment over the
revision's window, deployment —runs_image→ the digests its pods run, deployment —serves_model→ the
model its environment names. The kubeconfig (or, in a pod, the service account) says how to connect;
``cluster`` names the cluster in deployment keys, by default the kubeconfig context's cluster.

**The digest trap.** One image has several digests: CI pushes a multi-arch *index* (its digest is
what ``docker buildx`` prints and what the registry collector and GitHub packages see), a node
pulls the *platform manifest* for its architecture, and a copy in another registry (ACR, a
mirror) may be re-encoded with yet another digest. What ``status.containerStatuses[].imageID``
reports depends on the runtime (Docker: ``docker-pullable://repo@<digest it resolved>``,
containerd and CRI-O: ``repo@<digest>``, usually the digest the reference resolved to, which is the
index for a multi-arch tag, but not always). So the collector records what the cluster says it runs
as ``observed`` (the image node keyed by that digest, with the alias ``repo@digest`` it was pulled
as), and keeps the spec's reference too: a digest the spec pins is a second, ``declared``
runs_image link when it differs from the running one (with a warning), the spec's tag is an alias
(``ghcr.io/org/api:v1.2.3``) of the pinned digest or else of the running one, and both digests stay
in the deployment's ``containers`` prop (``digests``, ``spec_digest``). The link from a platform
manifest to the index CI built needs the registry (its index lists its manifests; the registry
collector records each platform manifest as an image with ``in_index``): until then trace stops at
the running image, and the alias and props say where to look. A runtime
that reports only a local image id (``docker://sha256:…``, an image built on the node) gives no
registry digest at all: recorded in ``image_ids``, with a warning.

**Cursor: a hash of what was seen, not resourceVersions.** Without a watch there is no "what
changed since": a list's ``resourceVersion`` is the store's revision at list time, which moves with
every write of any object of the kind (a pod's status, a lease), so it never says "unchanged", and
a watch resumed from it expires within minutes (410 Gone) on a schedule of hours. An object's own
resourceVersion would say "this object changed", but a pod that restarted and pulled a moved tag
changes no Deployment. So every run reads the three lists (three requests per namespace, in
chunks), and the cursor keeps, per deployment revision, the id of the event last emitted for it:
ids hash the event's content, so an unchanged revision is skipped without emitting, and a
revision that changed (pods now run another digest, it was superseded and got ``active_to``) is
emitted again. The cursor also remembers each deployment's live revision and API release, so a
deployment that disappears from a namespace that was read is closed (``active_to``, and
``valid_to`` on its served_by link) at the time of the run that no longer saw it.

One unreadable namespace (403: the service account may not list there) is a failure in the report
and keeps its cursor; the others go on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field, field_validator

from collectors.base import Collector, CollectorConfig, CollectorError, Event
from collectors.event_builder import EventBuilder, Json, id_part, utc_text
from collectors.kubernetes_map import Naming, revision_event, revisions
from graph_schema import canonical
from graph_schema.kinds import NodeKind

if TYPE_CHECKING:
    from collectors.kubernetes_api import Reader

CURSOR_VERSION = 1


@dataclass
class Listing:
    """One read: deployments by namespace and name, and the ReplicaSets and pods beside them."""

    deployments: dict[str, dict[str, Json]]
    replica_sets: list[Json]
    pods: list[Json]


class KubernetesConfig(CollectorConfig):
    kubeconfig: Path | None = Field(None, description="A kubeconfig file; default $KUBECONFIG or ~/.kube/config, "
                                                      "or the service account when running in a pod.")
    context: str | None = Field(None, description="The kubeconfig context; default its current context.")
    cluster: str | None = Field(None, description="The cluster's name in deployment keys; default the context's "
                                                  "cluster. Required in a pod.")
    namespaces: list[str] = Field(default_factory=list, description="Namespaces to read; empty: all of them.")
    label_selector: str | None = Field(None, description="Only deployments with these labels (app=taxi-api).")
    env_api_version: str = "API_VERSION"
    env_model_version: str = "MODEL_VERSION"
    model_name_env: str = "MODEL_NAME"
    service_label: str = "app.kubernetes.io/name"
    version_label: str = "app.kubernetes.io/version"
    environment_label: str | None = Field(None, description="A label naming the environment; default the namespace.")
    record_env: list[str] = Field(default_factory=list, description="More variables to record (literal values).")
    chunk_size: int = Field(500, ge=1, le=5000, description="Items per list request (limit/continue).")
    timeout: int = Field(30, ge=1, le=600)

    @field_validator("namespaces")
    @classmethod
    def _namespaces(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(canonical.name(item, "namespace") for item in value))

    @field_validator("cluster")
    @classmethod
    def _cluster(cls, value: str | None) -> str | None:
        return canonical.name(value, "cluster name") if value is not None else None


class KubernetesCollector(Collector[KubernetesConfig]):
    """Deployment revisions of a Kubernetes cluster: API versions, running digests, models."""

    name: ClassVar[str] = "kubernetes"
    config_class: ClassVar[type[CollectorConfig]] = KubernetesConfig
    requires: ClassVar[tuple[str, ...]] = ("kubernetes",)
    install_hint: ClassVar[str] = "pip install 'lineage-service[k8s]'"

    def __init__(self, config: KubernetesConfig, instance: str | None = None) -> None:
        super().__init__(config, instance)
        self.clock: Callable[[], float] = time.time  # the time a deletion is recorded at; injectable

    def collect(self, cursor: str | None) -> Iterator[Event]:
        from collectors.kubernetes_api import KubeError, Reader, connect

        config = self.config
        try:
            connection = connect(config.kubeconfig, config.context)
        except KubeError as exc:
            raise CollectorError(f"{exc.message}; point kubeconfig (--kubeconfig) and context at the cluster") from None
        cluster = config.cluster or connection.cluster
        if not cluster:
            raise CollectorError(f"the cluster's name is not known ({connection.where}); set cluster (--cluster): "
                                 f"deployments are keyed by it")
        naming = Naming(cluster, config.env_api_version, config.env_model_version, config.model_name_env,
                        config.service_label, config.version_label, config.environment_label, tuple(config.record_env))
        old = self._previous(cursor, cluster)
        state: dict[str, Json] = dict(old)
        reader = Reader(connection, config.timeout, config.chunk_size)
        try:
            targets: list[str | None] = [*config.namespaces] or [None]
            for namespace in targets:
                try:
                    read = self._read(reader, namespace)
                except KubeError as exc:
                    if exc.status == 401:
                        raise CollectorError(f"the API server rejected the credentials of {connection.where} (401 "
                                             f"{exc.message}); renew them (kubectl get ns checks them)") from None
                    if exc.status is None:  # not reached at all: no namespace can be read
                        raise CollectorError(f"{exc.message} ({connection.where})") from None
                    if namespace is None:
                        raise CollectorError(f"cannot list deployments, replicasets and pods cluster-wide on {cluster}"
                                             f" ({exc}); name the namespaces to read (--namespace)") from None
                    self.report.fail(f"namespace {namespace}", _explain(exc))
                    continue
                # Cluster-wide, a namespace that held deployments last time and none now is read too.
                names = [namespace] if namespace else sorted(set(read.deployments) | set(old))
                for name in names:
                    yield from self._namespace(name, read, old.get(name) or {}, naming, state)
        finally:
            connection.close()
        self.cursor = json.dumps({"v": CURSOR_VERSION, "cluster": cluster, "selector": config.label_selector,
                                  "namespaces": {k: v for k, v in state.items() if v}}, sort_keys=True)

    def _read(self, reader: Reader, namespace: str | None) -> Listing:
        deployments = reader.deployments(namespace, self.config.label_selector)
        # ReplicaSets and pods only where there are deployments to read them for.
        listing = Listing({}, reader.replica_sets(namespace) if deployments else [],
                          reader.pods(namespace) if deployments else [])
        for deployment in deployments:
            meta = deployment.get("metadata") or {}
            listing.deployments.setdefault(str(meta.get("namespace")), {})[str(meta.get("name"))] = deployment
        self.report.seen += len(deployments)
        return listing

    def _namespace(self, namespace: str, listing: Listing, before: Json, naming: Naming,
                   state: dict[str, Json]) -> Iterator[Event]:
        now: Json = {}
        for name, deployment in sorted(listing.deployments.get(namespace, {}).items()):
            pending: list[str] = []  # about the deployment: reported with its first emitted revision
            found = revisions(deployment, listing.replica_sets, listing.pods, pending)
            seen: Json = {"revisions": {}, "live": None}
            for revision in found:
                warnings: list[str] = []
                try:
                    event = revision_event(revision, naming, warnings)
                except canonical.InvalidValue as exc:
                    self.report.fail(f"deployment {namespace}/{name}#{revision.number}", str(exc))
                    continue
                seen["revisions"][str(revision.number)] = event["id"]
                if revision is found[-1]:
                    seen["live"] = _live(event, revision.number)
                if (before.get(name) or {}).get("revisions", {}).get(str(revision.number)) == event["id"]:
                    self.report.skipped += 1  # emitted before, unchanged since (its warnings were reported then)
                    continue
                self.report.warnings.extend(pending + warnings)
                pending = []
                yield self._emitted(event)
            now[name] = seen
        for name in sorted(set(before) - set(now)):
            yield from self._deleted(naming, namespace, name, before[name])
        state[namespace] = now

    def _deleted(self, naming: Naming, namespace: str, name: str, before: Json) -> Iterator[Event]:
        """A deployment seen last time and gone now: its live revision ended when this run noticed."""
        live = before.get("live")
        if not live:
            return
        ended = utc_text(datetime.fromtimestamp(self.clock(), UTC)) or ""
        builder = EventBuilder()
        key = {"platform": "kubernetes", "cluster": naming.cluster, "namespace": namespace, "name": name,
               "revision": live["revision"]}
        deploy = builder.node(NodeKind.DEPLOYMENT, key, {"active_to": ended, "deleted": True})
        if live.get("api"):
            service, version = live["api"]
            api = builder.node(NodeKind.API, {"service": service, "version": version})
            # Props merge: a new key, so that the link's "via" (how its version was read) stays.
            builder.edge(api, deploy, "served_by", "observed", {"ended_by": "deployment deleted"}, valid_to=ended)
        self.report.warnings.append(f"{namespace}/{name} is gone; its revision {live['revision']} ended at {ended}")
        prefix = f"k8s-{id_part(naming.cluster, 40)}-{id_part(namespace, 40)}-{id_part(name, 60)}-deleted"
        yield self._emitted(builder.event(prefix, ended, "kubernetes"))

    def _emitted(self, event: Event) -> Event:
        if not event["time"]:  # nothing in the revision carries a time: when it was read
            event["time"] = utc_text(datetime.fromtimestamp(self.clock(), UTC))
        self.report.emitted += 1
        return event

    def _previous(self, cursor: str | None, cluster: str) -> dict[str, Json]:
        if cursor is None:
            return {}
        try:
            data = json.loads(cursor)
            if data.get("v") != CURSOR_VERSION:
                raise ValueError("another version")
            if (data.get("cluster"), data.get("selector")) != (cluster, self.config.label_selector):
                self.report.warnings.append(
                    f"the saved cursor is for cluster {data.get('cluster')} (selector {data.get('selector')}), not "
                    f"{cluster} (selector {self.config.label_selector}); reading everything as new")
                return {}
            return {str(k): dict(v) for k, v in data["namespaces"].items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            self.report.warnings.append("the saved cursor is not a Kubernetes collector cursor; reading everything")
            return {}


def _live(event: Event, number: int) -> Json:
    """What closing the revision later needs: its number and the API release it serves."""
    api = next((n["key"] for n in event["nodes"] if n["kind"] == "api"), None)
    return {"revision": str(number), "api": [api["service"], api["version"]] if api else None}


def _explain(exc: object) -> str:
    status = getattr(exc, "status", None)
    if status == 403:
        return (f"forbidden (403): {getattr(exc, 'message', exc)}; the account needs get/list on deployments and "
                f"replicasets (apps) and pods in this namespace")
    if status == 404:
        return f"not found (404): {getattr(exc, 'message', exc)}"
    return str(exc)
