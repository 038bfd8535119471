"""One lineage event from a foreign payload, built so that it always validates.

Webhook payloads are someone else's JSON: a field may be missing, null, of another type, or out
of range, and a sender retries every non-2xx answer, so a mapping must never fail on them. The
readers here return a value only when it has the expected type. ``EventBuilder`` puts each node key
into canonical form as the node is added and drops a node whose key does not fit its kind (with a
warning), so edges only join nodes that exist and ``graph_schema.events.parse_event`` accepts every
event it builds. Nothing is copied from a payload wholesale: props hold scalars and small flat
objects, since a deeply nested or oversized value would fail later, in the store.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from graph_schema import canonical
from graph_schema.canonical import InvalidValue
from graph_schema.edges import EdgeKind, Evidence, check_edge
from graph_schema.events import MAX_FACTS_PER_EVENT, SCHEMA_VERSION
from graph_schema.facts import canonical_aliases
from graph_schema.kinds import NodeKind, canonical_key, node_id

Json = dict[str, Any]

# Integers beyond this lose precision in JSON readers, and Neo4j stores signed 64-bit integers only.
_MAX_INT = 2**53
_MAX_TEXT = 10_000
_MAX_ALIAS = 512  # graph_schema.events.Text
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]+")
_ZERO_SHA = "0" * 40


@dataclass(frozen=True)
class Translated:
    """What a delivery became.

    ``event`` is a ``lineage-event/1`` dict, or ``None`` when nothing in the payload names a node.
    ``mapped`` is False when the event type is not one the translator knows, or when a field that
    names the delivery's main node (the run, the image, the deployment) is missing: whatever could
    still be kept (repository, commits) is in ``event``. ``warnings`` say what was skipped and why.
    """

    event_type: str
    event: Json | None
    mapped: bool
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ref:
    """A node added to a builder: its kind, canonical key and id."""

    kind: NodeKind
    key: dict[str, str]
    id: str


class EventBuilder:
    def __init__(self) -> None:
        self._nodes: dict[str, Json] = {}
        self._edges: dict[tuple[str, str, str], Json] = {}
        self.warnings: list[str] = []
        self.complete = True

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def missing(self, field: str, what: str) -> None:
        """A field the delivery's main node needs is absent: recorded as not (fully) mapped."""
        self.complete = False
        self.warn(f"{field}: {what}")

    def node(self, kind: NodeKind, key: Mapping[str, object], props: Mapping[str, Any] | None = None,
             aliases: Iterable[str] = (), *, at: str) -> Ref | None:
        """Add (or enrich) a node; ``None``, with a warning naming ``at``, if its key is not valid."""
        try:
            canon = canonical_key(kind, key)
        except InvalidValue as exc:
            self.warn(f"{at}: {exc}; no {kind.value} recorded")
            return None
        ref = Ref(kind, canon, node_id(kind, canon))
        if ref.id not in self._nodes and len(self._nodes) >= MAX_FACTS_PER_EVENT:
            self.warn(f"{at}: more than {MAX_FACTS_PER_EVENT} nodes in one delivery; the rest are not recorded")
            return None
        entry = self._nodes.setdefault(ref.id, {"kind": kind.value, "key": canon, "props": {}, "aliases": []})
        # A top-level null would delete the property in the store (JSON merge patch): skip it.
        entry["props"].update({name: value for name, value in (props or {}).items() if value is not None})
        for alias in aliases:
            self._alias(entry, kind, alias, at)
        return ref

    def _alias(self, entry: Json, kind: NodeKind, alias: str, at: str) -> None:
        try:
            if not alias.strip() or len(alias.strip()) > _MAX_ALIAS:
                raise InvalidValue(f"expected 1 to {_MAX_ALIAS} characters")
            canonical_aliases(kind, [alias])
        except InvalidValue as exc:
            self.warn(f"{at}: alias {short(alias)} skipped: {exc}")
            return
        if alias not in entry["aliases"]:
            entry["aliases"].append(alias)

    def edge(self, source: Ref | None, target: Ref | None, kind: EdgeKind, evidence: Evidence) -> None:
        """An upstream edge between two added nodes; nothing when either is missing."""
        if source is None or target is None or source.id == target.id:
            return
        check_edge(kind, source.kind, target.kind)  # a wrong pair is a bug in the mapping, not in the payload
        self._edges[(source.id, kind.value, target.id)] = {
            "source": {"kind": source.kind.value, "key": source.key},
            "target": {"kind": target.kind.value, "key": target.key},
            "kind": kind.value, "evidence": evidence.label}

    def count(self, kind: NodeKind) -> int:
        return sum(1 for node in self._nodes.values() if node["kind"] == kind.value)

    def event(self, event_id: str, time: datetime, source: str) -> Json | None:
        if not self._nodes:
            return None
        nodes = [{"kind": n["kind"], "key": n["key"], **({"props": n["props"]} if n["props"] else {}),
                  **({"aliases": n["aliases"]} if n["aliases"] else {})} for n in self._nodes.values()]
        return {"schema": SCHEMA_VERSION, "id": event_id, "time": time.isoformat(), "source": source,
                "nodes": nodes, "edges": list(self._edges.values())}


