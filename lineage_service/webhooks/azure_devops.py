"""Azure DevOps service-hook notifications as lineage events: the contract of ``POST /v1/webhooks/azure-devops``.

``translate(payload, received_at, fallback_id)`` takes the parsed body of a "Web Hooks" service
hook and returns a ``Translated`` (``builder``): one ``lineage-event/1`` dict with id
``azure-devops-<eventType>-<id>`` (the notification's ``id``, which a resend keeps; the event type
keeps apart events of two types that share an id, as the documentation's samples do, and
``fallback_id`` stands in when the payload has none), source ``azure-devops``, time
``createdDate``. Pure: no I/O, no web framework. Evidence ``observed``: Azure DevOps reports its own
runs and what they checked out.

A pipeline run is a build: every event below names the same id (the build id, ``buildId=`` in
Azure DevOps' links), so they meet on one ``run`` {system: azure-devops, id}. Build ids are unique
within an organization, which is kept as ``organization``.

- build.complete → run: workflow (definition), run_number (buildNumber), status, conclusion
  (result; ``status`` in the 2016 schema), url (web page), trigger (reason), source_branch,
  source_version, queued_at, started_at, finished_at, requested_for, project, organization; run
  —at_commit→ commit(sourceVersion, or the SHA of a legacy ``sourceGetVersion`` ``LG:<ref>:<sha>``)
  in resource.repository —in_repo→ repo. Repositories of type TfsGit, Git, GitHub, Bitbucket by
  their URL (``https://dev.azure.com/<org>/<project>/_git/<repo>``; GitHub ``owner/name`` ids and
  API URLs become ``https://github.com/owner/name``). A sourceVersion that is not a git SHA (a TFVC
  changeset) stays in ``source_version`` without a commit.
- ms.vss-pipelines.run-state-changed-event → run: id from run.id, else resource.runId, else the
  run's links (…/runs/<id>, buildId=<id>); workflow (pipeline), pipeline_id, run_number (run.name),
  status (state), conclusion (result), url, started_at (createdDate), finished_at, organization.
  The documented payload names no commit; ``run.resources.repositories.<alias>.version`` (the Runs
  REST API shape) is used when present with a repository URL. Subscribe to build.complete as well
  to link the commit.
- ms.vss-pipelines.stage-state-changed-event, ms.vss-pipelines.job-state-changed-event → the run
  as above, plus ``stages`` / ``jobs``: {<name>: {state, result, started_at, finished_at}}. Their
  ``repositories`` list gives repository URLs (recorded) but no commit id.
- any other event → the repositories and commits it names (``resource.repository``,
  ``resource.commits[].commitId``, ``resource.refUpdates[].newObjectId``…), not ``mapped``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from graph_schema.edges import EdgeKind, Evidence
from graph_schema.kinds import NodeKind
from lineage_service.webhooks.builder import (
    EventBuilder,
    Json,
    Ref,
    Translated,
    compact,
    full_sha,
    get,
    id_part,
    ident,
    iso,
    items,
    json_type,
    obj,
    repo_url,
    short,
    text,
    when,
)

SOURCE = SYSTEM = "azure-devops"
BUILD_COMPLETE = "build.complete"
RUN_STATE = "ms.vss-pipelines.run-state-changed-event"
STAGE_STATE = "ms.vss-pipelines.stage-state-changed-event"
JOB_STATE = "ms.vss-pipelines.job-state-changed-event"
_LEGACY_RESULTS = {"succeeded", "partiallysucceeded", "failed", "stopped", "canceled"}
_GIT_TYPES = {"tfsgit", "git", "azurereposgit", "github", "githubenterprise", "bitbucket", "externalgit"}
_RUN_ID = (re.compile(r"/runs/(\d+)(?:[/?#]|$)"), re.compile(r"[?&]buildId=(\d+)"))
_ORGANIZATION = re.compile(r"https?://(?:dev\.azure\.com/([^/?#]+)|([^./]+)\.visualstudio\.com)", re.IGNORECASE)

Mapper = Callable[[EventBuilder, Json, Json], None]


def translate(payload: object, received_at: datetime, fallback_id: str) -> Translated:
    if not isinstance(payload, dict):
        return Translated("unknown", None, False,
                          (f"expected a JSON object, got {json_type(payload)}; nothing recorded",))
    event_type = text(payload, "eventType") or "unknown"
    builder = EventBuilder()
    resource = obj(payload, "resource")
    mapper = _MAPPERS.get(event_type)
    if mapper is not None:
        if resource is None:
            builder.missing("resource", "required, an object")
        else:
            mapper(builder, payload, resource)
    if mapper is None or not builder.complete:
        _named(builder, resource or {})
    if mapper is None:
        repos, commits = builder.count(NodeKind.REPO), builder.count(NodeKind.COMMIT)
        builder.warn(f"Azure DevOps event {event_type!r} is not mapped to lineage; "
                     + (f"recorded what it names: {repos} repository(ies), {commits} commit(s)" if repos or commits
                        else "it names no repository or commit, so nothing was recorded"))
    event_id = f"azure-devops-{id_part(event_type)}-{id_part(text(payload, 'id') or fallback_id)}"
    lineage_event = builder.event(event_id, when(payload, "createdDate") or received_at, SOURCE)
    if lineage_event is None and mapper is not None:
        builder.warn("nothing in the notification names a run, repository or commit; nothing recorded")
    return Translated(event_type, lineage_event, mapper is not None and builder.complete, tuple(builder.warnings))


# Shared pieces ------------------------------------------------------------------------------------
def _repository(builder: EventBuilder, repo: Json | None, at: str) -> Ref | None:
    if repo is None:
        return None
    kind = (text(repo, "type") or "").lower()
    if kind and kind not in _GIT_TYPES:
        builder.warn(f"{at}.type: {short(text(repo, 'type'))} is not a git repository; not recorded")
        return None
    url = text(repo, "url") or text(repo, "remoteUrl")
    if url and "/_apis/" in url:
        url = text(repo, "remoteUrl")  # a REST URL names the repository by GUID, not by its address
    if kind.startswith("github") and repo_url(url) is None:
        full_name = text(repo, "fullName") or text(repo, "id") or text(repo, "name")
        url = f"https://github.com/{full_name}" if full_name and full_name.count("/") == 1 else url
    canonical = repo_url(url)
    if canonical is None:
        builder.warn(f"{at}: no usable repository URL ({short(url)}); not recorded")
        return None
    return builder.node(NodeKind.REPO, {"url": canonical},
                        compact({"name": text(repo, "name"), "provider": text(repo, "type")}), at=at)


def _commit(builder: EventBuilder, repo: Ref | None, sha: str | None, at: str) -> Ref | None:
    if sha is None:
        return None
    if repo is None:
        builder.warn(f"{at}: commit {sha[:7]} not recorded: no git repository URL is named for it")
        return None
    commit = builder.node(NodeKind.COMMIT, {"repo": repo.key["url"], "sha": sha}, at=at)
    builder.edge(commit, repo, EdgeKind.IN_REPO, Evidence.OBSERVED)
    return commit


def _run(builder: EventBuilder, run_id: str, props: Json, commit: Ref | None, at: str) -> None:
    run = builder.node(NodeKind.RUN, {"system": SYSTEM, "id": run_id}, props, at=at)
    builder.edge(run, commit, EdgeKind.AT_COMMIT, Evidence.OBSERVED)


def _organization(payload: Json, resource: Json) -> str | None:
    places = [get(payload, "resourceContainers", name, "baseUrl") for name in ("account", "collection", "project")]
    places += [get(resource, "_links", "web", "href"), get(resource, "url")]
    for place in places:
        if isinstance(place, str) and (match := _ORGANIZATION.match(place)):
            return match.group(1) or match.group(2)
    return None


# Event types --------------------------------------------------------------------------------------
def _build_complete(builder: EventBuilder, payload: Json, resource: Json) -> None:
    version, ref = text(resource, "sourceVersion"), text(resource, "sourceBranch")
    if version is None and (legacy := text(resource, "sourceGetVersion")):
        # XAML-era builds: "LG:<ref>:<sha>" for git ("C<n>" for a TFVC changeset).
        legacy_ref, _, version = legacy.partition(":")[2].rpartition(":")
        ref = ref or legacy_ref or None
    repo = _repository(builder, obj(resource, "repository"), "resource.repository")
    sha = full_sha(version)
    if version and sha is None:
        builder.warn(f"resource.sourceVersion: {short(version)} is not a git commit SHA; kept as source_version, "
                     f"no commit recorded")
    commit = _commit(builder, repo, sha, "resource.sourceVersion")
    run_id = ident(resource, "id")
    if run_id is None:
        builder.missing("resource.id", "required: the build id names the run")
        return
    status = text(resource, "status")
    requests = items(resource, "requests", limit=1)
    props = compact({
        "workflow": text(resource, "definition", "name"), "definition_id": ident(resource, "definition", "id"),
        "run_number": text(resource, "buildNumber"), "status": status,
        "conclusion": text(resource, "result") or (status if status and status.lower() in _LEGACY_RESULTS else None),
        "url": text(resource, "_links", "web", "href") or text(resource, "url"), "trigger": text(resource, "reason"),
        "source_branch": ref, "source_version": version,
        "queued_at": iso(when(resource, "queueTime")), "started_at": iso(when(resource, "startTime")),
        "finished_at": iso(when(resource, "finishTime")),
        "requested_for": text(resource, "requestedFor", "uniqueName")
        or (text(requests[0], "requestedFor", "uniqueName") if requests else None),
        "project": text(resource, "project", "name") or text(resource, "definition", "project", "name"),
        "organization": _organization(payload, resource)})
    _run(builder, run_id, props, commit, "resource.id")


def _pipeline(detail: str | None) -> Mapper:
    """run-state-changed (``detail`` None), stage-state-changed ("stage"), job-state-changed ("job")."""

    def pipeline_event(builder: EventBuilder, payload: Json, resource: Json) -> None:
        run = obj(resource, "run") or {}
        part = obj(resource, detail) if detail else None
        for index, entry in enumerate(items(resource, "repositories", limit=100)):
            _repository(builder, entry, f"resource.repositories[{index}]")
        commit = _resources_commit(builder, run)
        if commit is None:
            builder.warn("resource: names no commit SHA (pipeline events do not carry one); the run is recorded "
                         "without at_commit; build.complete links it")
        run_id = ident(run, "id") or ident(resource, "runId")
        links = [get(run, "url"), get(run, "_links", "self", "href"), get(run, "_links", "web", "href"),
                 get(resource, "runUrl"), get(part, "_links", "web", "href")]
        if run_id is None and (run_id := _run_id_from(links)) is not None:
            builder.warn(f"resource.run.id: absent; the run id {run_id} is taken from the run's links")
        if run_id is None:
            builder.missing("resource.run.id", "required: the run (build) id names the run")
            return
        pipeline = obj(run, "pipeline") or obj(resource, "pipeline")
        props = compact({
            "workflow": text(pipeline, "name"), "pipeline_id": ident(pipeline, "id"),
            "run_number": text(run, "name"), "status": text(run, "state"), "conclusion": text(run, "result"),
            "url": text(run, "_links", "web", "href") or text(part, "_links", "web", "href"),
            "started_at": iso(when(run, "createdDate")), "finished_at": iso(when(run, "finishedDate")),
            "organization": _organization(payload, resource)})
        if detail and part is not None and (name := text(part, "name")):
            props[f"{detail}s"] = {name[:256]: compact({
                "state": text(part, "state"), "result": text(part, "result"), "display_name": text(part, "displayName"),
                "started_at": iso(when(part, "startTime")), "finished_at": iso(when(part, "finishTime"))})}
        _run(builder, run_id, props, commit, "resource.run.id")

    return pipeline_event


def _resources_commit(builder: EventBuilder, run: Json) -> Ref | None:
    """The checked-out commit, when the run lists its resources (``self`` first) as the Runs API does."""
    repositories = obj(run, "resources", "repositories") or {}
    for alias in sorted(repositories, key=lambda name: name != "self")[:20]:
        entry = obj(repositories, alias)
        if entry is not None and (sha := full_sha(get(entry, "version"))):
            at = f"resource.run.resources.repositories.{alias[:50]}"
            return _commit(builder, _repository(builder, obj(entry, "repository"), f"{at}.repository"), sha, at)
    return None


def _run_id_from(links: list[object]) -> str | None:
    for link in links:
        for pattern in _RUN_ID:
            if isinstance(link, str) and (match := pattern.search(link)) and len(match.group(1)) < 16:
                return match.group(1)
    return None


def _named(builder: EventBuilder, resource: Json) -> None:
    """Repositories and commits named at well-known places of events this module does not map."""
    repo = _repository(builder, obj(resource, "repository"), "resource.repository")
    for index, entry in enumerate(items(resource, "repositories", limit=100)):
        _repository(builder, entry, f"resource.repositories[{index}]")
    shas = [get(commit, "commitId") for commit in items(resource, "commits", limit=2048)]
    shas += [get(update, "newObjectId") for update in items(resource, "refUpdates", limit=100)]
    shas += [get(resource, "lastMergeSourceCommit", "commitId"), get(resource, "sourceVersion")]
    for sha in dict.fromkeys(found for value in shas if (found := full_sha(value))):
        _commit(builder, repo, sha, "resource")


_MAPPERS: dict[str, Mapper] = {
    BUILD_COMPLETE: _build_complete,
    RUN_STATE: _pipeline(None),
    STAGE_STATE: _pipeline("stage"),
    JOB_STATE: _pipeline("job"),
}
