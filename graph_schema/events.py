"""The lineage event: the project's own push format.

One event is one report from one source at one time: the nodes it knows of and the upstream
edges between them. ``lineage ingest``, the HTTP API and CI steps all send these. The ``id`` is
the idempotency key: sending the same event twice changes nothing.

    {
      "id": "gha-8123456-1-build-image",
      "time": "2026-11-20T14:05:00Z",
      "source": "github-actions",
      "nodes": [
        {"kind": "image", "key": {"digest": "sha256:3f49…"}, "aliases": ["ghcr.io/org/api:v1.2.3"]},
        {"kind": "commit", "key": {"repo": "https://github.com/org/api", "sha": "05ee0556…"},
         "props": {"message": "Retrain on green taxi data v5"}}
      ],
      "edges": [
        {"source": {"kind": "image", "key": {"digest": "sha256:3f49…"}},
         "target": {"kind": "commit", "key": {"repo": "https://github.com/org/api", "sha": "05ee0556…"}},
         "kind": "built_from", "evidence": "declared"}
      ]
    }

Every edge endpoint must be declared in ``nodes`` (props may be empty), so an event is
self-contained and an edge can never point at nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from graph_schema.canonical import InvalidValue
from graph_schema.edges import EdgeKind, Evidence, check_edge, parse_edge_kind
from graph_schema.facts import EdgeFact, NodeFact, canonical_aliases, edge_fact, node_fact_from_canonical
from graph_schema.kinds import NodeKind, canonical_key, node_id, parse_kind

SCHEMA_VERSION = "lineage-event/1"
MAX_FACTS_PER_EVENT = 10_000

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=512)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_INT64 = 2**63


def _storable(value: JsonValue, where: str) -> None:
    """Integers beyond 64 bits cannot be stored (SQLite, Neo4j and orjson all stop there)."""
    if isinstance(value, int) and not isinstance(value, bool) and not -_INT64 <= value < _INT64:
        raise InvalidValue(f"the integer {str(value)[:30]}… at {where} does not fit in 64 bits; send it as a string")
    if isinstance(value, dict):
        for name, item in value.items():
            _storable(item, f"{where}.{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _storable(item, f"{where}[{index}]")


def _storable_props(props: dict[str, JsonValue]) -> dict[str, JsonValue]:
    for name, value in props.items():
        _storable(value, name)
    return props


StorableProps = Annotated[dict[str, JsonValue], AfterValidator(_storable_props)]


def _iso_time(value: object) -> object:
    """Times are ISO 8601 text: pydantic alone would also take ``0`` or ``"1700000000"`` as Unix seconds."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise InvalidValue(f"expected an ISO 8601 time with a timezone, e.g. 2026-11-20T14:05:00Z; "
                           f"got {type(value).__name__}")
    try:
        datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidValue(f"expected an ISO 8601 time with a timezone, e.g. 2026-11-20T14:05:00Z; "
                           f"got {value[:40]!r}") from None
    return value


IsoTime = Annotated[AwareDatetime, BeforeValidator(_iso_time)]


class NodeRef(_Strict):
    """A node by kind and natural key, e.g. ``{"kind": "model", "key": {"name": "taxi-model", "version": "3"}}``."""

    kind: NodeKind
    # Any JSON here: ``canonical_key`` checks the types and names the field (pydantic's lax int
    # would quietly turn ``true`` into version 1).
    key: dict[str, JsonValue]

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, value: object) -> NodeKind:
        if not isinstance(value, str):
            raise InvalidValue(f"expected a node kind string, got {type(value).__name__}")
        return parse_kind(value)

    @model_validator(mode="after")
    def _canonical(self) -> NodeRef:
        object.__setattr__(self, "key", canonical_key(self.kind, self.key))
        return self

    # Cached: validation, facts() and the edge checks ask for it ~30 times per event, and each
    # time it hashed the key again. The model is frozen and the key canonical once validated.
    @cached_property
    def id(self) -> str:
        return node_id(self.kind, self.key)  # type: ignore[arg-type]


class NodeIn(NodeRef):
    props: StorableProps = Field(default_factory=dict)
    aliases: list[Text] = Field(default_factory=list, max_length=256)

    @model_validator(mode="after")
    def _aliases(self) -> NodeIn:
        # Checked here, not only when facts are made: an event accepted into the log must apply.
        for index, alias in enumerate(self.aliases):
            try:
                canonical_aliases(self.kind, [alias])
            except InvalidValue as exc:
                raise InvalidValue(f"aliases[{index}]: {exc}") from None
        return self


