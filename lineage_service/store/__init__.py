"""Store backends, chosen by URI scheme and imported only when asked for.

``sqlite:///path/to/lineage.db`` (the default, in the user's data directory) or a plain path
selects the embedded store; ``neo4j://``, ``neo4j+s://``, ``neo4j+ssc://``, ``bolt://``, ``bolt+s://``
and ``bolt+ssc://`` the Neo4j backend (the ``[neo4j]`` extra), with credentials from
``NEO4J_USERNAME``/``NEO4J_PASSWORD`` and the database from ``NEO4J_DATABASE``, never from the URI.
"""

from __future__ import annotations

import os
from pathlib import Path

from lineage_service.store.base import GraphStore, NewerStoreSchema

NEO4J_SCHEMES = ("neo4j", "neo4j+s", "neo4j+ssc", "bolt", "bolt+s", "bolt+ssc")


class StoreUnavailable(RuntimeError):
    """A store URI that cannot be opened; the message says what to do."""


def default_store_uri() -> str:
    from platformdirs import user_data_path

    return f"sqlite:///{user_data_path('lineage', appauthor=False) / 'lineage.db'}"


def resolve_store_uri(uri: str | None = None) -> str:
    return uri or os.environ.get("LINEAGE_STORE") or default_store_uri()


def open_store(uri: str | None = None) -> GraphStore:
    """Open the store named by ``uri``, ``LINEAGE_STORE``, or the default embedded store."""
    uri = resolve_store_uri(uri)
    scheme, sep, rest = uri.partition("://")
    if not sep:
        scheme, rest = "sqlite", "/" + str(Path(uri).expanduser().resolve())
    if scheme == "sqlite":
        from lineage_service.store.sqlite import SQLiteGraphStore

        # sqlite:///relative/path and sqlite:////absolute/path, as SQLAlchemy and MLflow spell them.
        path = rest[1:] if rest.startswith("/") else rest
        if not path:
            raise StoreUnavailable(f"store URI {uri!r} has no file path; expected sqlite:///path/to/lineage.db")
        import sqlite3

        try:
            return SQLiteGraphStore(path)
        except (OSError, sqlite3.DatabaseError) as exc:  # "file is not a database", permissions, a full disk
            raise StoreUnavailable(f"cannot open the SQLite store at {path}: {exc}") from None
        except NewerStoreSchema as exc:
            raise StoreUnavailable(str(exc)) from None
    if scheme.lower() in NEO4J_SCHEMES:
        try:
            from lineage_service.store.neo4j import open_neo4j_store
        except ImportError as exc:
            if (exc.name or "").partition(".")[0] != "neo4j":
                raise  # a bug in the backend, not a missing driver
            raise StoreUnavailable("the Neo4j backend needs the neo4j driver: pip install 'lineage-service[neo4j]'"
                                   ) from None
        return open_neo4j_store(uri)
    raise StoreUnavailable(
        f"unknown store URI scheme {scheme!r} in {uri!r}; expected sqlite:///path or neo4j://host:7687")
