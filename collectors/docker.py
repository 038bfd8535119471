"""The docker collector: the images a container engine (Docker, or podman's Docker API) holds.

One ``/_ping`` and one ``GET /images/json`` per run, through the docker SDK (imported only when it runs). Each
image with **registry digests** (``RepoDigests``: ``registry/repository@sha256:…``) becomes one
``image`` node per distinct digest, keyed by that digest, with the engine's tags in the same
repositories as aliases (``registry/repository:tag``) and in the ``tags`` map, props ``image_id``
(the engine's IMAGE ID, on Docker's classic store and podman the config digest: what ``docker
images`` prints, and the join key with the registry collector's ``config_digest``), ``labels``,
``version`` and ``created`` (the OCI label, else the engine's creation time). Its OCI labels give
image —built_from→ commit —in_repo→ repo, ``declared`` (see ``collectors.oci_image``).

**Images without a registry digest are skipped, with a warning.** An image that was built here and
never pushed or pulled has only its image id, the digest of its *config*; a node keyed by it would
sit in the graph looking like an image, but no registry, cluster or provenance statement ever names
that digest (they name manifest digests), so it could never meet the node of the same image once
pushed, and nothing running can be traced to it. Podman lists every local name in RepoDigests,
including ``localhost/…`` names of images that never left the machine: those are not registry
digests either and are skipped the same way.

**Podman's RepoDigests** are every name crossed with every manifest digest the image holds, and a
local build's manifest (uncompressed layers) is never what a push stores (it compresses them). So a
pulled image reports the registry's digest, but a build host's image may report a digest no registry
has; when one image shows two digests in one repository, which one a tag names is unknown and the
tags go on neither (with a warning). On a podman build host, collect the registry: it is the authority
on registry digests, and ``image_id`` = ``config_digest`` shows two nodes are one build.

**Cursor** (JSON): the engine and, per image id, a hash of its digests, tags, labels and creation
time. An unchanged engine emits nothing; a new image, a push (new RepoDigests) or a new tag re-emits
that image. Tags that left an image are not deleted from the graph: the engine only says the local
name points elsewhere now, not that the registry's tag moved (the registry collector records moves).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field, field_validator

from collectors import oci_image
from collectors.base import Collector, CollectorConfig, CollectorError, Event
from graph_schema import canonical

SOURCE = "docker"
LOCAL_ONLY = "localhost"  # podman's registry name for images that were never pushed or pulled


class DockerConfig(CollectorConfig):
    base_url: str | None = Field(
        None, description="The engine's API: unix:///var/run/docker.sock, unix:///run/podman/podman.sock, "
                          "tcp://host:2376; default: DOCKER_HOST, else the local Docker socket.")
    repositories: list[str] = Field(
        default_factory=list, description="Only these repositories (registry/repository, globs allowed: "
                                          "ghcr.io/org/*); default: every image.")
    repo_url: str | None = Field(
        None, description="The repository of images whose labels name a revision but no source.")
    timeout: float = Field(60.0, gt=0, le=600, description="Seconds to wait for the engine.")

    @field_validator("repositories")
    @classmethod
    def _canonical_repositories(cls, values: list[str]) -> list[str]:
        return [_repository_pattern(value) for value in values]

    @field_validator("repo_url")
    @classmethod
    def _canonical_url(cls, value: str | None) -> str | None:
        try:
            return canonical.repo_url(value) if value else None
        except canonical.InvalidValue:
            raise ValueError("expected a repository URL like https://github.com/org/repo") from None


@dataclass(frozen=True)
class EngineImage:
    """What the collector uses of one ``/images/json`` entry, checked at the SDK boundary."""

    id: str
    tags: tuple[canonical.ImageReference, ...]
    digests: tuple[canonical.ImageReference, ...]
    labels: dict[str, str]
    created: str | None

    def fingerprint(self) -> str:
        text = json.dumps([sorted(map(str, self.tags)), sorted(map(str, self.digests)), self.labels, self.created],
                          sort_keys=True)
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class DockerCollector(Collector[DockerConfig]):
    """Images of one container engine, by registry digest, with their tags and OCI labels."""

    name: ClassVar[str] = "docker"
    config_class: ClassVar[type[CollectorConfig]] = DockerConfig
    requires: ClassVar[tuple[str, ...]] = ("docker",)
    install_hint: ClassVar[str] = "pip install 'lineage-service[docker]'"

    def collect(self, cursor: str | None) -> Iterator[Event]:
        engine = self.config.base_url or os.environ.get("DOCKER_HOST") or "the default Docker socket"
        previous = self._previous(cursor, engine)
        seen: dict[str, str] = {}
        time = oci_image.now()
        product, images = list_images(self.config.base_url, self.config.timeout, engine)
        for image in sorted(images, key=lambda found: (sorted(map(str, found.tags))[:1], found.id)):
            if not self._wanted(image):
                continue
            self.report.seen += 1
            seen[image.id] = image.fingerprint()
            if previous.get(image.id) == seen[image.id]:
                self.report.skipped += 1  # unchanged since the last run
                continue
            event = self._event(image, time)
            if event is None:
                self.report.skipped += 1
                continue
            self.report.emitted += 1
            yield event
        if product == "podman" and self.report.emitted:
            self.report.warnings.append(
                "podman lists, for every name of an image, each manifest digest it holds, including a local "
                "build's, which a push does not store as such (it compresses the layers): on a build host, "
                "collect the registry for registry digests; hosts that pull report the registry's")
        self.cursor = json.dumps({"engine": engine, "images": seen}, sort_keys=True)

    def _previous(self, cursor: str | None, engine: str) -> dict[str, str]:
        if cursor is None:
            return {}
        try:
            data = json.loads(cursor)
            if data["engine"] != engine:
                self.report.warnings.append(f"the saved cursor is for {data['engine']}, not {engine}; reading "
                                            f"every image (give each engine its own source name)")
                return {}
            return {str(k): str(v) for k, v in data["images"].items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            self.report.warnings.append("the saved cursor is not a docker collector cursor; reading every image")
            return {}

    def _wanted(self, image: EngineImage) -> bool:
        if not self.config.repositories:
            return True
        names = {ref.name for ref in (*image.tags, *image.digests)}
        return any(fnmatch.fnmatchcase(name, pattern) for name in names for pattern in self.config.repositories)

    def _event(self, image: EngineImage, time: str) -> Event | None:
        by_digest: dict[str, set[str]] = {}
        per_repository: dict[str, set[str]] = {}
        for ref in image.digests:
            if ref.digest and ref.registry != LOCAL_ONLY:
                by_digest.setdefault(ref.digest, set()).add(ref.name)
                per_repository.setdefault(ref.name, set()).add(ref.digest)
        # One image, two digests in one repository: podman lists every manifest it holds (a local build's
        # and a pulled one); which one the registry's tag names is unknown, so the tags go on none of them.
        ambiguous = {name for name, digests in per_repository.items() if len(digests) > 1}
        for name in sorted(ambiguous):
            self.report.warnings.append(
                f"image {image.id[:19]} has {len(per_repository[name])} digests in {name} (the engine kept a "
                f"locally built manifest besides the registry's): recorded without its {name} tags; the "
                f"registry collector says which digest each tag names")
        if not by_digest:
            names = ", ".join(sorted(str(ref) for ref in image.tags)[:3]) or "no name"
            self.report.warnings.append(
                f"image {image.id[:19]} ({names}) has no registry digest (never pushed or pulled): skipped, "
                f"since its image id is a config digest that no registry or cluster reports")
            return None
        found, problem = oci_image.origin(image.labels, {}, self.config.repo_url)
        if problem:
            self.report.warnings.append(f"image {image.id[:19]}: {problem}")
        builder = oci_image.EventBuilder()
        props = {"image_id": image.id, **oci_image.label_props(image.labels)}
        if image.created and "created" not in props:
            props["created"] = image.created
        for digest, repositories in sorted(by_digest.items()):
            # A tag is an alias of the digest the engine holds for the tag's repository; a local tag in a
            # repository it was never pushed to names no registry content.
            aliases = sorted(str(ref) for ref in image.tags if ref.name in repositories - ambiguous)
            node = builder.image(digest, {**props, **({"tags": dict.fromkeys(aliases, True)} if aliases else {})},
                                 aliases)
            if found:
                builder.built_from(node, found)
        first = min(by_digest)
        return builder.event(SOURCE, sorted(by_digest[first])[0], "image", first, time)


def list_images(base_url: str | None, timeout: float, engine: str) -> tuple[str, list[EngineImage]]:
    """The engine's product (``docker``, ``podman``) and ``GET /images/json``, through the docker SDK.

    The SDK is untyped: this function is the boundary, and checks every field it passes on.
    """
    import docker  # type: ignore[import-untyped]  # untyped SDK: only this function touches it

    shown = _redact(engine)
    fix = "start the engine, or point base_url (--base-url) or DOCKER_HOST at its socket"
    settings: dict[str, Any] = {"base_url": base_url} if base_url else docker.utils.kwargs_from_env()
    try:
        # /_ping, not the SDK's version="auto" (GET /version: 0.4 s on podman, which probes its runtime):
        # its headers give the API version and, from podman, Libpod-Api-Version.
        probe = docker.APIClient(version=docker.constants.MINIMUM_DOCKER_API_VERSION, timeout=timeout, **settings)
        try:
            ping: Any = probe.get(f"{probe.base_url}/_ping", timeout=timeout)
        finally:
            probe.close()
        headers = ping.headers
        client = docker.APIClient(version=str(headers.get("Api-Version") or "auto"), timeout=timeout, **settings)
        try:
            raw: Any = client.images()
        finally:
            client.close()
    except docker.errors.DockerException as exc:
        raise CollectorError(f"cannot read images from {shown}: {_reason(exc)}; {fix}") from None
    except OSError as exc:  # requests' connection errors are OSErrors
        raise CollectorError(f"cannot reach {shown}: {_reason(exc)}; {fix}") from None
    if not isinstance(raw, list):
        raise CollectorError(f"{shown} answered /images/json with {type(raw).__name__}, not a list")
    product = "podman" if headers.get("Libpod-Api-Version") else "docker"
    return product, [image for entry in raw if (image := _engine_image(entry)) is not None]


def _engine_image(entry: Any) -> EngineImage | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("Id"), str):
        return None
    try:
        image_id = canonical.digest(entry["Id"])
    except canonical.InvalidValue:
        return None
    return EngineImage(image_id, _references(entry.get("RepoTags")), _references(entry.get("RepoDigests")),
                       oci_image.string_map(entry.get("Labels")), oci_image.utc_from_epoch(entry.get("Created")))


def _references(values: Any) -> tuple[canonical.ImageReference, ...]:
    found = []
    for value in values if isinstance(values, list) else []:
        if not isinstance(value, str) or value.startswith("<none>"):
            continue
        try:
            found.append(canonical.image_reference(value))
        except canonical.InvalidValue:
            continue  # a name the engine accepted but the distribution grammar does not: not a registry name
    return tuple(found)


def _repository_pattern(value: str) -> str:
    """``ghcr.io/org/*`` as given; ``org/api`` (no registry) as Docker reads it: ``docker.io/org/api``."""
    text = value.strip().lower()
    if any(ch in text for ch in "*?["):
        return text
    try:
        return canonical.image_reference(text).name
    except canonical.InvalidValue:
        raise ValueError(f"expected a repository like ghcr.io/org/api or a glob like ghcr.io/org/*, "
                         f"got {value!r}") from None


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return _redact(text[:300]) or type(exc).__name__


def _redact(text: str) -> str:
    import re

    return re.sub(r"(?<=://)[^/@\s]+@", "***@", text)
