"""GitHub REST answers as lineage events: commits, workflow runs, container package versions.

Pure functions of the JSON GitHub documents, no I/O. They say what the webhook translator
(``lineage_service.webhooks.github``) says about the same things, with the same props, so a run
reported by a ``workflow_run`` delivery and read again here is one node with merged props:

- a commit (``GET /repos/{o}/{r}/commits`` items, ``GET …/commits/{sha}``) → ``commit`` {repo, sha} with
  author (e-mail, else login), author_name, author_login, committer, message, committed_at,
  authored_at, url; —in_repo→ repo, —authored_by→ person, —parent→ each parent (prop ``index``);
- a workflow run (``GET /repos/{o}/{r}/actions/runs`` items) → ``run`` {system: github-actions,
  id} with workflow, workflow_path, repository, run_number, attempt, status, conclusion, url,
  trigger, head_branch, display_title, actor, started_at, updated_at; —at_commit→ the head commit
  (in the head repository, a fork's for pull requests from forks) with its author and message;
- a container package version (``GET /{orgs|users}/{owner}/packages/container/{name}/versions``
  items) → ``image`` {digest: the version's name, ``sha256:…``}, aliases
  ``<registry>/<owner>/<name>:<tag>`` per tag, props repositories, package, pushed_at; when the
  package is linked to a repository, each tag that is a full commit SHA (images are tagged with the
  SHA they were built from) gives image —built_from→ that commit, ``declared`` (the tag says so).

Each item is one event; its time is the item's own (updated_at, the commit time), so a newer
report of a run wins over an older one when props merge.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from collectors.event_builder import EventBuilder, Json, Ref, compact, id_part, parse_time, utc_text
from graph_schema import canonical
from graph_schema.kinds import NodeKind

SOURCE = "github"
ACTIONS = "github-actions"
MESSAGE_CHARS = 2000
_FULL_SHA = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class RepoInfo:
    """A repository as ``GET /repos/{owner}/{repo}`` describes it."""

    full_name: str
    url: str  # canonical web URL: commits are keyed by it
    default_branch: str | None = None
    private: bool | None = None

    @classmethod
    def from_json(cls, data: Json) -> RepoInfo:
        """Raises ``canonical.InvalidValue`` when the answer names no usable URL."""
        return cls(str(data.get("full_name") or ""), canonical.repo_url(str(data.get("html_url") or "")),
                   _text(data.get("default_branch")), data.get("private") if isinstance(data.get("private"), bool)
                   else None)

    @property
    def slug(self) -> str:
        return id_part(self.full_name.lower(), 80)


@dataclass(frozen=True)
class PackageInfo:
    owner: str
    name: str
    image: str  # registry/owner/name, lower case, as image references name it
    commits_repo: str | None = None  # canonical URL of the repository whose SHAs the tags name


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _repo_node(builder: EventBuilder, repo: RepoInfo) -> Ref:
    return builder.node(NodeKind.REPO, {"url": repo.url}, {"full_name": repo.full_name or None,
                                                           "default_branch": repo.default_branch,
                                                           "private": repo.private})


def _author(builder: EventBuilder, commit: Ref, email: str | None, login: str | None, name: str | None) -> None:
    person_id = email or login
    if person_id:
        person = builder.node(NodeKind.PERSON, {"id": person_id}, {"name": name, "login": login})
        builder.edge(commit, person, "authored_by", "observed")


def commit_event(repo: RepoInfo, data: Json) -> Json:
    """A commit of ``GET /repos/{owner}/{repo}/commits[/{sha}]``."""
    builder = EventBuilder()
    git = data.get("commit") or {}
    author, committer = git.get("author") or {}, git.get("committer") or {}
    email = (_text(author.get("email")) or "").lower() or None
    login = _text((data.get("author") or {}).get("login"))
    committed = utc_text(parse_time(committer.get("date")))
    props = {"author": email or login, "author_name": _text(author.get("name")), "author_login": login,
             "committer": _text(committer.get("email")), "message": (git.get("message") or "").strip()[:MESSAGE_CHARS],
             "committed_at": committed, "authored_at": utc_text(parse_time(author.get("date"))),
             "url": _text(data.get("html_url"))}
    sha = str(data.get("sha") or "")
    commit = builder.node(NodeKind.COMMIT, {"repo": repo.url, "sha": sha}, props)
    builder.edge(commit, _repo_node(builder, repo), "in_repo", "observed")
    _author(builder, commit, email, login, _text(author.get("name")))
    for index, parent in enumerate(data.get("parents") or []):
        parent_ref = builder.node(NodeKind.COMMIT, {"repo": repo.url, "sha": str(parent.get("sha") or "")})
        builder.edge(commit, parent_ref, "parent", "observed", {"index": index})
    return builder.event(f"github-{repo.slug}-commit-{sha[:12]}", committed or props["authored_at"] or "", SOURCE)


def run_event(repo: RepoInfo, data: Json) -> Json:
    """A workflow run of ``GET /repos/{owner}/{repo}/actions/runs``."""
    builder = EventBuilder()
    head = data.get("head_commit") or {}
    head_repo = head_repository(data) or repo
    email = (_text((head.get("author") or {}).get("email")) or "").lower() or None
    commit = builder.node(NodeKind.COMMIT, {"repo": head_repo.url, "sha": str(data.get("head_sha") or "")}, {
        "author": email, "author_name": _text((head.get("author") or {}).get("name")),
        "committer": _text((head.get("committer") or {}).get("email")),
        "message": (head.get("message") or "").strip()[:MESSAGE_CHARS] or None,
        "committed_at": utc_text(parse_time(head.get("timestamp")))})
    builder.edge(commit, _repo_node(builder, head_repo), "in_repo", "observed")
    _author(builder, commit, email, None, _text((head.get("author") or {}).get("name")))
    run_id, attempt = str(data.get("id") or ""), data.get("run_attempt")
    updated = utc_text(parse_time(data.get("updated_at")))
    run = builder.node(NodeKind.RUN, {"system": ACTIONS, "id": run_id}, {
        "workflow": _text(data.get("name")), "workflow_path": _text(data.get("path")),
        "repository": repo.full_name or None, "run_number": data.get("run_number"), "attempt": attempt,
        "status": _text(data.get("status")), "conclusion": _text(data.get("conclusion")),
        "url": _text(data.get("html_url")), "trigger": _text(data.get("event")),
        "head_branch": _text(data.get("head_branch")), "display_title": _text(data.get("display_title")),
        "actor": _text((data.get("actor") or {}).get("login")),
        "started_at": utc_text(parse_time(data.get("run_started_at"))), "updated_at": updated},
        # A run not completed has no conclusion: a re-run must not keep the previous attempt's.
        clear=("conclusion",) if data.get("status") != "completed" else ())
    builder.edge(run, commit, "at_commit", "observed")
    time = updated or utc_text(parse_time(data.get("created_at"))) or ""
    return builder.event(f"github-{repo.slug}-run-{id_part(run_id)}-{attempt or 1}", time, SOURCE)


def head_repository(data: Json) -> RepoInfo | None:
    """The repository a run's head commit lives in, when the run names one with a usable URL."""
    head = data.get("head_repository")
    if not isinstance(head, dict):
        return None
    try:
        return RepoInfo.from_json(head)
    except canonical.InvalidValue:
        return None


