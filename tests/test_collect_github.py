"""The GitHub collector through PyGithub against a local server answering as GitHub's REST API does.

``tests/github_api_server.py`` serves ``tests/fixtures/github-api`` (shapes from GitHub's
documentation, see ``SOURCES.md`` there) over real HTTP, with pagination, filters and rate-limit
headers. Nothing of PyGithub is mocked: what reaches the server is what PyGithub sends.

The golden file ``tests/golden/github-collector.json`` holds the events of a first run. Event times
come from the items (no clock in them), so nothing is normalised. Regenerate after an intended
change and review the diff:

    LINEAGE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_collect_github.py
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from cli.main import app
from collectors import create
from collectors.base import CollectorError
from collectors.github import GitHubCollector, GitHubConfig, registry_host
from lineage_service.collect import run_into_store
from lineage_service.query.answers import lineage
from lineage_service.store import open_store
from lineage_service.store.base import Direction, GraphStore
from tests.fixture_http import Request, Response, serve
from tests.github_api_server import FakeClock, FakeGitHub, load

GOLDEN = Path(__file__).parent / "golden" / "github-collector.json"
TOKEN = "ghp_t0k3nThatMustNeverBeShown1234567890"
REPO, PACKAGE = "nathansegers/mlops-2.0", "nathansegers/azure-mlops-api"
REPO_URL = "https://github.com/nathansegers/mlops-2.0"
IMAGE = "ghcr.io/nathansegers/azure-mlops-api"
V123_SHA, RC_SHA = "05ee055698af2171294615a1e423f71f4098628e", "6045a20cfdd25bae1a41b26b604602ab032be0e9"
V123_DIGEST = "sha256:3f49a154a09c6e2b8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b"
RUNS = f"/repos/{REPO}/actions/runs"
VERSIONS = "/{}/nathansegers/packages/container/azure-mlops-api/versions"  # .format("orgs" or "users")
Json = dict[str, Any]


class Server:
    def __init__(self, fake: FakeGitHub, base: str, requests: list[Request], clock: FakeClock) -> None:
        self.fake, self.base, self.requests, self.clock = fake, base, requests, clock

    def collector(self, *, repositories: list[str] | None = None, packages: list[Any] | None = None,
                  **config: Any) -> GitHubCollector:
        config.setdefault("base_url", self.base)
        # The local server stands in for api.github.com, whose images are on ghcr.io; from any other
        # base URL the collector would assume GitHub Enterprise Server's containers.HOST.
        config.setdefault("registry", "ghcr.io")
        collector = GitHubCollector(GitHubConfig(
            repositories=[REPO] if repositories is None else repositories,
            packages=[f"{PACKAGE}={REPO}"] if packages is None else packages, request_interval=0, **config))
        collector.sleep, collector.clock = self.clock.sleep, self.clock
        return collector

    def collect(self, cursor: str | None = None, **config: Any) -> tuple[list[Json], GitHubCollector]:
        collector = self.collector(**config)
        return list(collector.collect(cursor)), collector

    def paths(self) -> list[str]:
        return [request.path for request in self.requests]


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    return TOKEN


def github(**options: Any) -> Iterator[Server]:
    clock = FakeClock()
    fake = FakeGitHub(clock=clock, **options)
    requests: list[Request] = []
    with serve(fake.handle, requests) as base:
        yield Server(fake, base, requests, clock)


@pytest.fixture
def server(token: str) -> Iterator[Server]:
    yield from github()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[GraphStore]:
    with open_store(f"sqlite:///{tmp_path / 'lineage.db'}") as opened:
        yield opened


def nodes(events: list[Json], kind: str) -> dict[str, Json]:
    """Nodes of a kind that carry props, by their main key value, props merged across events in order."""
    main = {"commit": "sha", "run": "id", "image": "digest"}[kind]
    found: dict[str, Json] = {}
    for node in (n for e in events for n in e["nodes"] if n["kind"] == kind and n.get("props")):
        seen = found.setdefault(node["key"][main], {**node, "props": {}})
        seen["props"] = {**seen["props"], **node["props"]}
    return found


def edges(events: list[Json], kind: str) -> list[tuple[str, str, Json]]:
    def name(key: Json) -> str:
        return str(key.get("sha") or key.get("digest") or key.get("id") or key.get("url"))

    return [(name(e["source"]["key"]), name(e["target"]["key"]), e)
            for event in events for e in event["edges"] if e["kind"] == kind]


def test_first_run_golden_events(server: Server) -> None:
    events, collector = server.collect()
    if os.environ.get("LINEAGE_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(events, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert events == json.loads(GOLDEN.read_text(encoding="utf-8")), "regenerate: LINEAGE_UPDATE_GOLDEN=1"

    # What the golden file must say, spelled out so that a wrong golden file cannot pass.
    report = collector.report
    assert (report.seen, report.emitted, report.failures, report.warnings) == (13, 13, [], [])
    commits, runs, images = nodes(events, "commit"), nodes(events, "run"), nodes(events, "image")
    assert len(commits) == 5 and all(n["key"]["repo"] == REPO_URL for n in commits.values())
    assert commits[V123_SHA]["props"] | {"url": None} == {
        "author": "tom.dewulf@example.com", "author_name": "Tom De Wulf", "author_login": "tomdewulf",
        "committer": "tom.dewulf@example.com", "message": "api: return a fare interval from /predict",
        "committed_at": "2026-11-10T13:27:00Z", "authored_at": "2026-11-10T13:27:00Z", "url": None}
    # The release-candidate commit is on no default-branch listing: read on its own, with its parent.
    assert (RC_SHA, V123_SHA) in [(s, t) for s, t, _ in edges(events, "parent")]
    assert commits[RC_SHA]["props"]["author_login"] == "avapeeters"
    assert set(runs) == {"7009900001", "7007788001", "7004455701", "7001122399"}
    build = runs["7004455701"]["props"]
    assert build | {"url": None} == {
        "workflow": "MLOps Azure", "workflow_path": ".github/workflows/mlops.yml", "repository": REPO,
        "run_number": 52, "attempt": 1, "status": "completed", "conclusion": "success", "url": None,
        "trigger": "push", "head_branch": "main", "display_title": "api: return a fare interval from /predict",
        "actor": "tomdewulf", "started_at": "2026-11-10T13:28:06Z", "updated_at": "2026-11-10T14:50:00Z"}
    assert build["url"] == "https://github.com/nathansegers/mlops-2.0/actions/runs/7004455701"
    assert ("7004455701", V123_SHA) in [(s, t) for s, t, _ in edges(events, "at_commit")]
    # Not completed: its conclusion is a null, which deletes a stale one (a re-run's previous attempt).
    assert runs["7009900001"]["props"]["status"] == "in_progress" and runs["7009900001"]["props"]["conclusion"] is None
    v123 = images[V123_DIGEST]
    assert v123["aliases"] == [f"{IMAGE}:{V123_SHA}", f"{IMAGE}:05ee055", f"{IMAGE}:v1.2.3",
                               f"{IMAGE}:customer-release", f"{IMAGE}:latest"]
    assert v123["props"]["repositories"] == [IMAGE] and v123["props"]["package"]["version_id"] == 312000002
    built = [(s, t, e["evidence"]) for s, t, e in edges(events, "built_from")]
    assert (V123_DIGEST, V123_SHA, "declared") in built and len(built) == 3  # one full-SHA tag per built image
    untagged = next(n for n in images.values() if n["props"]["package"]["version_id"] == 312000001)
    assert "aliases" not in untagged
    # The owner is a user: the organisation path is asked once, answered 404, and remembered.
    assert server.paths() == [f"/repos/{REPO}", f"/repos/{REPO}/commits", RUNS, f"/repos/{REPO}/commits/{RC_SHA}",
                              VERSIONS.format("orgs"), VERSIONS.format("users")]
    cursor = json.loads(collector.cursor or "")
    assert cursor["packages"][PACKAGE]["scope"] == "users" and cursor["packages"][PACKAGE]["newest"] == 312000003
    assert cursor["repos"][REPO]["runs"]["pending"] == {"7009900001": ["2026-11-16T11:55:00Z", "2026-11-16T11:56:10Z"]}
    assert cursor["repos"][REPO]["commits"]["tip"] == V123_SHA


def test_pages_are_followed_through_link_headers(token: str) -> None:
    for paged in github(page_cap=2):
        events, collector = paged.collect()
        assert collector.report.seen == 13 and not collector.report.failures
        assert {e["id"] for e in events} == {e["id"] for e in json.loads(GOLDEN.read_text(encoding="utf-8"))}
        assert [r.query.get("page") for r in paged.requests if r.path == RUNS] == [None, "2"]


def test_second_run_emits_nothing_then_only_what_changed(server: Server, store: GraphStore) -> None:
    first = run_into_store(server.collector(), store)
    assert first.ok and first.cursor_saved and first.delivered.accepted == 13
    server.requests.clear()
    quiet = run_into_store(server.collector(), store)
    assert (quiet.report.seen, quiet.report.emitted, quiet.delivered.accepted) == (0, 0, 0) and quiet.ok
    # Four requests: no commit looked up again, the package owner's kind remembered.
    assert [(r.path, r.query.get("since") or r.query.get("created")) for r in server.requests] == [
        (f"/repos/{REPO}", None), (f"/repos/{REPO}/commits", "2026-11-10T13:27:00Z"),
        (RUNS, ">=2026-11-16T11:55:00Z"), (VERSIONS.format("users"), None)]

    # Then: the deployment run finishes, a new commit and its run arrive, a release tag is added.
    runs = server.fake.data[RUNS]["workflow_runs"]
    runs[0].update(status="completed", conclusion="success", updated_at="2026-11-16T12:04:00Z")
    new_sha = "9f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6"
    commits = server.fake.data[f"/repos/{REPO}/commits"]
    commits.insert(0, json.loads(json.dumps(commits[0]).replace(V123_SHA, new_sha).replace(
        "2026-11-10T13:27:00Z", "2026-11-17T08:00:00Z")))
    new_run = json.loads(json.dumps(runs[2]).replace(V123_SHA, new_sha).replace("7004455701", "7010000001").replace(
        "2026-11-10T13:27:00Z", "2026-11-17T08:00:00Z"))
    new_run.update(id=7010000001, created_at="2026-11-17T08:01:00Z", updated_at="2026-11-17T08:30:00Z")
    runs.insert(0, new_run)
    versions = server.fake.data[VERSIONS.format("users")]
    versions[1]["metadata"]["container"]["tags"].append("stable")
    versions[1]["updated_at"] = "2026-11-17T09:00:00Z"
    third = run_into_store(server.collector(), store)
    assert (third.report.seen, third.delivered.accepted) == (4, 4) and third.ok
    [deploy] = store.find_nodes("run", lookup="7009900001")
    assert (deploy.props["status"], deploy.props["conclusion"]) == ("completed", "success")
    [image] = store.find_nodes("image", lookup=V123_DIGEST)
    assert f"{IMAGE}:stable" in image.aliases and f"{IMAGE}:v1.2.3" in image.aliases
    [commit] = store.find_nodes("commit", lookup=new_sha)
    assert commit.props["committed_at"] == "2026-11-17T08:00:00Z"
    assert run_into_store(server.collector(), store).report.emitted == 0

    # A re-run of a collected run: queued again with the next attempt, so read again until it completes.
    runs[0].update(status="in_progress", conclusion=None, run_attempt=2, updated_at="2026-11-17T10:00:00Z")
    assert run_into_store(server.collector(), store).report.emitted == 1
    [rerun] = store.find_nodes("run", lookup="7010000001")
    assert (rerun.props["attempt"], rerun.props["status"], "conclusion" in rerun.props) == (2, "in_progress", False)
    runs[0].update(status="completed", conclusion="failure", updated_at="2026-11-17T10:20:00Z")
    assert run_into_store(server.collector(), store).report.emitted == 1
    [rerun] = store.find_nodes("run", lookup="7010000001")
    assert (rerun.props["status"], rerun.props["conclusion"]) == ("completed", "failure")


def test_a_missing_repository_or_package_is_a_failure_and_the_rest_is_read(server: Server,
                                                                          store: GraphStore) -> None:
    collector = server.collector(repositories=["nathansegers/gone", REPO],
                                 packages=["nathansegers/no-such-image", f"{PACKAGE}={REPO}"])
    result = run_into_store(collector, store)
    failures = {f.item: f.error for f in result.report.failures}
    assert set(failures) == {"repository nathansegers/gone", "package nathansegers/no-such-image"}
    assert failures["repository nathansegers/gone"].startswith("not found (404): check the name")
    assert result.report.seen == 13 and result.error is None and not result.ok
    assert result.cursor_saved  # what was read is kept; the failed items are asked again next time
    cursor = json.loads(store.get_cursor("github") or "")
    assert set(cursor["repos"]) == {REPO} and set(cursor["packages"]) == {PACKAGE}


def test_waits_for_the_rate_limit_reset_then_goes_on(server: Server) -> None:
    server.fake.remaining, server.fake.reset = 3, int(server.clock()) + 30
    events, collector = server.collect()
    # The third answer said nothing remains: the collector waited for the reset (on the fake clock).
    assert len(server.clock.slept) == 1 and 30 <= server.clock.slept[0] <= 31
    assert len(events) == 13 and not collector.report.failures
    assert collector.report.warnings == [f"waited {server.clock.slept[0]:.0f}s for GitHub's rate limit"]
    assert len(server.requests) == 6  # no request was made into the limit (and refused)


def test_a_rate_limit_answer_is_reported_not_raised(server: Server, store: GraphStore) -> None:
    reset = int(server.clock()) + 3600
    server.fake.queued[RUNS] = [Response(403, load("errors/rate-limit-exceeded.json"),
                                         {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)})]
    result = run_into_store(server.collector(), store)
    [failure] = result.report.failures
    assert failure.item == f"repository {REPO}"
    assert "API rate limit exceeded" in failure.error and "max_rate_limit_wait (60s)" in failure.error
    assert "resets at" in failure.error
    assert result.report.warnings == [f"not read because of the rate limit: package {PACKAGE}"]
    assert server.clock.slept == [] and result.error is None and not result.ok
    # The commits read before the limit are kept; the repository's cursor is not advanced.
    assert result.delivered.accepted == 4 and json.loads(store.get_cursor("github") or "")["repos"] == {}


def test_a_secondary_rate_limit_with_retry_after_is_waited_for(server: Server) -> None:
    server.fake.queued[RUNS] = [Response(403, {"message": "You have exceeded a secondary rate limit. Please wait a "
                                                          "few minutes before you try again.",
                                               "documentation_url": "https://docs.github.com/rest"},
                                         {"retry-after": "7"})]
    events, collector = server.collect()
    assert server.clock.slept == [7.0] and len(events) == 13 and not collector.report.failures
    assert server.paths().count(RUNS) == 2  # the refused page was asked again


def test_github_enterprise_base_url(token: str) -> None:
    for ghe in github(prefix="/api/v3", host="ghe.example.com"):
        events, collector = ghe.collect(base_url=f"{ghe.base}/api/v3", registry="containers.ghe.example.com")
        assert not collector.report.failures and len(events) == 13
        assert all(path.startswith("/api/v3/") for path in ghe.paths())
        assert {n["key"]["repo"] for n in nodes(events, "commit").values()} == {
            "https://ghe.example.com/nathansegers/mlops-2.0"}
        assert "containers.ghe.example.com/nathansegers/azure-mlops-api:v1.2.3" in nodes(
            events, "image")[V123_DIGEST]["aliases"]
        built = {e["target"]["key"]["repo"] for _, _, e in edges(events, "built_from")}
        assert built == {"https://ghe.example.com/nathansegers/mlops-2.0"}
    assert registry_host("https://ghe.example.com/api/v3") == "containers.ghe.example.com"
    assert registry_host("https://api.github.com") == "ghcr.io"


def test_the_token_is_sent_and_never_shown(server: Server) -> None:
    events, collector = server.collect()
    assert {r.headers.get("authorization") for r in server.requests} == {f"token {TOKEN}"}
    shown = json.dumps([events, collector.report.as_dict(), collector.cursor, collector.config.model_dump()])
    assert TOKEN not in shown and "GITHUB_TOKEN" not in json.dumps(events)
    server.fake.queued[f"/repos/{REPO}"] = [Response(401, load("errors/bad-credentials.json"))]
    with pytest.raises(CollectorError) as caught:
        server.collect()
    assert "rejected the token in $GITHUB_TOKEN (401 Bad credentials)" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_without_a_token_requests_are_anonymous_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    for anonymous in github():
        events, collector = anonymous.collect(token_env="GITHUB_TOKEN")
        assert len(events) == 13 and "authorization" not in anonymous.requests[0].headers
        assert collector.report.warnings[0].startswith("no token in $GITHUB_TOKEN: anonymous requests")


def test_config_is_checked() -> None:
    config = GitHubConfig(repositories=["Org/Repo.git"], packages=["org/team/api=org/repo", {"package": "org/x"}])
    assert config.repositories == ["Org/Repo"]
    assert [(p.package, p.repository) for p in config.packages] == [("org/team/api", "org/repo"), ("org/x", None)]
    with pytest.raises(ValidationError, match="at least one repository"):
        GitHubConfig()
    with pytest.raises(ValidationError, match="extra"):
        GitHubConfig.model_validate({"repositories": ["a/b"], "token": "x"})
    with pytest.raises(ValidationError) as caught:
        GitHubConfig(repositories=["a/b"], base_url="https://user:hunter2@ghe.example.com/api/v3")
    assert "without credentials" in str(caught.value)
    with pytest.raises(ValidationError, match="owner/name"):
        GitHubConfig(repositories=["just-a-name"])
    assert create("github", {"repositories": ["a/b"]}).name == "github"


def test_cli_collect_github_then_trace_the_image_to_its_commit(server: Server, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    env = {"LINEAGE_URL": "", "COLUMNS": "200", "GITHUB_TOKEN": TOKEN}
    collected = runner.invoke(app, ["collect", "github", "--repository", REPO, "--package", f"{PACKAGE}={REPO}",
                                    "--base-url", server.base, "--registry", "ghcr.io", "--store", uri,
                                    "--format", "json"], env=env)
    assert collected.exit_code == 0, collected.output
    assert TOKEN not in collected.output
    [source] = json.loads(collected.stdout)["sources"]
    assert (source["name"], source["seen"], source["accepted"], source["ok"]) == ("github", 13, 13, True)
    traced = runner.invoke(app, ["trace", "image", f"{IMAGE}:v1.2.3", "--store", uri, "--format", "json"], env=env)
    assert traced.exit_code == 0, traced.output
    summary = json.loads(traced.stdout)["summary"]
    assert [c["sha"] for c in summary["commits"]] == [V123_SHA] and summary["authors"] == ["tom.dewulf@example.com"]
    with open_store(uri) as opened:
        answer = lineage(opened, Direction.UPSTREAM, "run", "github-actions/7004455701")
    assert [c["short"] for c in answer["summary"]["commits"]] == ["05ee055"]


def test_an_unreachable_github_stops_the_source(token: str) -> None:
    collector = GitHubCollector(GitHubConfig(repositories=[REPO], base_url="http://127.0.0.1:9", retries=0,
                                             request_interval=0))
    with pytest.raises(CollectorError, match=r"cannot reach GitHub at http://127.0.0.1:9") as caught:
        list(collector.collect(None))
    assert TOKEN not in str(caught.value)
