"""The plumbing of the Azure ML mapping: events, and plain values out of SDK entities.

``EventBuilder`` makes self-contained lineage events (every edge end declared once) whose id hashes
their content; the functions turn what SDK entities hold (ports, ``SystemData`` or the REST
``systemData`` dict, tags and properties) into JSON values. Pure: no SDK import at runtime.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from collectors.azureml_refs import asset_ref
from collectors.base import Event

Json = dict[str, Any]
SOURCE = "azureml"
SYSTEM = "azureml"
MAX_PROPERTIES = 200  # Azure ML adds dozens of bookkeeping properties; keep a bounded number


@dataclass(frozen=True)
class Workspace:
    subscription_id: str
    resource_group: str
    name: str


@dataclass
class Mapped:
    event: Event
    warnings: list[str] = field(default_factory=list)


class EventBuilder:
    """Collects nodes (declared once, props merged) and edges into one self-contained event."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.nodes: dict[str, Json] = {}
        self.edges: list[Json] = []

    def node(self, kind: str, key: Json, props: Json | None = None, aliases: list[str] | None = None) -> Json:
        ref = {"kind": kind, "key": key}
        identity = json.dumps(ref, sort_keys=True)
        node = self.nodes.setdefault(identity, dict(ref))
        clean = {k: v for k, v in (props or {}).items() if v not in (None, {}, [])}
        if clean:
            node["props"] = {**node.get("props", {}), **clean}
        if aliases:
            node["aliases"] = sorted({*node.get("aliases", []), *aliases})
        return ref

    def edge(self, source: Json, target: Json, kind: str, evidence: str = "observed",
             valid_from: str | None = None, valid_to: str | None = None, **props: Any) -> None:
        edge: Json = {"source": source, "target": target, "kind": kind, "evidence": evidence}
        clean = {k: v for k, v in props.items() if v is not None}
        if clean:
            edge["props"] = clean
        if valid_from:
            edge["valid_from"] = valid_from
        if valid_to:
            edge["valid_to"] = valid_to
        if edge not in self.edges:
            self.edges.append(edge)

    def build(self, what: str, subject: str, time: str) -> Event:
        body = {"nodes": list(self.nodes.values()), "edges": self.edges}
        digest = hashlib.blake2b(json.dumps(body, sort_keys=True).encode(), digest_size=8).hexdigest()
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{self.workspace.name}-{what}-{subject}").strip("-")[:150]
        # Named after what it reports, hashed on the content: the same read twice is a duplicate.
        return {"schema": "lineage-event/1", "id": f"azureml-{slug}-{digest}", "time": time, "source": SOURCE,
                **body}


def job_ref(name: str) -> Json:
    return {"kind": "job", "key": {"system": SYSTEM, "id": name}}


def dataset_key(name: str, version: str) -> Json:
    return {"name": name, "version": str(version)}


def port_value(port: object) -> object:
    """What a job's input or output holds: an ``Input``/``Output``, a binding string, or a literal.

    Pipeline ports (``NodeInput``, ``PipelineInput``, ``NodeOutput``…) wrap it in ``_data``, the
    only place the SDK keeps a ``${{parent…}}`` binding (``str()`` and ``.path`` raise for a node
    that is not inside a pipeline object), so it is read from there.
    """
    return getattr(port, "_data", port)


@dataclass(frozen=True)
class Port:
    """One input or output of a job, as plain values."""

    name: str
    path: str | None = None  # an asset reference, a storage path, or a ${{…}} binding
    type: str | None = None
    asset_name: str | None = None  # outputs registered as a named asset
    asset_version: str | None = None
    literal: Any = None  # parameters: numbers, strings, booleans

    @property
    def binding(self) -> str | None:
        return self.path if self.path and "${{" in self.path else None

    def shown(self) -> str | None:
        """How the job asked for it, for the job's ``inputs``/``outputs`` props."""
        if self.asset_name:
            return f"{self.asset_name}:{self.asset_version}" if self.asset_version else self.asset_name
        ref = asset_ref(self.path)
        return str(ref) if ref else self.path or self.type


def ports(mapping: object) -> list[Port]:
    """A job's ``inputs`` or ``outputs`` as ``Port``s (the SDK's dicts of Input/Output/ports/literals)."""
    if not isinstance(mapping, Mapping):
        return []
    found = []
    for name, raw in mapping.items():
        value = port_value(raw)
        if isinstance(value, bool | int | float):
            found.append(Port(str(name), literal=value))
        elif isinstance(value, str):
            # A bare string is a binding, an explicit ``azureml:`` reference, or a parameter's value
            # (``taxi-model``, ``fast:mode``), which must not be taken for an asset.
            found.append(Port(str(name), path=value) if "${{" in value or value.startswith("azureml:") else
                         Port(str(name), literal=value))
        elif value is not None:
            # Input and Output entities: typed attributes, read defensively because sweep and
            # AutoML jobs carry their own input classes.
            path, kind = getattr(value, "path", None), getattr(value, "type", None)
            asset_name, asset_version = getattr(value, "name", None), getattr(value, "version", None)
            found.append(Port(str(name), _text(path), _text(kind), _text(asset_name),
                              str(asset_version) if asset_version is not None else None))
    return found


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def as_text(value: object) -> str | None:
    """A path as text: entities made from local files hold a ``Path``."""
    return str(value) if value else None


def iso(value: object) -> str | None:
    """A UTC ``…Z`` timestamp from the SDK's datetimes (or ISO strings, as YAML-built entities hold)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def context_time(entity: object, field: str) -> str | None:
    """``created_at`` or ``last_modified_at`` of an entity's creation context, as a UTC timestamp.

    Most entities hold a ``SystemData``; deployments read from the service hold the REST
    ``systemData`` as a plain dict (camelCase keys), so both are read.
    """
    context = getattr(entity, "creation_context", None)
    if isinstance(context, Mapping):
        return iso(context.get({"created_at": "createdAt", "last_modified_at": "lastModifiedAt"}[field]))
    return iso(getattr(context, field, None))


def created_at(entity: object) -> datetime | None:
    text = context_time(entity, "created_at")
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def plain(values: object, limit: int = MAX_PROPERTIES) -> Json:
    """A str → scalar dict (tags, properties): other values are shown as text; bounded in size."""
    if not isinstance(values, Mapping):
        return {}
    result: Json = {}
    for key, value in sorted(values.items(), key=lambda item: str(item[0]))[:limit]:
        result[str(key)] = value if isinstance(value, str | int | float | bool) or value is None else str(value)
    return result
