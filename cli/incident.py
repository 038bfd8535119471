"""Incident commands: ``lineage diff``, ``history``, ``running``, ``verify`` and ``gaps``.

Registered on the main app (``cli.main`` imports this module at its end). Each asks one question of
the local store, or of the service when ``LINEAGE_URL`` is set (``_ask``: the same JSON either way),
and prints a tree on a terminal or JSON otherwise. Only typer is imported here at start; the query
modules and the renderers load inside the commands, so ``lineage --help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.main import (
    Format,
    KindArgument,
    PlainFormatOption,
    ReferenceArgument,
    StoreOption,
    UrlOption,
    _ask,
    _check_time,
    _console,
    _format,
    _to_json,
    app,
)

FAILED = 1  # a check failed, or coverage is below --fail-under: the other commands' "no"

SideArgument = Annotated[str, typer.Argument(
    help="A reference, e.g. v1.2.2, taxi-model:2, a3c97f1, prod/taxi-api#7 (quote it if it has a space).",
    show_default=False)]
EnvOption = Annotated[str | None, typer.Option(
    "--env", "-e", help="Only deployments of this environment (or namespace), e.g. prod.", show_default=False)]


@app.command()
def diff(kind: KindArgument, a: SideArgument, b: SideArgument, fmt: PlainFormatOption = None,
         store: StoreOption = None, url: UrlOption = None) -> None:
    """What changed between two releases (or two nodes of a kind): code, image, model, data, env.

    Leads with a one-paragraph summary, then compares both sides and lists the commits between them
    (from commit parents, which the git collector records).

    [dim]Examples: lineage diff api v1.2.2 v1.2.3 · lineage diff model taxi-model:2 taxi-model:3 ·
    lineage diff deployment prod/taxi-api#7 prod/taxi-api#8[/dim]
    """
    from lineage_service.query import diff as diffing

    answer = _ask(url, store, "/v1/diff", {"kind": kind, "a": a, "b": b},
                  lambda opened: diffing.diff(opened, kind, a, b))
    _render(answer, fmt, "diff")


@app.command()
def history(
    kind: Annotated[str, typer.Argument(
        help="deployment (its revisions), api (a service's releases) or image (the digests of a tag).",
        show_default=False)],
    reference: Annotated[list[str] | None, typer.Argument(
        help="prod/taxi-api, a service like taxi-api (optional when there is one), ghcr.io/org/api:v1.2.3.",
        show_default=False)] = None,
    fmt: PlainFormatOption = None, store: StoreOption = None, url: UrlOption = None,
) -> None:
    """Every revision of a deployment, release of a service, or digest of an image tag.

    Revisions show their image, API version, model and when they were active; releases show where
    and when they went live and what replaced them.

    [dim]Examples: lineage history deployment prod/taxi-api · lineage history api taxi-api ·
    lineage history image ghcr.io/nathansegers/azure-mlops-api:v1.2.4-rc1[/dim]
    """
    from lineage_service.query import timeline

    ref = " ".join(reference or [])
    answer = _ask(url, store, "/v1/history", {"kind": kind, "ref": ref or None},
                  lambda opened: timeline.history(opened, kind, ref))
    _render(answer, fmt, "history")


@app.command()
def running(
    at: Annotated[str | None, typer.Option(
        "--at", "--as-of", help="The time (ISO 8601, e.g. 2026-11-22T14:05:00Z) \\[default: now: the live revisions].",
        show_default=False)] = None,
    env: EnvOption = None, fmt: PlainFormatOption = None, store: StoreOption = None, url: UrlOption = None,
) -> None:
    """What was running at a time: the deployments active then, their API, image and model.

    [dim]Example: lineage running --at 2026-11-11T14:05:00Z --env prod[/dim]
    """
    from lineage_service.query import timeline
    from lineage_service.query.answers import parse_moment

    _check_time(at)
    answer = _ask(url, store, "/v1/running", {"at": at, "env": env},
                  lambda opened: timeline.running(opened, parse_moment(at) if at else None, env))
    _render(answer, fmt, "running")


@app.command()
def verify(kind: KindArgument, reference: ReferenceArgument, fmt: PlainFormatOption = None,
           store: StoreOption = None, url: UrlOption = None) -> None:
    """Check a chain: does what runs match what CI built, and what the graph says it is?

    The running digest against CI's build of its tag, tags moved since, MODEL_VERSION against the
    bundled model, dirty working trees, commits the graph does not know, cluster links only declared.
    Each finding is fail, warn or ok, with its evidence and a fix. Exit 1 when any check fails.

    [dim]Examples: lineage verify api v1.2.3 · lineage verify api v1.2.4-rc1 · lineage verify deployment
    prod/taxi-api[/dim]
    """
    from lineage_service.query import verify as verifying

    ref = " ".join(reference)
    answer = _ask(url, store, "/v1/verify", {"kind": kind, "ref": ref},
                  lambda opened: verifying.verify(opened, kind, ref))
    _render(answer, fmt, "verify")
    if not answer["passed"]:
        raise typer.Exit(FAILED)


@app.command()
def gaps(
    env: EnvOption = None,
    fail_under: Annotated[float | None, typer.Option(
        "--fail-under", min=0, max=100, metavar="PERCENT", show_default=False,
        help="Exit 1 when fewer than PERCENT of the live releases have a complete chain (for CI).")] = None,
    fmt: PlainFormatOption = None, store: StoreOption = None, url: UrlOption = None,
) -> None:
    """Live releases with an incomplete chain, the step that fills each gap, and the coverage.

    A chain is complete with an image digest, its commit, the model, its training job and its data.

    [dim]Example: lineage gaps --env prod --fail-under 100[/dim]
    """
    from lineage_service.query import coverage

    answer = _ask(url, store, "/v1/gaps", {"env": env}, lambda opened: coverage.gaps(opened, env))
    _render(answer, fmt, "gaps")
    percent = answer["coverage"]["releases"]["percent"]
    if fail_under is not None and percent is not None and percent < fail_under:
        typer.echo(f"coverage {percent:g}% is below --fail-under {fail_under:g}%", err=True)
        raise typer.Exit(FAILED)


def _render(answer: dict[str, Any], fmt: Format | None, renderer: str) -> None:
    if _format(fmt) is Format.json:
        typer.echo(_to_json(answer))  # without importing rich: scripts want a fast start
        return
    from cli import render_incident

    render_incident.RENDERERS[renderer](_console(), answer)
