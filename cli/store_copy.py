"""``lineage store copy SRC DST``: opening both stores, the progress bar, the side-by-side counts.

The copying itself is ``lineage_service.store.copy``. Registered in ``cli.main`` (the ``store``
sub-app), which imports this module only when the command runs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from cli.main import NOT_FOUND, USAGE, _console, _fail, _open, _to_json

if TYPE_CHECKING:
    from lineage_service.store.copy import CopyResult, Progress

INTERRUPTED = 130  # as a shell reports Ctrl-C


@contextmanager
def _progress() -> Iterator[Callable[[Progress], None]]:
    """A bar per phase on a terminal; elsewhere (CI logs, a pipe) one line per page, on stderr."""
    if not sys.stderr.isatty():
        def line(progress: Progress) -> None:
            print(f"copy {progress.phase} {progress.copied}/{progress.total}", file=sys.stderr, flush=True)

        yield line
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as Bars

    with Bars(TextColumn("{task.description:7}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
              console=_console(stderr=True)) as bars:
        tasks: dict[str, TaskID] = {}

        def update(progress: Progress) -> None:
            if progress.phase not in tasks:
                tasks[progress.phase] = bars.add_task(progress.phase, total=progress.total)
            bars.update(tasks[progress.phase], completed=progress.copied, total=progress.total)

        yield update


def _as_json(result: CopyResult) -> dict[str, Any]:
    return {"source": result.source, "destination": result.destination, "ok": result.ok, "resumed": result.resumed,
            "finished_before": result.finished_before, "copied": result.copied,
            "counts": [{"section": r.section, "name": r.name, "source": r.source, "destination": r.destination}
                       for r in result.counts]}


def _render(result: CopyResult) -> None:
    from rich.table import Table

    how = ("finished earlier; nothing copied, counts checked" if result.finished_before
           else "resumed an interrupted copy" if result.resumed else "copied")
    console = _console()
    console.print(f"{result.source} → {result.destination}  ({how})")
    console.print(", ".join(f"{phase} {count}" for phase, count in result.copied.items()))
    table = Table(box=None, pad_edge=False)
    for header in ("", ""):
        table.add_column(header)
    for header in ("source", "destination"):
        table.add_column(header, justify="right")
    table.add_column("")
    for row in result.counts:
        table.add_row(row.section, row.name, str(row.source), str(row.destination), "" if row.ok else "differs")
    console.print(table)
    console.print("counts match" if result.ok else "counts differ")


def copy_command(source_uri: str, destination_uri: str, batch: int, as_json: bool) -> None:
    from cli.store_args import require_existing
    from lineage_service.store.copy import CopyRefused, check_distinct, copy_store

    try:  # before opening anything: never two connections to one SQLite file for this
        check_distinct(source_uri, destination_uri)
    except CopyRefused as exc:
        _fail(str(exc), USAGE)
    require_existing(source_uri, "SOURCE")
    with _open(source_uri) as source, _open(destination_uri) as destination, _progress() as report:
        try:
            result = copy_store(source, destination, batch=batch, on_progress=report)
        except CopyRefused as exc:
            _fail(str(exc), USAGE)
        except KeyboardInterrupt:
            _fail("interrupted; run the same command again to continue where it stopped", INTERRUPTED)
        except Exception as exc:  # a dropped connection, a full disk: the checkpoint makes it resumable
            _fail(f"the copy stopped: {type(exc).__name__}: {exc}; run the same command again to continue "
                  f"where it stopped")
    if as_json:
        typer.echo(_to_json(_as_json(result)))
    else:
        _render(result)
    if not result.ok:
        differing = [f"{r.section} {r.name}: {r.source} → {r.destination}" for r in result.counts if not r.ok]
        cause = ("this copy finished earlier; the source changed since? copy into an empty store for a new copy"
                 if result.finished_before else "was the source written to during the copy? stop its writers first")
        _fail(f"the destination's counts differ from the source's ({cause})", NOT_FOUND, differing)
