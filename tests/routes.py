"""The app's own route table, for tests that must cover every route (auth matrix, body limits)."""

from __future__ import annotations

from fastapi.routing import iter_route_contexts

from lineage_service.api.app import create_app
from lineage_service.settings import Settings


def route_table() -> set[tuple[str, str]]:
    """(method, path) of every route and mount the app serves; HEAD is GET's twin and not listed."""
    app = create_app(Settings(store="sqlite:///unused.db"))
    found = set()
    for route in iter_route_contexts(app.routes):
        assert route.path is not None
        for method in sorted(route.methods or {"GET"}):  # a mount (static files) answers GET
            if method != "HEAD":
                found.add((method, route.path))
    return found