class EdgeIn(_Strict):
    source: NodeRef
    target: NodeRef
    kind: EdgeKind | None = None
    evidence: Evidence = Evidence.DECLARED
    props: StorableProps = Field(default_factory=dict)
    valid_from: IsoTime | None = None
    valid_to: IsoTime | None = None

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, value: object) -> EdgeKind | None:
        if value is None or isinstance(value, EdgeKind):
            return value
        if not isinstance(value, str):
            raise InvalidValue(f"expected an edge kind string, got {type(value).__name__}")
        return parse_edge_kind(value)

    @field_validator("evidence", mode="before")
    @classmethod
    def _evidence(cls, value: object) -> Evidence:
        if isinstance(value, Evidence):
            return value
        if not isinstance(value, str):
            raise InvalidValue("expected one of: inferred, declared, observed, attested")
        return Evidence.parse(value)

    @field_serializer("evidence")
    def _evidence_label(self, evidence: Evidence) -> str:
        # The label, as events are written: the log's payload must validate again on replay.
        return evidence.label

    @model_validator(mode="after")
    def _pair(self) -> EdgeIn:
        object.__setattr__(self, "kind", check_edge(self.kind, self.source.kind, self.target.kind))
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise InvalidValue("valid_to: must not be before valid_from")
        return self


class LineageEvent(_Strict):
    schema_: Literal["lineage-event/1"] = Field("lineage-event/1", alias="schema")
    id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    time: IsoTime
    source: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    nodes: list[NodeIn] = Field(default_factory=list, max_length=MAX_FACTS_PER_EVENT)
    edges: list[EdgeIn] = Field(default_factory=list, max_length=MAX_FACTS_PER_EVENT)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _edges_point_at_declared_nodes(self) -> LineageEvent:
        if not self.nodes and not self.edges:
            raise InvalidValue("nodes: an event needs at least one node")
        declared = {node.id for node in self.nodes}
        for index, edge in enumerate(self.edges):
            for end in ("source", "target"):
                ref: NodeRef = getattr(edge, end)
                if ref.id not in declared:
                    raise InvalidValue(
                        f"edges[{index}].{end}: {ref.kind.value} {json.dumps(ref.key)} is not declared "
                        f"in nodes; add it to nodes (props may be empty)"
                    )
        return self

    def facts(self) -> tuple[list[NodeFact], list[EdgeFact]]:
        """The event as canonical facts; nodes declared twice are merged in order."""
        merged: dict[str, NodeFact] = {}
        for node in self.nodes:
            # The key is canonical and its id known since validation: no need for node_fact to
            # canonicalize and hash it again.
            fact = node_fact_from_canonical(node.kind, node.key, node.props,  # type: ignore[arg-type]
                                            node.aliases, known_id=node.id)
            if (earlier := merged.get(fact.id)) is not None:
                fact = replace(fact, props={**earlier.props, **fact.props},
                               aliases=tuple(dict.fromkeys(earlier.aliases + fact.aliases)))
            merged[fact.id] = fact
        edges = [
            edge_fact(merged[edge.source.id], merged[edge.target.id], edge.kind, edge.evidence,
                      edge.props, edge.valid_from, edge.valid_to)
            for edge in self.edges
        ]
        return list(merged.values()), edges


class EventRejected(ValueError):
    """An event that failed validation; ``problems`` lists ``field: what was expected``."""

    def __init__(self, event_label: str, problems: list[str]) -> None:
        self.event_label = event_label
        self.problems = problems
        super().__init__(f"event {event_label} rejected: " + "; ".join(problems))


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def describe_validation_error(error: ValidationError) -> list[str]:
    """Pydantic errors as ``nodes[0].key.sha: expected a full 40-character …`` lines."""
    problems = []
    for item in error.errors(include_url=False):
        message = item["msg"].removeprefix("Value error, ")
        where = _location(item["loc"])
        if _OWN_FIELD_PREFIX.match(message):
            # Our own messages start with the field they are about, relative to ``where``.
            problems.append(f"{where}.{message}" if where else message)
        else:
            problems.append(f"{where}: {message}" if where else message)
    return problems


_OWN_FIELD_PREFIX = re.compile(r"(key|kind|valid_to|nodes|edges|aliases)[\w.\[\]]*: ")


def parse_event(data: Any, position: str = "") -> LineageEvent:
    """Validate one event given as parsed JSON; raises ``EventRejected`` naming each field."""
    event_label = position or "?"
    if isinstance(data, dict) and isinstance(data.get("id"), str):
        event_label = f"{data['id']!r}" + (f" ({position})" if position else "")
    if not isinstance(data, dict):
        raise EventRejected(event_label, [f"expected a JSON object with id, time, source, nodes, edges; "
                                          f"got {type(data).__name__}"])
    try:
        return LineageEvent.model_validate(data)
    except ValidationError as exc:
        raise EventRejected(event_label, describe_validation_error(exc)) from None
