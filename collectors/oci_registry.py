"""The registry collector: tags, digests, labels and attachments of an OCI registry (distribution API v2).

Per repository (``repositories``, or the registry's ``/v2/_catalog``): list the tags (``Link``
pages), resolve each wanted tag to its manifest digest with ``HEAD`` (``Docker-Content-Digest``), and
read only digests not seen before: the manifest, the image config blob (labels, created, platform),
and the attachments. Each digest becomes an ``image`` node keyed by it; the tags pointing at it are
aliases (``registry/repository:tag``) and entries of the ``tags`` map; labels give ``built_from`` →
commit (declared, ``collectors.oci_image``); ``config_digest`` is the docker collector's ``image_id``.

**Indexes** (multi-platform images): the tag names the index digest, but a node running the image
(and Kubernetes' ``imageID``) may report the *platform* manifest's digest. The graph has no
image → image edge, and inventing one would make ``trace`` walk sideways, so: the index node carries
``platforms`` (``[{"digest", "platform"}]``), and every platform manifest becomes an ``image`` node of
its own, with ``in_index`` (``{index digest: platform}``) and the ``built_from`` its own config's
labels declare. Whichever digest a cluster reports then traces to the commit. The index node gets a
``built_from`` when its annotations say so or all its platforms agree.

**Attachments**: the referrers API (``/v2/<name>/referrers/<digest>``, OCI 1.1) when a digest is
first read; where the registry lacks it (404, as distribution 2.8), cosign's tag schema
``sha256-<hex>.sig`` / ``.att`` / ``.sbom`` and the OCI fallback tag ``sha256-<hex>``, which the tag
list already shows. Buildx attestation manifests inside an index count too. They are recorded in the
subject's ``attestations`` prop (``{digest: {artifact_type, via, predicate_types, …}}``); their content
is not checked (``lineage ingest`` takes the provenance itself).

**Cursor** (JSON): per repository, tag → digest (attachment tags included). A run lists the tags and
re-resolves only tags matching ``mutable_tags`` (default every tag: a moved tag can only be seen by
resolving it; ``HEAD`` is the cheapest way), so a run with nothing new makes the tag-list calls and
one ``HEAD`` per mutable tag, and reads no manifest. A moved tag becomes an alias of its new digest and
``null`` in the old digest's ``tags`` (the alias itself stays: aliases are history). Attachments added
later through the referrers API (not a tag) are seen only when their subject is read again.
The report's ``requests`` counts HTTP requests by kind.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from collectors import oci_image
from collectors.base import Collector, CollectorConfig, CollectorError, Event, Report
from collectors.oci_describe import ImageReader
from collectors.oci_http import HTTPProblem, RegistryClient, Unreachable, is_loopback
from collectors.oci_reads import ATTACHMENT_TAG, Repository, pages
from graph_schema import canonical

SOURCE = "registry"
DOCKER_HUB = {"docker.io", "index.docker.io", "registry-1.docker.io"}


class RegistryConfig(CollectorConfig):
    registry: str = Field(description="The registry: ghcr.io, https://registry.example.com, "
                                      "http://127.0.0.1:5000 (with insecure_http).")
    repositories: list[str] = Field(default_factory=list,
                                    description="Repositories (org/api); default: the registry's catalog.")
    tags: list[str] = Field(default_factory=lambda: ["*"], description="Tags to collect, as globs (v*, latest).")
    mutable_tags: list[str] = Field(
        default_factory=lambda: ["*"], description="Tags that may move, re-resolved every run (globs); other "
                                                   "tags are resolved once, as SHA tags are never moved.")
    username: str | None = None
    password: SecretStr | None = None
    password_env: str | None = Field(None, description="The environment variable holding the password (keeps it "
                                                       "out of lineage.yaml and command lines).")
    token: SecretStr | None = Field(None, description="A bearer token, sent as is (no token exchange).")
    token_env: str | None = Field(None, description="The environment variable holding the token.")
    insecure_http: bool = Field(False, description="Allow http:// (a local or in-cluster registry).")
    ca_file: Path | None = Field(None, description="CA bundle for a registry with a private certificate.")
    repo_url: str | None = Field(None, description="The repository of images with a revision label but no source.")
    referrers: bool = Field(True, description="Look for attestations and signatures.")
    page_size: int = Field(1000, ge=1, le=10_000)
    timeout: float = Field(30.0, gt=0, le=600)

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str) -> str:
        text = value.strip().rstrip("/")
        parts = urlsplit(text if "://" in text else f"https://{text}")
        if parts.username or parts.password:
            raise ValueError("put credentials in username and password (or token), not in the URL")
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path or parts.query:
            raise ValueError(f"expected a registry like ghcr.io or https://registry.example.com:5000, got {value!r}")
        return f"{parts.scheme}://{parts.netloc.lower()}"

    @field_validator("repositories")
    @classmethod
    def _repositories(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                canonical.image_reference(f"registry.invalid/{value}")
            except canonical.InvalidValue:
                raise ValueError(f"expected a repository like org/api (lower case), got {value!r}") from None
        return values

    @field_validator("repo_url")
    @classmethod
    def _repo_url(cls, value: str | None) -> str | None:
        try:
            return canonical.repo_url(value) if value else None
        except canonical.InvalidValue:
            raise ValueError("expected a repository URL like https://github.com/org/repo") from None

    @model_validator(mode="after")
    def _transport(self) -> RegistryConfig:
        parts = urlsplit(self.registry)
        if parts.scheme == "http" and not self.insecure_http:
            raise ValueError(f"{self.registry} is plain HTTP: set insecure_http (--insecure-http) to allow it")
        if (self.password is not None and self.password_env) or (self.token is not None and self.token_env):
            raise ValueError("give a secret or the environment variable that holds it, not both")
        has_password = self.password is not None or bool(self.password_env)
        has_token = self.token is not None or bool(self.token_env)
        if has_password != (self.username is not None):
            raise ValueError("username and password (or password_env) go together")
        if has_token and self.username is not None:
            raise ValueError("give either token or username and password, not both")
        if parts.scheme == "http" and (has_password or has_token) and not is_loopback(parts.hostname):
            raise ValueError(f"refusing to send credentials over plain HTTP to {parts.netloc}: use https "
                             f"(insecure_http with credentials is for loopback registries only)")
        if self.host == "docker.io":  # Docker Hub's official images live under library/
            official = [name if "/" in name else f"library/{name}" for name in self.repositories]
            object.__setattr__(self, "repositories", official)
        return self

    @property
    def api(self) -> str:
        """Where the API answers: Docker Hub's is not at docker.io."""
        parts = urlsplit(self.registry)
        return "https://registry-1.docker.io" if parts.hostname in DOCKER_HUB else self.registry

    @property
    def host(self) -> str:
        """The registry as image references name it (``docker.io``, ``ghcr.io``, ``127.0.0.1:5000``)."""
        parts = urlsplit(self.registry)
        return "docker.io" if parts.hostname in DOCKER_HUB else parts.netloc


