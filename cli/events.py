"""``lineage events replay|retry`` and ``lineage store check``: rebuild, repair and compare stores.

Registered on the ``events`` and ``store`` sub-apps (``cli.main`` imports this module at its end).
The work is ``lineage_service.replay`` and ``lineage_service.store.fingerprint``; this module
opens stores, renders and picks exit codes: 0 done, 1 something failed or differs, 2 usage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.main import (
    NOT_FOUND,
    USAGE,
    Format,
    PlainFormatOption,
    StoreOption,
    _fail,
    _format,
    _open,
    _to_json,
    events_app,
    store_app,
)
from cli.store_args import require_existing

if TYPE_CHECKING:
    from lineage_service.store.fingerprint import Fingerprint


_REPAIR = ("restore it from a backup or a copy (lineage store copy), or rebuild the graph from a sound copy of "
           "its log (lineage events replay)")


@events_app.command("replay")
def events_replay(
    source: Annotated[str, typer.Option("--from", help="Store whose event log is replayed (it is only read).",
                                        show_default=False)],
    target: Annotated[str, typer.Option("--store", help="New, empty store to build the graph in, e.g. "
                                        "sqlite:///rebuilt.db (never LINEAGE_STORE: it is not empty).",
                                        show_default=False)],
    fmt: PlainFormatOption = None,
) -> None:
    """Rebuild a graph from an event log: re-apply every event of --from, in order, into the empty --store.

    Compare the two with [cyan]lineage store check --store TARGET --compare SOURCE[/cyan].

    Exit 1 if events still fail to apply: they stay in the new log with their error (lineage events retry).
    """
    from lineage_service.replay import ReplayRefused, replay
    from lineage_service.store.copy import same_store

    if same_store(source, target):  # before opening either
        _fail(f"--from and --store are the same store ({source}); replay into a new, empty one", USAGE)
    require_existing(source, "--from")
    with _open(source) as opened_source, _open(target) as opened_target:
        try:
            result = replay(opened_source, opened_target)
        except ReplayRefused as exc:
            _fail(str(exc), USAGE)
        except Exception as exc:  # a dropped connection, a full disk: the target holds part of the log
            _fail(f"the replay stopped: {type(exc).__name__}: {exc}; the target {target} now holds part of the "
                  f"log: delete the target and run again")
    summary = {"source": source, "target": target, **result.as_dict()}
    if _format(fmt) is Format.json:
        typer.echo(_to_json(summary))
    else:
        typer.echo(f"replayed {result.events} events from {source} into {target}: {result.applied} applied, "
                   f"{len(result.failed)} failed ({result.retried} retried once at the end)")
        if result.source_pending:
            typer.echo(f"note: {result.source_pending} events were pending in the source (not applied there yet): "
                       f"the rebuilt graph is ahead of it; run `lineage events apply` on the source to compare")
        for event_id, error in list(result.failed.items())[:20]:
            typer.echo(f"  failed {event_id}: {error}")
    if result.failed:
        raise typer.Exit(NOT_FOUND)


@events_app.command("retry")
def events_retry(
    event_ids: Annotated[list[str] | None, typer.Argument(
        help="Events to apply again (default: every failed event, in log order).", show_default=False)] = None,
    fmt: PlainFormatOption = None, store: StoreOption = None,
) -> None:
    """Apply failed events again, after a fix (a newer lineage-service that accepts the value the store refused).

    Exit 1 if any still fails or an id is unknown.

    The error stays on the event: lineage events list --status failed.
    """
    from lineage_service.replay import retry

    with _open(store) as opened:
        result = retry(opened, event_ids or ())
    outcome = result.outcome
    applied = [e for e in outcome.accepted if e not in outcome.failed]
    summary = {"applied": applied, "failed": outcome.failed, "unknown": result.unknown,
               "already_applied": result.already_applied}
    if _format(fmt) is Format.json:
        typer.echo(_to_json(summary))
    else:
        typer.echo(f"{len(applied)} applied, {len(outcome.failed)} still failing"
                   + (f", {len(result.already_applied)} already applied" if result.already_applied else ""))
        for event_id, error in outcome.failed.items():
            typer.echo(f"  failed {event_id}: {error}")
    if result.unknown:
        _fail(f"no such event: {', '.join(result.unknown)}", NOT_FOUND,
              hints=["lineage events list --status failed  lists the events to retry"])
    if outcome.failed:
        raise typer.Exit(NOT_FOUND)


def _fingerprint(uri: str | None) -> Fingerprint:
    from lineage_service.store.fingerprint import fingerprint

    with _open(uri) as opened:
        try:
            return fingerprint(opened)
        except Exception as exc:  # a damaged file fails on reading, before any hash is done
            try:
                problems = opened.integrity_check()
            except Exception as again:
                problems = [f"{type(again).__name__}: {again}"]
            found = "; ".join((problems or ["not checked by this backend"])[:10])
            _fail(f"cannot read the store {opened.uri} ({type(exc).__name__}: {exc}); integrity check failed: "
                  f"{found}", NOT_FOUND, hints=[_REPAIR])


def _render(found: Fingerprint) -> None:
    typer.echo(f"store      {found.store}")
    for section in ("nodes", "edges", "events"):
        counts: dict[str, int] = getattr(found, section)
        detail = ", ".join(f"{name} {count}" for name, count in counts.items()) or "none"
        typer.echo(f"{section:10} {sum(counts.values()):>8}  {detail}")
    typer.echo(f"graph      {found.graph_sha256}\nfacts      {found.facts_sha256}\nlog        {found.events_sha256}")
    integrity = "not checked by this backend" if found.integrity is None else "; ".join(found.integrity[:10])
    typer.echo(f"integrity  {integrity}")


@store_app.command("check")
def store_check(
    compare: Annotated[str | None, typer.Option(
        "--compare", help="Another store (a copy, a replay) that must hold the same graph and log.")] = None,
    fmt: PlainFormatOption = None, store: StoreOption = None,
) -> None:
    """Counts, canonical SHA-256 hashes of the graph and the log, and the backend's integrity check.

    [dim]graph: nodes and edges with their times.[/dim]

    [dim]facts: the same without first/last seen (the same facts read at another time).[/dim]

    [dim]log: event ids, sources, times, payloads and statuses in log order; received_at is left out.[/dim]

    Exit 1 if the integrity check fails or --compare differs.
    """
    if compare is not None:
        require_existing(compare, "--compare")
    if store is not None:
        require_existing(store, "--store")
    found = _fingerprint(store)
    other = _fingerprint(compare) if compare is not None else None
    differences = found.differences(other) if other is not None else []
    if _format(fmt) is Format.json:
        data: dict[str, Any] = found.as_dict()
        if other is not None:
            data = {**data, "compared_with": other.as_dict(), "same": not differences, "differences": differences}
        typer.echo(_to_json(data))
    else:
        _render(found)
        if other is not None:
            typer.echo(f"compared with {other.store}: " + ("the same graph and log" if not differences else
                                                           "differs\n  " + "\n  ".join(differences)))
    if not found.intact or (other is not None and not other.intact):
        _fail("the store's integrity check failed", NOT_FOUND, hints=[_REPAIR])
    if differences:
        raise typer.Exit(NOT_FOUND)
