"""The ``lineage`` command: thin, parses and renders; the core does the work.

Heavy modules (the store, pydantic, the renderers) are imported inside the commands so that
``lineage --help`` and ``lineage trace`` start fast. Exit codes: 0 found, 1 not found, ambiguous
or rejected, 2 usage.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from cli.collect import app as collect_app
from cli.emit import emit_app

if TYPE_CHECKING:
    from rich.console import Console

    from lineage_service.store.base import GraphStore

NOT_FOUND, USAGE = 1, 2

app = typer.Typer(
    name="lineage",
    help="Answer [bold]which commit and which data produced API v1.2.3?[/bold] from a lineage graph of commits, "
         "datasets, training jobs, models, images and deployments.\n\n"
         "Start with [cyan]lineage demo[/cyan], then [cyan]lineage trace api v1.2.3[/cyan].",
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)
store_app = typer.Typer(help="Inspect the store, or copy it to another.", no_args_is_help=True)
app.add_typer(store_app, name="store")
events_app = typer.Typer(help="The event log: every event ever accepted, and whether it was applied.",
                         no_args_is_help=True)
app.add_typer(events_app, name="events")
app.add_typer(collect_app, name="collect")
app.add_typer(emit_app, name="emit")


class Format(StrEnum):
    tree = "tree"
    json = "json"
    mermaid = "mermaid"
    dot = "dot"


StoreOption = Annotated[str | None, typer.Option(
    "--store", envvar="LINEAGE_STORE", show_envvar=True,
    help="Store URI: sqlite:///path/to/lineage.db (default: lineage.db in your data directory).")]
FormatOption = Annotated[Format | None, typer.Option(
    "--format", "-f", help="Output: tree (default on a terminal), json (default otherwise), mermaid, dot.")]


def _no_graph_format(value: Format | None) -> Format | None:
    if value in (Format.mermaid, Format.dot):
        raise typer.BadParameter(f"{value.value} draws trace and impact answers; this command prints tree or json")
    return value


PlainFormatOption = Annotated[Format | None, typer.Option(
    "--format", "-f", callback=_no_graph_format, metavar="[tree|json]",
    help="Output: tree (default on a terminal) or json (default otherwise).")]
DepthOption = Annotated[int, typer.Option("--depth", "-d", min=1, max=50, help="How many links to follow.")]
# 100 and 10,000 are lineage_service.query.cursors.DEFAULT_FANOUT and MAX_FANOUT, not imported: fast start.
FanoutOption = Annotated[int, typer.Option(
    "--fanout", min=1, max=10_000,
    help="Most links of one kind followed from any node, the newest first; the rest are counted and paged "
         "with `lineage neighbours`.")]
KindArgument = Annotated[str, typer.Argument(
    help="What the reference names: api, deployment, image, model, job, dataset, run, commit, repo, person.",
    show_default=False)]
ReferenceArgument = Annotated[list[str], typer.Argument(
    help="The reference, e.g. v1.2.3, taxi-model:3, 05ee055, prod/taxi-api, ghcr.io/org/api:v1.2.3.",
    show_default=False)]
UrlOption = Annotated[str | None, typer.Option(
    "--url", envvar="LINEAGE_URL", show_envvar=True,
    help="Ask a running lineage service instead of a local store (its token from LINEAGE_TOKEN).")]
AtOption = Annotated[str | None, typer.Option(
    "--at", "--as-of", help="Follow only links valid at this time (ISO 8601, e.g. 2026-11-11T14:05:00Z).")]


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    # Errors are not wrapped, so that a long message stays one greppable line in CI logs.
    return Console(stderr=stderr, highlight=False, soft_wrap=stderr)


def _fail(message: str, code: int = NOT_FOUND, hints: list[str] | None = None) -> NoReturn:
    console = _console(stderr=True)
    console.print(f"[bold red]error:[/bold red] {message}", markup=True, highlight=False)
    for hint in hints or []:
        console.print(f"  {hint}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def _open(store_uri: str | None) -> Iterator[GraphStore]:
    from lineage_service.store import StoreUnavailable, open_store

    try:
        store = open_store(store_uri)
    except StoreUnavailable as exc:
        _fail(str(exc), USAGE)
    with store:
        yield store


def _format(requested: Format | None) -> Format:
    return requested or (Format.tree if sys.stdout.isatty() else Format.json)


def _to_json(data: Any) -> str:
    import orjson

    # orjson: 0.05 ms for a trace answer where json.dumps(indent=2) takes 0.7 ms.
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str).decode()


def _emit(data: Any, fmt: Format) -> None:
    if fmt is Format.json:
        typer.echo(_to_json(data))
    else:
        _console().print(data)


def _check_time(text: str | None) -> None:
    if text is None:
        return
    from graph_schema.canonical import InvalidValue
    from lineage_service.query.answers import parse_moment

    try:
        parse_moment(text)
    except InvalidValue as exc:
        _fail(f"--at {exc}", USAGE)


def _ask(url: str | None, store_uri: str | None, path: str, params: dict[str, Any],
         local: Callable[[GraphStore], dict[str, Any]]) -> dict[str, Any]:
    """One question, to the service at ``url`` when there is one, else to the local store.

    Both answer with the same JSON and fail the same way: exit 1 for an unknown or ambiguous
    reference, 2 for a malformed one.
    """
    if url:
        answer: dict[str, Any] = _remote_call(url, lambda client: client.get(path, **params))
        return answer
    from graph_schema.canonical import InvalidValue
    from lineage_service.query.references import ReferenceProblem

    with _open(store_uri) as store:
        try:
            return local(store)
        except InvalidValue as exc:
            _fail(str(exc), USAGE)
        except ReferenceProblem as exc:
            _fail(str(exc))


def _remote_call(url: str, call: Callable[[Any], Any]) -> Any:
    import os

    from cli.remote import Client, RemoteProblem

    try:
        return call(Client(url, os.environ.get("LINEAGE_TOKEN")))
    except RemoteProblem as exc:
        hints = [f"{error['event']}: {'; '.join(error['problems'])}" if isinstance(error, dict) else str(error)
                 for error in exc.problem.get("errors", [])] if exc.status == 422 else []
        if exc.status in (401, 403):
            hints.append("set LINEAGE_TOKEN to a token with the scope this needs (see `lineage token create`)")
        _fail(exc.detail, USAGE if exc.status == 400 else NOT_FOUND, hints=hints)


def _answer(direction: str, kind: str, reference: list[str], depth: int, at: str | None, fmt: Format | None,
            store_uri: str | None, url: str | None, fanout: int = 100) -> None:
    from lineage_service.query import answers
    from lineage_service.store.base import Direction

    _check_time(at)
    ref = " ".join(reference)
    answer = _ask(url, store_uri, "/v1/trace" if direction == "upstream" else "/v1/impact",
                  {"kind": kind, "ref": ref, "depth": depth, "at": at, "fanout": fanout},
                  lambda store: answers.lineage(store, Direction(direction), kind, ref, depth=depth,
                                                at=answers.parse_moment(at) if at else None, fanout=fanout))
    print_answer_as(answer, _format(fmt))


def print_answer_as(answer: dict[str, Any], fmt: Format) -> None:
    if fmt is Format.json:
        typer.echo(_to_json(answer))  # without importing rich: scripts want a fast start
        return
    from cli import render

    if fmt is Format.tree:
        render.print_answer(_console(), answer)
    elif fmt is Format.mermaid:
        typer.echo(render.mermaid(answer))
    else:
        typer.echo(render.dot(answer))


@app.command()
def trace(kind: KindArgument, reference: ReferenceArgument, depth: DepthOption = 12, at: AtOption = None,
          fmt: FormatOption = None, store: StoreOption = None, url: UrlOption = None,
          fanout: FanoutOption = 100) -> None:
    """What produced it: follow links upstream to images, commits, models, jobs and datasets.

    [dim]Examples: lineage trace api v1.2.3 · lineage trace model taxi-model:3 · lineage trace image
    ghcr.io/nathansegers/azure-mlops-api:v1.2.3 --format mermaid[/dim]
    """
    _answer("upstream", kind, reference, depth, at, fmt, store, url, fanout)


@app.command()
def impact(kind: KindArgument, reference: ReferenceArgument, depth: DepthOption = 12, at: AtOption = None,
           fmt: FormatOption = None, store: StoreOption = None, url: UrlOption = None,
           fanout: FanoutOption = 100) -> None:
    """What was made from it: follow links downstream to models, images, deployments and APIs.

    [dim]Example: lineage impact dataset green-taxi-data:5[/dim]
    """
    _answer("downstream", kind, reference, depth, at, fmt, store, url, fanout)


@app.command()
def show(kind: KindArgument, reference: ReferenceArgument, fmt: PlainFormatOption = None,
         store: StoreOption = None, url: UrlOption = None) -> None:
    """One node with its properties and its direct links in both directions."""
    from lineage_service.query import answers

    ref = " ".join(reference)
    data = _ask(url, store, "/v1/show", {"kind": kind, "ref": ref}, lambda opened: answers.show(opened, kind, ref))
    if _format(fmt) is Format.json:
        _emit(data, Format.json)
        return
    from rich.pretty import Pretty
    from rich.text import Text

    from cli.render import KIND_STYLE

    console, node = _console(), data["node"]
    console.print(Text.assemble((f"{node['kind']} ", "dim"), (node["label"], KIND_STYLE.get(node["kind"], "bold"))))
    for line in data.get("notes", []):
        console.print(Text(f"note: {line}", style="cyan"))
    console.print(Pretty({field: node[field] for field in ("key", "props", "aliases", "sources", "first_seen",
                                                           "last_seen")}))
    for title, links, arrow in (("upstream", data["upstream"], "→"), ("downstream", data["downstream"], "←")):
        console.print(Text(f"{title} ({len(links)})", style="bold"))
        for link in links:
            other = link["node"] or {"kind": "?", "label": link["target"]}
            console.print(f"  {link['kind']} {arrow} {other['kind']} {other['label']}  "
                          f"[{link['props']['evidence']} · {', '.join(link['props']['sources'])}]", markup=False)
        for more in data.get("more", []):
            if more["direction"] == title:
                console.print(Text(f"  … and {more['total'] - more['shown']:,} more ({more['see']} to page)",
                                   style="dim"))


@app.command()
def search(text: Annotated[str, typer.Argument(help="Part of a name, version, SHA, digest or image tag.")],
           kind: Annotated[str | None, typer.Option("--kind", "-k", help="Only nodes of this kind.")] = None,
           limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
           fmt: PlainFormatOption = None, store: StoreOption = None, url: UrlOption = None) -> None:
    """Find nodes whose label, key or image tag contains TEXT."""
    from lineage_service.query import answers

    found = _ask(url, store, "/v1/search", {"q": text, "kind": kind, "limit": limit},
                 lambda opened: answers.search(opened, text, kind, limit))["results"]
    if _format(fmt) is Format.json:
        _emit({"query": text, "results": found}, Format.json)
    elif found:
        from rich.table import Table

        table = Table("kind", "label", "key", box=None)
        for node in found:
            table.add_row(node["kind"], node["label"], " ".join(f"{k}={v}" for k, v in node["key"].items()))
        _console().print(table)
    if not found:
        _fail(f"nothing matches {text!r}" + (f" among {kind} nodes" if kind else ""))


@app.command()
def ingest(files: Annotated[list[Path], typer.Argument(
               help="JSON files with one lineage event, an array of events, or JSON Lines; - for stdin. "
                    "In-toto SLSA provenance (statements, DSSE envelopes, Sigstore bundles, .intoto.jsonl) too.",
               show_default=False)],
           fmt: PlainFormatOption = None, store: StoreOption = None, url: UrlOption = None) -> None:
    """Record lineage events and apply them to the graph.

    All events are checked first: one invalid event rejects the whole input and nothing is stored.
    Build provenance documents are translated into lineage events first (signatures are not verified).
    """
    from lineage_service.ingest import BatchRejected, InputError, read_events, validate_all
    from lineage_service.ingest import ingest as ingest_events
    from lineage_service.provenance import ProvenanceRejected, is_provenance, translate_all

    raw: list[Any] = []
    for path in files:
        try:
            text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
            raw += read_events(text, origin="stdin" if str(path) == "-" else str(path))
        except (OSError, UnicodeDecodeError) as exc:
            _fail(f"cannot read {path}: {exc}", USAGE)
        except InputError as exc:
            _fail(str(exc))
    notes: list[str] = []
    provenance = [item for item in raw if is_provenance(item)]
    # Provenance alone goes to the service as is; mixed with lineage events it is translated here, so
    # that the whole input stays one all-or-nothing request.
    endpoint = "/v1/provenance" if url and provenance and len(provenance) == len(raw) else "/v1/events"
    if provenance and endpoint == "/v1/events":
        try:
            translated, notes = translate_all(provenance)
        except ProvenanceRejected as exc:
            _fail("provenance rejected; nothing was stored", hints=exc.problems)
        raw = [item for item in raw if not is_provenance(item)] + translated
    if url:
        import json

        summary = _remote_call(url, lambda client: client.post(endpoint, json.dumps(raw).encode()))
        notes += summary.pop("notes", [])
        failed = summary["failed"]
    else:
        try:
            events = validate_all(raw)
        except BatchRejected as exc:
            _fail(f"{len(exc.rejected)} of {len(raw)} events rejected; nothing was stored",
                  hints=[str(rejected) for rejected in exc.rejected])
        with _open(store) as opened:
            summary = ingest_events(opened, events).as_dict()
        failed = summary["failed"]
    if _format(fmt) is Format.json:
        _emit({**summary, "notes": notes} if notes else summary, Format.json)
    else:
        typer.echo(f"{summary['accepted']} events recorded and applied ({summary['nodes']} nodes, "
                   f"{summary['edges']} edges), {summary['duplicates']} already known")
        for note in notes:
            typer.echo(f"note: {note}", err=True)
    if failed:
        _fail(f"{len(failed)} events recorded but not applied", hints=[
            f"{event_id}: {error}" for event_id, error in failed.items()])


@app.command()
def demo(store: StoreOption = None, fmt: FormatOption = None,
         quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only load; print no trace.")] = False) -> None:
    """Load the taxi-fare regression demo history (idempotent) and trace api v1.2.3."""
    from lineage_service.demo.history import demo_events
    from lineage_service.ingest import ingest as ingest_events
    from lineage_service.ingest import validate_all
    from lineage_service.query.references import resolve
    from lineage_service.query.trace import trace as trace_answer

    events = validate_all(demo_events())
    with _open(store) as opened:
        result = ingest_events(opened, events)
        chosen = _format(fmt)
        message = (f"Demo history in {opened.uri}: {len(result.accepted)} events applied, "
                   f"{len(result.duplicates)} already there.")
        answer = trace_answer(opened, resolve(opened, "api", "v1.2.3").node)
    typer.echo(message, err=chosen is not Format.tree)
    if not quiet:
        print_answer_as(answer, chosen)
    if chosen is Format.tree:
        typer.echo("\nTry next:  lineage impact dataset green-taxi-data:5 · lineage trace commit 05ee055 · "
                   "lineage show deployment prod/taxi-api · lineage --help")
        typer.echo("Incidents: lineage diff api v1.2.2 v1.2.3 · lineage verify api v1.2.4-rc1 · lineage gaps · "
                   "lineage running --at 2026-11-11T14:05:00Z")
        if store:
            typer.echo(f"with       export LINEAGE_STORE={store}")


@store_app.command("stats")
def store_stats(fmt: PlainFormatOption = None, store: StoreOption = None) -> None:
    """Counts of nodes, edges and events, and the size of the store."""
    with _open(store) as opened:
        stats = opened.stats()
    if _format(fmt) is Format.json:
        _emit(stats, Format.json)
        return
    # Neo4j does not tell its size to Cypher (stats()["bytes"] is None there).
    size = f"{stats['bytes'] / 1e6:.1f} MB" if stats["bytes"] is not None else "size unknown"
    typer.echo(f"store   {stats['store']}  ({size})")
    for section in ("nodes", "edges", "events"):
        counts = stats[section]
        detail = ", ".join(f"{name} {count}" for name, count in counts.items()) or "none"
        typer.echo(f"{section:7} {sum(counts.values()):>8}  {detail}")


@store_app.command("copy")
def store_copy(
    source: Annotated[str, typer.Argument(help="Store URI to copy from, e.g. sqlite:///lineage.db.",
                                          show_default=False)],
    destination: Annotated[str, typer.Argument(help="Store URI to copy to, e.g. neo4j://db:7687 (empty, or "
                                               "holding an interrupted copy to resume).", show_default=False)],
    batch: Annotated[int, typer.Option("--batch", min=1, max=100_000, help="Rows per transaction.")] = 5_000,
    fmt: PlainFormatOption = None,
) -> None:
    """Copy a whole graph and its event log to another store (SQLite → Neo4j, Neo4j → SQLite).

    Resumable: run it again after an interruption. Checked at the end by counts; exit 1 if they differ.
    """
    from cli.store_copy import copy_command

    copy_command(source, destination, batch, _format(fmt) is Format.json)


@events_app.command("list")
def events_list(
    status: Annotated[str | None, typer.Option(help="Only events that are pending, applied or failed.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 50,
    after: Annotated[str | None, typer.Option(help="Start after this event id (for paging).")] = None,
    fmt: PlainFormatOption = None, store: StoreOption = None,
) -> None:
    """Events in the order they were received."""
    if status not in (None, "pending", "applied", "failed"):
        _fail(f"--status {status!r}: expected pending, applied or failed", USAGE)
    with _open(store) as opened:
        found = opened.list_events(status=status, limit=limit, after=after)
    rows = [{"id": e.id, "source": e.source, "time": e.time.isoformat(), "received_at": e.received_at.isoformat(),
             "status": e.status, "error": e.error} for e in found]
    if _format(fmt) is Format.json:
        _emit(rows, Format.json)
        return
    for event in found:
        typer.echo(f"{event.received_at:%Y-%m-%d %H:%M:%S}  {event.status:8} {event.source:15} {event.id}"
                   + (f"  error: {event.error}" if event.error else ""))


@events_app.command("apply")
def events_apply(fmt: PlainFormatOption = None, store: StoreOption = None) -> None:
    """Apply events that were recorded but not applied: after a crash, or to retry failed ones after a fix."""
    from lineage_service.ingest import apply_pending

    with _open(store) as opened:
        result = apply_pending(opened)
    summary = result.as_dict()
    if _format(fmt) is Format.json:
        _emit(summary, Format.json)
    else:
        typer.echo(f"{summary['accepted']} events applied again, {len(result.failed)} still failing")
    if result.failed:
        raise typer.Exit(NOT_FOUND)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (LINEAGE_HOST); loopback by default.")] = None,
    port: Annotated[int | None, typer.Option(help="Port (LINEAGE_PORT, default 8080).")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Processes answering requests.")] = 1,
    insecure: Annotated[bool, typer.Option(
        "--insecure", help="Serve a non-loopback address without tokens (anyone who reaches it can write).")] = False,
    store: StoreOption = None,
) -> None:
    """Run the HTTP service: queries under /v1, event ingestion, OpenLineage at /api/v1/lineage.

    [dim]Tokens: LINEAGE_TOKENS or LINEAGE_TOKENS_FILE, lines of 'NAME SCOPES TOKEN' (see lineage token create).
    Docs of the API at http://127.0.0.1:8080/docs.[/dim]
    """
    import os

    from pydantic import ValidationError

    from lineage_service.api.app import load_tokens
    from lineage_service.settings import Settings, is_loopback
    from lineage_service.tokens import TokenConfigError

    overrides = {name: value for name, value in (("host", host), ("port", port), ("store", store)) if value}
    try:
        settings = Settings(**overrides, **({"insecure": True} if insecure else {}))  # type: ignore[arg-type]
    except ValidationError as exc:
        # The messages only: an input value may be a secret (a token, a webhook secret).
        _fail("; ".join(f"LINEAGE_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()), USAGE)
    try:
        tokens = load_tokens(settings)
    except (TokenConfigError, OSError) as exc:
        _fail(str(exc), USAGE)
    if not is_loopback(settings.host) and not tokens and not settings.insecure:
        _fail(f"refusing to serve {settings.host} without tokens: anyone who can reach it could read and write "
              f"lineage", USAGE, hints=["set LINEAGE_TOKENS or LINEAGE_TOKENS_FILE (see `lineage token create`), "
                                        "or pass --insecure on a network you trust"])
    import uvicorn

    if workers > 1:
        # Each worker process builds its own app from the environment (uvicorn's factory mode).
        os.environ.update({f"LINEAGE_{k.upper()}": str(v) for k, v in overrides.items()})
        uvicorn.run("lineage_service.api.app:create_app", factory=True, host=settings.host, port=settings.port,
                    workers=workers, log_level="info", access_log=False)
        return
    from lineage_service.api.app import create_app

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info", access_log=False)


token_app = typer.Typer(help="Bearer tokens for the HTTP service.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="Who or what uses it, e.g. ci-pipeline or oncall.")],
    scopes: Annotated[str, typer.Option(help="Comma-separated: read, ingest, admin.")] = "read",
    expires: Annotated[str | None, typer.Option(
        help="Last day it is valid (2026-12-31, through the end of that day UTC) or an ISO time; "
             "default: never expires.")] = None,
) -> None:
    """Print a new token and the line to add to LINEAGE_TOKENS_FILE; the service keeps only its hash.

    [dim]The service re-reads LINEAGE_TOKENS_FILE when it changes: add 'revoked' to a line (or delete
    it) to revoke a token without a restart.[/dim]
    """
    from datetime import UTC, datetime

    from lineage_service.tokens import TokenConfigError, hash_token, new_token, parse_expiry, parse_tokens

    if expires:
        try:
            moment = parse_expiry(expires.strip())
        except ValueError as exc:
            _fail(f"--expires: {exc}", USAGE)
        if moment <= datetime.now(UTC):
            _fail(f"--expires: {expires} is already past; give a later date", USAGE)
        # A day stays a day; a time is written without spaces, which separate the line's fields.
        expires = expires.strip() if len(expires.strip()) == 10 else moment.isoformat()
    token = new_token()
    line = f"{name} {scopes} {hash_token(token)}" + (f" expires={expires}" if expires else "")
    try:
        parse_tokens(line, "the new token line")
    except TokenConfigError as exc:
        _fail(str(exc), USAGE)
    typer.echo(f"token (give it to {name}; it is not stored anywhere):\n  {token}\n"
               f"line for LINEAGE_TOKENS_FILE:\n  {line}")


# The incident commands (diff, history, running, verify, gaps) register themselves on `app`, and
# `events replay|retry` and `store check` on their sub-apps.
from cli import events as _events  # noqa: E402, F401
from cli import incident as _incident  # noqa: E402, F401
from cli import neighbours as _neighbours  # noqa: E402, F401


def main() -> None:
    app()


if __name__ == "__main__":
    main()