@dataclass
class RegistryReport(Report):
    requests: Counter[str] = field(default_factory=Counter)  # HTTP requests by kind, and "total"

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "requests": dict(sorted(self.requests.items()))}


class RegistryCollector(Collector[RegistryConfig]):
    """Images of an OCI registry by digest, with tags, labels, platforms and attachments."""

    name: ClassVar[str] = "registry"
    config_class: ClassVar[type[CollectorConfig]] = RegistryConfig

    def __init__(self, config: RegistryConfig, instance: str | None = None) -> None:
        super().__init__(config, instance)
        self.report: RegistryReport = RegistryReport(self.instance)

    def collect(self, cursor: str | None) -> Iterator[Event]:
        config = self.config
        client = RegistryClient(config.api, username=config.username,
                                password=_secret(config.password, config.password_env, "password_env"),
                                token=_secret(config.token, config.token_env, "token_env"),
                                timeout=config.timeout, ca_file=str(config.ca_file) if config.ca_file else None)
        self.report.requests = client.counts
        previous = self._previous(cursor)
        state: dict[str, dict[str, str]] = {}
        reader = ImageReader(config.repo_url, config.referrers, self.report)
        time = oci_image.now()
        for name in self._repositories(client):
            repository = Repository(client, name, config.page_size)
            old = previous.get(name, {})
            try:
                yield from _RepositoryRun(self, repository, reader, old, time).collect(state)
            except (Unreachable, HTTPProblem) as exc:
                if isinstance(exc, Unreachable) and client.answered == 0:
                    raise CollectorError(f"{exc}; check the registry URL ({config.registry}) and the network") \
                        from None
                self.report.fail(f"repository {name}", str(exc))
                if old:
                    state[name] = old  # read again next run, from where the last good run left it
        self.cursor = json.dumps({"registry": config.api, "repositories": state}, sort_keys=True)

    def _repositories(self, client: RegistryClient) -> list[str]:
        if self.config.repositories:
            return list(dict.fromkeys(self.config.repositories))
        found: list[str] = []
        try:
            for page in pages(client, f"/v2/_catalog?n={self.config.page_size}", "catalog", "registry:catalog:*",
                              "listing the registry's repositories (/v2/_catalog)"):
                found += [name for name in page.get("repositories") or [] if isinstance(name, str)]
        except (Unreachable, HTTPProblem) as exc:
            raise CollectorError(f"{exc}; name the repositories in the config (--repository) where the catalog "
                                 f"is not offered") from None
        return found

    def _previous(self, cursor: str | None) -> dict[str, dict[str, str]]:
        if cursor is None:
            return {}
        try:
            data = json.loads(cursor)
            if data["registry"] != self.config.api:
                self.report.warnings.append(f"the saved cursor is for {data['registry']}, not {self.config.api}; "
                                            f"reading every tag (give each registry its own source name)")
                return {}
            return {str(name): {str(t): str(d) for t, d in tags.items()}
                    for name, tags in data["repositories"].items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            self.report.warnings.append("the saved cursor is not a registry collector cursor; reading every tag")
            return {}


class _RepositoryRun:
    """One repository in one run: which tags changed, what to read, the events that say so."""

    def __init__(self, collector: RegistryCollector, repository: Repository, reader: ImageReader,
                 old: dict[str, str], time: str) -> None:
        self.config, self.report = collector.config, collector.report
        self.repository, self.reader, self.old, self.time = repository, reader, old, time
        self.name = f"{collector.config.host}/{repository.name}"

    def ref(self, tag: str) -> str:
        return f"{self.name}:{tag}"

    def collect(self, state: dict[str, dict[str, str]]) -> Iterator[Event]:
        listed = sorted(set(self.repository.tags()))  # registries list in storage order: sorted, runs repeat
        attachments = [tag for tag in listed if ATTACHMENT_TAG.fullmatch(tag)]
        wanted = [tag for tag in listed if tag not in attachments and _matches(tag, self.config.tags)]
        self.report.seen += len(wanted)
        current = self._resolve(wanted, mutable=self.config.mutable_tags)
        known = {digest for tag, digest in self.old.items() if not ATTACHMENT_TAG.fullmatch(tag)}
        by_digest: dict[str, list[str]] = {}
        for tag, digest in current.items():
            by_digest.setdefault(digest, []).append(tag)
        untag = {tag: self.old[tag] for tag in self.old if not ATTACHMENT_TAG.fullmatch(tag) and (
            (tag in current and current[tag] != self.old[tag])
            or (tag not in listed and _matches(tag, self.config.tags)))}
        for digest, tags in by_digest.items():
            if digest in known:
                continue
            builder = oci_image.EventBuilder()
            try:
                self.reader.read(self.repository, digest, [self.ref(t) for t in sorted(tags)], builder)
            except HTTPProblem as exc:
                self.report.fail(f"{self.name}@{digest[:19]} ({', '.join(sorted(tags))})", str(exc))
                for tag in tags:  # keep the last good state: the next run reads them again
                    self._restore(current, tag)
                    untag.pop(tag, None)
                continue
            for tag in tags:
                if tag in untag:
                    builder.image(untag.pop(tag), {"tags": {self.ref(tag): None}})
            yield self._event(builder, "image", digest)
        yield from self._tag_changes(current, known, untag)
        found, builder = self._attachments(attachments, set(current.values()))
        if builder:
            yield self._event(builder, "attachments", min(builder_digests(builder)))
        state[self.repository.name] = {**current, **found}

    def _resolve(self, tags: list[str], mutable: list[str]) -> dict[str, str]:
        current: dict[str, str] = {}
        for tag in tags:
            if tag in self.old and not _matches(tag, mutable):
                current[tag] = self.old[tag]  # immutable by config: resolved once, never again
                self.report.skipped += 1
                continue
            try:
                current[tag] = self.repository.resolve(tag)
            except HTTPProblem as exc:
                if exc.status != 404:  # 404: deleted between the listing and now
                    self.report.fail(self.ref(tag), str(exc))
                    self._restore(current, tag)
                continue
            if self.old.get(tag) == current[tag]:
                self.report.skipped += 1
        return current

    def _restore(self, current: dict[str, str], tag: str) -> None:
        if tag in self.old:
            current[tag] = self.old[tag]
        else:
            current.pop(tag, None)

    def _tag_changes(self, current: dict[str, str], known: set[str], untag: dict[str, str]) -> Iterator[Event]:
        """Tags that now point at digests read before (no manifest read), and tags that left a digest."""
        builder = oci_image.EventBuilder()
        for tag, digest in sorted(current.items()):
            if digest in known and self.old.get(tag) != digest:
                builder.image(digest, {"tags": {self.ref(tag): True}}, [self.ref(tag)])
        for tag, digest in sorted(untag.items()):
            builder.image(digest, {"tags": {self.ref(tag): None}})
        if builder:
            yield self._event(builder, "tags", min(builder_digests(builder)))

    def _attachments(self, tags: list[str], digests: set[str]) -> tuple[dict[str, str], oci_image.EventBuilder]:
        """Attachment tags (cosign, OCI fallback) of digests in this repository: new or moved ones are read."""
        found: dict[str, str] = {}
        builder = oci_image.EventBuilder()
        for tag in tags:
            match = ATTACHMENT_TAG.fullmatch(tag)
            subject = f"sha256:{match.group(1)}" if match else ""
            if subject not in digests:
                continue
            try:
                found[tag] = self.repository.resolve(tag)
                if self.old.get(tag) != found[tag]:
                    self.reader.attachment(self.repository, subject, tag, found[tag], builder)
            except HTTPProblem as exc:
                if exc.status == 404:  # deleted since the listing
                    found.pop(tag, None)
                    continue
                self.report.fail(self.ref(tag), str(exc))
                found.pop(tag, None)
                if tag in self.old:
                    found[tag] = self.old[tag]
        return found, builder

    def _event(self, builder: oci_image.EventBuilder, what: str, digest: str) -> Event:
        self.report.emitted += 1
        return builder.event(SOURCE, self.name, what, digest, self.time)


def _secret(value: SecretStr | None, variable: str | None, option: str) -> str | None:
    if value is not None:
        return value.get_secret_value()
    if not variable:
        return None
    found = os.environ.get(variable)
    if not found:
        raise CollectorError(f"the environment variable {variable} ({option}) is not set or empty")
    return found


def builder_digests(builder: oci_image.EventBuilder) -> list[str]:
    return [node["key"]["digest"] for node in builder.nodes.values() if node["kind"] == "image"]


def _matches(tag: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(tag, pattern) for pattern in patterns)
