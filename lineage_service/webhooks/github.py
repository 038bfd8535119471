"""GitHub webhook deliveries as lineage events: the contract of ``POST /v1/webhooks/github``.

``translate(event, delivery, payload, received_at)`` takes the ``X-GitHub-Event`` name, the
``X-GitHub-Delivery`` id and the parsed body, and returns a ``Translated`` (``builder``): one
``lineage-event/1`` dict with id ``github-<event>-<delivery>`` (GitHub redelivers with the same
delivery id, so a redelivery is a duplicate in the event log), source ``github``, and the time the
payload gives for what it reports (else ``received_at``). Pure: no I/O, no web framework.

Evidence: ``observed`` for what GitHub reports about itself (repositories, commits, workflow runs,
deployments, releases), ``declared`` for what a payload relays from elsewhere (an image's OCI
labels naming its commit), ``inferred`` for commit parents guessed from a push's order.

- push → each of ``commits`` (oldest first, at most 2048) a ``commit`` {repo, sha} with author
  (e-mail, else login), author_name, author_login, committer, message, committed_at, url, and
  ``branch`` where the commit is new to the repository (``distinct``); commit —authored_by→
  person (e-mail, else login), —in_repo→ repo (full_name, default_branch, private); each commit
  —parent→ the one listed before it, the first —parent→ ``before`` unless the push created the
  ref or was forced (``inferred``: a push lists commits, not parents, and a merge interleaves
  them). The head commit gets ``pushed_by`` (the pusher) and, on a tag, ``git_tags: {tag: true}``.
  A push that deletes a ref records the repository only.
- workflow_run → ``run`` {system: github-actions, id: workflow_run.id}: workflow, workflow_path,
  repository, run_number, attempt, status, conclusion, url, trigger (the triggering event),
  head_branch, display_title, actor, started_at, updated_at; run —at_commit→ commit(head_sha) in
  the head repository (a fork's, for pull requests from forks) with the head commit's author,
  message and time.
- workflow_job → the same run (``run_id``): workflow, attempt, head_branch, url, and
  ``jobs: {<name>: {status, conclusion, started_at, completed_at, url, runner, labels}}``; a job's
  conclusion is not the run's, so the run's is left alone. run —at_commit→ commit(head_sha).
- registry_package, package (container packages) → ``image`` {digest: the package version's
  ``sha256:`` digest}, aliases ``<registry>/<owner>/<name>:<tag>`` per tag, with repositories,
  labels (OCI), created; image —built_from→ commit named by the ``org.opencontainers.image.revision``
  label, in the repository of the ``…image.source`` label or else the payload's (``declared``).
  The payload does not say which workflow run pushed the image, so no built_by edge: that link
  comes from the build (``lineage emit``, provenance). Other ecosystems record the repository.
- deployment_status → a GitHub deployment is a record of "sha X to environment Y", not a running
  deployment: it names no platform, cluster, namespace or revision, which our ``deployment`` kind
  is keyed by (the cluster collectors report those), so it is a ``run`` {system:
  github-deployments, id: deployment.id}: workflow ``deploy to <environment>``, environment,
  state, conclusion (success, failure or error), ref, task, url, creator; run —at_commit→
  commit(deployment.sha). ``lineage impact commit …`` then lists where a commit was deployed. A
  deployment made by a workflow run (``workflow_run`` in newer payloads) links that run too.
- release → a GitHub release tags the repository, while an ``api`` node is a release of a service's
  API, named by the service (``taxi-api``), rarely the repository (``mlops-2.0``). An ``api`` per
  release would invent services and make ``api v1.2.3`` ambiguous, so a release is recorded on the
  repository, ``releases: {<tag>: {name, url, published_at, prerelease, draft, target, author}}``
  (deleted or unpublished: the entry is removed), and on the target commit when the target is a
  full SHA (``releases: {<tag>: url}``).
- ping → answered by the route; nothing is recorded.
- any other event → the repository and the commits named by well-known SHA fields (``after``,
  ``sha``, ``head_sha``, ``check_suite.head_sha``, ``pull_request.head.sha``…), not ``mapped``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from graph_schema.canonical import InvalidValue, image_reference
from graph_schema.canonical import digest as canonical_digest
from graph_schema.edges import EdgeKind, Evidence
from graph_schema.kinds import NodeKind
from lineage_service.webhooks.builder import (
    EventBuilder,
    Json,
    Ref,
    Translated,
    compact,
    flag,
    flat_strings,
    full_sha,
    get,
    id_part,
    ident,
    integer,
    iso,
    json_type,
    obj,
    repo_url,
    short,
    text,
    when,
)

SOURCE = "github"
ACTIONS = "github-actions"
DEPLOYMENTS = "github-deployments"
MAX_COMMITS = 2048  # what GitHub puts in one push payload at most
_FINAL_STATES = {"success", "failure", "error"}
_OBSERVED, _DECLARED, _INFERRED = Evidence.OBSERVED, Evidence.DECLARED, Evidence.INFERRED
_REVISION, _SOURCE_LABEL = "org.opencontainers.image.revision", "org.opencontainers.image.source"


def translate(event: str, delivery: str, payload: object, received_at: datetime) -> Translated:
    name = event.strip().lower()
    if not isinstance(payload, dict):
        return Translated(name, None, False, (f"expected a JSON object, got {json_type(payload)}; nothing recorded",))
    builder = EventBuilder()
    mapper = _MAPPERS.get(name)
    time = mapper(builder, payload) if mapper else None
    if mapper is None or not builder.complete:
        _named_commits(builder, payload)
    if mapper is None:
        builder.warn(f"GitHub event {name!r} is not mapped to lineage; " + _kept(builder))
    lineage_event = builder.event(f"github-{id_part(name)}-{id_part(delivery)}", time or received_at, SOURCE)
    if lineage_event is None and mapper is not None:
        builder.warn("nothing in the payload names a repository or a commit; nothing recorded")
    return Translated(name, lineage_event, mapper is not None and builder.complete, tuple(builder.warnings))


def _kept(builder: EventBuilder) -> str:
    repos, commits = builder.count(NodeKind.REPO), builder.count(NodeKind.COMMIT)
    if not repos and not commits:
        return "it names no repository or commit, so nothing was recorded"
    return f"recorded what it names: {repos} repository, {commits} commit(s)"


# Shared pieces ------------------------------------------------------------------------------------
def _repository(builder: EventBuilder, payload: Json, at: str = "repository") -> Ref | None:
    repo = obj(payload, *at.split("."))
    if repo is None:
        return None
    url = repo_url(text(repo, "html_url")) or repo_url(text(repo, "clone_url")) or repo_url(text(repo, "url"))
    if url is None:
        builder.warn(f"{at}: no usable html_url, clone_url or url; repository not recorded")
        return None
    props = compact({"full_name": text(repo, "full_name"), "default_branch": text(repo, "default_branch"),
                     "private": flag(repo, "private")})
    return builder.node(NodeKind.REPO, {"url": url}, props, at=at)


def _commit(builder: EventBuilder, repo: Ref | None, sha_value: object, props: Json | None, at: str,
            evidence: Evidence = _OBSERVED, *, required: bool = False) -> Ref | None:
    sha = full_sha(sha_value)
    if sha is None:
        if sha_value in (None, ""):
            if required:
                builder.warn(f"{at}: missing; no commit recorded")
        elif not (isinstance(sha_value, str) and set(sha_value) == {"0"}):  # all zeros: no commit, by design
            builder.warn(f"{at}: {short(sha_value)} is not a full commit SHA; no commit recorded")
        return None
    if repo is None:
        builder.warn(f"{at}: commit {sha[:7]} not recorded: the payload names no repository for it")
        return None
    commit = builder.node(NodeKind.COMMIT, {"repo": repo.key["url"], "sha": sha}, props, at=at)
    builder.edge(commit, repo, EdgeKind.IN_REPO, evidence)
    return commit


def _commit_props(commit: Json | None) -> Json:
    """Author, message and time of a commit as push and workflow_run payloads describe it."""
    if commit is None:
        return {}
    return compact({"author": text(commit, "author", "email") or text(commit, "author", "username"),
                    "author_name": text(commit, "author", "name"),
                    "author_login": text(commit, "author", "username"),
                    "committer": text(commit, "committer", "email") or text(commit, "committer", "username"),
                    "message": text(commit, "message"), "committed_at": iso(when(commit, "timestamp")),
                    "url": text(commit, "url")})


def _author(builder: EventBuilder, commit: Ref | None, who: Json | None, at: str) -> None:
    person_id = text(who, "email") or text(who, "username") or text(who, "login")
    if commit is None or who is None or person_id is None:
        return
    person = builder.node(NodeKind.PERSON, {"id": person_id},
                          compact({"name": text(who, "name"), "login": text(who, "username")}), at=at)
    builder.edge(commit, person, EdgeKind.AUTHORED_BY, _OBSERVED)


def _run(builder: EventBuilder, system: str, run_id: str, props: Json, commit: Ref | None, at: str) -> Ref | None:
    run = builder.node(NodeKind.RUN, {"system": system, "id": run_id}, props, at=at)
    builder.edge(run, commit, EdgeKind.AT_COMMIT, _OBSERVED)
    return run


# Event types --------------------------------------------------------------------------------------
def _push(builder: EventBuilder, payload: Json) -> datetime | None:
    repo = _repository(builder, payload)
    ref = text(payload, "ref") or ""
    time = when(payload, "repository", "pushed_at") or when(payload, "head_commit", "timestamp")
    if flag(payload, "deleted"):
        builder.warn(f"push deleted {ref or 'a ref'}; only the repository is recorded")
        return time
    if repo is None:
        builder.missing("repository", "required: commits are identified by their repository")
        return time
    listed = get(payload, "commits")
    listed = listed if isinstance(listed, list) else []
    truncated = len(listed) > MAX_COMMITS
    if truncated:
        builder.warn(f"commits: {len(listed)} listed; only the last {MAX_COMMITS} are recorded")
    commits = [commit for commit in listed[-MAX_COMMITS:] if isinstance(commit, dict)]
    branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
    previous = None
    if commits and not truncated and not flag(payload, "created") and not flag(payload, "forced"):
        previous = _commit(builder, repo, get(payload, "before"), None, "before")
    for index, commit in enumerate(commits):
        props = _commit_props(commit)
        if branch and commit.get("distinct") is True:
            props["branch"] = branch
        node = _commit(builder, repo, commit.get("id"), props, f"commits[{index}].id")
        _author(builder, node, obj(commit, "author"), f"commits[{index}].author")
        # A commit we could not record breaks the chain: the next one's parent is unknown.
        builder.edge(node, previous, EdgeKind.PARENT, _INFERRED)
        previous = node
    head = obj(payload, "head_commit")
    if head is not None:
        props = {**_commit_props(head), **compact({"pushed_by": text(payload, "pusher", "name")})}
        if ref.startswith("refs/tags/"):
            props["git_tags"] = {ref.removeprefix("refs/tags/"): True}
        node = _commit(builder, repo, head.get("id"), props, "head_commit.id")
        _author(builder, node, obj(head, "author"), "head_commit.author")
    return time


def _workflow_run(builder: EventBuilder, payload: Json) -> datetime | None:
    repo = _repository(builder, payload)
    run = obj(payload, "workflow_run")
    if run is None:
        builder.missing("workflow_run", "required, an object")
        return None
    head_repo = _repository(builder, payload, "workflow_run.head_repository") or repo
    head = obj(run, "head_commit")
    commit = _commit(builder, head_repo, get(run, "head_sha") or get(head, "id"), _commit_props(head),
                     "workflow_run.head_sha", required=True)
    _author(builder, commit, obj(head, "author"), "workflow_run.head_commit.author")
    run_id = ident(run, "id")
    time = when(run, "updated_at") or when(run, "run_started_at") or when(run, "created_at")
    if run_id is None:
        builder.missing("workflow_run.id", "required: the run id names the run")
        return time
    props = compact({
        "workflow": text(payload, "workflow", "name") or text(run, "name"), "workflow_path": text(run, "path"),
        "repository": text(payload, "repository", "full_name"), "run_number": integer(run, "run_number"),
        "attempt": integer(run, "run_attempt"), "status": text(run, "status"), "conclusion": text(run, "conclusion"),
        "url": text(run, "html_url"), "trigger": text(run, "event"), "head_branch": text(run, "head_branch"),
        "display_title": text(run, "display_title"), "actor": text(run, "actor", "login"),
        "started_at": iso(when(run, "run_started_at")), "updated_at": iso(when(run, "updated_at"))})
    _run(builder, ACTIONS, run_id, props, commit, "workflow_run.id")
    return time


def _workflow_job(builder: EventBuilder, payload: Json) -> datetime | None:
    repo = _repository(builder, payload)
    job = obj(payload, "workflow_job")
    if job is None:
        builder.missing("workflow_job", "required, an object")
        return None
    commit = _commit(builder, repo, get(job, "head_sha"), None, "workflow_job.head_sha", required=True)
    run_id = ident(job, "run_id")
    time = when(job, "completed_at") or when(job, "started_at") or when(job, "created_at")
    if run_id is None:
        builder.missing("workflow_job.run_id", "required: the run id names the run")
        return time
    listed = get(job, "labels")
    labels = [label[:100] for label in listed[:20] if isinstance(label, str)] if isinstance(listed, list) else []
    job_props = compact({"status": text(job, "status"), "conclusion": text(job, "conclusion"),
                         "started_at": iso(when(job, "started_at")), "completed_at": iso(when(job, "completed_at")),
                         "url": text(job, "html_url"), "runner": text(job, "runner_name"), "labels": labels or None})
    job_name = (text(job, "name") or ident(job, "id") or "job")[:256]
    repo_page = text(payload, "repository", "html_url")
    props = compact({
        "workflow": text(job, "workflow_name"), "repository": text(payload, "repository", "full_name"),
        "attempt": integer(job, "run_attempt"), "head_branch": text(job, "head_branch"),
        # GitHub's run page; the job's own run_url is an API URL.
        "url": f"{repo_page.rstrip('/')}/actions/runs/{run_id}" if repo_page and repo_page.startswith("https://")
        else None,
        "jobs": {job_name: job_props}})
    _run(builder, ACTIONS, run_id, props, commit, "workflow_job.run_id")
    return time


def _package(field: str) -> Callable[[EventBuilder, Json], datetime | None]:
    def package(builder: EventBuilder, payload: Json) -> datetime | None:
        repo = _repository(builder, payload)
        pkg = obj(payload, field)
        if pkg is None:
            builder.missing(field, "required, an object")
            return None
        version = obj(pkg, "package_version")
        container = obj(version, "container_metadata")
        kinds = {value.lower() for value in (text(pkg, "ecosystem"), text(pkg, "package_type"),
                                             text(pkg, "registry", "type")) if value}
        time = when(version, "updated_at") or when(pkg, "updated_at") or when(version, "created_at")
        if container is None and not kinds & {"docker", "container"}:
            builder.warn(f"{field}: a {'/'.join(sorted(kinds)) or 'non-container'} package, not a container "
                         f"image; only the repository is recorded")
            return time
        digest = _digest(builder, version, container, field)
        image_name = _image_name(builder, pkg, version, field)
        if digest is None:
            builder.missing(f"{field}.package_version.name", "required: the image digest (sha256:<64 hex>)")
            return time
        labels = flat_strings(get(container, "labels", "all_labels"))
        tags = _tags(version, container)
        props = compact({"repositories": [image_name] if image_name else None, "labels": labels or None,
                         "created": labels.get("org.opencontainers.image.created"),
                         "media_type": text(container, "manifest", "media_type"),
                         "package": compact({"name": text(pkg, "name"), "html_url": text(version, "html_url"),
                                             "version_id": ident(version, "id")}) or None})
        aliases = [f"{image_name}:{tag}" for tag in tags] if image_name else []
        image = builder.node(NodeKind.IMAGE, {"digest": digest}, props, aliases, at=f"{field}.package_version")
        # The labels are what the image claims about its source: declared, not observed.
        source = repo_url(labels.get(_SOURCE_LABEL) or text(container, "labels", "source"))
        code_repo = builder.node(NodeKind.REPO, {"url": source}, at=f"{field}…labels.source") if source else repo
        revision = labels.get(_REVISION) or text(container, "labels", "revision")
        commit = _commit(builder, code_repo, revision, None, f"{field}…labels.{_REVISION}", _DECLARED)
        builder.edge(image, commit, EdgeKind.BUILT_FROM, _DECLARED)
        return time

    return package


def _digest(builder: EventBuilder, version: Json | None, container: Json | None, field: str) -> str | None:
    """The version's manifest digest: its name on GitHub, also in container_metadata."""
    candidates = [(f"{field}.package_version.name", text(version, "name")),
                  (f"{field}.package_version.version", text(version, "version")),
                  (f"{field}.package_version.container_metadata.tag.digest", text(container, "tag", "digest")),
                  (f"{field}.package_version.container_metadata.manifest.digest",
                   text(container, "manifest", "digest"))]
    chosen: str | None = None
    for at, value in candidates:
        if value is None:
            continue
        try:
            found = canonical_digest(value)
        except InvalidValue:
            if value.lower().startswith("sha256:"):
                builder.warn(f"{at}: {short(value)} is not a valid image digest; ignored")
            continue
        if chosen is None:
            chosen = found
        elif found != chosen:
            builder.warn(f"{at}: names {found[:19]}, not {chosen[:19]}; kept {chosen[:19]}")
    return chosen


