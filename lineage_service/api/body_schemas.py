"""OpenAPI schemas of the request bodies, which the routes read themselves (``body.py``).

The routes take raw bytes (webhook signatures, size limits, JSON Lines), so FastAPI cannot derive
these; without them the spec would say a POST takes no body and clients (and the schemathesis fuzz
test) would send none. They describe what the service accepts, no tighter: anything outside a
schema here is refused with a 4xx problem, which the fuzz test checks.
"""

from __future__ import annotations

from typing import Any

from graph_schema.kinds import NodeKind

_KINDS = ", ".join(kind.value for kind in NodeKind)
_NODE_REF: dict[str, Any] = {
    "type": "object", "required": ["kind", "key"],
    "properties": {"kind": {"type": "string", "description": f"One of: {_KINDS}."},
                   "key": {"type": "object", "description": "The natural key of the kind, e.g. {digest} of an image."}}}
_NODE: dict[str, Any] = {
    "type": "object", "required": ["kind", "key"],
    "properties": {**_NODE_REF["properties"], "props": {"type": "object"},
                   "aliases": {"type": "array", "items": {"type": "string"}}}}
_EDGE: dict[str, Any] = {
    "type": "object", "required": ["source", "target"],
    "properties": {"source": _NODE_REF, "target": _NODE_REF, "kind": {"type": "string"},
                   "evidence": {"type": "string", "enum": ["inferred", "declared", "observed", "attested"]},
                   "props": {"type": "object"}, "valid_from": {"type": "string", "format": "date-time"},
                   "valid_to": {"type": "string", "format": "date-time"}}}
LINEAGE_EVENT: dict[str, Any] = {
    "type": "object", "required": ["id", "time", "source"], "additionalProperties": False,
    "properties": {"schema": {"type": "string", "enum": ["lineage-event/1"]},
                   "id": {"type": "string", "description": "Idempotency key: the same id twice is recorded once."},
                   "time": {"type": "string", "format": "date-time"}, "source": {"type": "string"},
                   "nodes": {"type": "array", "items": _NODE}, "edges": {"type": "array", "items": _EDGE}}}
LINEAGE_EVENTS: dict[str, Any] = {"anyOf": [LINEAGE_EVENT, {"type": "array", "items": LINEAGE_EVENT}]}

# OpenLineage 2-0-2 and in-toto/DSSE/Sigstore documents: their own specs define them; the
# translators name each field they cannot map (422).
_DOCUMENT: dict[str, Any] = {"type": "object"}
DOCUMENTS: dict[str, Any] = {"anyOf": [_DOCUMENT, {"type": "array", "items": _DOCUMENT}]}
# A webhook delivery is whatever GitHub or Azure DevOps sends; unmapped payloads answer 202.
ANY_JSON: dict[str, Any] = {}
# GitHub's form content type: the JSON delivery in a field named payload.
GITHUB_FORM: dict[str, Any] = {"type": "object", "required": ["payload"],
                               "properties": {"payload": {"type": "string", "description": "The JSON delivery."}}}


def json_body(schema: dict[str, Any], *media_types: str) -> dict[str, Any]:
    """``openapi_extra`` declaring a required JSON body of ``schema`` under each media type."""
    return {"requestBody": {"required": True, "content": {
        media: {"schema": schema} for media in (media_types or ("application/json",))}}}
