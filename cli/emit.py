"""``lineage emit``: a pipeline step reports what it produced, without ever failing the pipeline.

Thin: parses arguments, reads the CI context, and hands over to ``lineage_service.emit`` (event
building, retries, spool). Everything but typer is imported inside the commands, because this
runs in every pipeline step. Exit codes: 0 recorded, duplicate, or kept in the spool; 1 rejected
by the service, a ``latest`` that cannot be resolved, or (with ``--strict``) not delivered; 2 usage.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from lineage_service.emit.delivery import DeliveryError, RetryPolicy
    from lineage_service.emit.reports import Report

FAILED, USAGE = 1, 2
Ask = Callable[[str], dict[str, Any]]

emit_app = typer.Typer(
    short_help="Report from a CI step what it produced: dataset, training, model, image, deployment.",
    help="Report what a pipeline step produced: a dataset version, a training job, a registered model, an "
         "image, a deployment. Reads the commit and the run from GitHub Actions or Azure DevOps (or git "
         "locally), sends one event to LINEAGE_URL with LINEAGE_TOKEN, and retries; when the service stays "
         "unreachable the event waits in a spool file (`lineage emit flush` sends it later) and the step still "
         "succeeds. Exit 0 recorded or kept, 1 rejected (or --strict and not delivered), 2 wrong usage.\n\n"
         "[dim]Example: lineage emit training --job bold_river_4t6w9p3m1s_train_model "
         "--input taxi-train-data:latest --model taxi-model:3 --metric r2=0.83[/dim]",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

DELIVERY = "Delivery"


class Output(StrEnum):
    text = "text"
    json = "json"


UrlOption = Annotated[str | None, typer.Option(
    "--url", envvar="LINEAGE_URL", show_envvar=True, rich_help_panel=DELIVERY,
    help="The lineage service. Its token comes from LINEAGE_TOKEN only (never an option, never printed).")]
SpoolOption = Annotated[Path | None, typer.Option(
    "--spool", envvar="LINEAGE_SPOOL", show_envvar=True, rich_help_panel=DELIVERY, show_default=False,
    help="Where undelivered events wait, JSON Lines \\[default: spool.jsonl in your data directory].")]
TimeoutOption = Annotated[float, typer.Option(
    "--timeout", min=0, rich_help_panel=DELIVERY, help="Seconds to keep trying, all attempts and waits together.")]
RetriesOption = Annotated[int, typer.Option(
    "--retries", min=1, max=100, rich_help_panel=DELIVERY, help="Attempts at most.")]
BackoffOption = Annotated[float, typer.Option(
    "--backoff", min=0, rich_help_panel=DELIVERY,
    help="First wait between attempts, in seconds; doubles each time (with jitter, at most 10 s), or longer "
         "when the service asks with Retry-After.")]
StrictOption = Annotated[bool, typer.Option(
    "--strict", rich_help_panel=DELIVERY, help="Exit 1 when the event was not delivered (it is still spooled).")]
DryRunOption = Annotated[bool, typer.Option(
    "--dry-run", rich_help_panel=DELIVERY, help="Print the event as JSON and send nothing.")]
FormatOption = Annotated[Output, typer.Option(
    "--format", "-f", rich_help_panel=DELIVERY, help="text, or json: the service's answer.")]
TagOption = Annotated[list[str] | None, typer.Option(
    "--tag", metavar="KEY=VALUE", show_default=False, help="A tag, as on the Azure ML asset; repeatable.")]
JobSystemOption = Annotated[str, typer.Option(
    "--job-system", help="The system that ran the job: azureml, or another name (e.g. databricks).")]


@dataclass(frozen=True)
class _Delivery:
    url: str | None
    spool: Path | None
    timeout: float
    retries: int
    backoff: float
    strict: bool
    dry_run: bool
    fmt: Output

    def policy(self) -> RetryPolicy:
        from lineage_service.emit.delivery import RetryPolicy

        return RetryPolicy(attempts=self.retries, timeout=self.timeout, backoff=self.backoff)


def _in(system_variable: str) -> bool:
    return os.environ.get(system_variable, "").lower() == "true"


def _escape(message: str) -> str:
    # GitHub workflow commands end at a newline; these escapes keep a message one annotation.
    return message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _warn(message: str) -> None:
    """A warning that CI shows on the run's summary page, not only in the step log."""
    if _in("GITHUB_ACTIONS"):
        line = f"::warning title=lineage emit::{_escape(message)}"
    elif _in("TF_BUILD"):
        line = f"##vso[task.logissue type=warning]{message.replace(chr(10), ' ')}"
    else:
        line = f"warning: {message}"
    typer.echo(line, err=True)


