"""Who may call what: bearer tokens with scopes, as FastAPI dependencies, and their rate budgets.

Without configured tokens the service is open, which ``lineage serve`` allows only on loopback.
With tokens (LINEAGE_TOKENS or LINEAGE_TOKENS_FILE set, even to no line at all), every route but
the health checks, the API docs and the web page needs one whose scopes cover the route: 401
without a token or with an unknown, expired or revoked one, 403 with one lacking the scope. The
web page and its static files hold no data (every answer comes from ``/v1``), and the docs only
describe the API, so they stay open like the health checks. Webhooks authenticate by signature.

A refused token (missing, unknown, expired or revoked) spends the client address's read budget
before its 401, so with ``LINEAGE_RATE_LIMIT_READ`` set, guessing tokens ends in 429s.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request

from lineage_service.api.limits import Budget, limit
from lineage_service.api.problems import Problem
from lineage_service.tokens import Scope, TokenEntry, TokenTable, authenticate


def _challenge(detail: str, status: int = 401) -> Problem:
    return Problem(status, "Unauthorized" if status == 401 else "Forbidden", detail,
                   headers={"WWW-Authenticate": 'Bearer realm="lineage"'} if status == 401 else None)


def _refuse(request: Request, detail: str) -> Problem:
    # The 401 spends the address's read budget first: without it, token guessing is never throttled,
    # as the token-named budgets in ``require`` are only reached with a valid token. Once spent, the
    # guesser gets the 429 (raised here) and learns nothing more about its guesses. A no-op when
    # rate limits are off.
    limit(request, Budget.READ, None)
    return _challenge(detail)


# async def, like the dependencies in deps.py: a hash and a constant-time comparison, no I/O, so
# no reason to pay a threadpool hop for each on every request.
async def caller(request: Request) -> TokenEntry | None:
    table: TokenTable = request.app.state.tokens
    if not table.configured:
        return None
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise _refuse(request, "this service needs a bearer token: send 'Authorization: Bearer <token>' "
                      "(set LINEAGE_TOKEN for the lineage CLI)")
    entry = authenticate(table.entries(), presented.strip())
    if entry is None:
        raise _refuse(request, "the bearer token is not one this service knows (lineage token create makes one)")
    refusal = entry.refusal(datetime.now(UTC))
    if refusal is not None:
        raise _refuse(request, refusal)
    return entry


# What a scope's routes spend: admin routes, should there be any, change the store like ingestion.
_BUDGETS = {Scope.READ: Budget.READ, Scope.INGEST: Budget.INGEST, Scope.ADMIN: Budget.INGEST}


def require(scope: Scope) -> Any:  # a fastapi.params.Depends
    async def check(request: Request, entry: Annotated[TokenEntry | None, Depends(caller)]) -> TokenEntry | None:
        if entry is not None and not entry.allows(scope):
            raise _challenge(f"token {entry.name!r} lacks the {scope.value!r} scope this route needs", 403)
        limit(request, _BUDGETS[scope], entry.name if entry is not None else None)
        return entry

    return Depends(check)


READ = require(Scope.READ)
INGEST = require(Scope.INGEST)
ADMIN = require(Scope.ADMIN)
