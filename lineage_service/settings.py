"""The service's settings: one pydantic-settings class, every field from a ``LINEAGE_*`` variable.

Secrets are ``SecretStr`` so that they never show in a repr, a log line or an error message.
Nothing here opens a store or a socket: the app does that in its lifespan.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    # Empty variables (LINEAGE_TOKENS_FILE= in a compose file) mean unset, not the path ".".
    model_config = SettingsConfigDict(env_prefix="LINEAGE_", extra="ignore", env_ignore_empty=True)

    store: str | None = Field(None, description="Store URI; default: lineage.db in the user's data directory.")
    host: str = Field("127.0.0.1", description="Address to listen on; loopback unless told otherwise.")
    port: int = Field(8080, ge=1, le=65535)
    # Tokens: lines of 'NAME SCOPES TOKEN-OR-sha256:HASH' (see lineage_service.tokens).
    tokens: SecretStr | None = None
    tokens_file: Path | None = None
    # Serving a non-loopback address without tokens lets anyone write lineage; only on request.
    insecure: bool = False
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Largest request body accepted.")
    # Events gathered into one transaction (one fsync) by the group-commit writer.
    max_group_events: int = Field(2_000, ge=1)
    # Threads answering queries in each worker process, each with its own SQLite connection and
    # 64 MB page cache. The GIL serialises the Python side of a query, so more threads add memory
    # and contention, not throughput (docs/benchmarks.md, "Over HTTP"): scale with
    # `lineage serve --workers`. Two, not one, so that one slow query (an impact over thousands of
    # nodes, a substring search) does not hold up every other read of its worker.
    query_threads: int = Field(2, ge=1, le=64)
    # Request-rate budgets per caller (token name, or client address when the service is open), in
    # the notation of the `limits` library: "50/second", "3000 per minute", "10/second;200/minute".
    # Off by default: one CI runner or the benchmark legitimately sends 1,000+ requests a second from
    # one client, and the budget that protects a store depends on its disk; set them where callers
    # are many or untrusted (docs: lineage_service/api/limits.py). Reads and ingestion count apart.
    rate_limit_read: str | None = Field(None, description="Queries per caller, e.g. '200/second'.")
    rate_limit_ingest: str | None = Field(None, description="Ingest requests (events, OpenLineage, provenance, "
                                          "webhooks) per caller, e.g. '50/second'.")
    github_webhook_secret: SecretStr | None = None
    azure_devops_webhook_secret: SecretStr | None = None

    @field_validator("rate_limit_read", "rate_limit_ingest")
    @classmethod
    def _rate_limit(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() in ("", "off", "none"):
            return None
        from limits import parse_many  # only when a limit is set: `lineage trace` never pays for it

        try:
            parse_many(value)
        except ValueError:
            raise ValueError(f"expected a rate such as '50/second', '3000 per minute' or "
                             f"'10/second;200/minute', got {value!r}") from None
        return value.strip()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
