"""Canonical forms of the values that identify things: SHAs, digests, versions, URLs, images.

Every function takes what a user or a system wrote and returns the one spelling the graph
stores, or raises ``InvalidValue`` with a message that says what form was expected. Pure
standard library: the CLI imports this on every start, so it must stay cheap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit


class InvalidValue(ValueError):
    """A value that cannot be put into canonical form; the message names the expected form."""


_HEX40 = re.compile(r"[0-9a-f]{40}")
_HEX_PREFIX = re.compile(r"[0-9a-f]{4,40}")
_DIGEST = re.compile(r"(sha256):([0-9a-f]{64})|(sha512):([0-9a-f]{128})")
_SEMVER = re.compile(r"[vV]?(\d+(?:\.\d+)*(?:[-+][0-9A-Za-z.+-]*)?)")
_IDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]*")


def git_sha(value: str) -> str:
    """A full 40-hex git commit SHA, lower case."""
    sha = value.strip().lower()
    if not _HEX40.fullmatch(sha):
        raise InvalidValue(
            f"expected a full 40-character hexadecimal git SHA, got {value!r}"
            + (" (short SHAs are accepted in queries, not in stored facts)"
               if _HEX_PREFIX.fullmatch(sha) else "")
        )
    return sha


def sha_prefix(value: str) -> str:
    """A SHA prefix as typed in a query (at least 4 hex characters)."""
    prefix = value.strip().lower()
    if not _HEX_PREFIX.fullmatch(prefix):
        raise InvalidValue(f"expected 4 to 40 hexadecimal characters of a commit SHA, got {value!r}")
    return prefix


def digest(value: str) -> str:
    """An OCI content digest: ``sha256:`` followed by 64 hex characters (sha512 also accepted).

    A bare 64-hex string is taken as sha256, as ``docker images --digests`` users often paste it.
    """
    text = value.strip().lower()
    if re.fullmatch(r"[0-9a-f]{64}", text):
        text = "sha256:" + text
    if not _DIGEST.fullmatch(text):
        raise InvalidValue(f"expected an image digest like 'sha256:<64 hex characters>', got {value!r}")
    return text


def is_digest(value: str) -> bool:
    try:
        digest(value)
    except InvalidValue:
        return False
    return True


def release_version(value: str) -> str:
    """A release version without the leading ``v``: ``v1.2.3`` and ``1.2.3`` are the same release.

    Versions that are not dotted numbers (``2024-05-rc``, ``customer-release``) are kept as
    written, since there is nothing to normalise.
    """
    text = value.strip()
    if not text:
        raise InvalidValue("expected a release version like 'v1.2.3' or '1.2.3', got an empty string")
    match = _SEMVER.fullmatch(text)
    if match:
        return match.group(1)
    if not _IDENT.fullmatch(text):
        raise InvalidValue(f"expected a release version like 'v1.2.3' or '1.2.3', got {value!r}")
    return text


def display_version(version: str) -> str:
    """How a canonical release version is shown to people: ``v1.2.3``."""
    return f"v{version}" if version[:1].isdigit() else version


# The same characters as str.isspace (both use Python's Unicode whitespace table), searched in C:
# a generator over the characters was a third of validating an event's keys.
_WHITESPACE = re.compile(r"\s")


def name(value: str, what: str = "name") -> str:
    """A plain identifier (asset names, namespaces, services): trimmed, not empty, no spaces."""
    text = value.strip()
    if not text or len(text) > 256 or _WHITESPACE.search(text):
        raise InvalidValue(f"expected a {what} without spaces (1 to 256 characters), got {value!r}")
    return text


def asset_version(value: str | int) -> str:
    """An asset version (Azure ML data assets and models use integers or free labels)."""
    text = str(value).strip()
    if not text or any(ch.isspace() for ch in text) or len(text) > 128:
        raise InvalidValue(f"expected a version without spaces like '3', got {value!r}")
    return text


@lru_cache(maxsize=4096)  # the same few repositories are named on every commit
def repo_url(value: str) -> str:
    """A repository URL in one spelling: ``https://host/path`` without credentials or ``.git``.

    ``git@github.com:org/repo.git``, ``https://token@github.com/Org/Repo/`` and
    ``https://github.com/org/repo`` are the same repository. Azure DevOps SSH URLs
    (``git@ssh.dev.azure.com:v3/org/project/repo``) become their ``_git`` HTTPS form. GitHub paths
    are case-insensitive, so they are lower-cased there only.
    """
    text = value.strip()
    scp = re.fullmatch(r"(?:[\w.-]+@)?([\w.-]+):(?!//)(.+)", text)
    if scp and "://" not in text:
        host, path = scp.group(1), scp.group(2)
    else:
        parts = urlsplit(text if "://" in text else "https://" + text)
        if parts.scheme not in {"http", "https", "ssh", "git"} or not parts.hostname:
            raise InvalidValue(
                f"expected a repository URL like 'https://github.com/org/repo' or "
                f"'git@github.com:org/repo.git', got {value!r}"
            )
        host, path = parts.hostname, parts.path
    host = host.lower()
    path = path.strip("/")
    # Repeated, so that the canonical form is a fixed point (``repo.git.git``, ``repo/.git``).
    while path.endswith(".git"):
        path = path[:-4].rstrip("/")
    if host == "ssh.dev.azure.com" and path.startswith("v3/"):
        org, project, repo = [*path[3:].split("/"), "", "", ""][:3]
        host, path = "dev.azure.com", f"{org}/{project}/_git/{repo}"
    if host == "github.com":
        path = path.lower()
    # ``?``, ``#`` and whitespace would be cut off or dropped when the URL is read again.
    if not path or any(ch.isspace() or ch in "?#" for ch in path) or ("." not in host and host != "localhost"):
        raise InvalidValue(f"expected a repository URL with an owner and a name, got {value!r}")
    return f"https://{host}/{path}"


@dataclass(frozen=True)
class ImageReference:
    """A parsed image reference: ``registry/repository[:tag][@digest]``."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """``registry/repository``, the part that names the image without a version."""
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


_TAG = re.compile(r"[\w][\w.-]{0,127}")
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")


def image_reference(value: str) -> ImageReference:
    """Parse an image reference the way the Docker distribution grammar does.

    ``nathansegers/azure-mlops-api:v1.2.3`` means ``docker.io/nathansegers/azure-mlops-api``,
    ``ubuntu`` means ``docker.io/library/ubuntu``; the registry is the first component only when
    it looks like a host (has a ``.`` or ``:`` or is ``localhost``).
    """
    text = value.strip()
    error = InvalidValue(
        f"expected an image reference like 'ghcr.io/org/api:v1.2.3' or "
        f"'ghcr.io/org/api@sha256:<64 hex>', got {value!r}"
    )
    if not text or any(ch.isspace() for ch in text):
        raise error
    found_digest = None
    if "@" in text:
        text, _, raw_digest = text.partition("@")
        try:
            found_digest = digest(raw_digest)
        except InvalidValue as exc:
            raise InvalidValue(f"{error} ({exc})") from None
    tag = None
    last_slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > last_slash:
        text, tag = text[:colon], text[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise error
    first, _, rest = text.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first.lower(), rest
    else:
        registry, repository = "docker.io", text
    if registry in {"index.docker.io", "registry-1.docker.io"}:
        registry = "docker.io"
    if registry == "docker.io" and "/" not in repository:
        repository = "library/" + repository
    if not all(_PATH_COMPONENT.fullmatch(part) for part in repository.split("/")):
        raise error
    return ImageReference(registry, repository, tag, found_digest)
