"""Who may call what: bearer tokens with scopes, as FastAPI dependencies.

Without configured tokens the service is open, which ``lineage serve`` allows only on loopback.
With tokens, every route but the health checks needs one whose scopes cover the route.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from lineage_service.api.problems import Problem
from lineage_service.tokens import Scope, TokenEntry, authenticate


def _challenge(detail: str, status: int = 401) -> Problem:
    return Problem(status, "Unauthorized" if status == 401 else "Forbidden", detail,
                   headers={"WWW-Authenticate": 'Bearer realm="lineage"'} if status == 401 else None)


# async def, like the dependencies in deps.py: a hash and a constant-time comparison, no I/O, so
# no reason to pay a threadpool hop for each on every request.
async def caller(request: Request) -> TokenEntry | None:
    entries: list[TokenEntry] = request.app.state.tokens
    if not entries:
        return None
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise _challenge("this service needs a bearer token: send 'Authorization: Bearer <token>' "
                         "(set LINEAGE_TOKEN for the lineage CLI)")
    entry = authenticate(entries, presented.strip())
    if entry is None:
        raise _challenge("the bearer token is not valid (unknown or revoked)")
    return entry


def require(scope: Scope) -> Any:  # a fastapi.params.Depends
    async def check(entry: Annotated[TokenEntry | None, Depends(caller)]) -> TokenEntry | None:
        if entry is not None and not entry.allows(scope):
            raise _challenge(f"token {entry.name!r} lacks the {scope.value!r} scope this route needs", 403)
        return entry

    return Depends(check)


READ = require(Scope.READ)
INGEST = require(Scope.INGEST)
ADMIN = require(Scope.ADMIN)
