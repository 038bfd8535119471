"""The CI context of a pipeline step: which run, which commit, which repository.

Read from the environment variables GitHub Actions and Azure DevOps set for every step, or, outside
CI, from the git checkout (``git rev-parse HEAD``, ``git remote get-url origin``). The environment
is passed in, never read globally here, so tests and callers say exactly what they mean.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

from graph_schema import canonical
from graph_schema.canonical import InvalidValue

GITHUB, AZURE_DEVOPS, LOCAL = "github-actions", "azure-devops", "local"
GIT_TIMEOUT_SECONDS = 10


class ContextError(RuntimeError):
    """The commit or the run cannot be determined; the message says what to set or where to run."""


@dataclass(frozen=True)
class CiContext:
    system: str  # github-actions, azure-devops, or local (no CI run)
    repo: str  # canonical repository URL
    sha: str  # full commit SHA
    run_id: str | None = None
    attempt: int | None = None
    url: str | None = None
    workflow: str | None = None
    branch: str | None = None
    trigger: str | None = None
    actor: str | None = None
    # The CI job running this step (GITHUB_JOB, System.JobName): the producer of what a step made
    # on the runner itself, when no Azure ML job is named.
    job: str | None = None
    # What git says about the commit, when the checkout has it (CI checkouts usually do).
    author: str | None = None
    message: str | None = None
    committed_at: str | None = None
    dirty: bool = False  # local checkouts only: uncommitted changes to tracked files

    @property
    def in_ci(self) -> bool:
        return self.run_id is not None


def detect(env: Mapping[str, str], cwd: Path | None = None) -> CiContext:
    """The context from ``env`` (GitHub Actions, then Azure DevOps), else from git in ``cwd``."""
    if env.get("GITHUB_ACTIONS", "").lower() == "true":
        found = _github(env)
    elif env.get("TF_BUILD", "").lower() == "true":
        found = _azure_devops(env)
    else:
        return _local(cwd)
    return _with_commit_details(found, cwd)


def _required(env: Mapping[str, str], system: str, names: tuple[str, ...]) -> dict[str, str]:
    missing = [name for name in names if not env.get(name, "").strip()]
    if missing:
        raise ContextError(f"running in {system} but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                           f"not set; lineage emit reads the commit and the run from them (pass them through if "
                           f"this step runs in a container)")
    return {name: env[name].strip() for name in names}


def _canonical(system: str, sha: str, repo: str, sha_var: str) -> tuple[str, str]:
    try:
        return canonical.git_sha(sha), canonical.repo_url(repo)
    except InvalidValue as exc:
        raise ContextError(f"{system}: {exc} (from {sha_var} and the repository variables); lineage emit needs a "
                           f"git commit") from None


def _attempt(value: str | None) -> int:
    return int(value) if value and value.strip().isdigit() else 1


def _optional(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name, "").strip() or None


def _github(env: Mapping[str, str]) -> CiContext:
    values = _required(env, "GitHub Actions", ("GITHUB_SHA", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    server = (_optional(env, "GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
    repository, run_id = values["GITHUB_REPOSITORY"], values["GITHUB_RUN_ID"]
    sha, repo = _canonical("GitHub Actions", values["GITHUB_SHA"], f"{server}/{repository}", "GITHUB_SHA")
    return CiContext(
        GITHUB, repo, sha, run_id=run_id, attempt=_attempt(env.get("GITHUB_RUN_ATTEMPT")),
        url=f"{server}/{repository}/actions/runs/{run_id}", workflow=_optional(env, "GITHUB_WORKFLOW"),
        branch=_optional(env, "GITHUB_REF_NAME"), trigger=_optional(env, "GITHUB_EVENT_NAME"),
        actor=_optional(env, "GITHUB_ACTOR"), job=_optional(env, "GITHUB_JOB"))


def _azure_devops(env: Mapping[str, str]) -> CiContext:
    values = _required(env, "Azure DevOps", ("BUILD_SOURCEVERSION", "BUILD_REPOSITORY_URI", "BUILD_BUILDID"))
    sha, repo = _canonical("Azure DevOps", values["BUILD_SOURCEVERSION"], values["BUILD_REPOSITORY_URI"],
                           "BUILD_SOURCEVERSION")
    run_id = values["BUILD_BUILDID"]
    collection, project = _optional(env, "SYSTEM_COLLECTIONURI"), _optional(env, "SYSTEM_TEAMPROJECT")
    # Build ids are unique per organization; the URL (with the organization) tells two apart.
    url = (f"{collection.rstrip('/')}/{quote(project)}/_build/results?buildId={run_id}"
           if collection and project else None)
    return CiContext(
        AZURE_DEVOPS, repo, sha, run_id=run_id, attempt=_attempt(env.get("SYSTEM_JOBATTEMPT")), url=url,
        workflow=_optional(env, "BUILD_DEFINITIONNAME"), branch=_optional(env, "BUILD_SOURCEBRANCHNAME"),
        trigger=_optional(env, "BUILD_REASON"), actor=_optional(env, "BUILD_REQUESTEDFOR"),
        job=_optional(env, "SYSTEM_JOBNAME"))


def _git(cwd: Path | None, *args: str) -> str:
    completed = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                               timeout=GIT_TIMEOUT_SECONDS)
    return completed.stdout.strip()


def _local(cwd: Path | None) -> CiContext:
    where = str(cwd or Path.cwd())
    try:
        sha = _git(cwd, "rev-parse", "HEAD")
        remote = _git(cwd, "remote", "get-url", "origin")
        dirty = bool(_git(cwd, "status", "--porcelain", "--untracked-files=no"))
    except FileNotFoundError:
        raise ContextError("not in GitHub Actions or Azure DevOps, and git is not installed to read the commit; "
                           "run lineage emit in a CI step or in a git checkout") from None
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        said = (exc.stderr or "").strip().splitlines() if isinstance(exc, subprocess.CalledProcessError) else []
        raise ContextError(f"not in GitHub Actions or Azure DevOps, and git cannot name the commit in {where}"
                           f"{': ' + said[-1] if said else ''}; run lineage emit in a CI step, or in a git checkout "
                           f"with a commit and an 'origin' remote") from None
    sha, repo = _canonical("git", sha, remote, "git rev-parse HEAD")
    return _with_commit_details(CiContext(LOCAL, repo, sha, dirty=dirty), cwd)


def _with_commit_details(context: CiContext, cwd: Path | None) -> CiContext:
    """Author, message and time of the commit, when the checkout has it; CI works without them."""
    try:
        text = _git(cwd, "log", "-1", "--format=%H%x00%ae%x00%cI%x00%s", context.sha)
    except (OSError, subprocess.SubprocessError):
        return context  # no git, no checkout, or a shallow clone without this commit
    sha, author, committed_at, message = [*text.split("\x00"), "", "", "", ""][:4]
    if sha != context.sha:
        return context
    return replace(context, author=author or None, committed_at=committed_at or None, message=message or None)
