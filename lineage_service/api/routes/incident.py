"""Incident routes: diff, history, running, verify, gaps. The same answers as the CLI's commands.

References travel as query parameters, as on the other read routes. ``verify`` answers 200 with
``passed: false`` when a check fails: the finding is the answer, not an error of the request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from lineage_service.api.auth import READ
from lineage_service.api.deps import JsonResponse, StoreDep, answer
from lineage_service.api.problems import AUTH, json_object, responses
from lineage_service.api.routes.query import RESOLVING, At, Kind, Ref
from lineage_service.query import coverage, timeline
from lineage_service.query import diff as diffing
from lineage_service.query import verify as verifying
from lineage_service.query.answers import parse_moment

router = APIRouter(prefix="/v1", tags=["incident"], dependencies=[READ],
                   responses={**json_object(), **responses(400, *AUTH)})

Side = Annotated[str, Query(min_length=1, max_length=1000, description="A human reference, e.g. v1.2.2.")]
Env = Annotated[str | None, Query(max_length=256, description="Only this environment (or namespace), e.g. prod.",
                                  examples=["prod"])]


@router.get("/diff", response_class=JsonResponse, responses=RESOLVING,
            summary="What changed between two nodes of one kind",
            description="`{kind, a, b, summary, deployments, image, code, model, datasets, env, warnings, notes}`, as "
                        "`lineage diff --format json`; the shape is documented in `lineage_service/query/diff.py`.")
def diff(store: StoreDep, kind: Kind, a: Side, b: Side) -> JsonResponse:
    return answer(lambda: diffing.diff(store, kind, a, b))


@router.get("/history", response_class=JsonResponse, responses=RESOLVING,
            summary="Revisions of a deployment, releases of a service, "
            "digests of a tag",
            description="`kind=deployment&ref=prod/taxi-api`: every revision with image, API version, model and "
                        "active from/to. `kind=api&ref=taxi-api` (or a release, or nothing when there is one "
                        "service): every release, where and when it was live, what replaced it. `kind=image&ref=<tag>`:"
                        " every digest the tag pointed to.")
def history(store: StoreDep, kind: Kind, ref: Annotated[str | None, Query(max_length=1000)] = None) -> JsonResponse:
    return answer(lambda: timeline.history(store, kind, ref))


@router.get("/running", response_class=JsonResponse, summary="What was running at a time",
            description="`{at, env, deployments, notes}`: deployments active at `at` (live now without it), with "
                        "their API versions, images and models.")
def running(store: StoreDep, at: At = None, env: Env = None) -> JsonResponse:
    return answer(lambda: timeline.running(store, parse_moment(at) if at else None, env))


@router.get("/verify", response_class=JsonResponse, responses=RESOLVING,
            summary="Check the chain: digests, tags, models, trees, evidence",
            description="`{root, passed, counts, findings, checks, notes}`; each finding has `check`, `severity` "
                        "(fail, warn, ok), `message`, `evidence` and `fix`. 200 even when `passed` is false.")
def verify(store: StoreDep, kind: Kind, ref: Ref) -> JsonResponse:
    return answer(lambda: verifying.verify(store, kind, ref))


@router.get("/gaps", response_class=JsonResponse, summary="Live releases whose chain is incomplete",
            description="`{env, coverage, summary, releases, deployments, notes}`: each gap with the collector or "
                        "`lineage emit` step that fills it; `coverage` is the share of live releases (and "
                        "deployments) with a complete chain.")
def gaps(store: StoreDep, env: Env = None) -> JsonResponse:
    return answer(lambda: coverage.gaps(store, env))