def _image_name(builder: EventBuilder, pkg: Json, version: Json | None, field: str) -> str | None:
    """``registry/owner/name`` from package_url (``ghcr.io/Owner/name:tag``), else ghcr.io/<owner>/<name>."""
    url = text(version, "package_url")
    owner, name = text(pkg, "owner", "login"), text(pkg, "name")
    candidate = url.split("@")[0] if url else (f"ghcr.io/{owner}/{name}" if owner and name else None)
    if candidate is None:
        return None
    if candidate.rfind(":") > candidate.rfind("/"):
        candidate = candidate[: candidate.rfind(":")]
    try:
        # Image references are lower case; GitHub shows the owner as spelt.
        return image_reference(candidate.lower()).name
    except InvalidValue as exc:
        builder.warn(f"{field}.package_version.package_url: {exc}; no tag aliases")
        return None


def _tags(version: Json | None, container: Json | None) -> list[str]:
    tags = [tag] if (tag := text(container, "tag", "name")) else []
    listed = get(version, "metadata", "container", "tags")
    if isinstance(listed, list):
        tags += [entry for entry in listed[:100] if isinstance(entry, str) and entry.strip()]
    return list(dict.fromkeys(tags))


def _deployment_status(builder: EventBuilder, payload: Json) -> datetime | None:
    repo = _repository(builder, payload)
    deployment, status = obj(payload, "deployment"), obj(payload, "deployment_status")
    time = when(status, "updated_at") or when(status, "created_at") or when(deployment, "updated_at")
    if deployment is None:
        builder.missing("deployment", "required, an object")
        return time
    commit = _commit(builder, repo, get(deployment, "sha"), None, "deployment.sha", required=True)
    deployment_id = ident(deployment, "id")
    if deployment_id is None:
        builder.missing("deployment.id", "required: the deployment id names it")
        return time
    environment = text(status, "environment") or text(deployment, "environment")
    state = text(status, "state")
    props = compact({
        "workflow": f"deploy to {environment}" if environment else "deploy", "environment": environment,
        "state": state, "conclusion": state if state in _FINAL_STATES else None, "ref": text(deployment, "ref"),
        "task": text(deployment, "task"), "repository": text(payload, "repository", "full_name"),
        "description": text(status, "description") or text(deployment, "description"),
        "url": text(status, "target_url") or text(status, "log_url") or text(status, "environment_url"),
        "environment_url": text(status, "environment_url"),
        "creator": text(status, "creator", "login") or text(deployment, "creator", "login"),
        "created_at": iso(when(deployment, "created_at")), "updated_at": iso(time)})
    _run(builder, DEPLOYMENTS, deployment_id, props, commit, "deployment.id")
    if (actions_run := ident(payload, "workflow_run", "id")) is not None:
        _run(builder, ACTIONS, actions_run, compact({"workflow": text(payload, "workflow", "name")}), commit,
             "workflow_run.id")
    return time


