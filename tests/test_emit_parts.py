"""The parts of ``lineage emit`` without the CLI: CI context, values, events, the retry loop, the spool.

The retry loop runs for real with a fake clock and a sleep that only records what it was asked to
wait, so the waits (Retry-After, backoff, jitter) are checked exactly and nothing sleeps.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from graph_schema.canonical import InvalidValue
from graph_schema.events import parse_event
from lineage_service.emit import spool
from lineage_service.emit.build import build_event
from lineage_service.emit.context import ContextError, detect
from lineage_service.emit.delivery import DeliveryError, GaveUp, RetryPolicy, call_with_retries, retry_after_seconds
from lineage_service.emit.reports import DatasetReport, DeploymentReport, ImageReport, ModelReport, TrainingReport
from lineage_service.emit.values import Versioned, image, metrics, parameters, versioned
from tests.emit_support import AZURE_DEVOPS, DIGEST, GITHUB, IMAGE, SHA

# -- CI context ----------------------------------------------------------------------------------


def test_github_actions_context(tmp_path: Path) -> None:
    context = detect({**GITHUB, "GITHUB_REPOSITORY": "NathanSegers/MLOps-2.0"}, tmp_path)
    assert (context.system, context.sha, context.repo) == ("github-actions", SHA,
                                                          "https://github.com/nathansegers/mlops-2.0")
    assert (context.run_id, context.attempt, context.workflow, context.branch, context.trigger, context.actor,
            context.job) == ("7004455701", 1, "MLOps Azure", "main", "workflow_dispatch", "nathansegers",
                             "ai-training")
    assert context.url == "https://github.com/NathanSegers/MLOps-2.0/actions/runs/7004455701"


def test_azure_devops_context_drops_credentials_and_quotes_the_project(tmp_path: Path) -> None:
    context = detect({**AZURE_DEVOPS, "SYSTEM_TEAMPROJECT": "MLOps v2", "SYSTEM_JOBATTEMPT": "3"}, tmp_path)
    assert context.repo == "https://dev.azure.com/nathansegers/mlops-v2/_git/taxi-fare-regression"
    assert context.url == "https://dev.azure.com/nathansegers/MLOps%20v2/_build/results?buildId=4821"
    assert (context.system, context.run_id, context.attempt, context.trigger) == ("azure-devops", "4821", 3, "Manual")


@pytest.mark.parametrize(("env", "says"), [
    ({**GITHUB, "GITHUB_SHA": ""}, "GITHUB_SHA is not set"),
    ({k: v for k, v in GITHUB.items() if k not in ("GITHUB_SHA", "GITHUB_RUN_ID")}, "GITHUB_SHA, GITHUB_RUN_ID are"),
    ({**AZURE_DEVOPS, "BUILD_SOURCEVERSION": "C1234"}, "lineage emit needs a git commit"),  # a TFVC changeset
])
def test_an_incomplete_ci_environment_names_what_is_missing(tmp_path: Path, env: dict[str, str], says: str) -> None:
    with pytest.raises(ContextError, match=says):
        detect(env, tmp_path)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=Ava Peeters", "-c", "user.email=ava.peeters@example.com", *args],
                          cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def test_outside_ci_the_commit_comes_from_git(tmp_path: Path) -> None:
    git(tmp_path, "init", "--quiet")
    (tmp_path / "prep.py").write_text("print('prep')\n")
    git(tmp_path, "add", "prep.py")
    git(tmp_path, "commit", "--quiet", "-m", "prep: drop zero-distance trips")
    git(tmp_path, "remote", "add", "origin", "git@github.com:NathanSegers/mlops-2.0.git")
    context = detect({}, tmp_path)
    assert (context.system, context.run_id, context.repo) == ("local", None, "https://github.com/nathansegers/mlops-2.0")
    assert context.sha == git(tmp_path, "rev-parse", "HEAD")
    assert (context.author, context.message, context.dirty) == ("ava.peeters@example.com",
                                                                "prep: drop zero-distance trips", False)
    (tmp_path / "prep.py").write_text("print('changed')\n")
    assert detect({}, tmp_path).dirty


def test_outside_ci_and_outside_git_the_error_says_where_to_run(tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="run lineage emit in a CI step, or in a git checkout"):
        detect({}, tmp_path)


# -- values --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("taxi-train-data:8", Versioned("taxi-train-data", "8")),
    ("taxi-train-data:latest", Versioned("taxi-train-data", "latest", "latest")),
    ("taxi-train-data:latest=8", Versioned("taxi-train-data", "8", "latest")),
    ("taxi-train-data:5=5", Versioned("taxi-train-data", "5")),  # DATASET_VERSION pinned: nothing was "asked"
])
def test_inputs_name_a_version_or_what_was_asked_for(text: str, expected: Versioned) -> None:
    assert versioned(text, "--input", "dataset", allow_latest=True) == expected


@pytest.mark.parametrize(("text", "allow_latest", "says"), [
    ("taxi-model", False, "--model 'taxi-model': expected NAME:VERSION, e.g. taxi-model:3"),
    ("taxi-model:latest", False, "name the version"),
    ("taxi-model:3=3", False, "expected NAME:VERSION"),
    ("taxi model:3", False, "model name without spaces"),
    (":3", True, "expected NAME:VERSION, NAME:latest or NAME:latest=VERSION"),
])
def test_bad_versions_name_the_option(text: str, allow_latest: bool, says: str) -> None:
    with pytest.raises(InvalidValue, match=says):
        versioned(text, "--model", "model", allow_latest=allow_latest)


def test_parameters_are_typed_and_metrics_must_be_numbers() -> None:
    assert parameters(["fit_intercept=true", "alpha=0.5", "epochs=10", "solver=lbfgs", "x=nan"], "--param") == {
        "fit_intercept": True, "alpha": 0.5, "epochs": 10, "solver": "lbfgs", "x": "nan"}
    with pytest.raises(InvalidValue, match="--metric r2=high: expected a finite number"):
        metrics(["r2=high"], "--metric")
    with pytest.raises(InvalidValue, match="expected KEY=VALUE"):
        parameters(["fit_intercept"], "--param")


def test_an_image_is_its_digest_with_every_reference_it_was_pushed_as() -> None:
    built = image(f"{IMAGE}@{DIGEST}", None, [SHA, "v1.2.3", "nathansegers/azure-mlops-api:v1.2.3"])
    assert built.digest == DIGEST
    assert built.references == (f"{IMAGE}:{SHA}", f"{IMAGE}:v1.2.3", "docker.io/nathansegers/azure-mlops-api:v1.2.3")
    assert built.repositories == (IMAGE, "docker.io/nathansegers/azure-mlops-api")
    assert image(f"{IMAGE}:v1.2.3", DIGEST.removeprefix("sha256:")).reference == f"{IMAGE}:v1.2.3@{DIGEST}"


@pytest.mark.parametrize(("reference", "digest", "tags", "says"), [
    (f"{IMAGE}:v1.2.3", None, [], "the image digest is needed"),
    (None, DIGEST, ["v1.2.3"], "a bare tag needs the repository"),
    (f"{IMAGE}@{DIGEST}", "sha256:" + "0" * 64, [], "but --digest is"),
    (f"{IMAGE}@{DIGEST}", None, [f"{IMAGE}:v1@sha256:{'1' * 64}"], "not this image's"),
    (f"{IMAGE}@{DIGEST}", None, ["ghcr.io/nathansegers/other"], "names no tag"),
])
def test_image_problems_are_named(reference: str | None, digest: str | None, tags: list[str], says: str) -> None:
    with pytest.raises(InvalidValue, match=says):
        image(reference, digest, tags)


# -- events --------------------------------------------------------------------------------------

MODEL = Versioned("taxi-model", "3")
REPORTS = [
    DatasetReport(Versioned("taxi-train-data", "8"), from_job="prep", derived_from=(
        Versioned("green-taxi-data", "5", "latest"),), uri="azureml://x", tags={"git_sha": SHA}),
    DatasetReport(Versioned("taxi-train-data", "9")),
    TrainingReport("train", (Versioned("taxi-train-data", "8", "latest"),), MODEL, pipeline_job="pipeline",
                   parameters={"fit_intercept": True}, metrics={"r2": 0.83}),
    ModelReport(MODEL, job="train"),
    ModelReport(MODEL),
    ImageReport(image(f"{IMAGE}@{DIGEST}", None, ["v1.2.3"]), MODEL),
    DeploymentReport("kubernetes", "aks-mlops-prod", "prod", "taxi-api", "8", "prod", "taxi-api", "v1.2.3",
                     image(f"{IMAGE}:v1.2.3@{DIGEST}"), MODEL),
]


@pytest.mark.parametrize("report", REPORTS, ids=lambda r: f"{r.verb}-{r.subject}")
@pytest.mark.parametrize("env", [GITHUB, AZURE_DEVOPS], ids=["github", "azure-devops"])
def test_every_event_is_valid_and_declares_each_link_once(tmp_path: Path, report: object, env: dict[str, str]) -> None:
    assert isinstance(report, DatasetReport | TrainingReport | ModelReport | ImageReport | DeploymentReport)
    event = build_event(detect(env, tmp_path), report)
    parsed = parse_event(event)  # the service's own validation
    assert len(parsed.edges) == len({(e.source.id, e.target.id, e.kind) for e in parsed.edges})
    assert len(event["id"]) <= 200


def test_the_event_id_is_the_same_for_a_retry_and_new_for_anything_else(tmp_path: Path) -> None:
    context = detect(GITHUB, tmp_path)
    report = REPORTS[0]
    first = build_event(context, report, datetime(2026, 11, 4, 7, 45, tzinfo=UTC))
    retry = build_event(context, report, datetime(2026, 11, 4, 7, 46, tzinfo=UTC))
    assert first["id"] == retry["id"] and first["time"] != retry["time"]
    assert first["id"].startswith("github-actions-7004455701-1-dataset-taxi-train-data-8-")
    other_attempt = build_event(detect({**GITHUB, "GITHUB_RUN_ATTEMPT": "2"}, tmp_path), report)
    other_content = build_event(context, DatasetReport(Versioned("taxi-train-data", "8"), from_job="prep"))
    assert len({first["id"], other_attempt["id"], other_content["id"]}) == 3


# -- retries -------------------------------------------------------------------------------------


class Script:
    """A call that fails with the scripted errors, then answers; time passes only in ``sleep``."""

    def __init__(self, *errors: DeliveryError) -> None:
        self.errors = list(errors)
        self.calls = 0
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self, timeout: float) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "answered"

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def run(self, policy: RetryPolicy, jitter: Callable[[], float] = lambda: 0.5) -> str:
        return call_with_retries(self, policy, sleep=self.sleep, clock=lambda: self.now, jitter=jitter)


def busy(status: int = 503, retry_after: str | None = None) -> DeliveryError:
    return DeliveryError(status, "busy", retry_after=retry_after)


def test_retry_after_is_honoured_even_beyond_the_backoff() -> None:
    script = Script(busy(503, "7"), busy(429, "0"))
    assert script.run(RetryPolicy(backoff=0.5, max_delay=2)) == "answered"
    # The hint, then our own backoff: the second delay is 0.5 * 2, half fixed and half jittered (at 0.5).
    assert script.waits == [7.0, 0.75]


def test_retry_after_may_be_an_http_date() -> None:
    now = datetime(2026, 11, 10, 14, 50, tzinfo=UTC)
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90.0
    assert retry_after_seconds("not a date") is None


def test_backoff_doubles_with_jitter_up_to_its_ceiling() -> None:
    script = Script(*[busy(0)] * 5)
    script.run(RetryPolicy(attempts=6, backoff=1, max_delay=4, timeout=1000), jitter=lambda: 1.0)
    assert script.waits == [1.0, 2.0, 4.0, 4.0, 4.0]
    low = Script(*[busy(0)] * 3)
    low.run(RetryPolicy(backoff=1, max_delay=4, timeout=1000), jitter=lambda: 0.0)
    assert low.waits == [0.5, 1.0, 2.0]  # never less than half: parallel steps still spread out


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried(status: int) -> None:
    script = Script(busy(status))
    with pytest.raises(GaveUp) as failure:
        script.run(RetryPolicy())
    assert (script.calls, script.waits, failure.value.attempts) == (1, [], 1)


def test_attempts_and_time_are_both_bounded() -> None:
    by_attempts = Script(*[busy()] * 10)
    with pytest.raises(GaveUp) as failure:
        by_attempts.run(RetryPolicy(attempts=3, backoff=0.01, timeout=1000))
    assert (by_attempts.calls, failure.value.attempts) == (3, 3)
    by_time = Script(*[busy()] * 10)
    with pytest.raises(GaveUp):
        by_time.run(RetryPolicy(attempts=100, backoff=4, max_delay=4, timeout=10))
    assert by_time.now - 1000 <= 10  # no wait ran past the bound
    assert by_time.waits == [3.0, 3.0, 3.0]


# -- spool ---------------------------------------------------------------------------------------


def event(number: int) -> dict[str, object]:
    return {"schema": "lineage-event/1", "id": f"e{number}", "time": "2026-11-10T14:50:00Z", "source": "test",
            "nodes": [{"kind": "model", "key": {"name": "taxi-model", "version": str(number)}}], "edges": []}


def test_a_torn_last_line_is_reported_and_the_next_append_starts_a_new_line(tmp_path: Path) -> None:
    path = tmp_path / "spool.jsonl"
    spool.append(path, event(1))
    spool.append(path, event(2))
    with path.open("ab") as file:
        file.write(json.dumps(event(3)).encode()[:40])
    entries = spool.read(path)
    assert [json.loads(e.line)["id"] for e in entries[:2]] == ["e1", "e2"]
    assert entries[2].problem == "torn by a crash while being written"
    spool.append(path, event(4))
    assert [e.problem is None for e in spool.read(path)] == [True, True, False, True]
    assert json.loads(path.read_text().splitlines()[3])["id"] == "e4"


def test_a_complete_event_whose_newline_was_lost_still_counts(tmp_path: Path) -> None:
    path = tmp_path / "spool.jsonl"
    path.write_text(json.dumps(event(1)) + "\n" + json.dumps(event(2)))
    assert [e.problem for e in spool.read(path)] == [None, None]


def test_removing_keeps_lines_appended_meanwhile_and_sets_rejected_ones_aside(tmp_path: Path) -> None:
    path = tmp_path / "spool.jsonl"
    for number in range(3):
        spool.append(path, event(number))
    sent = [entry.line for entry in spool.read(path)]
    spool.append(path, event(9))  # appended while the flush was sending
    remaining = spool.remove(path, delivered=sent[:2], rejected=[(sent[2], "422: invalid")])
    assert remaining == 1
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == ["e9"]
    assert json.loads(spool.rejected_path(path).read_text()) == {"reason": "422: invalid", "line": sent[2]}
    spool.remove(path, delivered=[json.dumps(event(9), separators=(",", ":"))], rejected=[])
    assert not path.exists()


def test_concurrent_appends_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "spool.jsonl"
    big = {**event(0), "nodes": [{"kind": "model", "key": {"name": "m", "version": "1"}, "props": {"x": "y" * 70_000}}]}

    def writer(offset: int) -> None:
        for number in range(15):
            spool.append(path, {**big, "id": f"w{offset}-{number}"})

    threads = [threading.Thread(target=writer, args=(offset,)) for offset in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = spool.read(path)
    assert all(entry.problem is None for entry in entries)
    assert len({json.loads(entry.line)["id"] for entry in entries}) == 90