def _fail(message: str, code: int = FAILED, hints: list[str] | None = None) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    for hint in hints or []:
        typer.echo(f"  {hint}", err=True)
    raise typer.Exit(code)


def _token() -> str | None:
    return os.environ.get("LINEAGE_TOKEN", "").strip() or None


def _call(url: str, method: str, path: str, timeout: float, body: bytes | None = None,
          params: dict[str, str] | None = None) -> Any:
    """One request with the CLI's HTTP client; its problems become ``DeliveryError``."""
    from cli.remote import Client, RemoteProblem
    from lineage_service.emit.delivery import DeliveryError

    client = Client(url, _token(), timeout=timeout)
    try:
        return client.post(path, body or b"") if method == "POST" else client.get(path, **(params or {}))
    except RemoteProblem as exc:
        raise DeliveryError(exc.status, exc.detail, exc.problem, exc.retry_after) from None
    except ValueError:  # a 2xx that is not JSON: something else answers at that address
        raise DeliveryError(0, f"{url} answered with something that is not the lineage service's JSON; is "
                               f"LINEAGE_URL right?") from None


def _retrying(delivery: _Delivery, call: Callable[[float], Any]) -> Any:
    from lineage_service.emit.delivery import call_with_retries

    def say(error: DeliveryError, attempt: int, wait: float) -> None:
        what = f"answered {error.status}" if error.status else "is not reachable"
        typer.echo(f"lineage emit: the service {what}; retrying in {wait:.1f} s (attempt {attempt + 1} of "
                   f"{delivery.retries})", err=True)

    return call_with_retries(call, delivery.policy(), on_retry=say)


def _asker(delivery: _Delivery) -> Ask | None:
    url = delivery.url
    if not url:
        return None

    def ask(reference: str) -> dict[str, Any]:
        answer: dict[str, Any] = _retrying(delivery, lambda timeout: _call(
            url, "GET", "/v1/show", timeout, params={"kind": "dataset", "ref": reference}))
        return answer

    return ask


def _emit(delivery: _Delivery, make_report: Callable[[Ask | None], Report]) -> None:
    """Context, report, event, then deliver, spool, or print it."""
    import json

    from graph_schema.canonical import InvalidValue
    from lineage_service.emit.build import build_event
    from lineage_service.emit.context import ContextError, detect
    from lineage_service.emit.latest import Unresolved

    try:
        report = make_report(_asker(delivery))  # first: a wrong argument matters more than where we run
        context = detect(os.environ)
        event = build_event(context, report)
    except (ContextError, InvalidValue) as exc:
        _fail(str(exc), USAGE)
    except Unresolved as exc:
        _fail(str(exc))
    if context.dirty:
        _warn(f"the working tree has uncommitted changes; the lineage names HEAD ({context.sha[:12]}), which "
              f"does not fully describe the code")
    if delivery.dry_run:
        typer.echo(json.dumps(event, indent=2, ensure_ascii=False))
        return
    _deliver(delivery, event, report.subject)