def _release(builder: EventBuilder, payload: Json) -> datetime | None:
    repo = _repository(builder, payload)
    release = obj(payload, "release")
    time = when(release, "published_at") or when(release, "created_at")
    if release is None:
        builder.missing("release", "required, an object")
        return time
    tag = text(release, "tag_name")
    if tag is None or repo is None:
        builder.missing("release.tag_name" if tag is None else "repository",
                        "required: a release is recorded by tag on its repository")
        return time
    removed = text(payload, "action") in {"deleted", "unpublished"}
    target = text(release, "target_commitish")
    entry = None if removed else compact({
        "name": text(release, "name"), "url": text(release, "html_url"),
        "published_at": iso(when(release, "published_at")), "prerelease": flag(release, "prerelease"),
        "draft": flag(release, "draft"), "target": target, "author": text(release, "author", "login")})
    # A null entry removes the release from the node (the store merges props as a JSON merge patch).
    builder.node(NodeKind.REPO, repo.key, {"releases": {tag[:256]: entry}}, at="repository")
    if full_sha(target):
        on_commit = None if removed else text(release, "html_url") or True
        _commit(builder, repo, target, {"releases": {tag[:256]: on_commit}}, "release.target_commitish")
    return time


# What other events name: the repository and commits at these well-known places.
_SHA_FIELDS = (("after",), ("sha",), ("head_sha",), ("head_commit", "id"), ("check_suite", "head_sha"),
               ("check_run", "head_sha"), ("workflow_run", "head_sha"), ("workflow_job", "head_sha"),
               ("deployment", "sha"), ("merge_group", "head_sha"))


def _named_commits(builder: EventBuilder, payload: Json) -> None:
    repo = _repository(builder, payload)
    for path in _SHA_FIELDS:
        if full_sha(get(payload, *path)):
            _commit(builder, repo, get(payload, *path), None, ".".join(path))
    # A pull request's head commit lives in the head repository (a fork's, possibly).
    if full_sha(head_sha := get(payload, "pull_request", "head", "sha")):
        head_repo = _repository(builder, payload, "pull_request.head.repo") or repo
        _commit(builder, head_repo, head_sha, None, "pull_request.head.sha")


_MAPPERS: dict[str, Callable[[EventBuilder, Json], datetime | None]] = {
    "push": _push,
    "workflow_run": _workflow_run,
    "workflow_job": _workflow_job,
    "registry_package": _package("registry_package"),
    "package": _package("package"),
    "deployment_status": _deployment_status,
    "release": _release,
}
