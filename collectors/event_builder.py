"""A small builder of self-contained ``lineage-event/1`` dicts, for collectors that emit one event per item.

Keys are put in canonical form as nodes are declared (``graph_schema.kinds.canonical_key``), so two
spellings of one repository or digest become one node in the event, and a value that can never be
stored (a short SHA as a key) raises ``InvalidValue`` while the item is built, where the collector
can report it as that item's failure. Every edge endpoint is declared, as the event contract asks.

The event id is ``<prefix>-<hash>``, the hash of the event's content: reading an unchanged item
again gives the same id (a duplicate in the event log), a changed one (a run that finished since,
a tag added) a new event.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from graph_schema.kinds import NodeKind, canonical_key

Json = dict[str, Any]
Ref = dict[str, Any]  # {"kind", "key"}, as edges name their ends

SCHEMA = "lineage-event/1"
MAX_ID = 200  # LineageEvent.id


def compact(values: Json) -> Json:
    """``values`` without None entries (an absent prop, not a null that would delete a stored one)."""
    return {name: value for name, value in values.items() if value is not None}


def id_part(text: str, limit: int = 60) -> str:
    """A readable piece of an event id: letters, digits, ``.``, ``_`` and ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:limit] or "x"


def utc_text(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time as APIs write it (``2026-11-10T14:50:00Z``), or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class EventBuilder:
    """Nodes (declared once, props merged in order) and edges of one event."""

    def __init__(self) -> None:
        self._nodes: dict[str, Json] = {}
        self._edges: list[Json] = []

    @property
    def empty(self) -> bool:
        return not self._nodes

    def node(self, kind: NodeKind, key: Json, props: Json | None = None, aliases: list[str] | None = None,
             clear: tuple[str, ...] = ()) -> Ref:
        """Declare a node; ``clear`` names props to delete from the stored node (a JSON null in the
        merge patch), e.g. a run's conclusion when a re-run makes it pending again."""
        ref: Ref = {"kind": kind.value, "key": canonical_key(kind, key)}
        identity = json.dumps(ref, sort_keys=True)
        node = self._nodes.setdefault(identity, dict(ref))
        if props := {**compact(props or {}), **dict.fromkeys(clear)}:
            node["props"] = {**node.get("props", {}), **props}
        if aliases:
            node["aliases"] = list(dict.fromkeys([*node.get("aliases", []), *aliases]))
        return ref

    def edge(self, source: Ref, target: Ref, kind: str, evidence: str, props: Json | None = None,
             valid_from: str | None = None, valid_to: str | None = None) -> None:
        edge: Json = {"source": source, "target": target, "kind": kind, "evidence": evidence}
        if valid_from:
            edge["valid_from"] = valid_from
        if valid_to:
            edge["valid_to"] = valid_to
        if props := compact(props or {}):
            edge["props"] = props
        self._edges.append(edge)

    def event(self, prefix: str, time: str, source: str) -> Json:
        body = {"nodes": list(self._nodes.values()), "edges": self._edges}
        digest = hashlib.blake2b(json.dumps(body, sort_keys=True).encode(), digest_size=8).hexdigest()
        event_id = f"{prefix[: MAX_ID - len(digest) - 1]}-{digest}"
        return {"schema": SCHEMA, "id": event_id, "time": time, "source": source, **body}
