"""Ingestion: ``POST /v1/events`` takes one lineage event, an array, or JSON Lines.

A 2xx means every event of the request is durably recorded in the event log (new, or already
there from an earlier delivery). Validation is all or nothing: one bad event rejects the request
and nothing is stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from lineage_service.api.auth import INGEST, READ
from lineage_service.api.body import read_body, require_json
from lineage_service.api.body_schemas import LINEAGE_EVENT, LINEAGE_EVENTS
from lineage_service.api.deps import JsonResponse, SettingsDep, StoreDep
from lineage_service.api.problems import AUTH, Problem, json_object, responses
from lineage_service.ingest import BatchRejected, IngestResult, InputError, read_events, validate_all
from lineage_service.query.trace import Json

router = APIRouter(prefix="/v1", tags=["events"], responses={**json_object(), **responses(*AUTH)})
# What every ingesting POST can answer besides its successes.
INGEST_PROBLEMS = responses(400, 413, 415, 422, 503)

EXAMPLE_EVENT = {
    "schema": "lineage-event/1", "id": "gha-7004455701-image", "time": "2026-11-10T14:50:00Z",
    "source": "github-actions",
    "nodes": [
        {"kind": "image",
         "key": {"digest": "sha256:3f49a154a09c6e2b8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b"},
         "aliases": ["ghcr.io/nathansegers/azure-mlops-api:v1.2.3"]},
        {"kind": "commit", "key": {"repo": "https://github.com/nathansegers/mlops-2.0",
                                   "sha": "05ee055698af2171294615a1e423f71f4098628e"}},
    ],
    "edges": [{"source": {"kind": "image", "key": {
        "digest": "sha256:3f49a154a09c6e2b8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b"}},
        "target": {"kind": "commit", "key": {"repo": "https://github.com/nathansegers/mlops-2.0",
                                             "sha": "05ee055698af2171294615a1e423f71f4098628e"}},
        "kind": "built_from", "evidence": "declared"}],
}


def rejected_problem(exc: BatchRejected, total: int) -> Problem:
    errors = [{"event": rejected.event_label, "problems": rejected.problems} for rejected in exc.rejected]
    first = exc.rejected[0]
    return Problem(422, "Events rejected",
                   f"{len(exc.rejected)} of {total} events rejected; nothing was stored. "
                   f"First: event {first.event_label}: {first.problems[0]}", errors=errors)


async def record(request: Request, raw_events: Sequence[object]) -> IngestResult:
    """Validate all, then hand the events to the group-commit writer and wait for durability."""
    metrics = request.app.state.metrics
    try:
        events = validate_all(raw_events)
    except BatchRejected as exc:
        metrics.events.labels("rejected").inc(len(raw_events))
        raise rejected_problem(exc, len(raw_events)) from None
    if not events:
        raise Problem(400, "No events", "the request holds no events; send one event, an array or JSON Lines")
    try:
        result: IngestResult = await asyncio.wrap_future(request.app.state.writer.submit(events))
    except Exception as exc:
        raise Problem(503, "Store unavailable", f"the events could not be recorded ({type(exc).__name__}); "
                      f"nothing was acknowledged, retry later", headers={"Retry-After": "5"}) from None
    metrics.events.labels("accepted").inc(len(result.accepted))
    metrics.events.labels("duplicate").inc(len(result.duplicates))
    metrics.events.labels("not_applied").inc(len(result.failed))
    return result


def result_response(result: IngestResult) -> JsonResponse:
    # 202 when some recorded events could not be applied yet: they are safe in the log and
    # `lineage events apply` (or the next start) retries them.
    return JsonResponse(result.as_dict(), status_code=202 if result.failed else 200)


@router.post("/events", dependencies=[INGEST], response_class=JsonResponse, summary="Record lineage events",
             responses={**json_object(202, "Recorded; some events could not be applied yet (retried later)"),
                        **INGEST_PROBLEMS},
             description="One event, a JSON array of events, or JSON Lines (`application/x-ndjson`). 200 with "
                         "`{accepted, duplicates, failed, nodes, edges, event_ids}` once durably recorded; "
                         "422 problem+json naming each invalid field, and nothing stored, if any event is "
                         "invalid.",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": LINEAGE_EVENTS, "example": EXAMPLE_EVENT},
                 # JSON Lines: each item of the array on a line of its own
                 "application/x-ndjson": {"schema": {"type": "array", "items": LINEAGE_EVENT}}}}})
async def post_events(request: Request, settings: SettingsDep) -> JsonResponse:
    require_json(request)
    body = await read_body(request, settings.max_body_bytes)
    try:
        raw = read_events(body.decode("utf-8"), origin="body")
    except UnicodeDecodeError as exc:
        raise Problem(400, "Invalid encoding", f"the body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    except (InputError, RecursionError) as exc:
        raise Problem(400, "Invalid JSON", str(exc) if isinstance(exc, InputError)
                      else "the body nests too deeply to be a lineage event") from None
    return result_response(await record(request, raw))


@router.get("/events", dependencies=[READ], response_class=JsonResponse, summary="The event log",
            responses=responses(400))
def list_events(store: StoreDep,
                status: Annotated[Literal["pending", "applied", "failed"] | None, Query()] = None,
                limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
                after: Annotated[str | None, Query(description="Start after this event id (paging).")] = None,
                ) -> JsonResponse:
    rows: list[Json] = [{"id": e.id, "source": e.source, "time": e.time.isoformat(),
                         "received_at": e.received_at.isoformat(), "status": e.status, "error": e.error}
                        for e in store.list_events(status=status, limit=limit, after=after)]
    return JsonResponse({"events": rows})


@router.get("/stats", dependencies=[READ], response_class=JsonResponse, summary="Counts and size of the store")
def stats(store: StoreDep) -> JsonResponse:
    return JsonResponse(store.stats())