def container_tags(data: Json) -> list[str]:
    tags = ((data.get("metadata") or {}).get("container") or {}).get("tags")
    return [tag for tag in tags if isinstance(tag, str) and tag.strip()] if isinstance(tags, list) else []


def version_fingerprint(data: Json) -> str:
    """What can change on a version already collected: its tags (added, moved away) and update time."""
    text = json.dumps([data.get("name"), sorted(container_tags(data)), data.get("updated_at")])
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def package_version_event(package: PackageInfo, data: Json) -> Json:
    """A version of ``GET /{orgs|users}/{owner}/packages/container/{name}/versions``.

    Raises ``canonical.InvalidValue`` when the version's name is not a digest (not a container image).
    """
    builder = EventBuilder()
    digest = canonical.digest(str(data.get("name") or ""))
    tags = container_tags(data)
    aliases = [f"{package.image}:{tag}" for tag in tags if _valid_tag(package.image, tag)]
    image = builder.node(NodeKind.IMAGE, {"digest": digest}, {
        "repositories": [package.image], "pushed_at": utc_text(parse_time(data.get("created_at"))),
        "package": compact({"name": f"{package.owner}/{package.name}", "version_id": data.get("id"),
                            "html_url": _text(data.get("html_url"))})}, aliases)
    if package.commits_repo:
        for tag in tags:
            if _FULL_SHA.fullmatch(tag.lower()):
                commit = builder.node(NodeKind.COMMIT, {"repo": package.commits_repo, "sha": tag})
                builder.edge(commit, builder.node(NodeKind.REPO, {"url": package.commits_repo}), "in_repo", "observed")
                builder.edge(image, commit, "built_from", "declared", {"via": "tag", "tag": tag})
    time = utc_text(parse_time(data.get("updated_at"))) or utc_text(parse_time(data.get("created_at"))) or ""
    return builder.event(f"github-pkg-{id_part(package.owner + '-' + package.name)}-{data.get('id')}", time, SOURCE)


def _valid_tag(image: str, tag: str) -> bool:
    try:
        canonical.image_reference(f"{image}:{tag}")
    except canonical.InvalidValue:
        return False
    return True
