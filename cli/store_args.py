"""Checks on store URIs given on the command line, run before opening anything.

Shared by ``lineage store copy`` (``cli.store_copy``) and ``lineage events replay`` / ``lineage
store check`` (``cli.events``), so a mistyped path reads the same way everywhere.
"""

from __future__ import annotations

from pathlib import Path

from cli.main import USAGE, _fail


def require_existing(uri: str, what: str) -> None:
    """Exit 2 if ``uri`` is a SQLite path with no file: opening it would create an empty store,
    and a mistyped path must not read (or copy) as an empty store."""
    from lineage_service.store.copy import store_identity

    identity = store_identity(uri)
    if identity.startswith("sqlite:") and not Path(identity.removeprefix("sqlite:")).is_file():
        _fail(f"{what}: no store at {uri}", USAGE, hints=["expected sqlite:///path/to/lineage.db or neo4j://host:7687"])
