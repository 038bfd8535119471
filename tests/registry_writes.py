"""Writing to a registry through the distribution API, as build tools, cosign and buildx do; golden files.

The tests build and push most images with podman; these helpers write what podman does not make
(cosign's attachment tags, a buildx-shaped index, hundreds of images for the benchmark) and delete
manifests. ``normalised`` makes collected events comparable with a golden file.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
import urllib.request
from typing import Any

from tests.services import Registry

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def _request(registry: Registry, method: str, path: str, body: bytes = b"",
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
    url = path if path.startswith("http") else registry.url + path
    request = urllib.request.Request(url, data=body if method in {"POST", "PUT"} else None, method=method,
                                     headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return int(answer.status), answer.headers


def push_blob(registry: Registry, repository: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    _, headers = _request(registry, "POST", f"/v2/{repository}/blobs/uploads/")
    location = headers["Location"]
    separator = "&" if "?" in location else "?"
    _request(registry, "PUT", f"{location}{separator}digest={digest}", data,
             {"Content-Type": "application/octet-stream"})
    return digest


def push_manifest(registry: Registry, repository: str, reference: str, manifest: dict[str, Any]) -> str:
    data = json.dumps(manifest, separators=(",", ":")).encode()
    _request(registry, "PUT", f"/v2/{repository}/manifests/{reference}", data,
             {"Content-Type": manifest["mediaType"]})
    return "sha256:" + hashlib.sha256(data).hexdigest()


def delete_manifest(registry: Registry, repository: str, digest: str) -> None:
    _request(registry, "DELETE", f"/v2/{repository}/manifests/{digest}")


def push_image(registry: Registry, repository: str, tag: str, labels: dict[str, str], content: str = "",
               platform: tuple[str, str] = ("linux", "amd64")) -> str:
    """A valid one-layer image, written like a build tool writes it; returns its manifest digest."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        payload = (content or f"{repository}:{tag}").encode()
        info = tarfile.TarInfo("payload.txt")
        info.size, info.mtime = len(payload), 0
        tar.addfile(info, io.BytesIO(payload))
    layer = gzip.compress(raw.getvalue(), mtime=0)
    config = json.dumps({"created": "1970-01-01T00:00:00Z", "architecture": platform[1], "os": platform[0],
                         "config": {"Labels": labels},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw.getvalue())
                                                                  .hexdigest()]}}).encode()
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": push_blob(registry, repository, config),
                           "size": len(config)},
                "layers": [{"mediaType": OCI_LAYER, "digest": push_blob(registry, repository, layer),
                            "size": len(layer)}]}
    return push_manifest(registry, repository, tag, manifest)


def push_attachment(registry: Registry, repository: str, subject: str, suffix: str, artifact_type: str,
                    layer_type: str, annotations: dict[str, str] | None = None) -> str:
    """An attestation or signature stored as cosign stores it: under the tag ``sha256-<hex>.<suffix>``."""
    empty = b"{}"
    layer = json.dumps({"payloadType": "application/vnd.in-toto+json", "payload": "", "signatures": []}).encode()
    manifest: dict[str, Any] = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                   "digest": push_blob(registry, repository, empty), "size": len(empty)},
        "layers": [{"mediaType": layer_type, "digest": push_blob(registry, repository, layer), "size": len(layer),
                    "annotations": annotations or {}}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 0}}
    return push_manifest(registry, repository, f"{subject.replace(':', '-')}.{suffix}", manifest)


def normalised(events: list[dict[str, Any]], hosts: list[str]) -> list[dict[str, Any]]:
    """Events for a golden file: hosts as ``<registry>``, each digest as ``<digest-N>`` in order of first
    appearance (also inside ``sha256-<hex>`` tags), event ids' digest and hash parts, the collection time."""
    text = json.dumps(events, ensure_ascii=False)
    for host in hosts:
        text = text.replace(host, "<registry>").replace(host.replace(":", "-"), "<registry>")
    names: dict[str, str] = {}

    def digest(match: re.Match[str]) -> str:
        return f"sha256{match.group(1)}<{names.setdefault(match.group(2), f'digest-{len(names) + 1}')}>"

    data: list[dict[str, Any]] = json.loads(re.sub(r"sha256([:-])([0-9a-f]{64})", digest, text))
    for event in data:
        event["time"] = "<collected-at>"
        event["id"] = re.sub(r"-[0-9a-f]{12}-[0-9a-f]{16}$", "-<digest>-<hash>", event["id"])
    return data