def _deliver(delivery: _Delivery, event: dict[str, Any], subject: str) -> None:
    import json

    from lineage_service.emit.delivery import GaveUp, is_rejection, problem_lines

    url = delivery.url
    if not url:
        _keep(delivery, event, "LINEAGE_URL is not set")
        return
    body = json.dumps(event, ensure_ascii=False).encode()
    try:
        answer = _retrying(delivery, lambda timeout: _call(url, "POST", "/v1/events", timeout, body))
    except GaveUp as exc:
        error = exc.error
        if is_rejection(error):
            _fail(f"the lineage service rejected event {event['id']}: {error.detail}", hints=problem_lines(error))
        hint = ""
        if error.status in (401, 403):
            hint = " (set LINEAGE_TOKEN to a token with the 'ingest' scope, see `lineage token create`)"
        tries = f"after {exc.attempts} attempt{'s' if exc.attempts > 1 else ''}"
        _keep(delivery, event, f"not delivered {tries}: {error.detail}{hint}")
        return
    answer = answer if isinstance(answer, dict) else {}
    if delivery.fmt is Output.json:
        typer.echo(json.dumps(answer, indent=2, ensure_ascii=False))
    elif answer.get("duplicates"):
        typer.echo(f"already recorded: {event['id']} ({subject}); a retried step changes nothing")
    else:
        typer.echo(f"recorded {event['id']} ({subject}): {len(event['nodes'])} nodes, {len(event['edges'])} edges")
    if answer.get("failed"):
        _warn(f"event {event['id']} is recorded but not applied yet: {answer['failed']}; the service applies it "
              f"again with `lineage events apply`")


def _keep(delivery: _Delivery, event: dict[str, Any], reason: str) -> None:
    """Spool the event, warn, and exit 0 (1 with --strict): lineage is kept, the pipeline goes on."""
    import json

    from lineage_service.emit import spool

    path = delivery.spool or spool.default_path()
    try:
        spool.append(path, event)
    except OSError as exc:
        # Last resort: the event in the step's log is still lineage someone can ingest by hand.
        _warn(f"event {event['id']} {reason}, and it cannot be spooled to {path}: {exc}; the event follows, "
              f"feed it to `lineage ingest -` later")
        typer.echo(json.dumps(event, ensure_ascii=False), err=True)
    else:
        _warn(f"event {event['id']} {reason}; kept in {path}, send it later with `lineage emit flush`")
    if delivery.fmt is Output.json:
        typer.echo(json.dumps({"delivered": False, "event_id": event["id"], "spool": str(path), "reason": reason},
                              indent=2, ensure_ascii=False))
    if delivery.strict:
        raise typer.Exit(FAILED)


@emit_app.command("dataset")
def dataset(
    version: Annotated[str, typer.Argument(
        metavar="NAME:VERSION", show_default=False, help="The dataset version produced, e.g. taxi-train-data:8.")],
    from_job: Annotated[str | None, typer.Option(
        "--from-job", metavar="ID", help="The job that produced it (an Azure ML job name) \\[default: the CI job "
                                         "running this step].", show_default=False)] = None,
    derived_from: Annotated[list[str] | None, typer.Option(
        "--derived-from", metavar="NAME:VERSION", show_default=False,
        help="A dataset it was made from; NAME:latest asks the service which version that is, NAME:latest=5 "
             "says it. Repeatable.")] = None,
    uri: Annotated[str | None, typer.Option(help="Where the data is, e.g. azureml://datastores/…/paths/….")] = None,
    tag: TagOption = None,
    job_system: JobSystemOption = "azureml",
    url: UrlOption = None, spool: SpoolOption = None, timeout: TimeoutOption = 30.0, retries: RetriesOption = 6,
    backoff: BackoffOption = 0.5, strict: StrictOption = False, dry_run: DryRunOption = False,
    fmt: FormatOption = Output.text,
) -> None:
    """A dataset version was produced, e.g. by the data preparation step.

    [dim]Example: lineage emit dataset taxi-train-data:8 --from-job bold_river_4t6w9p3m1s_prep_data \\
      --derived-from green-taxi-data:latest --derived-from yellow-taxi-data:3[/dim]
    """
    delivery = _Delivery(url, spool, timeout, retries, backoff, strict, dry_run, fmt)

    def report(ask: Ask | None) -> Report:
        from lineage_service.emit import latest, values
        from lineage_service.emit.reports import DatasetReport

        sources = tuple(values.versioned(text, "--derived-from", "dataset", allow_latest=True)
                        for text in derived_from or [])
        return DatasetReport(
            values.versioned(version, "NAME:VERSION", "dataset"), from_job=_text(from_job, "--from-job"),
            job_system=job_system, derived_from=latest.resolve(sources, ask, "--derived-from"),
            uri=_text(uri, "--uri"), tags=values.pairs(tag or [], "--tag"))

    _emit(delivery, report)


