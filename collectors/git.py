"""The git collector: a local repository's commits, parents, authors and tags as lineage events.

Each commit becomes a ``commit`` node keyed by the repository's canonical URL and its SHA (props
``author``, ``author_name``, ``message``, ``committed_at``, ``authored_at``, ``tags``), with
``in_repo`` → ``repo``, ``authored_by`` → ``person`` (by e-mail, after .mailmap) and ``parent`` →
each parent commit (prop ``index``: 0 is the first parent, the mainline of a merge). Commits go
out in events of ``commits_per_event``, oldest first; an event's id hashes its content, so reading
the same history twice is a duplicate in the event log.

**Cursor** (JSON): the repository URL, the tip collected per branch, and the tags seen. The next
run reads ``git log NEW --not OLD`` per branch, so an unchanged repository costs a few plumbing
calls and emits nothing. A branch whose old tip is no longer in its history (a force-push, a
rebase) is read in full again, with a warning. Tags are compared with the cursor's, so a tag put
on an already collected commit (the usual release flow) still reaches the graph, in a small event
that updates that commit's ``tags``.

The repository URL comes from ``repo_url`` or the remote (``origin``); a repository without a
remote needs ``repo_url``, since commits are identified by repository and SHA.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from collectors.base import Collector, CollectorConfig, CollectorError, Event
from collectors.git_cli import Git, RawCommit
from graph_schema import canonical

MESSAGE_CHARS = 2000
SOURCE = "git"


class GitConfig(CollectorConfig):
    path: Path = Field(description="A working copy or bare clone of the repository.")
    repo_url: str | None = Field(None, description="The repository's URL; default: the remote's URL.")
    remote: str = Field("origin", description="The remote whose URL names the repository.")
    branches: list[str] = Field(default_factory=list, description="Branches to read; default: every local branch.")
    since: date | datetime | None = Field(
        None, description="Only commits after this time (a date is midnight UTC; a time without zone is UTC).")
    tags: bool = Field(True, description="Record tags on the commits they point at.")
    commits_per_event: int = Field(200, ge=1, le=2000)

    @field_validator("repo_url")
    @classmethod
    def _canonical_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return canonical.repo_url(value)
        except canonical.InvalidValue:
            raise ValueError(f"expected a repository URL like https://github.com/org/repo, got "
                             f"{redact(value)!r}") from None


class GitCollector(Collector[GitConfig]):
    """Commits, parents, authors and tags of one local git repository."""

    name: ClassVar[str] = "git"
    config_class: ClassVar[type[CollectorConfig]] = GitConfig
    install_hint: ClassVar[str] = "install git (e.g. apt-get install git) and put it on PATH"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        # No SDK: the git command is the dependency.
        return super().unavailable_reason() or (None if shutil.which("git") else "needs the git command")

    def collect(self, cursor: str | None) -> Iterator[Event]:
        git = Git(self.config.path.expanduser().absolute())  # messages name the directory, not "."
        _check_repository(git)
        repo = self._repo_url(git)
        old_tips, old_tags = self._previous(cursor, repo)
        tips = self._tips(git)
        # A configured branch that is missing keeps its place in the cursor, so that it is not read
        # in full when it comes back; it is not read now (its old tip may be gone too).
        missing = {b: old_tips[b] for b in self.config.branches if b not in tips and b in old_tips}
        exclude = self._exclusions(git, tips, old_tips)
        if not old_tips and git.run("rev-parse", "--is-shallow-repository").stdout.strip() == "true":
            self.report.warnings.append("shallow clone: history beyond the clone's depth is not collected "
                                        "(git fetch --unshallow to read all of it)")
        tags = {t.name: t.commit for t in git.tags(sorted(set(tips.values())))} if self.config.tags else {}
        tags_on, old_tags_on = _by_commit(tags), _by_commit(old_tags)
        events = _Events(repo, _now(), self.config.commits_per_event)
        emitted: set[str] = set()
        wanted = sorted({sha for sha in tips.values() if sha not in exclude})
        since = _git_time(self.config.since) if self.config.since else None
        for raw in git.log(wanted, sorted(exclude), since) if wanted else ():
            self.report.seen += 1
            emitted.add(raw.sha)
            yield from self._count(events.add_commit(raw, _tags_prop(raw.sha, tags_on, old_tags_on)))
        yield from self._count(events.flush("commits"))
        if self.config.tags:
            # Tags that appeared, moved or went away on commits this run did not read.
            retagged = sorted(sha for sha in set(tags_on) | set(old_tags_on)
                              if sha not in emitted and tags_on.get(sha) != old_tags_on.get(sha))
            if since:  # a tag on a commit before the horizon would bring in a commit the run left out
                retagged = sorted(git.committed_since(retagged, since))
            for sha in retagged:
                yield from self._count(events.add_tags(sha, _tags_prop(sha, tags_on, old_tags_on)))
            yield from self._count(events.flush("tags"))
        self.cursor = json.dumps({"repo": repo, "branches": {**missing, **tips}, "tags": tags}, sort_keys=True)

    def _count(self, events: Iterator[Event]) -> Iterator[Event]:
        for event in events:
            self.report.emitted += 1
            yield event

    def _repo_url(self, git: Git) -> str:
        if self.config.repo_url:
            return self.config.repo_url
        remote = self.config.remote
        url = git.config(f"remote.{remote}.url")
        fix = ("set repo_url in the source's config (lineage collect git --repo-url "
               "https://github.com/org/repo): commits are identified by repository URL and SHA")
        if url is None:
            raise CollectorError(f"{git.path} has no remote {remote!r} to name the repository by; {fix}")
        try:
            return canonical.repo_url(url)
        except canonical.InvalidValue:
            raise CollectorError(f"the URL of remote {remote!r} in {git.path} ({redact(url)}) is not a hosted "
                                 f"repository URL; {fix}") from None

    def _previous(self, cursor: str | None, repo: str) -> tuple[dict[str, str], dict[str, str]]:
        """Branch tips and tags from the last run's cursor; empty (a full read) when unusable."""
        if cursor is None:
            return {}, {}
        try:
            data = json.loads(cursor)
            if data["repo"] != repo:
                self.report.warnings.append(
                    f"the saved cursor is for {data['repo']}, not {repo}; reading the whole history (give each "
                    f"repository its own source name)")
                return {}, {}
            return dict(data["branches"]), dict(data["tags"])
        except (ValueError, KeyError, TypeError):
            self.report.warnings.append("the saved cursor is not a git collector cursor; reading the whole history")
            return {}, {}

    def _tips(self, git: Git) -> dict[str, str]:
        """The branches to read and their tips now."""
        if not self.config.branches:
            tips = git.branches()
            if not tips and (head := git.resolve("HEAD")):
                tips = {"HEAD": head}  # a detached checkout, as CI systems make them
            if not tips:
                self.report.warnings.append(f"{git.path} has no commits yet")
            return tips
        tips = {}
        for branch in self.config.branches:
            sha = git.resolve(branch)
            if sha:
                tips[branch] = sha
                continue
            self.report.fail(f"branch {branch}", f"not found in {git.path}; list branches with `git branch -a`")
        return tips

    def _exclusions(self, git: Git, tips: dict[str, str], old_tips: dict[str, str]) -> set[str]:
        """Old tips whose history was collected and is still the branch's history."""
        exclude = set()
        for branch, tip in tips.items():
            old = old_tips.get(branch)
            if old is None or old == tip:
                exclude.update([old] if old else [])
            elif git.is_ancestor(old, tip):
                exclude.add(old)
            else:
                self.report.warnings.append(
                    f"branch {branch}: the last collected tip {old[:12]} is no longer in its history "
                    f"(force-push or rebase); reading the branch in full")
        return exclude


