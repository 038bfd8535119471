"""OpenLineage at ``/api/v1/lineage``, where the official clients post by default (Marquez's path).

Accepts what ``openlineage-python``'s HTTP transport sends: one RunEvent (spec 2-0-2, eventType
optional), DatasetEvent or JobEvent as JSON, gzip-compressed or not, with an ``ingest`` bearer
token as its API key. Each event is translated (``lineage_service.openlineage``) into a lineage
event and goes through the one ingestion path; 201 once it is durably recorded.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from lineage_service.api.auth import INGEST
from lineage_service.api.body import parse_json, read_body, require_json
from lineage_service.api.body_schemas import DOCUMENTS, json_body
from lineage_service.api.deps import JsonResponse, SettingsDep
from lineage_service.api.problems import AUTH, Problem, json_object, responses
from lineage_service.api.routes.events import INGEST_PROBLEMS, record
from lineage_service.openlineage import OpenLineageRejected, translate

router = APIRouter(prefix="/api/v1", tags=["openlineage"])


@router.post("/lineage", dependencies=[INGEST], response_class=JsonResponse, status_code=201,
             responses={**json_object(201), **json_object(200, "Nothing to record (e.g. a START event)"),
                        **json_object(202, "Recorded; some events could not be applied yet"),
                        **INGEST_PROBLEMS, **responses(*AUTH)},
             openapi_extra=json_body(DOCUMENTS),
             summary="Record an OpenLineage event",
             description="An OpenLineage RunEvent, DatasetEvent or JobEvent (spec 2-0-2), or an array of them. "
                         "Runs become `job` nodes, input/output datasets (their `version` facet) `dataset` "
                         "nodes, the `sourceCodeLocation` facet a `commit`, the `parent` facet the pipeline "
                         "run. 201 with what was recorded; 422 problem+json naming each OpenLineage field "
                         "that could not be mapped.")
async def post_lineage(request: Request, settings: SettingsDep) -> JsonResponse:
    require_json(request)
    data = parse_json(await read_body(request, settings.max_body_bytes))
    items = data if isinstance(data, list) else [data]
    events: list[dict[str, Any]] = []
    notes: list[str] = []
    problems: list[str] = []
    for index, item in enumerate(items):
        try:
            translated = translate(item)
        except OpenLineageRejected as exc:
            problems += [f"[{index}] {p}" if len(items) > 1 else p for p in exc.problems]
            continue
        notes += translated.notes
        if translated.event is not None:
            events.append(translated.event)
    if problems:
        request.app.state.metrics.events.labels("rejected").inc(len(items))
        raise Problem(422, "OpenLineage event rejected", "; ".join(problems), errors=problems)
    if not events:
        return JsonResponse({"accepted": 0, "duplicates": 0, "notes": notes}, status_code=200)
    result = await record(request, events)
    return JsonResponse({**result.as_dict(), "notes": notes}, status_code=202 if result.failed else 201)