def _text(value: str | None, option: str) -> str | None:
    if value is None:
        return None
    if not value.strip():
        from graph_schema.canonical import InvalidValue

        raise InvalidValue(f"{option}: empty; leave the option out or give a value")
    return value.strip()


@emit_app.command("training")
def training(
    job: Annotated[str, typer.Option(
        "--job", metavar="ID", show_default=False, help="The training job (an Azure ML job name).")],
    inputs: Annotated[list[str], typer.Option(
        "--input", metavar="NAME:VERSION", show_default=False,
        help="A dataset it read; NAME:latest asks the service which version that is (the pipeline's "
             "DATASET_VERSION=latest), NAME:latest=5 says it. Repeatable.")],
    model: Annotated[str, typer.Option(
        "--model", metavar="NAME:VERSION", show_default=False, help="The model it produced, e.g. taxi-model:3.")],
    pipeline_job: Annotated[str | None, typer.Option(
        "--pipeline-job", metavar="ID", show_default=False,
        help="The pipeline job it is a step of; the run submitted that one.")] = None,
    param: Annotated[list[str] | None, typer.Option(
        "--param", metavar="KEY=VALUE", show_default=False, help="A training parameter; repeatable.")] = None,
    metric: Annotated[list[str] | None, typer.Option(
        "--metric", metavar="KEY=NUMBER", show_default=False, help="A metric of the model, e.g. r2=0.83; "
                                                                   "repeatable.")] = None,
    tag: TagOption = None,
    job_system: JobSystemOption = "azureml",
    url: UrlOption = None, spool: SpoolOption = None, timeout: TimeoutOption = 30.0, retries: RetriesOption = 6,
    backoff: BackoffOption = 0.5, strict: StrictOption = False, dry_run: DryRunOption = False,
    fmt: FormatOption = Output.text,
) -> None:
    """A training job ran this commit's code on these datasets and produced this model.

    [dim]Example: lineage emit training --job bold_river_4t6w9p3m1s_train_model \\
      --pipeline-job bold_river_4t6w9p3m1s --input taxi-train-data:latest --model taxi-model:3 --metric r2=0.83[/dim]
    """
    delivery = _Delivery(url, spool, timeout, retries, backoff, strict, dry_run, fmt)

    def report(ask: Ask | None) -> Report:
        from lineage_service.emit import latest, values
        from lineage_service.emit.reports import TrainingReport

        read = tuple(values.versioned(text, "--input", "dataset", allow_latest=True) for text in inputs)
        produced = values.versioned(model, "--model", "model")
        return TrainingReport(
            job=_text(job, "--job") or "", inputs=latest.resolve(read, ask, "--input"), model=produced,
            job_system=job_system, pipeline_job=_text(pipeline_job, "--pipeline-job"),
            parameters=values.parameters(param or [], "--param"), metrics=values.metrics(metric or [], "--metric"),
            tags=values.pairs(tag or [], "--tag"))

    _emit(delivery, report)


@emit_app.command("model")
def model(
    version: Annotated[str, typer.Argument(
        metavar="NAME:VERSION", show_default=False, help="The registered model version, e.g. taxi-model:3.")],
    job: Annotated[str | None, typer.Option(
        "--job", metavar="ID", show_default=False,
        help="The job that produced it \\[default: the CI job running this step].")] = None,
    tag: TagOption = None,
    job_system: JobSystemOption = "azureml",
    url: UrlOption = None, spool: SpoolOption = None, timeout: TimeoutOption = 30.0, retries: RetriesOption = 6,
    backoff: BackoffOption = 0.5, strict: StrictOption = False, dry_run: DryRunOption = False,
    fmt: FormatOption = Output.text,
) -> None:
    """A model version was registered.

    [dim]Example: lineage emit model taxi-model:3 --job bold_river_4t6w9p3m1s_train_model \\
      --tag git_sha=$GITHUB_SHA[/dim]
    """
    delivery = _Delivery(url, spool, timeout, retries, backoff, strict, dry_run, fmt)

    def report(ask: Ask | None) -> Report:
        from lineage_service.emit import values
        from lineage_service.emit.reports import ModelReport

        return ModelReport(values.versioned(version, "NAME:VERSION", "model"), job=_text(job, "--job"),
                           job_system=job_system, tags=values.pairs(tag or [], "--tag"))

    _emit(delivery, report)


