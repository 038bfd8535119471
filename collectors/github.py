"""The GitHub collector: commits, workflow runs and container package versions from GitHub's REST API.

Per repository (``repositories: [owner/name]``): the repository (``GET /repos/{o}/{r}``), the recent
commits of its default branch (``…/commits?sha=<default branch>``), its workflow runs
(``…/actions/runs``) each linked to its head commit, and, for head commits the branch listing did
not bring (feature branches, pull requests), the commit itself (``…/commits/{sha}``: parents and the
author's login) up to ``max_commit_lookups`` a run. Per container package (``packages:
[owner/name]``, or ``owner/name=owner/repo`` to say which repository's SHAs its tags name): its
versions (``GET /orgs/{owner}/…/versions``, or ``/users/{owner}/…`` for a personal account) as
images with ``<registry>/<owner>/<name>:<tag>`` aliases. What each item becomes is written in
``collectors.github_map``; how rate limits are honoured in ``collectors.github_api``.

**Cursor** (JSON, per repository and package), so that a quiet repository costs a few requests:

- commits: the default branch and the newest commit read; the next run asks ``since`` its time;
- runs: the newest run id and its creation time, and the runs not yet completed (``pending``); the
  next run lists runs created since the oldest of those (``created=>=…``), emits new runs, pending
  runs that changed (a run that finished since) and completed runs queued again (a re-run: a new
  attempt, its old conclusion deleted), and skips the rest. A re-run of a run created before that
  window is not seen (a limit of listing by creation time; the ``workflow_run`` webhook sees it);
- packages: whether the owner is an organisation or a user, the newest version id, and a
  fingerprint of each of the newest 100 versions: the list (newest first) is read down to the
  newest version seen before, and at least a page; among the newest 100, one whose tags changed (a
  release tag added to an image already built, a tag moved away) is emitted again. A tag added to
  an older version is not.

A repository or package that cannot be read (404, no access) is a failure in the report and keeps
its cursor; the others go on. A rejected token (401) makes the whole source unreadable. The token
comes from the environment variable ``token_env`` (``GITHUB_TOKEN``) and is never part of the
config, the cursor, the report or an event.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import SecretStr

from collectors.base import Collector, CollectorConfig, CollectorError, Event
from collectors.event_builder import Json, parse_time, utc_text
from collectors.github_config import GitHubConfig, PackageSpec, registry_host
from collectors.github_map import (
    PackageInfo,
    RepoInfo,
    commit_event,
    head_repository,
    package_version_event,
    run_event,
    version_fingerprint,
)
from graph_schema import canonical

if TYPE_CHECKING:
    from collectors.github_api import GitHubClient

CURSOR_VERSION = 1
RECENT_VERSIONS = 100  # package versions re-checked for tag changes on every run: one page
PENDING_DAYS = 3  # a run still queued after this long is no longer waited for


class GitHubCollector(Collector[GitHubConfig]):
    """Commits, workflow runs and container package versions of GitHub repositories."""

    name: ClassVar[str] = "github"
    config_class: ClassVar[type[CollectorConfig]] = GitHubConfig
    requires: ClassVar[tuple[str, ...]] = ("github",)
    install_hint: ClassVar[str] = "pip install 'lineage-service[github]'"

    def __init__(self, config: GitHubConfig, instance: str | None = None) -> None:
        super().__init__(config, instance)
        # Injectable, so that tests of rate limits never sleep.
        self.sleep: Callable[[float], None] = time.sleep
        self.clock: Callable[[], float] = time.time
        self._repos: dict[str, RepoInfo] = {}  # repositories read in this run, by owner/name

    def collect(self, cursor: str | None) -> Iterator[Event]:
        from collectors.github_api import GitHubClient, GitHubError, RateLimited

        config = self.config
        token = SecretStr(os.environ.get(config.token_env, "").strip())
        if not token.get_secret_value():
            self.report.warnings.append(
                f"no token in ${config.token_env}: anonymous requests (60 an hour, public repositories only)")
        old = self._previous(cursor)
        self._repos = {}
        new: Json = {"v": CURSOR_VERSION, "base_url": config.base_url, "repos": dict(old["repos"]),
                     "packages": dict(old["packages"])}
        client = GitHubClient(config.base_url, token.get_secret_value() or None, timeout=config.timeout,
                              retries=config.retries, request_interval=config.request_interval,
                              max_wait=config.max_rate_limit_wait, sleep=self.sleep, clock=self.clock)
        work: list[tuple[str, Callable[[], Iterator[Event]]]] = [
            *((f"repository {name}", partial(self._repository, client, name, old, new))
              for name in config.repositories),
            *((f"package {spec.package}", partial(self._package, client, spec, old, new)) for spec in config.packages)]
        try:
            for index, (item, read) in enumerate(work):
                try:
                    yield from self._count(read())
                except RateLimited as exc:
                    self.report.fail(item, str(exc))
                    if rest := [name for name, _ in work[index + 1:]]:
                        self.report.warnings.append(f"not read because of the rate limit: {', '.join(rest)}")
                    break
                except GitHubError as exc:
                    if exc.status is None:  # GitHub not reached: nothing else can be read either
                        raise CollectorError(exc.message) from None
                    if exc.status == 401:
                        raise CollectorError(f"GitHub at {config.base_url} rejected the token in "
                                             f"${config.token_env} (401 {exc.message}); set a valid token") from None
                    self.report.fail(item, _explain(exc))
                except canonical.InvalidValue as exc:
                    self.report.fail(item, str(exc))
        finally:
            client.close()
        if client.waited:
            self.report.warnings.append(f"waited {client.waited:.0f}s for GitHub's rate limit")
        self.cursor = json.dumps(new, sort_keys=True)

    def _count(self, events: Iterator[Event]) -> Iterator[Event]:
        for event in events:
            if not event["time"]:  # an item without any time of its own: when it was read
                event["time"] = utc_text(datetime.fromtimestamp(self.clock(), UTC))
            self.report.emitted += 1
            yield event

    def _previous(self, cursor: str | None) -> Json:
        empty: Json = {"repos": {}, "packages": {}}
        if cursor is None:
            return empty
        try:
            data = json.loads(cursor)
            if data.get("v") != CURSOR_VERSION or not isinstance(data["repos"], dict):
                raise ValueError("another version")
            if data.get("base_url") != self.config.base_url:
                self.report.warnings.append(f"the saved cursor is for {data.get('base_url')}, not "
                                            f"{self.config.base_url}; reading everything again")
                return empty
            return {"repos": data["repos"], "packages": dict(data.get("packages") or {})}
        except (ValueError, KeyError, TypeError, AttributeError):
            self.report.warnings.append("the saved cursor is not a GitHub collector cursor; reading everything again")
            return empty

    # Repositories ---------------------------------------------------------------------------------
    def _repo(self, client: GitHubClient, full_name: str) -> RepoInfo:
        """A repository as GitHub describes it, read once per run: its URL keys its commits."""
        if full_name not in self._repos:
            self._repos[full_name] = RepoInfo.from_json(client.get(f"/repos/{full_name}"))
        return self._repos[full_name]

    def _repository(self, client: GitHubClient, full_name: str, old: Json, new: Json) -> Iterator[Event]:
        repo = self._repo(client, full_name)
        before: Json = old["repos"].get(full_name) or {}
        state: Json = {}
        listed: set[str] = set()
        if repo.default_branch:
            yield from self._commits(client, repo, before.get("commits") or {}, state, listed)
        heads: dict[str, RepoInfo] = {}
        yield from self._runs(client, repo, before.get("runs") or {}, state, heads)
        yield from self._lookups(client, {sha: where for sha, where in heads.items() if sha not in listed})
        new["repos"][full_name] = state

    def _commits(self, client: GitHubClient, repo: RepoInfo, before: Json, state: Json,
                 listed: set[str]) -> Iterator[Event]:
        if before.get("branch") != repo.default_branch:
            before = {}  # a renamed default branch: read it afresh
        since = before.get("at") or self._since()
        params = {"sha": repo.default_branch, **({"since": since} if since else {})}
        newest: Json = {}
        for count, item in enumerate(client.pages(f"/repos/{repo.full_name}/commits", params)):
            if count >= self.config.max_items:
                self.report.warnings.append(f"{repo.full_name}: more than {self.config.max_items} new commits on "
                                            f"{repo.default_branch}; the older ones are not read (set since)")
                break
            sha = str(item.get("sha") or "")
            listed.add(sha)
            if not newest:
                newest = {"tip": sha, "at": ((item.get("commit") or {}).get("committer") or {}).get("date")}
            if sha == before.get("tip"):  # `since` is inclusive: the last run's newest comes again
                self.report.skipped += 1
                continue
            self.report.seen += 1
            yield commit_event(repo, item)
        state["commits"] = {"branch": repo.default_branch, **({k: before[k] for k in ("tip", "at") if k in before}),
                            **{k: v for k, v in newest.items() if v}}

    def _runs(self, client: GitHubClient, repo: RepoInfo, before: Json, state: Json,
              heads: dict[str, RepoInfo]) -> Iterator[Event]:
        newest_id = int(before.get("newest") or 0)
        pending: dict[str, list[str]] = dict(before.get("pending") or {})  # id -> [created_at, updated_at]
        marks = [created for created, _ in pending.values() if created] + [str(before.get("created") or "")]
        floor = min(mark for mark in marks if mark) if any(marks) else self._since()
        params = {"created": f">={floor}"} if floor else {}
        still: dict[str, list[str]] = {}
        newest: Json = {"newest": newest_id, "created": before.get("created")}
        complete = True
        for count, item in enumerate(client.pages(f"/repos/{repo.full_name}/actions/runs", params,
                                                  list_item="workflow_runs")):
            if count >= self.config.max_items:
                self.report.warnings.append(f"{repo.full_name}: more than {self.config.max_items} workflow runs to "
                                            f"read; the older ones are not read (set since)")
                complete = False
                break
            run_id, updated = int(item.get("id") or 0), str(item.get("updated_at") or "")
            was_pending = pending.get(str(run_id))
            if item.get("status") != "completed":
                still[str(run_id)] = [str(item.get("created_at") or ""), updated]
            if run_id > newest["newest"]:
                newest = {"newest": run_id, "created": item.get("created_at")}
            # Read before and unchanged since: a pending run that did not move, or a completed one that
            # is still completed (a re-run makes it queued again, with the next attempt).
            unchanged = was_pending[1] == updated if was_pending else item.get("status") == "completed"
            if run_id <= newest_id and unchanged:
                self.report.skipped += 1
                continue
            self.report.seen += 1
            heads.setdefault(str(item.get("head_sha") or ""), head_repository(item) or repo)
            yield run_event(repo, item)
        if not complete:  # pending runs beyond what was listed are still pending
            still = {**{k: v for k, v in pending.items() if k not in still}, **still}
        state["runs"] = {**{k: v for k, v in newest.items() if v},
                         "pending": self._recent(still, newest.get("created"))}

    def _recent(self, pending: dict[str, list[str]], newest_created: str | None) -> dict[str, list[str]]:
        """Pending runs, without those queued for days (they would keep the listing window open)."""
        horizon = parse_time(newest_created)
        if horizon is None:
            return pending
        kept = {}
        for run_id, (created, updated) in sorted(pending.items()):
            moment = parse_time(created)
            if moment is not None and moment < horizon - timedelta(days=PENDING_DAYS):
                self.report.warnings.append(f"run {run_id} is still not completed after {PENDING_DAYS} days; "
                                            f"no longer followed")
                continue
            kept[run_id] = [created, updated]
        return kept

    def _lookups(self, client: GitHubClient, heads: dict[str, RepoInfo]) -> Iterator[Event]:
        """Head commits of runs that the branch listing did not bring, one request each."""
        from collectors.github_api import GitHubError

        wanted = sorted(sha for sha in heads if sha)
        if len(wanted) > self.config.max_commit_lookups:
            self.report.warnings.append(f"{len(wanted)} head commits to look up; only {self.config.max_commit_lookups}"
                                        f" are (max_commit_lookups); the runs still name the others")
        for sha in wanted[: self.config.max_commit_lookups]:
            repo = heads[sha]
            try:
                data = client.get(f"/repos/{repo.full_name}/commits/{sha}")
            except GitHubError as exc:
                if exc.status in (404, 422):  # force-pushed away: the run still names it
                    self.report.warnings.append(f"commit {sha[:12]} in {repo.full_name}: {exc.status} {exc.message}")
                    continue
                raise
            self.report.seen += 1
            yield commit_event(repo, data)

    # Packages -------------------------------------------------------------------------------------
    def _package(self, client: GitHubClient, spec: PackageSpec, old: Json, new: Json) -> Iterator[Event]:
        from collectors.github_api import GitHubError

        owner, _, name = spec.package.partition("/")
        image = f"{self.config.registry or registry_host(self.config.base_url)}/{owner}/{name}".lower()
        canonical.image_reference(image)  # a package name that cannot be an image reference fails here
        # The repository's own URL (its html_url), as its commits are keyed, on GitHub Enterprise too.
        commits_repo = self._repo(client, spec.repository).url if spec.repository else None
        package = PackageInfo(owner, name, image, commits_repo)
        before: Json = old["packages"].get(spec.package) or {}
        scopes = [before["scope"]] if before.get("scope") in ("orgs", "users") else ["orgs", "users"]
        for scope in scopes:
            path = f"/{scope}/{owner}/packages/container/{urllib.parse.quote(name, safe='')}/versions"
            state: Json = {"scope": scope}
            try:
                yield from self._versions(client, path, package, before if before.get("scope") == scope else {},
                                          state)
            except GitHubError as exc:
                if exc.status == 404 and scope != scopes[-1]:
                    continue  # not an organisation: try the user of that name
                raise
            new["packages"][spec.package] = state
            return

    def _versions(self, client: GitHubClient, path: str, package: PackageInfo, before: Json,
                  state: Json) -> Iterator[Event]:
        newest_id = int(before.get("newest") or 0)
        recent: dict[str, str] = dict(before.get("recent") or {})
        since = parse_time(self._since())
        state.update(newest=newest_id, recent={})
        for index, item in enumerate(client.pages(path)):
            version_id = int(item.get("id") or 0)
            if (index >= RECENT_VERSIONS and version_id <= newest_id) or (
                    since and (created := parse_time(item.get("created_at"))) and created < since):
                break
            if index >= self.config.max_items:
                self.report.warnings.append(f"package {package.owner}/{package.name}: more than "
                                            f"{self.config.max_items} new versions; the older ones are not read")
                break
            fingerprint = version_fingerprint(item)
            if index < RECENT_VERSIONS:
                state["recent"][str(version_id)] = fingerprint
            state["newest"] = max(state["newest"], version_id)
            if version_id <= newest_id and recent.get(str(version_id)) in (fingerprint, None):
                self.report.skipped += 1
                continue
            self.report.seen += 1
            try:
                yield package_version_event(package, item)
            except canonical.InvalidValue as exc:
                self.report.fail(f"package {package.owner}/{package.name} version {version_id}", str(exc))

    def _since(self) -> str | None:
        moment = self.config.since
        if moment is None:
            return None
        if not isinstance(moment, datetime):
            moment = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
        return utc_text(moment)


def _explain(exc: Any) -> str:
    if exc.status == 404:
        return ("not found (404): check the name, and that the token can read it (private repositories need the "
                "repo scope, packages read:packages)")
    if exc.status == 403:
        return f"forbidden (403 {exc.message}): the token lacks a scope or the organisation blocks it"
    return str(exc)
