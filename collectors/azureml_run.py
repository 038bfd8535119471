"""One run of the Azure ML collector: what to read given the cursor, in which order, and the next cursor.

Imported by ``AzureMLCollector.collect`` only, so the SDK loads when a run starts. Every SDK call
goes through ``collector.guarded`` or ``iter_guarded``: a failure of one item is a failure in the
report, a failure of the whole source (no credential, no access) a ``CollectorError``.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import ResourceNotFoundError

from collectors.azureml import AzureMLCollector, Pager, cursor_json, raise_if_fatal, short, since_time
from collectors.azureml_deployments import BATCH, ONLINE, DeploymentState, deployment_event, ended_event, inline_image
from collectors.azureml_mapping import (
    TERMINAL_STATUSES,
    DataCatalog,
    Resolution,
    data_event,
    job_event,
    model_event,
)
from collectors.azureml_refs import asset_ref
from collectors.azureml_values import created_at, iso
from collectors.base import CollectorError, Event

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.ai.ml.entities import Job

Json = dict[str, Any]


class Run:
    def __init__(self, collector: AzureMLCollector, client: MLClient, now: str) -> None:
        self.collector, self.client, self.now = collector, client, now
        self.config, self.report, self.workspace = collector.config, collector.report, collector.workspace
        self.since = since_time(self.config.since)
        self.catalog = DataCatalog()
        self.images: dict[str, str | None] = {}
        self.state: Json = {}

    @property
    def identity(self) -> str:
        return f"{self.workspace.subscription_id}/{self.workspace.resource_group}/{self.workspace.name}"

    def collect(self, cursor: str | None) -> Iterator[Event]:
        self.state = self._load(cursor)
        self._check_workspace()
        yield from self._data()
        yield from self._jobs()
        yield from self._models()
        if self.config.endpoints:
            yield from self._deployments()

    def cursor(self) -> str:
        return cursor_json(self.state)

    def _load(self, cursor: str | None) -> Json:
        empty: Json = {"workspace": self.identity, "jobs": {}, "data": {}, "models": {}, "deployments": {}}
        if cursor is None:
            return empty
        try:
            data = json.loads(cursor)
            if data["workspace"] != self.identity:
                self.report.warnings.append(f"the saved cursor is for workspace {data['workspace']}, not "
                                            f"{self.identity}; reading everything (give each workspace its own "
                                            f"source name)")
                return empty
            return {**empty, **{k: dict(data[k]) for k in ("jobs", "data", "models", "deployments") if k in data}}
        except (ValueError, KeyError, TypeError):
            self.report.warnings.append("the saved cursor is not an azureml collector cursor; reading everything")
            return empty

    def _check_workspace(self) -> None:
        """One cheap call first: a wrong name or missing access is then one clear error."""
        try:
            self.client.workspaces.get(self.workspace.name)
        except ResourceNotFoundError:
            raise CollectorError(f"workspace {self.workspace.name!r} not found in resource group "
                                 f"{self.workspace.resource_group!r} of subscription {self.workspace.subscription_id}; "
                                 f"check --workspace, --resource-group and --subscription") from None
        except Exception as exc:
            raise_if_fatal(exc, self.workspace.name)
            raise CollectorError(f"cannot read workspace {self.workspace.name!r}: {short(exc)}") from None

    def _recent(self, entity: object) -> bool:
        created = created_at(entity)
        return self.since is None or created is None or created >= self.since

    # Data assets and models: versions not seen yet, per name.

    def _data(self) -> Iterator[Event]:
        seen: dict[str, list[str]] = self.state["data"]
        for container in Pager(self.collector, "data assets", self.client.data.list()):
            name = str(container.name)
            known = set(seen.get(name, []))
            if container.latest_version is not None and str(container.latest_version) in known:
                self.report.skipped += 1
                continue
            versions = self.collector.guarded(f"data asset {name}", _list_named, self.client.data, name)
            if versions is None:
                continue
            self.catalog.add(name, versions)
            new = [data for data in versions if str(data.version) not in known and self._recent(data)]
            seen[name] = sorted(known | {str(data.version) for data in versions})
            self.report.seen += len(new)
            if new:
                yield from self.collector.emit(data_event(new, self.workspace, self.now))

    def _models(self) -> Iterator[Event]:
        seen: dict[str, list[str]] = self.state["models"]
        for container in Pager(self.collector, "models", self.client.models.list()):
            name = str(container.name)
            known = set(seen.get(name, []))
            if container.latest_version is not None and str(container.latest_version) in known:
                self.report.skipped += 1
                continue
            versions = self.collector.guarded(f"model {name}", _list_named, self.client.models, name)
            if versions is None:
                continue
            seen[name] = sorted(known | {str(model.version) for model in versions})
            for model in versions:
                if str(model.version) not in known and self._recent(model):
                    self.report.seen += 1
                    yield from self.collector.emit(model_event(model, self.workspace, self.now))

    def _resolve(self, name: str, label: str, as_of: datetime | None) -> Resolution | None:
        if not self.catalog.knows(name):
            self.catalog.add(name, self.collector.guarded(f"data asset {name}", _list_named, self.client.data, name)
                             or [])
        found = self.catalog.resolve(name, label, as_of)
        if found is not None:
            return found
        try:  # what the label means now: the best the workspace can say
            data = self.client.data.get(name, label=label)
        except Exception as exc:
            raise_if_fatal(exc, self.workspace.name)
            return None  # the mapping warns that the version is unknown
        return Resolution(str(data.version), "at collection") if data.version else None

    # Jobs: newer than the cursor, or not finished when last read.

    def _jobs(self) -> Iterator[Event]:
        old: Json = self.state["jobs"]
        experiments = sorted(self.config.experiments)
        if old and old.get("experiments") != experiments:
            self.report.warnings.append("the experiments filter changed since the last run; reading every job")
            old = {}
        newest = _time(old.get("newest"))
        at_newest, unfinished = set(old.get("at_newest", [])), dict(old.get("open", {}))
        top, top_names = newest, set(at_newest)
        open_now: dict[str, str] = {}
        listing = Pager(self.collector, "jobs", self.client.jobs.list())
        for job in listing:
            if job is None:  # the SDK could not parse one job; the others are fine
                self.report.fail("a job", "the SDK could not parse it (a job type this SDK version does not know?)")
                continue
            name, created = str(job.name), created_at(job)
            if (experiments and job.experiment_name not in experiments) or not self._recent(job):
                self.report.skipped += 1
                continue
            fresh = newest is None or created is None or created > newest or (
                created == newest and name not in at_newest)
            if not fresh and name not in unfinished:
                self.report.skipped += 1
                continue
            if created is not None and (top is None or created > top):
                top, top_names = created, {name}
            elif created is not None and created == top:
                top_names.add(name)
            event_id, complete = yield from self._job(job, unfinished.get(name))
            if not complete or job.status not in TERMINAL_STATUSES:
                # Read again next run, until it has ended and was read in full; emitted again only
                # when something about it changed.
                open_now[name] = event_id if complete else ""
        if not listing.complete:  # jobs after the failed page were not read: keep the old horizon
            top, top_names, open_now = newest, at_newest, {**unfinished, **open_now}
        self.state["jobs"] = {"experiments": experiments, "newest": iso(top), "at_newest": sorted(top_names),
                              "open": open_now}

    def _job(self, job: Job, last_event: str | None) -> Generator[Event, None, tuple[str, bool]]:
        """One job (a pipeline with its steps) as one event; returns its id and whether it was read in full."""
        name, complete, steps = str(job.name), True, []
        if job.type == "pipeline":
            children = self.collector.guarded(f"job {name}", _children, self.client, name)
            complete = children is not None
            steps = [child for child in children or [] if child is not None]
            if children and len(steps) < len(children):
                self.report.fail(f"job {name}", f"{len(children) - len(steps)} step(s) could not be parsed")
                complete = False
            if not getattr(job, "jobs", None):  # the list may leave out the pipeline's graph
                job = self.collector.guarded(f"job {name}", self.client.jobs.get, name) or job
        # A job this mapping cannot handle is a failure of that job, read again next run.
        mapped = self.collector.guarded(f"job {name}", job_event, job, steps, self.workspace, self._resolve, self.now)
        if mapped is None:
            return "", False
        if mapped.event["id"] == last_event:  # an unfinished job that has not changed
            self.report.skipped += 1
        else:
            self.report.seen += 1 + len(steps)
            yield from self.collector.emit(mapped)
        return str(mapped.event["id"]), complete

    # Endpoints and deployments: every live revision, each emitted when it changed.

    def _deployments(self) -> Iterator[Event]:
        previous: dict[str, Json] = self.state["deployments"]
        current: dict[str, Json] = {}
        operations = ((ONLINE, self.client.online_endpoints, self.client.online_deployments),
                      (BATCH, self.client.batch_endpoints, self.client.batch_deployments))
        for platform, endpoint_ops, deployment_ops in operations:
            endpoints = self.collector.guarded(f"{platform} endpoints", _listed, endpoint_ops)
            if endpoints is None:  # unread: what was live stays as it was
                current.update({k: v for k, v in previous.items() if k.startswith(platform + "/")})
                continue
            for endpoint in endpoints:
                prefix = f"{platform}/{endpoint.name}/"
                deployments = self.collector.guarded(f"endpoint {endpoint.name}", _deployments_of, deployment_ops,
                                                     endpoint.name)
                if deployments is None:
                    current.update({k: v for k, v in previous.items() if k.startswith(prefix)})
                    continue
                for deployment in deployments:
                    image = self._image(deployment.environment)
                    mapped, live = deployment_event(endpoint, deployment, platform=platform, workspace=self.workspace,
                                                    image=image, time=self.now)
                    ident = prefix + str(deployment.name)
                    current[ident] = {"state": live.as_dict(), "event": mapped.event["id"]}
                    before = previous.get(ident)
                    if before and before["state"]["key"] != live.key:  # replaced by a new revision
                        yield from self._ended(before, live.active_from or self.now)
                    if before and before["event"] == mapped.event["id"]:
                        self.report.skipped += 1  # read, and the same as last time
                    else:
                        self.report.seen += 1
                        yield from self.collector.emit(mapped)
        for ident, before in previous.items():
            if ident not in current:  # deleted since the last run
                yield from self._ended(before, self.now)
        self.state["deployments"] = current

    def _ended(self, before: Json, when: str) -> Iterator[Event]:
        state = DeploymentState.from_dict(before["state"])
        yield from self.collector.emit(ended_event(state, when, self.workspace, self.now))

    def _image(self, environment: object) -> str | None:
        """The image an environment runs: given inline, or read from the workspace's environment asset."""
        inline = inline_image(environment)
        if inline or not isinstance(environment, str) or "/registries/" in environment:
            return inline  # registry environments (curated ones) are not readable through the workspace
        ref = asset_ref(environment)
        if ref is None:
            return None
        if str(ref) not in self.images:
            try:
                found = (self.client.environments.get(ref.name, version=ref.version) if ref.version
                         else self.client.environments.get(ref.name, label=ref.label))
                self.images[str(ref)] = found.image
            except Exception as exc:
                raise_if_fatal(exc, self.workspace.name)
                self.report.warnings.append(f"environment {ref}: cannot read its image ({short(exc)})")
                self.images[str(ref)] = None
        return self.images[str(ref)]


def _list_named(operations: Any, name: str) -> list[Any]:
    """Every version of one data asset or model (``data.list(name=…)``, ``models.list(name=…)``)."""
    return list(operations.list(name=name))


def _listed(operations: Any) -> list[Any]:
    return list(operations.list())


def _deployments_of(operations: Any, endpoint: str) -> list[Any]:
    return list(operations.list(endpoint))


def _children(client: MLClient, name: str) -> list[Job | None]:
    # The SDK gives None for a child it cannot parse; the caller counts those.
    return list(client.jobs.list(parent_job_name=name))


def _time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