@emit_app.command("image")
def image(
    reference: Annotated[str | None, typer.Argument(
        metavar="[REF@DIGEST]", show_default=False,
        help="The image pushed, e.g. ghcr.io/nathansegers/azure-mlops-api@sha256:….")] = None,
    digest: Annotated[str | None, typer.Option(
        "--digest", metavar="sha256:…", show_default=False,
        help="The digest, when REF has none (docker/build-push-action's 'digest' output).")] = None,
    tags: Annotated[list[str] | None, typer.Option(
        "--tag", metavar="REF|TAG", show_default=False,
        help="A reference it was pushed as (ghcr.io/org/api:v1.2.3), or a bare tag of REF's repository "
             "(v1.2.3, the git SHA). Repeatable.")] = None,
    bundles: Annotated[str | None, typer.Option(
        "--model", metavar="NAME:VERSION", show_default=False, help="The model version inside the image.")] = None,
    url: UrlOption = None, spool: SpoolOption = None, timeout: TimeoutOption = 30.0, retries: RetriesOption = 6,
    backoff: BackoffOption = 0.5, strict: StrictOption = False, dry_run: DryRunOption = False,
    fmt: FormatOption = Output.text,
) -> None:
    """An image was built from this commit by this run (and pushed under these tags).

    [dim]Example: lineage emit image ghcr.io/nathansegers/azure-mlops-api@sha256:3f49… \\
      --tag $GITHUB_SHA --tag v1.2.3 --model taxi-model:3[/dim]
    """
    delivery = _Delivery(url, spool, timeout, retries, backoff, strict, dry_run, fmt)

    def report(ask: Ask | None) -> Report:
        from lineage_service.emit import values
        from lineage_service.emit.reports import ImageReport

        built = values.image(reference, digest, tags or [], "REF@DIGEST")
        return ImageReport(built, values.versioned(bundles, "--model", "model") if bundles else None)

    _emit(delivery, report)


class Platform(StrEnum):
    kubernetes = "kubernetes"
    azureml_online = "azureml-online"
    azureml_batch = "azureml-batch"


