"""The FastAPI app. ``create_app`` builds it; the store opens in the lifespan, never at import."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI

from lineage_service.api import problems
from lineage_service.api.limits import RateLimits
from lineage_service.api.metrics import Metrics, MetricsMiddleware
from lineage_service.api.routes import events, health, incident, openlineage, provenance, query, web, webhooks
from lineage_service.ingest import apply_pending
from lineage_service.settings import Settings
from lineage_service.store import open_store
from lineage_service.tokens import TokenEntry, TokenTable, parse_tokens

log = logging.getLogger("lineage_service")

DESCRIPTION = """Which commit and which data produced API v1.2.3?

Query the lineage graph (`/v1/trace`, `/v1/impact`, `/v1/show`, `/v1/neighbours` to page a wide node's
links, `/v1/search`), ask incident questions
(`/v1/diff`, `/v1/history`, `/v1/running`, `/v1/verify`, `/v1/gaps`), and feed it: lineage events
(`/v1/events`), OpenLineage run events (`/api/v1/lineage`), in-toto SLSA build provenance
(`/v1/provenance`), GitHub and Azure DevOps webhooks (`/v1/webhooks/…`, authenticated by their
signature or shared secret). References are query parameters because they contain slashes. Errors are
`application/problem+json`. With tokens configured, send `Authorization: Bearer <token>`; scopes are
`read`, `ingest` and `admin`."""


def load_tokens(settings: Settings) -> list[TokenEntry]:
    entries = []
    if settings.tokens is not None:
        entries += parse_tokens(settings.tokens.get_secret_value(), "LINEAGE_TOKENS")
    if settings.tokens_file is not None:
        entries += parse_tokens(settings.tokens_file.read_text(encoding="utf-8"), str(settings.tokens_file))
    return entries


def token_table(settings: Settings) -> TokenTable:
    """LINEAGE_TOKENS as read at start, LINEAGE_TOKENS_FILE re-read whenever it changes (revocation)."""
    fixed = parse_tokens(settings.tokens.get_secret_value(), "LINEAGE_TOKENS") if settings.tokens is not None else None
    return TokenTable(fixed, settings.tokens_file)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from lineage_service.api.writer import GroupCommitWriter

        # Sync routes run on anyio's threadpool: 40 threads unless bounded. Each reading thread
        # opens its own SQLite connection with a 64 MB page cache, and they contend for the GIL
        # (sqlite3 releases and retakes it around every row). With 50 clients at a million nodes,
        # 40 threads answered ~200 traces/s at ~7 ms of CPU each and held 1.1 GB; 2 threads ~700/s.
        to_thread.current_default_thread_limiter().total_tokens = settings.query_threads
        store = open_store(settings.store)
        # What a restarted service does first: apply what was recorded but not applied.
        recovered = apply_pending(store)
        if recovered.accepted:
            log.info("applied %d events recorded before a restart", len(recovered.accepted))
        app.state.store = store
        app.state.writer = GroupCommitWriter(store, settings.max_group_events)
        metrics.watch_store(store)
        metrics.watch_writer(app.state.writer)
        # A full pass of the cyclic garbage collector walks every container object the process
        # holds: ~65,000 after startup (FastAPI, pydantic, the routes), about 27 ms. Serving traces
        # triggered one every ~1,500 requests, and the request that triggered it waited: the
        # one-client tail over HTTP. What startup built stays alive until shutdown, so take it out
        # of the collector's sight; reference counting still frees anything that is released.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()  # tests and embedders run several apps in one process
            app.state.writer.close()
            store.close()

    app = FastAPI(title="lineage-service", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.tokens = token_table(settings)
    app.state.rate_limits = RateLimits(settings, metrics.registry)
    app.state.metrics = metrics
    problems.install(app)
    for module in (query, incident, events, openlineage, provenance, webhooks, health, web):
        app.include_router(module.router)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
