"""Read routes: trace, impact, show, neighbours, search. References travel as query parameters: they
contain slashes (``prod/taxi-api``, ``ghcr.io/org/api:v1.2.3``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from lineage_service.api.auth import READ
from lineage_service.api.deps import JsonResponse, StoreDep, answer
from lineage_service.api.problems import AUTH, json_object, responses
from lineage_service.query import answers
from lineage_service.query.cursors import DEFAULT_FANOUT, MAX_FANOUT, MAX_PAGE
from lineage_service.query.neighbours import DEFAULT_PAGE
from lineage_service.query.trace import DEFAULT_DEPTH, DEFAULT_LIMIT
from lineage_service.store.base import Direction

router = APIRouter(prefix="/v1", tags=["lineage"], dependencies=[READ],
                   responses={**json_object(), **responses(400, *AUTH)})
# Routes that resolve a reference: unknown is a 404, ambiguous a 409 (both list candidates).
RESOLVING = responses(404, 409)

KIND_HELP = "What the reference names: api, deployment, image, model, job, dataset, run, commit, repo, person."
Kind = Annotated[str, Query(description=KIND_HELP, openapi_examples={
    "api": {"value": "api"}, "dataset": {"value": "dataset"}, "commit": {"value": "commit"}})]
Ref = Annotated[str, Query(min_length=1, max_length=1000, description="A human reference.", openapi_examples={
    "api release": {"summary": "an API release", "value": "v1.2.3"},
    "dataset version": {"summary": "a dataset version", "value": "green-taxi-data:5"},
    "image tag": {"summary": "an image by tag", "value": "ghcr.io/nathansegers/azure-mlops-api:v1.2.3"},
    "commit prefix": {"summary": "a unique SHA prefix", "value": "05ee055"},
    "deployment": {"summary": "the live revision", "value": "prod/taxi-api"}})]
Depth = Annotated[int, Query(ge=1, le=answers.MAX_DEPTH, description="How many links to follow.")]
At = Annotated[str | None, Query(description="Follow only links valid at this time (ISO 8601).",
                                 examples=["2026-11-11T14:05:00Z"])]
Limit = Annotated[int, Query(ge=1, le=100_000, description="Most nodes in the answer; more sets truncated.")]
Fanout = Annotated[int, Query(ge=1, le=MAX_FANOUT, description=(
    "Most links of one kind followed from any node, the newest first; a node with more is listed in `more` "
    "with its total and a cursor for `/v1/neighbours`."))]

ANSWER_DOC = ("`{root, nodes, edges, summary, warnings, notes, truncated, more}`, the same JSON as "
              "`lineage trace --format json`. 404 for an unknown reference and 409 for an ambiguous one, "
              "both listing `candidates`.")


def _lineage(direction: Direction, store: StoreDep, kind: str, ref: str, depth: int, at: str | None,
             limit: int, fanout: int) -> JsonResponse:
    return answer(lambda: answers.lineage(store, direction, kind, ref, depth=depth, limit=limit,
                                          at=answers.parse_moment(at) if at else None, fanout=fanout))


@router.get("/trace", response_class=JsonResponse, responses=RESOLVING, summary="What produced it (upstream)",
            description=ANSWER_DOC)
def trace(store: StoreDep, kind: Kind, ref: Ref, depth: Depth = DEFAULT_DEPTH, at: At = None,
          limit: Limit = DEFAULT_LIMIT, fanout: Fanout = DEFAULT_FANOUT) -> JsonResponse:
    return _lineage(Direction.UPSTREAM, store, kind, ref, depth, at, limit, fanout)


@router.get("/impact", response_class=JsonResponse, responses=RESOLVING, summary="What was made from it (downstream)",
            description=ANSWER_DOC)
def impact(store: StoreDep, kind: Kind, ref: Ref, depth: Depth = DEFAULT_DEPTH, at: At = None,
           limit: Limit = DEFAULT_LIMIT, fanout: Fanout = DEFAULT_FANOUT) -> JsonResponse:
    return _lineage(Direction.DOWNSTREAM, store, kind, ref, depth, at, limit, fanout)


@router.get("/show", response_class=JsonResponse, responses=RESOLVING, summary="One node and its direct links",
            description="`{node, upstream, downstream, more, notes}`, as `lineage show --format json`; at most "
                        "100 links each way, `more` says how many there are and gives a cursor for the rest.")
def show(store: StoreDep, kind: Kind, ref: Ref) -> JsonResponse:
    return answer(lambda: answers.show(store, kind, ref))


@router.get("/neighbours", response_class=JsonResponse, responses=RESOLVING,
            summary="A node's links in one direction, page by page, newest first",
            description="`{node, direction, edge_kind, total, links, next, notes}`, as `lineage neighbours --format "
                        "json`. Name the node by `kind` and `ref`, or pass only `after`: a cursor from an earlier "
                        "page (`next`) or from a trace's `more`, which names the node, direction and edge kind, and "
                        "keeps the `at` of an as-of answer (an `at` that differs from it is a 400).")
def neighbours(store: StoreDep, kind: Annotated[str | None, Query(description=KIND_HELP)] = None,
               ref: Annotated[str | None, Query(min_length=1, max_length=1000, description="A human reference.")]
               = None,
               direction: Annotated[str | None, Query(description="upstream or downstream (default)")] = None,
               edge_kind: Annotated[str | None, Query(description="Only links of this kind, e.g. consumed.")] = None,
               after: Annotated[str | None, Query(max_length=4000, description="A cursor from an earlier answer.")]
               = None,
               limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Links per page.")] = DEFAULT_PAGE,
               at: At = None) -> JsonResponse:
    return answer(lambda: answers.neighbours(store, kind, ref, direction=direction, edge_kind=edge_kind, after=after,
                                             limit=limit, at=answers.parse_moment(at) if at else None))


@router.get("/search", response_class=JsonResponse, summary="Nodes whose label, key or image tag contains q",
            description="`{query, results}`; an empty `results` list when nothing matches.")
def search(store: StoreDep, q: Annotated[str, Query(min_length=1, max_length=500, examples=["taxi"])],
           kind: Annotated[str | None, Query(description=KIND_HELP)] = None,
           limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> JsonResponse:
    return answer(lambda: answers.search(store, q, kind, limit))