@emit_app.command("deployment")
def deployment(
    env: Annotated[str, typer.Option("--env", show_default=False, help="The environment, e.g. dev or prod.")],
    cluster: Annotated[str, typer.Option(
        show_default=False, help="The cluster (or Azure ML workspace), e.g. aks-mlops-prod.")],
    name: Annotated[str, typer.Option(show_default=False, help="The deployment (or endpoint deployment) name.")],
    revision: Annotated[str, typer.Option(
        show_default=False, help="Its revision: kubectl's deployment.kubernetes.io/revision annotation.")],
    image_reference: Annotated[str, typer.Option(
        "--image", metavar="REF@DIGEST", show_default=False, help="The image it runs, with its digest.")],
    api_version: Annotated[str, typer.Option(
        "--api-version", show_default=False, help="The API release it serves (its API_VERSION), e.g. v1.2.3.")],
    serves: Annotated[str, typer.Option(
        "--model", metavar="NAME:VERSION", show_default=False,
        help="The model it serves (its MODEL_VERSION), e.g. taxi-model:3.")],
    namespace: Annotated[str | None, typer.Option(
        show_default=False, help="The namespace (or endpoint) \\[default: the --env value].")] = None,
    service: Annotated[str | None, typer.Option(
        show_default=False, help="The API's service name \\[default: the --name value].")] = None,
    platform: Annotated[Platform, typer.Option(help="Where it runs.")] = Platform.kubernetes,
    url: UrlOption = None, spool: SpoolOption = None, timeout: TimeoutOption = 30.0, retries: RetriesOption = 6,
    backoff: BackoffOption = 0.5, strict: StrictOption = False, dry_run: DryRunOption = False,
    fmt: FormatOption = Output.text,
) -> None:
    """A deployment revision went live: it runs an image, serves a model, and serves an API version.

    [dim]Example: lineage emit deployment --env prod --cluster aks-mlops-prod --name taxi-api --revision 8 \\
      --image ghcr.io/nathansegers/azure-mlops-api@sha256:3f49… --api-version v1.2.3 --model taxi-model:3[/dim]
    """
    delivery = _Delivery(url, spool, timeout, retries, backoff, strict, dry_run, fmt)

    def report(ask: Ask | None) -> Report:
        from graph_schema import canonical
        from graph_schema.canonical import InvalidValue
        from lineage_service.emit import values
        from lineage_service.emit.reports import DeploymentReport

        def checked(option: str, value: str, check: Callable[[str], str]) -> str:
            try:
                return check(value)
            except InvalidValue as exc:
                raise InvalidValue(f"{option}: {exc}") from None

        return DeploymentReport(
            platform=platform.value, cluster=checked("--cluster", cluster, canonical.name),
            namespace=checked("--namespace", namespace or env, canonical.name),
            name=checked("--name", name, canonical.name), revision=checked("--revision", revision,
                                                                            canonical.asset_version),
            environment=checked("--env", env, canonical.name),
            service=checked("--service", service or name, canonical.name),
            # Checked, but kept as typed: the pods' API_VERSION says v1.2.3; the api key drops the v itself.
            api_version=checked("--api-version", api_version, canonical.release_version) and api_version.strip(),
            image=values.image(image_reference, option="--image"), model=values.versioned(serves, "--model", "model"))

    _emit(delivery, report)


@emit_app.command("flush")
def flush(
    url: UrlOption = None, spool: SpoolOption = None, timeout: TimeoutOption = 30.0, retries: RetriesOption = 6,
    backoff: BackoffOption = 0.5, fmt: FormatOption = Output.text,
) -> None:
    """Send the spooled events; remove those the service acknowledged, keep the rest.

    Events the service rejects (and lines a crash cut short) move to SPOOL.rejected with the reason.
    Exit 1 when anything was rejected or is still waiting.
    """
    import json

    from lineage_service.emit import spool as spooled

    delivery = _Delivery(url, spool, timeout, retries, backoff, False, False, fmt)
    path = spool or spooled.default_path()
    if not url:
        _fail(f"LINEAGE_URL is not set: nowhere to send {path}", USAGE,
              hints=[f"set LINEAGE_URL (and LINEAGE_TOKEN), or load the spool into a local store with "
                     f"`lineage ingest {path}`"])
    target = url
    report = spooled.flush(path, lambda line: _retrying(delivery, lambda timeout: _call(
        target, "POST", "/v1/events", timeout, line.encode(spooled.ENCODING, spooled.ERRORS))))
    duplicates = sum(int(answer.get("duplicates", 0)) for answer in report.answers)
    if fmt is Output.json:
        typer.echo(json.dumps({
            "sent": len(report.answers), "duplicates": duplicates, "rejected": [r for _, r in report.rejected],
            "remaining": report.remaining, "spool": str(path),
            "stopped": report.stopped.error.detail if report.stopped else None}, indent=2))
    else:
        typer.echo(f"sent {len(report.answers)} spooled events ({duplicates} already recorded); "
                   f"{report.remaining} remain in {path}")
    for _, reason in report.rejected:
        typer.echo(f"rejected, moved to {spooled.rejected_path(path)}: {reason}", err=True)
    if report.stopped is not None:
        _fail(f"stopped sending: {report.stopped.error.detail}; {report.remaining} events stay in {path}")
    if report.rejected:
        raise typer.Exit(FAILED)