def _check_repository(git: Git) -> None:
    if not git.path.is_dir():
        raise CollectorError(f"{git.path} is not a directory; point path (--repo) at a clone of the repository")
    done = git.run("rev-parse", "--git-dir")
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[0] if done.stderr.strip() else "not a git repository"
        hint = (f"; as the user running lineage: git config --global --add safe.directory {git.path}"
                if "dubious ownership" in done.stderr else "; point path (--repo) at a clone of the repository")
        raise CollectorError(f"cannot read {git.path} as a git repository ({reason}){hint}")


class _Events:
    """Builds self-contained lineage events: every edge endpoint is declared in the event."""

    def __init__(self, repo: str, time: str, size: int) -> None:
        self.repo, self.time, self.size = repo, time, size
        self.slug = re.sub(r"[^A-Za-z0-9._-]+", "-", repo.rsplit("/", 1)[-1])[:60]
        self._reset()

    def _reset(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.edges: list[dict[str, Any]] = []
        self.commits = 0
        self.newest = ""

    def _commit_ref(self, sha: str) -> dict[str, Any]:
        return {"kind": "commit", "key": {"repo": self.repo, "sha": sha}}

    def _declare(self, node: dict[str, Any], *, replace: bool = False) -> dict[str, Any]:
        ref = {"kind": node["kind"], "key": node["key"]}
        identity = json.dumps(ref, sort_keys=True)
        if replace or identity not in self.nodes:
            self.nodes[identity] = node
        return ref

    def _link(self, source: dict[str, Any], target: dict[str, Any], kind: str, **props: Any) -> None:
        edge = {"source": source, "target": target, "kind": kind, "evidence": "observed"}
        self.edges.append({**edge, "props": props} if props else edge)

    def _in_repo(self, commit: dict[str, Any]) -> None:
        self._link(commit, self._declare({"kind": "repo", "key": {"url": self.repo}}), "in_repo")

    def add_commit(self, raw: RawCommit, tags: dict[str, Any]) -> Iterator[Event]:
        email = raw.author_email.strip().lower()  # as the graph keys people
        props: dict[str, Any] = {
            "author": email or None, "author_name": raw.author_name.strip() or None,
            "message": raw.message.strip()[:MESSAGE_CHARS], "committed_at": _utc(raw.committed_at),
            "authored_at": _utc(raw.authored_at), **tags}
        commit = self._declare({**self._commit_ref(raw.sha), "props": {k: v for k, v in props.items()
                                                                     if v is not None or k == "tags"}},
                               replace=True)
        self._in_repo(commit)
        if email:
            person = self._declare({"kind": "person", "key": {"id": email},
                                    "props": {"name": raw.author_name.strip()} if raw.author_name.strip() else {}})
            self._link(commit, person, "authored_by")
        for index, parent in enumerate(raw.parents):
            self._link(commit, self._declare(self._commit_ref(parent)), "parent", index=index)
        return self._advance(raw.sha, "commits")

    def add_tags(self, sha: str, tags: dict[str, Any]) -> Iterator[Event]:
        self._in_repo(self._declare({**self._commit_ref(sha), "props": tags}, replace=True))
        return self._advance(sha, "tags")

    def _advance(self, sha: str, what: str) -> Iterator[Event]:
        self.commits += 1
        self.newest = sha
        return self.flush(what) if self.commits >= self.size else iter(())

    def flush(self, what: str) -> Iterator[Event]:
        if not self.commits:
            return
        body = {"nodes": list(self.nodes.values()), "edges": self.edges}
        digest = hashlib.blake2b(json.dumps(body, sort_keys=True).encode(), digest_size=8).hexdigest()
        # The id names what it holds and hashes its content: the same read is a duplicate, a changed
        # one (a tag added since) a new event.
        event_id = f"git-{self.slug}-{what}-{self.newest[:12]}-{digest}"
        self._reset()
        yield {"schema": "lineage-event/1", "id": event_id, "time": self.time, "source": SOURCE, **body}


def _by_commit(tags: dict[str, str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, sha in sorted(tags.items()):
        found.setdefault(sha, []).append(name)
    return found


def _tags_prop(sha: str, now: dict[str, list[str]], before: dict[str, list[str]]) -> dict[str, Any]:
    """The ``git_tags`` prop, a map as the GitHub webhook writes it (``{"v1.2.3": true}``): maps merge
    across sources where lists would replace each other, and a tag that went away is a null, which
    the merge patch deletes for that name only."""
    current: dict[str, Any] = {tag: True for tag in now.get(sha, [])}
    gone = {tag: None for tag in before.get(sha, []) if tag not in current}
    return {"git_tags": {**gone, **current}} if current or gone else {}


def _git_time(moment: date | datetime) -> str:
    """A time git reads exactly: a bare date would mean that day at the current time of day."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _utc(text: str) -> str | None:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def redact(url: str) -> str:
    """A URL without the credentials some remotes carry (``https://user:token@host/…``)."""
    return re.sub(r"(?<=://)[^/@\s]+@", "***@", url)
