"""The web explorer: one static page (``lineage_service/web``) that calls the JSON routes.

The page itself is public, like any static asset: it holds no data. Every answer it shows comes from
``/v1/…`` with the token the user typed, so the scopes are enforced where they always are.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

WEB = Path(__file__).resolve().parent.parent.parent / "web"

router = APIRouter(include_in_schema=False)
# A mounted sub-application: StaticFiles handles ETags, ranges and path traversal for us.
router.mount("/static", StaticFiles(directory=WEB), name="static")


@router.get("/")
def index() -> FileResponse:
    # no-cache: a redeployed service must not leave users on an old page talking to a new API.
    return FileResponse(WEB / "index.html", headers={"Cache-Control": "no-cache"})
