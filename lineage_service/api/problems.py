"""Errors as ``application/problem+json`` (RFC 9457), for every route and every failure.

Routes raise ``Problem``; the handlers also turn FastAPI's own validation errors and unknown routes
into problems, so a client never sees a stack trace or an HTML page.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

PROBLEM_TYPE = "https://lineage-service.dev/problems/"
MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """An HTTP error with a title, a detail that names the fix, and optional extension members."""

    def __init__(self, status: int, title: str, detail: str, *, slug: str | None = None,
                 headers: dict[str, str] | None = None, **extensions: Any) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail
        self.slug = slug or title.lower().replace(" ", "-")
        self.headers = headers or {}
        self.extensions = extensions


def problem_response(problem: Problem, instance: str | None = None) -> Response:
    body = {"type": PROBLEM_TYPE + problem.slug, "title": problem.title, "status": problem.status,
            "detail": problem.detail, **({"instance": instance} if instance else {}), **problem.extensions}
    return Response(orjson.dumps(body), status_code=problem.status, media_type=MEDIA_TYPE, headers=problem.headers)


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc if part not in ("query", "body", "path", "header"))


def install(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return problem_response(exc, request.url.path)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [f"{_location(tuple(e['loc']))}: {e['msg']}" for e in exc.errors()]
        return problem_response(Problem(400, "Invalid request", "; ".join(errors), errors=errors),
                                request.url.path)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404:
            detail = f"no route {request.method} {request.url.path}; the API is under /v1 (see /docs)"
        return problem_response(Problem(exc.status_code, _TITLES.get(exc.status_code, "HTTP error"), detail,
                                        headers=dict(exc.headers or {})), request.url.path)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        # Logged by the server with its traceback; the client gets no internals.
        return problem_response(Problem(500, "Internal error", "the service failed to answer; see its log"),
                                request.url.path)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
    _drop_default_422(app)


def _drop_default_422(app: FastAPI) -> None:
    """FastAPI documents a 422 ``HTTPValidationError`` on every route with parameters; ours answer a
    400 problem instead (``on_validation``), which the routes document, so the spec must not say 422."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        spec = app.openapi_schema
        if spec is None:
            spec = build()  # FastAPI caches it in app.openapi_schema: edited once, in place
            for operations in spec.get("paths", {}).values():
                for operation in operations.values():
                    answer = operation.get("responses", {}).get("422", {})
                    if "HTTPValidationError" in orjson.dumps(answer).decode():
                        del operation["responses"]["422"]
            for name in ("HTTPValidationError", "ValidationError"):
                spec.get("components", {}).get("schemas", {}).pop(name, None)
        return spec

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customize the spec


_TITLES = {404: "Not found", 405: "Method not allowed", 401: "Unauthorized", 403: "Forbidden"}

# What the OpenAPI spec says about errors. Every status a route can answer is listed on the route
# (clients and the schemathesis fuzz test rely on it), as problem+json, never FastAPI's default 422
# body: request validation errors are 400 problems here (``on_validation``).
_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["type", "title", "status", "detail"],
    "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                   "detail": {"type": "string"}, "instance": {"type": "string"},
                   "errors": {"type": "array"}, "candidates": {"type": "array", "items": {"type": "object"}}}}
_WHEN = {400: "Malformed request: the detail names the parameter or field",
         401: "No or an invalid bearer token (or webhook signature)", 403: "The token lacks the scope",
         404: "Unknown reference; `candidates` lists what is close", 409: "Ambiguous reference; `candidates`",
         413: "Body too large", 415: "Unsupported content type or encoding",
         422: "Invalid events: `errors` names each field; nothing was stored",
         429: "Too many requests", 503: "The store is unavailable or the route is not configured"}
AUTH = (401, 403, 429)  # every route behind a bearer token (and its rate budget, limits.py)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problems a route can answer (pass to a route or router)."""
    return {status: {"description": _WHEN[status], "content": {MEDIA_TYPE: {"schema": _PROBLEM_SCHEMA}}}
            for status in statuses}


def json_object(status: int = 200, description: str = "Successful Response") -> dict[int | str, dict[str, Any]]:
    """A JSON object answer (the routes build their answers as dicts, without response models)."""
    return {status: {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}}
