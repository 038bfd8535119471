"""``lineage collect``: run pull collectors once, or every N minutes, into a store or a service.

    lineage collect git --repo . [--branch main] [--since 2026-01-01] [--repo-url URL] [--name NAME]
    lineage collect azureml --subscription ID --resource-group RG --workspace WS [--experiment NAME]
    lineage collect --config lineage.yaml [--every 5m]
    lineage collect --list

Exit codes: 0 everything was collected, 1 some source or item failed (the report lists them),
2 usage or config errors (nothing was collected). With ``LINEAGE_URL`` events are posted to the
service and cursors are kept in a JSON file per service and source in the user data directory
(``FileCursors``), because the service keeps no collector cursors.

A new collector's command is a function that maps its options to its config fields and calls
``collect_one``, as ``git`` below does. Imports only typer at module level: the rest loads when a
command runs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple, NoReturn

import typer

if TYPE_CHECKING:
    import threading

    from rich.console import Console

    from lineage_service.collect import CursorStore, RunResult, Send
    from lineage_service.collect_config import Source

OK, FAILED, USAGE = 0, 1, 2
REMOTE_BATCH_BYTES = 4 * 1024 * 1024  # well under the service's 10 MiB body limit

app = typer.Typer(
    help="Pull lineage from systems of record (git, container engines and registries) into the graph.\n\n"
         "[dim]lineage collect git --repo . · lineage collect --config lineage.yaml --every 5m · "
         "lineage collect --list[/dim]",
    no_args_is_help=True, invoke_without_command=True, rich_markup_mode="rich")


class ReportFormat(StrEnum):
    table = "table"
    json = "json"


EveryOption = Annotated[str | None, typer.Option(
    "--every", help="Run again every 30s, 5m, 1h…, until SIGTERM or Ctrl-C (which let the current run finish).")]
MaxRunsOption = Annotated[int | None, typer.Option("--max-runs", min=1, hidden=True,
                                                   help="Stop --every after this many runs (tests).")]
FormatOption = Annotated[ReportFormat | None, typer.Option(
    "--format", "-f", help="The report: table (default on a terminal) or json (default otherwise).")]
StoreOption = Annotated[str | None, typer.Option(
    "--store", envvar="LINEAGE_STORE", show_envvar=True,
    help="Store URI: sqlite:///path/to/lineage.db (default: lineage.db in your data directory).")]
UrlOption = Annotated[str | None, typer.Option(
    "--url", envvar="LINEAGE_URL", show_envvar=True,
    help="Post events to a running lineage service instead (its token from LINEAGE_TOKEN); cursors stay local.")]
NameOption = Annotated[str | None, typer.Option(
    "--name", help="The source's name, which keys its cursor; give each repository its own.")]


class RunOptions(NamedTuple):  # a NamedTuple, not a dataclass: this module loads on every `lineage` start
    every: str | None = None
    max_runs: int | None = None
    fmt: ReportFormat | None = None
    store: str | None = None
    url: str | None = None


@app.callback()
def collect(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="A lineage.yaml listing sources: collector, name, config.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="The collectors, and what each needs to run here.")] = False,
    every: EveryOption = None, max_runs: MaxRunsOption = None, fmt: FormatOption = None,
    store: StoreOption = None, url: UrlOption = None,
) -> None:
    """Run collectors: one named on the command line, or every source of a config file."""
    if ctx.invoked_subcommand:
        # By name: typer may bring its own copy of click, with its own ParameterSource enum.
        given = [f"--{name.rstrip('_').replace('_', '-')}" for name in ctx.params
                 if getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"]
        if given:  # options before the collector's name would be silently ignored otherwise
            _usage(f"{', '.join(given)} must come after the collector's name "
                   f"(lineage collect {ctx.invoked_subcommand} … {given[0]} …), or go with --config")
        return
    if list_:
        _print_list(fmt)
        return
    if config is None:
        _usage("name a collector (lineage collect git --repo .) or a config file (lineage collect --config "
               "lineage.yaml); lineage collect --list shows the collectors")
    from lineage_service.collect_config import ConfigProblem, load_sources

    try:
        sources = load_sources(config)
    except ConfigProblem as exc:
        _usage(str(exc))
    run_sources(sources, RunOptions(every, max_runs, fmt, store, url), where=f"{config}: ")


@app.command("git")
def git(
    repo: Annotated[Path, typer.Option("--repo", help="A clone of the repository (working copy or bare).")] = Path(),
    branch: Annotated[list[str] | None, typer.Option(
        "--branch", "-b", help="A branch to read (repeatable); default: every local branch.")] = None,
    since: Annotated[str | None, typer.Option(help="Only commits after this date or time (ISO 8601).")] = None,
    repo_url: Annotated[str | None, typer.Option(
        "--repo-url", help="The repository's URL, when the remote is missing or not the canonical one.")] = None,
    remote: Annotated[str, typer.Option(help="The remote whose URL names the repository.")] = "origin",
    no_tags: Annotated[bool, typer.Option("--no-tags", help="Do not record tags on commits.")] = False,
    name: NameOption = None, every: EveryOption = None, max_runs: MaxRunsOption = None, fmt: FormatOption = None,
    store: StoreOption = None, url: UrlOption = None,
) -> None:
    """Commits, their parents, authors and tags from a local git repository.

    [dim]Incremental: the next run reads only commits after the last collected tip of each branch.[/dim]
    """
    config = {"path": repo, "branches": branch or [], "since": since, "repo_url": repo_url, "remote": remote,
              "tags": not no_tags}
    collect_one("git", {k: v for k, v in config.items() if v is not None}, name,
                RunOptions(every, max_runs, fmt, store, url),
                names={"path": "--repo", "branches": "--branch", "since": "--since", "repo_url": "--repo-url",
                       "remote": "--remote", "tags": "--no-tags"})


@app.command("azureml")
def azureml(
    subscription: Annotated[str, typer.Option(
        "--subscription", envvar="AZURE_SUBSCRIPTION_ID", show_envvar=True, help="The workspace's subscription id.")],
    resource_group: Annotated[str, typer.Option("--resource-group", "-g", help="The workspace's resource group.")],
    workspace: Annotated[str, typer.Option("--workspace", "-w", help="The Azure ML workspace name.")],
    experiment: Annotated[list[str] | None, typer.Option(
        "--experiment", "-e", help="Only jobs of this experiment (repeatable); default: every job.")] = None,
    since: Annotated[str | None, typer.Option(
        help="Only jobs and asset versions created after this date or time (ISO 8601).")] = None,
    cloud: Annotated[str | None, typer.Option(
        help="AzureUSGovernment, AzureChinaCloud, or a cloud named by ARM_CLOUD_METADATA_URL.")] = None,
    no_endpoints: Annotated[bool, typer.Option(
        "--no-endpoints", help="Do not read online and batch endpoints and their deployments.")] = False,
    name: NameOption = None, every: EveryOption = None, max_runs: MaxRunsOption = None, fmt: FormatOption = None,
    store: StoreOption = None, url: UrlOption = None,
) -> None:
    """Jobs, data assets, models and endpoints of an Azure ML workspace.

    [dim]Signs in as DefaultAzureCredential does: az login, a managed identity, or AZURE_CLIENT_* variables.[/dim]

    [dim]Incremental: the next run reads only new jobs and asset versions, and jobs that had not finished.[/dim]
    """
    config = {"subscription_id": subscription, "resource_group": resource_group, "workspace": workspace,
              "experiments": experiment or [], "since": since, "cloud": cloud, "endpoints": not no_endpoints}
    collect_one("azureml", {k: v for k, v in config.items() if v is not None}, name,
                RunOptions(every, max_runs, fmt, store, url),
                names={"subscription_id": "--subscription", "resource_group": "--resource-group",
                       "workspace": "--workspace", "experiments": "--experiment", "since": "--since",
                       "cloud": "--cloud", "endpoints": "--no-endpoints"})


RepoUrlOption = Annotated[str | None, typer.Option(
    "--repo-url", help="The repository of images whose labels name a revision but no source.")]


@app.command("docker")
def docker(
    base_url: Annotated[str | None, typer.Option(
        "--base-url", help="The engine's API: unix:///run/podman/podman.sock, tcp://host:2376 (default: "
                           "DOCKER_HOST, else the local Docker socket).")] = None,
    repository: Annotated[list[str] | None, typer.Option(
        "--repository", "-r", help="Only this repository, registry included (repeatable; globs: ghcr.io/org/*).",
    )] = None,
    repo_url: RepoUrlOption = None,
    name: NameOption = None, every: EveryOption = None, max_runs: MaxRunsOption = None, fmt: FormatOption = None,
    store: StoreOption = None, url: UrlOption = None,
) -> None:
    """Images a Docker or podman engine holds: registry digests, tags, OCI labels → commits.

    [dim]Incremental: the next run emits only images that are new or changed (pushed, tagged).[/dim]
    """
    config = {"base_url": base_url, "repositories": repository or [], "repo_url": repo_url}
    collect_one("docker", {k: v for k, v in config.items() if v is not None}, name,
                RunOptions(every, max_runs, fmt, store, url),
                names={"base_url": "--base-url", "repositories": "--repository", "repo_url": "--repo-url"})


@app.command("registry")
def registry(
    registry_url: Annotated[str, typer.Option(
        "--registry", help="ghcr.io, https://registry.example.com, http://127.0.0.1:5000 (with --insecure-http).")],
    repository: Annotated[list[str] | None, typer.Option(
        "--repository", "-r", help="A repository such as org/api (repeatable); default: the registry's catalog.",
    )] = None,
    tag: Annotated[list[str] | None, typer.Option(
        "--tag", "-t", help="Tags to collect (repeatable, globs: v*); default: every tag.")] = None,
    mutable_tag: Annotated[list[str] | None, typer.Option(
        "--mutable-tag", help="Tags that may move, re-checked every run (globs); default: every tag.")] = None,
    username: Annotated[str | None, typer.Option("--username", "-u", help="For Basic or token auth.")] = None,
    password_env: Annotated[str | None, typer.Option(
        "--password-env", help="The environment variable holding the password (never on the command line).")] = None,
    token_env: Annotated[str | None, typer.Option(
        "--token-env", help="The environment variable holding a bearer token.")] = None,
    insecure_http: Annotated[bool, typer.Option("--insecure-http", help="Allow http:// (loopback, in-cluster).")]
    = False,
    ca_file: Annotated[Path | None, typer.Option("--ca-file", help="CA bundle for a private certificate.")] = None,
    repo_url: RepoUrlOption = None,
    no_referrers: Annotated[bool, typer.Option("--no-referrers", help="Do not look for attestations.")] = False,
    name: NameOption = None, every: EveryOption = None, max_runs: MaxRunsOption = None, fmt: FormatOption = None,
    store: StoreOption = None, url: UrlOption = None,
) -> None:
    """Tags, digests, platforms, labels and attestations of an OCI registry (distribution API v2).

    [dim]Incremental: tags are listed and re-resolved with HEAD; only new digests are read.[/dim]
    """
    config = {"registry": registry_url, "repositories": repository or [], "tags": tag, "mutable_tags": mutable_tag,
              "username": username, "password_env": password_env, "token_env": token_env,
              "insecure_http": insecure_http, "ca_file": ca_file, "repo_url": repo_url, "referrers": not no_referrers}
    collect_one("registry", {k: v for k, v in config.items() if v is not None}, name,
                RunOptions(every, max_runs, fmt, store, url),
                names={"registry": "--registry", "repositories": "--repository", "tags": "--tag",
                       "mutable_tags": "--mutable-tag", "username": "--username", "password_env": "--password-env",
                       "token_env": "--token-env", "insecure_http": "--insecure-http", "ca_file": "--ca-file",
                       "repo_url": "--repo-url", "referrers": "--no-referrers"})


@app.command("github")
def github(
    repository: Annotated[list[str] | None, typer.Option(
        "--repository", "-r", help="A repository as owner/name (repeatable): its commits and workflow runs.")] = None,
    package: Annotated[list[str] | None, typer.Option(
        "--package", help="A container package as owner/name, or owner/name=owner/repo to link its SHA tags to "
                          "that repository's commits (repeatable).")] = None,
    base_url: Annotated[str | None, typer.Option(
        "--base-url", help="The REST API; GitHub Enterprise Server: https://HOST/api/v3.")] = None,
    token_env: Annotated[str | None, typer.Option(
        "--token-env", help="The environment variable holding the token (default GITHUB_TOKEN).")] = None,
    registry: Annotated[str | None, typer.Option(
        "--registry", help="The container registry host (default ghcr.io, or containers.HOST on GHES).")] = None,
    since: Annotated[str | None, typer.Option(help="On the first run, leave out what is older (ISO 8601).")] = None,
    max_rate_limit_wait: Annotated[float | None, typer.Option(
        "--max-rate-limit-wait", help="Longest wait for GitHub's rate limit, in seconds (default 60).")] = None,
    name: NameOption = None, every: EveryOption = None, max_runs: MaxRunsOption = None, fmt: FormatOption = None,
    store: StoreOption = None, url: UrlOption = None,
) -> None:
    """Commits, workflow runs and container package versions from GitHub (token in GITHUB_TOKEN).

    [dim]Incremental: the next run lists only newer commits, runs and versions, and runs not yet finished.[/dim]
    """
    config = {"repositories": repository or [], "packages": package or [], "base_url": base_url,
              "token_env": token_env, "registry": registry, "since": since, "max_rate_limit_wait": max_rate_limit_wait}
    collect_one("github", {k: v for k, v in config.items() if v is not None}, name,
                RunOptions(every, max_runs, fmt, store, url),
                names={"repositories": "--repository", "packages": "--package", "base_url": "--base-url",
                       "token_env": "--token-env", "registry": "--registry", "since": "--since",
                       "max_rate_limit_wait": "--max-rate-limit-wait"})


@app.command("kubernetes")
def kubernetes(
    kubeconfig: Annotated[Path | None, typer.Option(
        "--kubeconfig", help="A kubeconfig (default $KUBECONFIG or ~/.kube/config; in a pod, its account).")] = None,
    context: Annotated[str | None, typer.Option(
        "--context", help="The kubeconfig context (default: the current one).")] = None,
    cluster: Annotated[str | None, typer.Option(
        "--cluster", help="The cluster's name in deployment keys (default the context's cluster).")] = None,
    namespace: Annotated[list[str] | None, typer.Option(
        "--namespace", "-n", help="A namespace to read (repeatable); default every namespace.")] = None,
    selector: Annotated[str | None, typer.Option(
        "--selector", "-l", help="Only deployments with these labels, e.g. app.kubernetes.io/part-of=mlops.")] = None,
    env_api_version: Annotated[str | None, typer.Option(
        "--env-api-version", help="The variable holding the API version (default API_VERSION).")] = None,
    env_model_version: Annotated[str | None, typer.Option(
        "--env-model-version", help="The variable holding the model version (default MODEL_VERSION).")] = None,
    model_name_env: Annotated[str | None, typer.Option(
        "--model-name-env", help="The variable holding the model name (default MODEL_NAME).")] = None,
    service_label: Annotated[str | None, typer.Option(
        "--service-label", help="The label naming the service (default app.kubernetes.io/name).")] = None,
    version_label: Annotated[str | None, typer.Option(
        "--version-label", help="The label with the version when no variable has it (app.kubernetes.io/version).")
    ] = None,
    environment_label: Annotated[str | None, typer.Option(
        "--environment-label", help="The label naming the environment (default: the namespace).")] = None,
    name: NameOption = None, every: EveryOption = None, max_runs: MaxRunsOption = None, fmt: FormatOption = None,
    store: StoreOption = None, url: UrlOption = None,
) -> None:
    """Deployment revisions of a Kubernetes cluster: API versions, running image digests, models.

    [dim]Every run lists deployments, replicasets and pods; only revisions that changed are recorded.[/dim]
    """
    config = {"kubeconfig": kubeconfig, "context": context, "cluster": cluster, "namespaces": namespace or [],
              "label_selector": selector, "env_api_version": env_api_version, "env_model_version": env_model_version,
              "model_name_env": model_name_env, "service_label": service_label, "version_label": version_label,
              "environment_label": environment_label}
    collect_one("kubernetes", {k: v for k, v in config.items() if v is not None}, name,
                RunOptions(every, max_runs, fmt, store, url),
                names={"kubeconfig": "--kubeconfig", "context": "--context", "cluster": "--cluster",
                       "namespaces": "--namespace", "label_selector": "--selector",
                       "env_api_version": "--env-api-version", "env_model_version": "--env-model-version",
                       "model_name_env": "--model-name-env", "service_label": "--service-label",
                       "version_label": "--version-label", "environment_label": "--environment-label"})


def collect_one(collector: str, config: dict[str, Any], name: str | None, options: RunOptions,
                names: dict[str, str]) -> None:
    """Run one collector configured from command-line options; ``names`` maps fields to options."""
    from lineage_service.collect_config import ConfigProblem, Source, check_name

    try:
        instance = check_name(name or collector)
    except ConfigProblem as exc:
        _usage(f"--name: {exc}")
    run_sources([Source(collector, instance, config)], options, names=names)


def run_sources(sources: list[Source], options: RunOptions, *, where: str = "",
                names: dict[str, str] | None = None) -> None:
    """Check every source, then run them all once or every ``options.every``; exits with the status."""
    from lineage_service.collect_config import ConfigProblem, build, parse_duration

    try:
        every = parse_duration(options.every) if options.every is not None else None
    except ConfigProblem as exc:
        _usage(f"--every: {exc}")
    try:
        for index, source in enumerate(sources):  # every source is checked before any runs
            build(source, f"{where}sources[{index}] " if where else "", names)
    except ConfigProblem as exc:
        _usage(str(exc))
    import threading

    fmt = options.fmt or (ReportFormat.table if sys.stdout.isatty() else ReportFormat.json)
    stop = threading.Event()
    with _destination(options) as (send, cursors):
        def one_round() -> bool:
            # Fresh collectors each round: a report and a cursor belong to one run.
            results = [_run(build(source, names=names), send, cursors) for source in sources]
            _print_report(results, fmt, compact=every is not None)
            return all(result.ok for result in results)

        with _stop_on_signals(stop, enabled=every is not None):
            ok = repeat(one_round, every, stop, options.max_runs)
    raise typer.Exit(OK if ok else FAILED)


def repeat(one_round: Callable[[], bool], every: float | None, stop: threading.Event,
           max_runs: int | None = None) -> bool:
    """Run rounds until one round is all (no ``every``), ``max_runs`` rounds, or ``stop`` is set.

    Waits on ``stop`` between rounds, so a signal ends the wait at once and nothing polls.
    Returns whether the last round succeeded.
    """
    runs = 0
    while True:
        ok = one_round()
        runs += 1
        if every is None or (max_runs is not None and runs >= max_runs) or stop.wait(every):
            return ok


@contextmanager
def _stop_on_signals(stop: threading.Event, enabled: bool) -> Iterator[None]:
    """SIGTERM or Ctrl-C: finish the current run, then stop; a second one stops at once."""
    import signal
    import threading

    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        typer.echo(f"{signal.Signals(signum).name}: stopping after the current run (again to stop now)", err=True)

    previous = {number: signal.signal(number, handle) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextmanager
def _destination(options: RunOptions) -> Iterator[tuple[Send, CursorStore]]:
    """Where events and cursors go: the local store, or the service at ``--url`` with local cursors."""
    if options.url:
        import os

        from platformdirs import user_data_path

        from cli.remote import Client
        from lineage_service.collect import FileCursors

        client = Client(options.url, os.environ.get("LINEAGE_TOKEN"))
        yield _remote_sender(client), FileCursors(user_data_path("lineage", appauthor=False) / "collector-cursors",
                                                  options.url)
        return
    from cli.main import _open
    from lineage_service.collect import store_sender

    with _open(options.store) as store:
        yield store_sender(store), store


def _remote_sender(client: Any) -> Send:
    import json

    from cli.remote import RemoteProblem
    from lineage_service.collect import Delivered, DeliveryError

    def post(chunk: list[str]) -> Delivered:
        try:
            answer = client.post("/v1/events", ("[" + ",".join(chunk) + "]").encode())
        except RemoteProblem as exc:
            fix = ("; set LINEAGE_TOKEN to a token with the ingest scope" if exc.status in (401, 403) else "")
            raise DeliveryError(f"the service did not record the events: {exc.detail}{fix}") from None
        return Delivered(answer["accepted"], answer["duplicates"], dict(answer.get("failed") or {}))

    def send(events: Any) -> Delivered:
        total, chunk, size = Delivered(), list[str](), 0
        for event in events:
            text = json.dumps(event.model_dump(mode="json", by_alias=True), ensure_ascii=False)
            if chunk and size + len(text) > REMOTE_BATCH_BYTES:
                _add(total, post(chunk))
                chunk, size = [], 0
            chunk.append(text)
            size += len(text) + 1
        if chunk:
            _add(total, post(chunk))
        return total

    return send


def _add(total: Any, got: Any) -> None:
    total.accepted += got.accepted
    total.duplicates += got.duplicates
    total.not_applied.update(got.not_applied)


def _run(collector: Any, send: Send, cursors: CursorStore) -> RunResult:
    from lineage_service.collect import run_collector

    console = _console(stderr=True)
    if not console.is_terminal:
        return run_collector(collector, send, cursors)
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("[bold]{task.description}"), TextColumn("{task.fields[detail]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(collector.instance, detail="starting")
        return run_collector(collector, send, cursors, progress=lambda events, report: progress.update(
            task, detail=f"{report.seen} read, {events} events"))


def _print_report(results: list[RunResult], fmt: ReportFormat, compact: bool) -> None:
    import json

    runs = [result.as_dict() for result in results]
    data = {"ok": all(result.ok for result in results), "sources": runs}
    if fmt is ReportFormat.json:
        # With --every, one line per run (JSON Lines), which log pipelines read line by line.
        typer.echo(json.dumps(data, indent=None if compact else 2, ensure_ascii=False))
        return
    from rich.table import Table

    table = Table("source", "collector", "read", "events", "new", "duplicates", "failed", "status",
                  box=None, pad_edge=False)
    for run in runs:
        status = "ok" if run["ok"] else "[red]stopped[/red]" if run["error"] else "[yellow]failures[/yellow]"
        table.add_row(run["name"], run["collector"], str(run["seen"]), str(run["emitted"]), str(run["accepted"]),
                      str(run["duplicates"]), str(run["failed"]), status)
    console = _console()
    console.print(table)
    for run in runs:
        if run["error"]:
            console.print(f"[red]{run['name']}: error:[/red] {_escape(run['error'])}")
        for failure in run["failures"]:
            console.print(f"[red]{run['name']}: failed:[/red] {_escape(failure['item'])}: {_escape(failure['error'])}")
        for warning in run["warnings"]:
            console.print(f"[yellow]{run['name']}: warning:[/yellow] {_escape(warning)}")
        if not run["cursor_saved"]:
            console.print(f"[dim]{run['name']}: cursor not saved; the next run reads the same items again[/dim]")


def _print_list(fmt: ReportFormat | None) -> None:
    import json

    from collectors import statuses

    found = statuses()
    if (fmt or (ReportFormat.table if sys.stdout.isatty() else ReportFormat.json)) is ReportFormat.json:
        typer.echo(json.dumps({"collectors": [status.as_dict() for status in found]}, indent=2))
        return
    from rich.table import Table

    table = Table("collector", "status", "reason", "to install", box=None, pad_edge=False)
    for status in found:
        table.add_row(status.name, "available" if status.available else "[yellow]unavailable[/yellow]",
                      _escape(status.reason), _escape(status.hint))
    _console().print(table)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _console(stderr: bool = False) -> Console:
    from cli.main import _console as console

    return console(stderr)


def _usage(message: str) -> NoReturn:
    from cli.main import _fail

    _fail(message, USAGE)
