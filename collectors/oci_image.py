"""Images as lineage events, shared by the ``docker`` (engine) and ``registry`` collectors.

An image node is keyed by its **manifest digest**, the one registries serve and clusters run; the
references that named it (``registry/repository:tag``) are its aliases, and ``tags`` records them
as a map (``{"ghcr.io/org/api:v1.2.3": true}``) because maps merge across reports where lists
replace each other, and a tag that moved away is a ``null`` that the merge deletes for that name only.

What the build wrote into the image, the OCI labels of its config (or the same keys as manifest
annotations), is **declared** evidence: ``org.opencontainers.image.revision`` is the commit and
``…image.source`` its repository (commits are keyed by repository and SHA, so a revision without a
source, and without a configured ``repo_url``, cannot name a commit and is reported instead).
Digests and tags are what the engine or registry reports: **observed**, but they are keys and aliases,
not edges. ``…image.version`` and ``…image.created`` become the props ``version`` and ``created``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from graph_schema import canonical

REVISION = "org.opencontainers.image.revision"
SOURCE = "org.opencontainers.image.source"
VERSION = "org.opencontainers.image.version"
CREATED = "org.opencontainers.image.created"
LABEL_CHARS = 1000  # a label is a declaration, not a payload: longer values are cut
MAX_LABELS = 200

Ref = dict[str, Any]


@dataclass(frozen=True)
class Origin:
    repo: str  # canonical repository URL
    sha: str  # full 40-hex SHA


def origin(labels: Mapping[str, str], annotations: Mapping[str, str],
           repo_url: str | None) -> tuple[Origin | None, str | None]:
    """The commit an image declares it was built from, or why it names none usable (None, None: silent)."""
    revision = labels.get(REVISION) or annotations.get(REVISION)
    if not revision:
        return None, None
    try:
        sha = canonical.git_sha(revision)
    except canonical.InvalidValue:
        return None, f"{REVISION}={revision[:60]!r} is not a full 40-character git SHA: no built_from link"
    source = labels.get(SOURCE) or annotations.get(SOURCE) or repo_url
    if not source:
        return None, (f"{REVISION} names {sha[:12]} but no {SOURCE} label says in which repository, and no "
                      f"repo_url is configured: no built_from link (commits are keyed by repository and SHA)")
    try:
        return Origin(canonical.repo_url(source), sha), None
    except canonical.InvalidValue:
        return None, f"{SOURCE}={source[:80]!r} is not a repository URL: no built_from link"


def label_props(labels: Mapping[str, str], annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``labels`` (cut to size), ``version`` and ``created`` from the OCI keys, where present."""
    annotations = annotations or {}
    kept = {name: value[:LABEL_CHARS] for name, value in sorted(labels.items())[:MAX_LABELS]}
    props: dict[str, Any] = {"labels": kept} if kept else {}
    for key, prop in ((VERSION, "version"), (CREATED, "created")):
        value = labels.get(key) or annotations.get(key)
        if value:
            props[prop] = value[:LABEL_CHARS]
    return props


def string_map(value: Any) -> dict[str, str]:
    """Labels or annotations as read from JSON: only string keys and values (engines send null for none)."""
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


class EventBuilder:
    """The nodes and edges of one event; every edge endpoint is declared, as the event schema requires."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.edges: list[dict[str, Any]] = []

    def __bool__(self) -> bool:
        return bool(self.nodes)

    def node(self, kind: str, key: dict[str, str], props: dict[str, Any] | None = None,
             aliases: list[str] | None = None) -> Ref:
        ref: Ref = {"kind": kind, "key": key}
        identity = json.dumps(ref, sort_keys=True)
        node = self.nodes.setdefault(identity, dict(ref))
        if props:
            node["props"] = _merge(node.get("props", {}), props)
        if aliases:
            node["aliases"] = sorted(set(node.get("aliases", [])) | set(aliases))
        return ref

    def image(self, digest: str, props: dict[str, Any] | None = None, aliases: list[str] | None = None) -> Ref:
        return self.node("image", {"digest": digest}, props, aliases)

    def built_from(self, image: Ref, found: Origin) -> None:
        """image —built_from→ commit —in_repo→ repo, both declared by the image's labels."""
        commit = self.node("commit", {"repo": found.repo, "sha": found.sha})
        repo = self.node("repo", {"url": found.repo})
        self.edges.append({"source": image, "target": commit, "kind": "built_from", "evidence": "declared"})
        self.edges.append({"source": commit, "target": repo, "kind": "in_repo", "evidence": "declared"})

    def event(self, source: str, name: str, what: str, digest: str, time: str) -> dict[str, Any]:
        """The event; its id names what it holds and hashes its content, so a re-read is a duplicate."""
        body = {"nodes": list(self.nodes.values()), "edges": self.edges}
        content = hashlib.blake2b(json.dumps(body, sort_keys=True).encode(), digest_size=8).hexdigest()
        event_id = f"{source}-{slug(name)}-{what}-{digest.removeprefix('sha256:')[:12]}-{content}"
        return {"schema": "lineage-event/1", "id": event_id, "time": time, "source": source, **body}


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    merged = dict(old)
    for key, value in new.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(
            merged.get(key), dict) else value
    return merged


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:80] or "image"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_from_epoch(seconds: Any) -> str | None:
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
