"""Reading one repository of a registry: tags, tag → digest, manifests, image configs, attachments.

Every manifest and blob read by digest is checked against that digest (a proxy or a broken registry
cannot hand us other content under its name). Used by ``collectors.oci_registry``, which decides what
to read; this module only reads and describes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from collectors import oci_http
from collectors.oci_http import Answer, HTTPProblem, RegistryClient
from graph_schema import canonical

INDEX_TYPES = {oci_http.OCI_INDEX, oci_http.DOCKER_LIST}
IMAGE_CONFIG_TYPES = {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
# cosign's tags for what it attaches to sha256:<hex>, and the OCI 1.1 referrers fallback tag (no suffix).
ATTACHMENT_TAG = re.compile(r"sha256-([0-9a-f]{64})(?:\.(\w+))?")
ATTACHMENT_KINDS = {"sig": "signature", "att": "attestation", "sbom": "sbom"}
PREDICATE_KEYS = ("predicateType", "dev.sigstore.cosign/predicateType", "in-toto.io/predicate-type",
                  "dev.sigstore.bundle.predicateType")
MAX_PLATFORMS = 32
Json = dict[str, Any]


@dataclass
class Manifest:
    digest: str
    media_type: str
    data: Json

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES or "manifests" in self.data

    def annotations(self) -> dict[str, str]:
        return _strings(self.data.get("annotations"))


@dataclass
class ImageConfig:
    digest: str
    media_type: str
    labels: dict[str, str] = field(default_factory=dict)
    created: str | None = None
    platform: str | None = None


class Repository:
    """Reads of one repository, through one client (whose counts the report shows)."""

    def __init__(self, client: RegistryClient, name: str, page_size: int) -> None:
        self.client, self.name, self.page_size = client, name, page_size
        self.scope = f"repository:{name}:pull"

    def tags(self) -> list[str]:
        """Every tag, following ``Link`` pages."""
        found: list[str] = []
        for page in pages(self.client, f"/v2/{self.name}/tags/list?n={self.page_size}", "tags_list", self.scope,
                          f"listing the tags of {self.name}"):
            tags = page.get("tags") or []
            found += [tag for tag in tags if isinstance(tag, str)] if isinstance(tags, list) else []
        return found

    def resolve(self, tag: str) -> str:
        """tag → manifest digest by ``HEAD`` (no body: registries do not count it as a pull)."""
        path = f"/v2/{self.name}/manifests/{tag}"
        answer = self.client.request("HEAD", path, "manifest_head", scope=self.scope, accept=oci_http.MANIFEST_ACCEPT)
        if not answer.ok:
            raise answer.problem(f"resolving {self.name}:{tag}")
        header = answer.headers.get("Docker-Content-Digest")
        if header and canonical.is_digest(header):
            return canonical.digest(header)
        # A registry that leaves the header out of HEAD answers: read the manifest and hash it.
        answer = self.client.get(path, "manifest_get", scope=self.scope, accept=oci_http.MANIFEST_ACCEPT)
        if not answer.ok:
            raise answer.problem(f"resolving {self.name}:{tag}")
        return "sha256:" + hashlib.sha256(answer.body).hexdigest()

    def manifest(self, digest: str) -> Manifest:
        answer = self.client.get(f"/v2/{self.name}/manifests/{digest}", "manifest_get", scope=self.scope,
                                 accept=oci_http.MANIFEST_ACCEPT)
        data = _verified_json(answer, digest, f"manifest {self.name}@{digest[:19]}")
        media = data.get("mediaType") or answer.headers.get_content_type()
        return Manifest(digest, str(media), data)

    def config(self, manifest: Manifest) -> ImageConfig | None:
        """The image config a manifest points at; None when it is not an image (a Helm chart, an artifact)."""
        descriptor = manifest.data.get("config")
        if not isinstance(descriptor, dict) or descriptor.get("mediaType") not in IMAGE_CONFIG_TYPES:
            return None
        digest = canonical.digest(str(descriptor.get("digest", "")))
        answer = self.client.get(f"/v2/{self.name}/blobs/{digest}", "blob_get", scope=self.scope,
                                 limit=oci_http.MAX_BLOB_BYTES)
        data = _verified_json(answer, digest, f"image config {self.name}@{digest[:19]}")
        inner = _object(data.get("config"))
        created = data.get("created") if isinstance(data.get("created"), str) else None
        return ImageConfig(digest, str(descriptor["mediaType"]), _strings(inner.get("Labels")), created,
                           platform_name(data))

    def referrers(self, digest: str) -> list[Json] | None:
        """The referrers API (OCI 1.1): descriptors of what refers to ``digest``; None when unsupported."""
        path = f"/v2/{self.name}/referrers/{digest}"
        found: list[Json] = []
        while path:
            answer = self.client.get(path, "referrers", scope=self.scope, accept=oci_http.OCI_INDEX)
            if answer.status == 404 and not found:
                return None  # a registry with the API answers an empty index, never 404
            if not answer.ok:
                raise answer.problem(f"listing referrers of {self.name}@{digest[:19]}")
            data = answer.json()
            manifests = data.get("manifests") if isinstance(data, dict) else None
            found += [m for m in manifests or [] if isinstance(m, dict)]
            path = oci_http.next_link(answer) or ""
        return found


def pages(client: RegistryClient, path: str, kind: str, scope: str, what: str) -> Iterator[Json]:
    while path:
        answer = client.get(path, kind, scope=scope)
        if not answer.ok:
            raise answer.problem(what)
        data = answer.json()
        if not isinstance(data, dict):
            raise HTTPProblem(0, f"{what}: the answer is not a JSON object")
        yield data
        path = oci_http.next_link(answer) or ""


def platforms(index: Manifest) -> tuple[list[tuple[str, str]], list[Json]]:
    """An index's (digest, platform) entries, and its buildx attestation entries, apart."""
    images: list[tuple[str, str]] = []
    attestations: list[Json] = []
    for entry in index.data.get("manifests") or []:
        if not isinstance(entry, dict) or not canonical.is_digest(str(entry.get("digest", ""))):
            continue
        if _strings(entry.get("annotations")).get("vnd.docker.reference.type") == "attestation-manifest":
            attestations.append(entry)
        else:
            images.append((canonical.digest(entry["digest"]), platform_name(entry.get("platform")) or "unknown"))
    return images[:MAX_PLATFORMS], attestations


