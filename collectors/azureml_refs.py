"""How Azure ML names things, parsed: asset references, job git properties, environment images.

Pure standard library (no SDK): the same strings arrive from YAML, from the SDK's entities and
from the REST API, in several spellings that all mean one asset version:

- ``azureml:green-taxi-data:5`` and ``green-taxi-data:5`` (the SDK strips ``azureml:`` when it
  loads YAML), a version;
- ``azureml:green-taxi-data@latest``, a label, resolved later to a version;
- ``azureml:/subscriptions/…/workspaces/ws/data/green-taxi-data/versions/5`` (the ARM id the SDK
  submits after resolving a label), ``azureml://locations/…/data/…/versions/5`` and
  ``azureml://registries/reg/models/…/versions/3`` (asset URIs), a version.

Anything else (``azureml://datastores/…/paths/…``, ``https://…``, ``wasbs://…``, a local path) is
a storage location, not an asset, and is kept as a job property only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from graph_schema import canonical

# The last ``/<kind>/<name>/versions/<version>`` of an ARM id or an azureml:// asset URI.
_VERSIONED_ID = re.compile(r"/(data|models|environments)/([^/]+)/versions/([^/?#]+)/?$", re.IGNORECASE)
# ``[azureml:]name:version`` or ``[azureml:]name@label``; names as Azure ML allows them.
_SHORT = re.compile(r"(?:azureml:)?([A-Za-z0-9][\w.-]{0,254})(?::([\w.-]{1,128})|@([\w.-]{1,128}))")
_KINDS = {"data": "data", "models": "model", "environments": "environment"}


@dataclass(frozen=True)
class AssetRef:
    """A reference to one asset: a concrete ``version``, or a ``label`` (``latest``) to resolve."""

    name: str
    version: str | None = None
    label: str | None = None
    kind: str | None = None  # "data", "model", "environment" when the reference says so (ARM ids)

    def __str__(self) -> str:
        return f"{self.name}:{self.version}" if self.version else f"{self.name}@{self.label}"


def asset_ref(value: object) -> AssetRef | None:
    """The asset a job input, a deployment's model or environment refers to; None for anything else."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    found = _VERSIONED_ID.search(text)
    if found and (text.startswith(("azureml:", "/subscriptions/"))):
        return AssetRef(found.group(2), found.group(3), None, _KINDS[found.group(1).lower()])
    if "/" in text or "://" in text:
        return None  # a datastore path, a URL, a local path: storage, not a named asset
    short = _SHORT.fullmatch(text)
    if not short:
        return None
    name, version, label = short.groups()
    return AssetRef(name, version, label)


@dataclass(frozen=True)
class GitInfo:
    """What a job's properties say about the code it ran."""

    sha: str | None  # a full 40-hex SHA, or None
    repo: str | None  # canonical repository URL, or None
    dirty: bool
    branch: str | None
    problems: tuple[str, ...]  # why a link to the commit could not be made, or what disagreed


GIT_COMMIT = "azureml.git.commit"
GIT_REPO = "azureml.git.repository_uri"
GIT_DIRTY = "azureml.git.dirty"
GIT_BRANCH = "azureml.git.branch"
MLFLOW_COMMIT = "mlflow.source.git.commit"
MLFLOW_REPO = "mlflow.source.git.repoURL"
MLFLOW_BRANCH = "mlflow.source.git.branch"


def git_info(properties: dict[str, object] | None) -> GitInfo:
    """The commit, repository and dirty flag Azure ML recorded when the job was submitted from a clone.

    Azure ML writes ``azureml.git.*`` and MLflow ``mlflow.source.git.*``; both are read, the
    Azure ML ones first. A short or malformed SHA, or a repository URL that names no repository
    (a local path), is reported rather than guessed.
    """
    props = {str(key): str(value).strip() for key, value in (properties or {}).items() if value is not None}
    problems: list[str] = []
    shas = [props[key] for key in (GIT_COMMIT, MLFLOW_COMMIT) if props.get(key)]
    sha = None
    if shas:
        try:
            sha = canonical.git_sha(shas[0])
        except canonical.InvalidValue as exc:
            problems.append(f"{GIT_COMMIT if props.get(GIT_COMMIT) else MLFLOW_COMMIT}: {exc}")
        if len({value.lower() for value in shas}) > 1:
            problems.append(f"{GIT_COMMIT} ({shas[0][:12]}) and {MLFLOW_COMMIT} ({shas[1][:12]}) disagree; "
                            f"using {GIT_COMMIT}")
    raw_repo = props.get(GIT_REPO) or props.get(MLFLOW_REPO)
    repo = None
    if raw_repo:
        try:
            repo = canonical.repo_url(raw_repo)
        except canonical.InvalidValue:
            problems.append(f"{GIT_REPO} is not a repository URL ({redact(raw_repo)})")
    elif sha:
        problems.append(f"{GIT_COMMIT} is set but {GIT_REPO} is not: a commit is identified by repository and SHA")
    dirty = props.get(GIT_DIRTY, "").lower() == "true"
    branch = props.get(GIT_BRANCH) or props.get(MLFLOW_BRANCH) or None
    return GitInfo(sha, repo, dirty, branch, tuple(problems))


def image_digest(reference: str | None) -> str | None:
    """The digest of an image reference pinned by digest (``…@sha256:…``); None for a tag only."""
    if not reference:
        return None
    try:
        return canonical.image_reference(reference).digest
    except canonical.InvalidValue:
        return None


def redact(url: str) -> str:
    """A URL without the credentials a clone URL may carry (``https://user:token@host/…``)."""
    return re.sub(r"(?<=://)[^/@\s]+@", "***@", url)
