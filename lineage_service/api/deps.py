"""Dependencies shared by the routes: the store and the settings the app was built with."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from starlette.responses import JSONResponse

from graph_schema.canonical import InvalidValue
from lineage_service.api.problems import Problem
from lineage_service.query.references import Ambiguous, InvalidReference, NotFound, ReferenceProblem
from lineage_service.settings import Settings
from lineage_service.store.base import GraphStore


# Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency in the
# threadpool, a thread hop (queue, wake-up, GIL hand-over) per dependency per request, which on
# a trace cost about as much as building the answer (docs/benchmarks.md, "Over HTTP").
async def get_store(request: Request) -> GraphStore:
    store: GraphStore = request.app.state.store
    return store


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


StoreDep = Annotated[GraphStore, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


class JsonResponse(JSONResponse):
    """JSON through orjson: trace answers are large and built on every request.

    A ``JSONResponse`` subclass so that FastAPI documents answers as JSON, not as a string.
    """

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS, default=str)


def _candidates(exc: ReferenceProblem) -> list[dict[str, str]]:
    return [{"kind": node.kind, "label": node.label, "id": node.id} for node in exc.candidates]


@contextmanager
def answering() -> Iterator[None]:
    """Turn the query layer's errors into problems: 404 unknown, 409 ambiguous, 400 malformed."""
    try:
        yield
    except NotFound as exc:
        raise Problem(404, "Not found", str(exc), candidates=_candidates(exc)) from None
    except Ambiguous as exc:
        raise Problem(409, "Ambiguous reference", str(exc), candidates=_candidates(exc)) from None
    except InvalidReference as exc:
        raise Problem(400, "Invalid reference", str(exc)) from None
    except InvalidValue as exc:
        # A fanout, limit, cursor, direction, edge kind, time or kind: not the reference.
        raise Problem(400, "Invalid parameter", str(exc)) from None


def answer(compute: Callable[[], Any]) -> JsonResponse:
    with answering():
        return JsonResponse(compute())