def describe_attachment(descriptor: Json, via: str, manifest: Manifest | None = None) -> Json:
    """What an attestation or signature is, from its descriptor (and its manifest when read)."""
    data = manifest.data if manifest else {}
    config = _object(data.get("config"))
    layers = [layer for layer in data.get("layers") or [] if isinstance(layer, dict)]
    notes = {**_strings(descriptor.get("annotations")), **(manifest.annotations() if manifest else {})}
    for layer in layers:
        notes.update(_strings(layer.get("annotations")))
    artifact = descriptor.get("artifactType") or data.get("artifactType") or config.get("mediaType")
    described: Json = {"artifact_type": artifact, "media_type": descriptor.get("mediaType") or
                       (manifest.media_type if manifest else None), "via": via}
    predicates = sorted({notes[key] for key in PREDICATE_KEYS if key in notes})
    if predicates:
        described["predicate_types"] = predicates
    if layers:
        described["layer_types"] = sorted({str(layer.get("mediaType")) for layer in layers})[:5]
    return {key: value for key, value in described.items() if value}


def platform_name(value: Any) -> str | None:
    """``linux/arm64/v8`` from a platform object or an image config (both spell os/architecture/variant)."""
    if not isinstance(value, dict) or not value.get("os") or not value.get("architecture"):
        return None
    parts = [str(value["os"]), str(value["architecture"]), str(value.get("variant") or "")]
    return "/".join(part for part in parts if part)


def _verified_json(answer: Answer, digest: str, what: str) -> Json:
    if not answer.ok:
        raise answer.problem(f"reading {what}")
    algorithm, _, expected = digest.partition(":")
    if hashlib.new(algorithm, answer.body).hexdigest() != expected:
        raise HTTPProblem(0, f"{what}: the content does not match its digest; not recorded")
    try:
        data = json.loads(answer.body)
    except ValueError:
        raise HTTPProblem(0, f"{what} is not JSON") from None
    if not isinstance(data, dict):
        raise HTTPProblem(0, f"{what} is not a JSON object")
    return data


def _object(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


def _strings(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}
