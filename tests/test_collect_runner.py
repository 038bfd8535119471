"""The collector runner, the registry, ``lineage.yaml`` and ``lineage collect``.

Collectors here are real ``Collector`` subclasses with scripted output (``tests/collector_fakes.py``)
registered under test names, or the git collector on a repository made in the test. Stores are
real SQLite files; the remote case runs a real service. The ``--every`` loop is stopped by its
stop event or a real SIGTERM, never by sleeping.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from cli.collect import repeat
from cli.main import app
from collectors import COLLECTORS, EXTRAS, create
from lineage_service.collect import FileCursors, run_into_store
from lineage_service.collect_config import ConfigProblem, parse_duration, parse_sources
from lineage_service.settings import Settings
from lineage_service.store import open_store
from lineage_service.store.base import GraphStore
from lineage_service.tokens import hash_token
from tests.collector_fakes import commit_event
from tests.gitrepo import Repo
from tests.servers import live_server

LINEAGE = Path(sys.executable).parent / "lineage"
AMBIENT = ("LINEAGE_STORE", "LINEAGE_URL", "LINEAGE_TOKEN")
Json = dict[str, Any]


@pytest.fixture(autouse=True)
def test_collectors(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AMBIENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setitem(COLLECTORS, "scripted", "tests.collector_fakes:ScriptedCollector")


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'lineage.db'}"


@pytest.fixture
def store(uri: str) -> Iterator[GraphStore]:
    with open_store(uri) as opened:
        yield opened


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(app, ["collect", *args], env={"COLUMNS": "200", **(env or {})})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


def config_file(tmp_path: Path, sources: list[Json], name: str = "lineage.yaml") -> str:
    path = tmp_path / name
    path.write_text(json.dumps({"sources": sources}), encoding="utf-8")  # JSON is YAML too
    return str(path)


def scripted(events: list[Any], name: str = "scripted", **config: Any) -> Json:
    return {"collector": "scripted", "name": name, "config": {"events": events, **config}}


# lineage.yaml and durations --------------------------------------------------------------------

@pytest.mark.parametrize(("data", "says"), [
    ({"sources": [{"collector": "git"}], "store": "x"}, "unknown key(s) ['store']; the file has one key, 'sources'"),
    ({"source": []}, "expected a mapping with a 'sources' list"),
    ({"sources": []}, "'sources' must be a non-empty list"),
    ({"sources": [{"collector": "git", "path": "."}]},
     "sources[0]: unknown key(s) ['path']; an entry has collector, name, config (the collector's settings go "
     "under 'config')"),
    ({"sources": [{"collector": "gti"}]}, "sources[0]: unknown collector 'gti' (did you mean 'git'?)"),
    ({"sources": [{"name": "x"}]}, "sources[0]: 'collector' is required"),
    ({"sources": [{"collector": "git", "name": "has space"}]}, "sources[0]: name: expected 1 to 100 letters"),
    ({"sources": [{"collector": "git", "config": ["path"]}]}, "sources[0] (git): 'config' must be a mapping"),
    ({"sources": [{"collector": "git", "name": "a"}, {"collector": "git", "name": "a"}]},
     "sources[1]: name 'a' is also used by sources[0]"),
])
def test_config_problems_name_the_entry_and_key(data: Json, says: str) -> None:
    with pytest.raises(ConfigProblem) as caught:
        parse_sources(data, "lineage.yaml")
    assert str(caught.value).startswith("lineage.yaml: ") and says in str(caught.value)


def test_a_valid_config_file(tmp_path: Path) -> None:
    path = tmp_path / "lineage.yaml"
    path.write_text("sources:\n  - collector: git\n    name: mlops-repo\n    config:\n      path: /src/mlops\n"
                    "      branches: [main]\n  - collector: git\n    config: {path: /src/other}\n")
    sources = parse_sources(__import__("yaml").safe_load(path.read_text()), str(path))
    assert [(s.collector, s.name, s.config) for s in sources] == [
        ("git", "mlops-repo", {"path": "/src/mlops", "branches": ["main"]}), ("git", "git", {"path": "/src/other"})]


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("5m", 300), ("1h", 3600), ("1h30m", 5400),
                                               ("1d", 86400), (" 2M ", 120)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5x", "m5", "-1s", "0s", "1.5h", "5m junk"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ConfigProblem, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(("args", "says"), [
    (["--every", "5x"], "--every: expected a duration like 30s, 5m, 1h or 1h30m, got '5x'"),
    ([], "sources[0] (mlops-repo): config.path: required; config.pathh: unknown key; the git collector takes "
         "path, repo_url"),
])
def test_cli_config_errors_exit_2(tmp_path: Path, uri: str, args: list[str], says: str) -> None:
    source = {"collector": "git", "name": "mlops-repo", "config": {"path": str(tmp_path)}}
    if not args:
        source["config"] = {"pathh": str(tmp_path)}
    result = invoke("--config", config_file(tmp_path, [source]), "--store", uri, *args)
    assert result.exit_code == 2, result.output
    assert says in result.output


def test_cli_unreadable_and_invalid_yaml_exit_2(tmp_path: Path) -> None:
    missing = invoke("--config", str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 2 and "cannot read" in missing.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - collector: git\n   name: x\n")
    result = invoke("--config", str(bad))
    assert result.exit_code == 2 and "invalid YAML at line 3" in result.output


@pytest.mark.parametrize(("args", "says"), [
    (["--every", "5m", "git"], "--every must come after the collector's name"),
    (["--config", "x.yaml", "git"], "--config must come after"),
    (["--format", "json"], "name a collector"),
    (["git", "--name", "two words"], "--name: expected 1 to 100 letters"),
    (["git", "--since", "last tuesday"], "--since: "),
])
def test_cli_usage_errors_exit_2(args: list[str], says: str, uri: str) -> None:
    result = invoke(*args, "--store", uri) if args[0] == "git" else invoke(*args)
    assert result.exit_code == 2, result.output
    assert says in result.output


# the runner -------------------------------------------------------------------------------------

def test_report_json_shape_and_cursor(tmp_path: Path, uri: str, store: GraphStore) -> None:
    path = config_file(tmp_path, [scripted([commit_event("e-1", 1), commit_event("e-2", 2)])])
    result = invoke("--config", path, "--store", uri, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    [source] = report["sources"]
    assert set(source) == {"name", "collector", "ok", "error", "seen", "emitted", "skipped", "failed", "failures",
                           "warnings", "accepted", "duplicates", "cursor_saved", "seconds"}
    assert {k: source[k] for k in ("name", "collector", "seen", "emitted", "accepted", "duplicates", "failed",
                                   "cursor_saved")} == {
        "name": "scripted", "collector": "scripted", "seen": 2, "emitted": 2, "accepted": 2, "duplicates": 0,
        "failed": 0, "cursor_saved": True}
    assert store.get_cursor("scripted") == "done"
    again = json.loads(invoke("--config", path, "--store", uri, "--format", "json").stdout)["sources"][0]
    assert (again["accepted"], again["duplicates"]) == (0, 2)  # deterministic ids: no second copy


def test_table_report_lists_failures(tmp_path: Path, uri: str) -> None:
    bad = commit_event("bad-1", 3)
    bad["nodes"][0]["key"]["sha"] = "05ee055"
    result = invoke("--config", config_file(tmp_path, [scripted([commit_event("e-1", 1), bad])]), "--store", uri,
                    "--format", "table")
    assert result.exit_code == 1
    assert "scripted  scripted   2     2       1    0           1       failures" in result.stdout
    assert "scripted: failed: event 'bad-1' (#2): nodes[0].key.sha: expected a full 40-character" in result.stdout
    assert "cursor not saved" in result.stdout


def test_an_invalid_event_is_a_failure_and_the_others_are_stored(store: GraphStore) -> None:
    bad = commit_event("bad-1", 2)
    bad["nodes"][0]["key"]["sha"] = "05ee055"
    events = [commit_event("e-1", 1), bad, commit_event("e-3", 3)]
    result = run_into_store(create("scripted", {"events": events}), store, batch_size=1)
    assert not result.ok and result.error is None
    [failure] = result.report.failures
    assert failure.item == "event 'bad-1' (#2)" and "key.sha" in failure.error
    assert sorted(e.id for e in store.list_events()) == ["e-1", "e-3"]
    assert result.delivered.accepted == 2
    # Never recorded, so the next run must read it again: the cursor stays where it was.
    assert store.get_cursor("scripted") is None and not result.cursor_saved
    assert "cursor not advanced" in result.report.warnings[0]


@pytest.mark.parametrize(("crash_with", "error"), [
    ("bug", "unexpected RuntimeError: a bug in the collector"),
    ("source", "the source went away; check its URL"),
])
def test_an_exception_mid_run_keeps_the_old_cursor(store: GraphStore, crash_with: str, error: str) -> None:
    store.set_cursor("scripted", "from-an-earlier-run")
    events = [commit_event(f"e-{n}", n) for n in range(1, 5)]
    collector = create("scripted", {"events": events, "crash_after": 2, "crash_with": crash_with})
    result = run_into_store(collector, store, batch_size=500)
    assert result.error == error and not result.ok
    assert collector.cursor == "done-1"  # the collector moved its cursor, the runner did not save it
    assert store.get_cursor("scripted") == "from-an-earlier-run"
    # What was read before the failure is kept; the next run reads it again as duplicates.
    assert sorted(e.id for e in store.list_events()) == ["e-1", "e-2"]


def test_progress_is_called_per_event(store: GraphStore) -> None:
    seen: list[tuple[int, int]] = []
    events = [commit_event(f"e-{n}", n) for n in range(1, 4)]
    run_into_store(create("scripted", {"events": events}), store, progress=lambda n, report: seen.append(
        (n, report.seen)))
    assert seen == [(1, 1), (2, 2), (3, 3)]


def test_exit_1_when_a_source_fails_and_the_others_still_run(tmp_path: Path, uri: str, store: GraphStore) -> None:
    sources = [scripted([commit_event("e-1", 1)], name="broken", crash_after=0, crash_with="source"),
               scripted([commit_event("e-2", 2)], name="fine")]
    result = invoke("--config", config_file(tmp_path, sources), "--store", uri, "--format", "json")
    assert result.exit_code == 1
    broken, fine = json.loads(result.stdout)["sources"]
    assert broken["error"] == "the source went away; check its URL" and not broken["cursor_saved"]
    assert fine["ok"] and fine["accepted"] == 1
    assert store.get_cursor("fine") == "done" and store.get_cursor("broken") is None


# the registry ------------------------------------------------------------------------------------

def test_list_shows_unavailable_collectors_with_reason_and_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(COLLECTORS, "not-written", "collectors.no_such_collector_module:Nothing")
    monkeypatch.setitem(EXTRAS, "not-written", "imaginary")
    monkeypatch.setitem(COLLECTORS, "needs-sdk", "tests.collector_fakes:NeedsSdkCollector")
    monkeypatch.setitem(COLLECTORS, "not-a-class", "tests.collector_fakes:commit_event")
    result = invoke("--list", "--format", "json")
    assert result.exit_code == 0
    found = {c["name"]: c for c in json.loads(result.stdout)["collectors"]}
    assert found["git"]["available"] is True and found["scripted"]["available"] is True
    assert found["not-written"] == {
        "name": "not-written", "target": "collectors.no_such_collector_module:Nothing", "available": False,
        "reason": "not in this version (no module collectors.no_such_collector_module)",
        "install_hint": "pip install 'lineage-service[imaginary]'"}
    assert found["needs-sdk"]["reason"].startswith("needs lineage_test_sdk_that_is_not_installed")
    assert found["needs-sdk"]["install_hint"] == "pip install 'lineage-service[test-sdk]'"
    assert found["not-a-class"]["reason"] == "tests.collector_fakes:commit_event is not a Collector class"
    # Real collectors whose SDK is installed here (the test extra installs them all).
    assert found["kubernetes"]["available"] is True and found["github"]["available"] is True
    table = invoke("--list", "--format", "table").stdout
    assert "needs-sdk" in table and "unavailable" in table and "pip install 'lineage-service[test-sdk]'" in table


def test_a_config_naming_an_unavailable_collector_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          uri: str) -> None:
    monkeypatch.setitem(COLLECTORS, "needs-sdk", "tests.collector_fakes:NeedsSdkCollector")
    path = config_file(tmp_path, [scripted([commit_event("e-1", 1)]), {"collector": "needs-sdk", "name": "x"}])
    result = invoke("--config", path, "--store", uri)
    assert result.exit_code == 2
    assert "sources[1] (x): collector 'needs-sdk' is unavailable: needs lineage_test_sdk" in result.output
    with open_store(uri) as opened:
        assert opened.list_events() == []  # checked before anything ran


# --every -------------------------------------------------------------------------------------------

def test_repeat_stops_after_max_runs_and_on_the_stop_event() -> None:
    rounds: list[int] = []

    def counted() -> bool:
        rounds.append(1)
        return True

    assert repeat(counted, 0.001, threading.Event(), max_runs=3) is True
    assert len(rounds) == 3

    stop, first_round_done, results = threading.Event(), threading.Event(), []

    def one_round() -> bool:
        first_round_done.set()
        return False

    # An hour between rounds: the loop only ends in time if setting the event ends the wait.
    loop = threading.Thread(target=lambda: results.append(repeat(one_round, 3600, stop)))
    loop.start()
    assert first_round_done.wait(30)
    stop.set()
    loop.join(30)
    assert not loop.is_alive() and results == [False]


def test_every_with_max_runs_prints_one_json_line_per_run(tmp_path: Path, uri: str) -> None:
    path = config_file(tmp_path, [scripted([commit_event("e-1", 1)])])
    result = invoke("--config", path, "--store", uri, "--every", "1h", "--max-runs", "1", "--format", "json")
    assert result.exit_code == 0
    [line] = result.stdout.splitlines()
    assert json.loads(line)["sources"][0]["accepted"] == 1


def test_sigterm_stops_the_loop_between_runs(tmp_path: Path, uri: str) -> None:
    repo = Repo(tmp_path / "repo")
    repo.commit("first")
    path = config_file(tmp_path, [{"collector": "git", "name": "repo", "config": {"path": str(repo.path)}}])
    env = {k: v for k, v in os.environ.items() if k not in AMBIENT}
    process = subprocess.Popen([str(LINEAGE), "collect", "--config", path, "--every", "1h", "--store", uri,
                                "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env)
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())  # the first run is done: the loop now waits an hour
        assert first["sources"][0]["seen"] == 1
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "SIGTERM: stopping after the current run" in stderr and stdout == ""


# remote: LINEAGE_URL ----------------------------------------------------------------------------------

TOKEN = "collect-ingest-token-0123"


def test_remote_collection_posts_events_and_keeps_cursors_locally(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    sha = repo.commit("first")
    service_uri = f"sqlite:///{tmp_path / 'service.db'}"
    data_home = tmp_path / "data"
    settings = Settings(store=service_uri, tokens=f"ci ingest {hash_token(TOKEN)}")  # type: ignore[arg-type,unused-ignore]
    with live_server(settings) as url:
        env = {"LINEAGE_URL": url, "LINEAGE_TOKEN": TOKEN, "XDG_DATA_HOME": str(data_home)}
        args = ("git", "--repo", str(repo.path), "--name", "mlops-repo", "--format", "json")
        first = invoke(*args, env=env)
        assert first.exit_code == 0, first.output
        assert json.loads(first.stdout)["sources"][0]["accepted"] == 1
        cursors = FileCursors(data_home / "lineage" / "collector-cursors", url)
        assert json.loads(cursors.get_cursor("mlops-repo") or "")["branches"] == {"main": sha}
        assert TOKEN not in cursors.path("mlops-repo").read_text()
        second = json.loads(invoke(*args, env=env).stdout)["sources"][0]
        assert (second["seen"], second["accepted"]) == (0, 0)

        repo.commit("second")
        refused = invoke(*args, env={**env, "LINEAGE_TOKEN": "wrong-token"})
        assert refused.exit_code == 1
        [source] = json.loads(refused.stdout)["sources"]
        assert "the service did not record the events" in source["error"] and "LINEAGE_TOKEN" in source["error"]
        assert json.loads(cursors.get_cursor("mlops-repo") or "")["branches"] == {"main": sha}  # not advanced
    with open_store(service_uri) as service_store:
        assert service_store.find_nodes("commit", lookup=sha)
        assert service_store.get_cursor("mlops-repo") is None
