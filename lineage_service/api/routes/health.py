"""Health checks (open, for orchestrators) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import PlainTextResponse, Response

from lineage_service.api.auth import READ
from lineage_service.api.deps import JsonResponse, StoreDep
from lineage_service.api.problems import AUTH, Problem, json_object, responses

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_class=JsonResponse, summary="The process is up", responses=json_object())
def healthz() -> JsonResponse:
    return JsonResponse({"status": "ok"})


@router.get("/readyz", response_class=JsonResponse, summary="The store answers",
            responses={**json_object(), **responses(503)})
def readyz(store: StoreDep) -> JsonResponse:
    try:
        store.get_event("")  # one primary-key read: cheap at any size
    except Exception as exc:
        raise Problem(503, "Not ready", f"the store does not answer: {type(exc).__name__}") from None
    return JsonResponse({"status": "ready", "store": store.uri})


@router.get("/metrics", dependencies=[READ], summary="Prometheus metrics", response_class=PlainTextResponse,
            responses={200: {"description": "The Prometheus text format",
                             "content": {"text/plain": {"schema": {"type": "string"}}}}, **responses(*AUTH)})
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
