"""``lineage neighbours``: a node's links in one direction, page by page, newest first.

The way through a wide node (a dataset consumed by 100,000 jobs): a trace or impact shows the
newest links and a cursor, and this command pages the rest. Registered on the main app
(``cli.main`` imports this module at its end); only typer is imported at start.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.main import (
    USAGE,
    AtOption,
    Format,
    PlainFormatOption,
    StoreOption,
    UrlOption,
    _ask,
    _check_time,
    _console,
    _fail,
    _format,
    _to_json,
    app,
)


@app.command()
def neighbours(
    kind: Annotated[str | None, typer.Argument(
        help="What the reference names (leave out with --after): api, dataset, person, …", show_default=False)] = None,
    reference: Annotated[list[str] | None, typer.Argument(
        help="The reference, e.g. green-taxi-data:5 (leave out with --after).", show_default=False)] = None,
    direction: Annotated[str | None, typer.Option(
        "--direction", "-D", help="upstream (what it was made from) or downstream (what was made from it, the "
                                  "default).", show_default=False)] = None,
    edge_kind: Annotated[str | None, typer.Option(
        "--edge-kind", "-k", help="Only links of this kind, e.g. consumed, authored_by.", show_default=False)] = None,
    after: Annotated[str | None, typer.Option(
        "--after", help="The cursor of the next page: `next` of a page, or `after` of a trace's `more`.",
        show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10_000, help="Links per page.")] = 100,
    at: AtOption = None, fmt: PlainFormatOption = None, store: StoreOption = None, url: UrlOption = None,
) -> None:
    """A node's links in one direction, newest first, a page at a time.

    [dim]Examples: lineage neighbours dataset green-taxi-data:5 --edge-kind consumed · lineage neighbours
    --after <cursor from a trace's "… more" line>[/dim]
    """
    from lineage_service.query import answers

    _check_time(at)
    ref = " ".join(reference) if reference else None
    if after is None and (kind is None or ref is None):
        _fail("name the node (e.g. `lineage neighbours dataset green-taxi-data:5`) or give --after <cursor>", USAGE)
    data = _ask(url, store, "/v1/neighbours",
                {"kind": kind, "ref": ref, "direction": direction, "edge_kind": edge_kind, "after": after,
                 "limit": limit, "at": at},
                lambda opened: answers.neighbours(opened, kind, ref, direction=direction, edge_kind=edge_kind,
                                                  after=after, limit=limit,
                                                  at=answers.parse_moment(at) if at else None))
    if _format(fmt) is Format.json:
        typer.echo(_to_json(data))
        return
    print_page(data)


def print_page(data: dict[str, Any]) -> None:
    from rich.text import Text

    from cli.render import KIND_STYLE

    console, node = _console(), data["node"]
    upstream = data["direction"] == "upstream"
    what = f"{data['edge_kind']} links" if data["edge_kind"] else "links"
    console.print(Text.assemble((f"{node['kind']} ", "dim"), (node["label"], KIND_STYLE.get(node["kind"], "bold")),
                                f"  {data['total']:,} {what} {data['direction']}, newest first"))
    for note in data.get("notes", []):
        console.print(Text(f"note: {note}", style="cyan"))
    for link in data["links"]:
        other = link["node"] or {"kind": "?", "label": link["target"] if upstream else link["source"]}
        console.print(f"  {link['kind']} {'→' if upstream else '←'} {other['kind']} {other['label']}  "
                      f"[{link['props']['evidence']} · {link['props']['first_seen']}]", markup=False)
    if data["next"]:
        console.print(Text(f"next page: lineage neighbours --after {data['next']}", style="dim"))