# Readers ------------------------------------------------------------------------------------------
def get(value: object, *path: str) -> object:
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def obj(value: object, *path: str) -> Json | None:
    found = get(value, *path)
    return found if isinstance(found, dict) else None


def items(value: object, *path: str, limit: int = 1000) -> list[Json]:
    """The objects of a list (other entries skipped), at most ``limit``."""
    found = get(value, *path)
    return [item for item in found[:limit] if isinstance(item, dict)] if isinstance(found, list) else []


def text(value: object, *path: str) -> str | None:
    found = get(value, *path)
    if isinstance(found, str) and found.strip():
        return found.strip()[:_MAX_TEXT]
    return None


def ident(value: object, *path: str) -> str | None:
    """An id sent as a number or a string (GitHub and Azure DevOps ids are numbers)."""
    found = get(value, *path)
    if isinstance(found, int) and not isinstance(found, bool):
        return str(found) if 0 <= found < _MAX_INT else None
    return text(value, *path)


def integer(value: object, *path: str) -> int | None:
    found = get(value, *path)
    if isinstance(found, int) and not isinstance(found, bool) and abs(found) < _MAX_INT:
        return found
    return None


def flag(value: object, *path: str) -> bool | None:
    found = get(value, *path)
    return found if isinstance(found, bool) else None


def when(value: object, *path: str) -> datetime | None:
    """A time with an offset, from ISO 8601 text or Unix seconds; None for placeholders like year 1."""
    found = get(value, *path)
    try:
        if isinstance(found, int) and not isinstance(found, bool):
            moment = datetime.fromtimestamp(found, UTC)
        elif isinstance(found, str):
            moment = datetime.fromisoformat(found.strip())
        else:
            return None
    except (ValueError, OverflowError, OSError):
        return None
    # Naive times are not guessed as UTC: the store orders reports by time.
    if moment.tzinfo is None or not 1971 <= moment.year <= 9999:
        return None
    return moment


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def full_sha(value: object) -> str | None:
    """A full commit SHA; None for anything else, including the all-zero SHA of a created or deleted ref."""
    if not isinstance(value, str):
        return None
    try:
        sha = canonical.git_sha(value)
    except InvalidValue:
        return None
    return None if sha == _ZERO_SHA else sha


_API_REPO = re.compile(r"(https?://)(?:api\.github\.com|([^/]+)/api/v3)/repos/([^/?#]+)/([^/?#]+)", re.IGNORECASE)


def repo_url(value: str | None) -> str | None:
    """A repository URL in canonical form, API URLs (``api.github.com/repos/o/r``) included."""
    if not value:
        return None
    if match := _API_REPO.match(value):
        value = f"https://{match.group(2) or 'github.com'}/{match.group(3)}/{match.group(4)}"
    try:
        return canonical.repo_url(value)
    except InvalidValue:
        return None


def compact(values: Mapping[str, Any]) -> Json:
    """The entries that carry a value: no None, no empty string."""
    return {name: value for name, value in values.items() if value is not None and value != ""}


def flat_strings(value: object, limit: int = 100) -> dict[str, str]:
    """A flat ``{text: text}`` object (labels, tags); other entries dropped."""
    if not isinstance(value, dict):
        return {}
    return {name[:256]: entry[:1000] for name, entry in list(value.items())[:limit]
            if isinstance(name, str) and isinstance(entry, str)}


def short(value: object, limit: int = 80) -> str:
    """A value as it may appear in a warning: never the whole of a large payload."""
    text_value = repr(value)
    return text_value if len(text_value) <= limit else text_value[: limit - 1] + "…"


def id_part(value: str, limit: int = 80) -> str:
    """A piece of an event id (at most 200 characters in all): the value when short and plain, else a hash.

    Hashing instead of replacing characters keeps two different deliveries from sharing an id.
    """
    if len(value) <= limit and _SAFE_ID.fullmatch(value):
        return value
    return hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


def json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
             float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
