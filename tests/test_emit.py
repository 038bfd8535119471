"""``lineage emit`` against a real service: every verb lands, retries are duplicates, nothing is lost.

Each test runs the CLI in-process in a simulated GitHub Actions or Azure DevOps environment and
checks the graph with ``GET /v1/trace`` on a real uvicorn server over a temporary SQLite store.
Misbehaving services are real HTTP servers on loopback (``tests.emit_support.scripted_server``);
retries run for real with waits made tiny by ``--backoff``, never slept around.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lineage_service.settings import Settings
from lineage_service.tokens import hash_token
from tests.emit_support import (
    CIS,
    DIGEST,
    FAST,
    GITHUB,
    IMAGE,
    INGEST_ONLY_TOKEN,
    SHA,
    TOKEN,
    Ci,
    ask,
    dead_url,
    emit,
    links,
    problem,
    scripted_server,
)
from tests.servers import live_server

PIPELINE = [
    ["dataset", "taxi-train-data:8", "--from-job", "bold_river_4t6w9p3m1s_prep_data",
     "--derived-from", "green-taxi-data:5", "--derived-from", "yellow-taxi-data:3", "--tag", f"git_sha={SHA}",
     "--uri", "azureml://datastores/workspaceblobstore/paths/taxi/taxi-train-data/v8/"],
    ["training", "--job", "bold_river_4t6w9p3m1s_train_model", "--pipeline-job", "bold_river_4t6w9p3m1s",
     "--input", "taxi-train-data:8", "--model", "taxi-model:3", "--param", "fit_intercept=true",
     "--metric", "r2=0.83", "--metric", "rmse=3.61"],
    ["model", "taxi-model:3", "--job", "bold_river_4t6w9p3m1s_train_model", "--tag", f"git_sha={SHA}"],
    ["image", f"{IMAGE}@{DIGEST}", "--tag", SHA, "--tag", "v1.2.3", "--tag", "nathansegers/azure-mlops-api:v1.2.3",
     "--model", "taxi-model:3"],
    ["deployment", "--env", "prod", "--cluster", "aks-mlops-prod", "--name", "taxi-api", "--revision", "8",
     "--image", f"{IMAGE}:v1.2.3@{DIGEST}", "--api-version", "v1.2.3", "--model", "taxi-model:3"],
]
IMAGE_STEP = PIPELINE[3]


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Not a git checkout: the context comes from the simulated CI variables alone.
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[str]:
    tokens = f"ci ingest,read {hash_token(TOKEN)}\nbuilder ingest {hash_token(INGEST_ONLY_TOKEN)}"
    with live_server(Settings(store=f"sqlite:///{tmp_path / 'lineage.db'}", tokens=tokens)) as url:  # type: ignore[arg-type]
        yield url


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    return tmp_path / "spool" / "spool.jsonl"


@pytest.mark.parametrize("ci", CIS.values(), ids=CIS.keys())
def test_a_pipeline_of_emits_answers_which_commit_and_data_produced_the_api(service: str, spool: Path,
                                                                           ci: Ci) -> None:
    for step in PIPELINE:
        result = emit(*step, env=ci.env, url=service, spool=spool)
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("recorded "), result.output
    assert not spool.exists()

    answer = ask(service, "trace", kind="api", ref="v1.2.3")
    run, commit = f"run {ci.system}/{ci.run_id}", "commit 05ee055"
    train, pipeline = "job azureml/bold_river_4t6w9p3m1s_train_model", "job azureml/bold_river_4t6w9p3m1s"
    prep = "job azureml/bold_river_4t6w9p3m1s_prep_data"
    assert links(answer) >= {
        ("api taxi-api v1.2.3", "served_by", "deployment prod/taxi-api#8"),
        ("deployment prod/taxi-api#8", "runs_image", "image sha256:3f49a154a09c"),
        ("deployment prod/taxi-api#8", "serves_model", "model taxi-model:3"),
        ("image sha256:3f49a154a09c", "built_from", commit),
        ("image sha256:3f49a154a09c", "built_by", run),
        ("image sha256:3f49a154a09c", "bundles", "model taxi-model:3"),
        ("model taxi-model:3", "produced_by", train),
        (train, "part_of", pipeline), (train, "ran_code", commit), (pipeline, "triggered_by", run),
        (train, "consumed", "dataset taxi-train-data:8"),
        ("dataset taxi-train-data:8", "produced_by", prep),
        ("dataset taxi-train-data:8", "derived_from", "dataset green-taxi-data:5"),
        ("dataset taxi-train-data:8", "derived_from", "dataset yellow-taxi-data:3"),
        (prep, "consumed", "dataset green-taxi-data:5"), (prep, "ran_code", commit),
        (run, "at_commit", commit), (commit, "in_repo", f"repo {ci.repo.removeprefix('https://')}"),
    }
    # Everything a pipeline knows closes the chain: no gaps from the API down to the data.
    assert answer["warnings"] == []
    summary = answer["summary"]
    assert [c["sha"] for c in summary["commits"]] == [SHA]
    assert {r["label"]: r["url"] for r in summary["runs"]} == {f"{ci.system}/{ci.run_id}": ci.url}
    assert summary["models"][0]["metrics"] == {"r2": 0.83, "rmse": 3.61}
    assert {d["label"] for d in summary["datasets"]} == {"taxi-train-data:8", "green-taxi-data:5", "yellow-taxi-data:3"}
    deployment = summary["deployments"][0]
    assert deployment["env"] == {"API_VERSION": "v1.2.3", "MODEL_NAME": "taxi-model", "MODEL_VERSION": "3"}
    assert deployment["environment"] == "prod" and deployment["live"]
    image = summary["images"][0]
    assert set(image["references"]) == {f"{IMAGE}:{SHA}", f"{IMAGE}:v1.2.3",
                                        "docker.io/nathansegers/azure-mlops-api:v1.2.3"}
    by_kind = {e["kind"]: e["props"] for e in answer["edges"]}
    assert by_kind["at_commit"]["evidence"] == "observed" and by_kind["built_from"]["evidence"] == "declared"
    assert by_kind["built_from"]["sources"] == [ci.system]
    # The image tag resolves too, as an on-call engineer would type it.
    assert ask(service, "trace", kind="image", ref=f"{IMAGE}:v1.2.3")["root"]["key"]["digest"] == DIGEST


def test_the_run_carries_what_the_ci_said(service: str, spool: Path) -> None:
    assert emit(*IMAGE_STEP, env=GITHUB, url=service, spool=spool).exit_code == 0
    run = ask(service, "show", kind="run", ref="github-actions/7004455701")["node"]
    assert run["props"] == {"workflow": "MLOps Azure", "url": "https://github.com/nathansegers/mlops-2.0/actions/runs/"
                            "7004455701", "attempt": 1, "branch": "main", "trigger": "workflow_dispatch",
                            "actor": "nathansegers"}


def test_a_step_on_the_runner_itself_is_produced_by_its_ci_job(service: str, spool: Path) -> None:
    # The course's stage 1 trains on the runner: no Azure ML job, the CI job is the producer.
    assert emit("model", "taxi-model:4", env=GITHUB, url=service, spool=spool).exit_code == 0
    answer = ask(service, "trace", kind="model", ref="taxi-model:4")
    job = "job github-actions/7004455701.ai-training"
    assert links(answer) >= {("model taxi-model:4", "produced_by", job), (job, "ran_code", "commit 05ee055"),
                             (job, "triggered_by", "run github-actions/7004455701")}


def test_latest_inputs_are_resolved_by_the_service_and_recorded_as_asked(service: str, spool: Path) -> None:
    for version in ("7", "8"):
        step = ["dataset", f"taxi-train-data:{version}", "--from-job", f"prep_{version}"]
        assert emit(*step, env=GITHUB, url=service, spool=spool).exit_code == 0
    result = emit("training", "--job", "bold_river_4t6w9p3m1s_train_model", "--input", "taxi-train-data:latest",
                  "--input", "yellow-taxi-data:3", "--model", "taxi-model:3", env=GITHUB, url=service, spool=spool)
    assert result.exit_code == 0, result.output

    answer = ask(service, "trace", kind="model", ref="taxi-model:3")
    datasets = {d["label"]: d["requested_as"] for d in answer["summary"]["datasets"]}
    assert datasets == {"taxi-train-data:8": "latest", "yellow-taxi-data:3": None}
    consumed = [e for e in answer["edges"] if e["kind"] == "consumed" and e["props"].get("requested_as")]
    assert [e["props"]["requested_as"] for e in consumed] == ["latest"]


def test_a_version_the_pipeline_resolved_itself_needs_no_service(spool: Path) -> None:
    result = emit("training", "--job", "train", "--input", "taxi-train-data:latest=8", "--model", "taxi-model:3",
                  "--dry-run", env=GITHUB, spool=spool)
    assert result.exit_code == 0, result.output
    event = json.loads(result.stdout)
    consumed = next(e for e in event["edges"] if e["kind"] == "consumed")
    assert consumed["target"]["key"] == {"name": "taxi-train-data", "version": "8"}
    assert consumed["props"] == {"requested_as": "latest"}


@pytest.mark.parametrize(("where", "token", "says"), [
    ("nowhere", TOKEN, "LINEAGE_URL is not set"),
    ("service", TOKEN, "no dataset matches 'taxi-train-data:latest'"),
    ("service", INGEST_ONLY_TOKEN, "the token needs the 'read' scope"),
    ("dead", TOKEN, "cannot reach the lineage service"),
])
def test_a_latest_that_cannot_be_resolved_fails_naming_the_fix(service: str, spool: Path, where: str, token: str,
                                                               says: str) -> None:
    url = {"nowhere": "", "service": service, "dead": dead_url()}[where]
    result = emit("training", "--job", "train", "--input", "taxi-train-data:latest", "--model", "taxi-model:3",
                  *FAST, env=GITHUB, url=url, token=token, spool=spool)
    assert result.exit_code == 1
    assert says in result.stderr
    assert "--input taxi-train-data:latest=<version>" in result.stderr
    assert not spool.exists()  # nothing half-known is kept


def test_a_retried_step_is_recorded_once(service: str, spool: Path) -> None:
    step = ["model", "taxi-model:3", "--job", "bold_river_4t6w9p3m1s_train_model", "--format", "json"]
    first = emit(*step, env=GITHUB, url=service, spool=spool)
    again = emit(*step, env=GITHUB, url=service, spool=spool)
    assert (first.exit_code, again.exit_code) == (0, 0)
    first_answer, again_answer = json.loads(first.stdout), json.loads(again.stdout)
    assert (first_answer["accepted"], first_answer["duplicates"]) == (1, 0)
    assert (again_answer["accepted"], again_answer["duplicates"]) == (0, 1)
    text = emit(*step[:-2], env=GITHUB, url=service, spool=spool)
    assert text.stdout.startswith("already recorded: ")

    events = [e["id"] for e in ask(service, "events")["events"]]
    assert events == first_answer["event_ids"]
    # A new attempt of the run is a new report (its attempt number is news); the graph stays the same.
    retried_run = emit(*step, env={**GITHUB, "GITHUB_RUN_ATTEMPT": "2"}, url=service, spool=spool)
    assert json.loads(retried_run.stdout)["accepted"] == 1
    assert ask(service, "show", kind="run", ref="7004455701")["node"]["props"]["attempt"] == 2


def test_an_unreachable_service_spools_the_event_and_the_step_succeeds(service: str, spool: Path) -> None:
    expected = json.loads(emit(*IMAGE_STEP, "--dry-run", env=GITHUB, spool=spool).stdout)
    down = dead_url()
    result = emit(*IMAGE_STEP, *FAST, env=GITHUB, url=down, spool=spool)
    assert result.exit_code == 0
    assert result.stderr.count("::warning title=lineage emit::") == 1
    assert "not delivered after 2 attempts" in result.stderr and "lineage emit flush" in result.stderr
    spooled = [json.loads(line) for line in spool.read_text().splitlines()]
    assert [event["id"] for event in spooled] == [expected["id"]]
    assert {k: v for k, v in spooled[0].items() if k != "time"} == {k: v for k, v in expected.items() if k != "time"}
    assert TOKEN not in spool.read_text()

    strict = emit(*IMAGE_STEP, *FAST, "--strict", env=GITHUB, url=down, spool=spool)
    assert strict.exit_code == 1
    assert len(spool.read_text().splitlines()) == 2  # failing the step still keeps the lineage

    # The service is back: flush sends both (the second is the same event: a duplicate) and empties the spool.
    flushed = emit("flush", env=GITHUB, url=service, spool=spool)
    assert flushed.exit_code == 0, flushed.output
    assert "sent 2 spooled events (1 already recorded); 0 remain" in flushed.stdout
    assert not spool.exists()
    answer = ask(service, "trace", kind="image", ref=f"{IMAGE}:v1.2.3")
    assert ("image sha256:3f49a154a09c", "built_from", "commit 05ee055") in links(answer)
    assert "sent 0 spooled events" in emit("flush", env=GITHUB, url=service, spool=spool).stdout


def test_without_a_url_the_event_is_spooled_and_can_be_ingested(spool: Path) -> None:
    result = emit(*IMAGE_STEP, env=GITHUB, spool=spool)
    assert result.exit_code == 0
    assert "LINEAGE_URL is not set" in result.stderr
    assert json.loads(spool.read_text())["source"] == "github-actions"


def test_flush_stops_at_an_unreachable_service_and_keeps_everything(spool: Path) -> None:
    for step in PIPELINE[2:4]:
        assert emit(*step, env=GITHUB, spool=spool).exit_code == 0
    before = spool.read_bytes()
    result = emit("flush", *FAST, env=GITHUB, url=dead_url(), spool=spool)
    assert result.exit_code == 1
    assert "stopped sending" in result.stderr and "2 events stay" in result.stderr
    assert spool.read_bytes() == before


@pytest.mark.parametrize("status", [503, 429, 502])
def test_transient_failures_are_retried_until_the_service_takes_the_event(service: str, spool: Path,
                                                                         status: int) -> None:
    busy = (status, {"Retry-After": "0"}, problem(status, "busy, retry later"))
    with scripted_server([busy, busy], upstream=service) as stub:
        result = emit(*IMAGE_STEP, "--backoff", "0.001", env=GITHUB, url=stub.url, spool=spool)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("recorded ")
    assert [r.method for r in stub.received] == ["POST"] * 3
    assert len({r.body for r in stub.received}) == 1  # the same event each time: one id, retried
    assert {r.authorization for r in stub.received} == {f"Bearer {TOKEN}"}
    assert not spool.exists()
    assert ask(service, "trace", kind="image", ref=DIGEST)["root"]["key"]["digest"] == DIGEST


def test_retries_are_bounded_then_the_event_is_spooled(spool: Path) -> None:
    busy = (503, {}, problem(503, "store unavailable"))
    with scripted_server([busy] * 10) as stub:
        result = emit(*IMAGE_STEP, "--retries", "3", "--backoff", "0.001", env=GITHUB, url=stub.url, spool=spool)
    assert result.exit_code == 0
    assert len(stub.received) == 3
    assert "not delivered after 3 attempts: store unavailable" in result.stderr
    assert len(spool.read_text().splitlines()) == 1


def test_a_retry_after_beyond_the_time_bound_is_not_waited_for(spool: Path) -> None:
    with scripted_server([(503, {"Retry-After": "3600"}, problem(503, "maintenance"))] * 3) as stub:
        result = emit(*IMAGE_STEP, "--timeout", "30", env=GITHUB, url=stub.url, spool=spool)
    assert result.exit_code == 0
    assert len(stub.received) == 1  # the hour it asked for is past the 30 s bound: keep the event now
    assert spool.exists()


def test_a_validation_error_is_neither_retried_nor_spooled(spool: Path) -> None:
    rejected = problem(422, "1 of 1 events rejected; nothing was stored. First: …", errors=[
        {"event": "'gha-1'", "problems": ["nodes[0].key.sha: expected a full 40-character hexadecimal git SHA"]}])
    with scripted_server([(422, {"content-type": "application/problem+json"}, rejected)] * 3) as stub:
        result = emit(*IMAGE_STEP, env=GITHUB, url=stub.url, spool=spool)
    assert result.exit_code == 1
    assert len(stub.received) == 1
    assert "rejected event" in result.stderr and "nodes[0].key.sha: expected a full 40-character" in result.stderr
    assert not spool.exists()


def test_a_wrong_token_keeps_the_event_and_names_the_fix(service: str, spool: Path) -> None:
    result = emit(*IMAGE_STEP, env=GITHUB, url=service, token="lin_not-a-valid-token-000", spool=spool)
    assert result.exit_code == 0
    assert "LINEAGE_TOKEN" in result.stderr and "'ingest' scope" in result.stderr
    assert spool.exists()
    assert emit("flush", env=GITHUB, url=service, spool=spool).exit_code == 0


def test_flush_moves_events_the_service_rejects_aside_and_delivers_the_rest(service: str, spool: Path) -> None:
    assert emit(*IMAGE_STEP, env=GITHUB, spool=spool).exit_code == 0
    bad = json.loads(spool.read_text())
    bad["id"] = "hand-edited"
    bad["nodes"][1]["key"]["sha"] = "05ee055"  # a short SHA: the real service rejects it (422)
    with spool.open("a") as file:
        file.write(json.dumps(bad) + "\n")
    assert emit(*PIPELINE[2], env=GITHUB, spool=spool).exit_code == 0

    result = emit("flush", env=GITHUB, url=service, spool=spool)
    assert result.exit_code == 1
    assert "sent 2 spooled events (0 already recorded); 0 remain" in result.stdout
    assert "nodes[1].key.sha" in result.stderr
    assert not spool.exists()
    moved = [json.loads(line) for line in (spool.parent / "spool.jsonl.rejected").read_text().splitlines()]
    assert [json.loads(item["line"])["id"] for item in moved] == ["hand-edited"]
    assert moved[0]["reason"].startswith("422: ")


def test_a_spool_torn_by_a_crash_keeps_every_complete_line(service: str, spool: Path) -> None:
    for step in PIPELINE[2:4]:
        assert emit(*step, env=GITHUB, spool=spool).exit_code == 0
    complete = spool.read_text().splitlines()
    # A crash in the middle of writing a third event: half a line, no newline.
    third = json.loads(emit(*PIPELINE[4], "--dry-run", env=GITHUB, spool=spool).stdout)
    with spool.open("ab") as file:
        file.write(json.dumps(third).encode()[:150])
    # The next step appends after the torn line, not onto it.
    assert emit(*PIPELINE[4], env=GITHUB, spool=spool).exit_code == 0
    lines = spool.read_text().splitlines()
    assert lines[:2] == complete and len(lines) == 4
    assert json.loads(lines[3])["id"] == third["id"]

    result = emit("flush", env=GITHUB, url=service, spool=spool)
    assert "sent 3 spooled events" in result.stdout
    assert "cut short by a crash" in result.stderr
    assert result.exit_code == 1  # something could not be sent: say so
    assert not spool.exists()
    answer = ask(service, "trace", kind="api", ref="v1.2.3")
    assert ("image sha256:3f49a154a09c", "bundles", "model taxi-model:3") in links(answer)
