"""The GitHub collector's config: what to read, where, and how patiently (see ``collectors.github``)."""

from __future__ import annotations

import re
import urllib.parse
from datetime import date, datetime
from typing import Any

from pydantic import Field, field_validator, model_validator

from collectors.base import CollectorConfig

_OWNER_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*)/[A-Za-z0-9._-]+"


class PackageSpec(CollectorConfig):
    package: str = Field(description="owner/name of a container package (the name may contain '/').")
    repository: str | None = Field(None, description="owner/repo whose commit SHAs the image tags name.")

    @field_validator("package")
    @classmethod
    def _package(cls, value: str) -> str:
        owner, _, name = value.strip().partition("/")
        if not owner or not name or any(ch.isspace() for ch in value.strip()):
            raise ValueError(f"expected owner/name of a container package, got {value!r}")
        return value.strip()

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str | None) -> str | None:
        return _owner_name(value) if value is not None else None


class GitHubConfig(CollectorConfig):
    repositories: list[str] = Field(default_factory=list, description="Repositories as owner/name.")
    packages: list[PackageSpec] = Field(
        default_factory=list, description="Container packages: owner/name, or owner/name=owner/repo (or a mapping).")
    base_url: str = Field("https://api.github.com",
                          description="The REST API; GitHub Enterprise Server: https://HOST/api/v3.")
    token_env: str = Field("GITHUB_TOKEN", description="The environment variable holding the token.")
    registry: str | None = Field(None, description="The container registry host; default ghcr.io, or "
                                                   "containers.HOST for GitHub Enterprise Server.")
    since: date | datetime | None = Field(None, description="On the first run, leave out what is older.")
    max_items: int = Field(1000, ge=1, description="At most this many commits, runs or versions per list and run.")
    max_commit_lookups: int = Field(100, ge=0, description="Head commits of runs fetched one by one, per run.")
    max_rate_limit_wait: float = Field(60.0, ge=0, description="Longest wait for a rate limit, in seconds; "
                                                               "beyond it the run stops and reports it.")
    request_interval: float = Field(0.25, ge=0, description="Seconds between requests (PyGithub's throttle).")
    timeout: int = Field(30, ge=1, le=600)
    retries: int = Field(3, ge=0, le=10, description="Retries of a request answered 5xx.")

    @field_validator("packages", mode="before")
    @classmethod
    def _package_strings(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        return [dict(zip(("package", "repository"), item.split("=", 1), strict=False)) if isinstance(item, str)
                else item for item in value]

    @field_validator("repositories")
    @classmethod
    def _repositories(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(_owner_name(item) for item in value))

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        parts = urllib.parse.urlsplit(value.strip())
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.username or parts.password:
            raise ValueError("expected the API URL, like https://api.github.com or https://HOST/api/v3 "
                             "(without credentials: the token comes from token_env)")
        return value.strip().rstrip("/")

    @model_validator(mode="after")
    def _something_to_read(self) -> GitHubConfig:
        if not self.repositories and not self.packages:
            raise ValueError("give at least one repository (owner/name) or package to read")
        return self


def _owner_name(value: str) -> str:
    text = value.strip().removesuffix(".git")
    if not re.fullmatch(_OWNER_NAME, text):
        raise ValueError(f"expected owner/name like nathansegers/mlops-2.0, got {value!r}")
    return text


def registry_host(base_url: str) -> str:
    """Where a GitHub's container images live: ghcr.io, or containers.HOST on GitHub Enterprise Server."""
    host = urllib.parse.urlsplit(base_url).hostname or ""
    return "ghcr.io" if host.lower() in {"api.github.com", "github.com"} else f"containers.{host.lower()}"
