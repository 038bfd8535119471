"""The ``lineage`` command: answers, formats, exit codes (0 found, 1 not found, 2 usage), ingestion.

Most checks run the typer app in-process with CliRunner; a few run the installed ``lineage``
script in a subprocess, for real exit codes and JSON on a pipe. Every store is a real SQLite file
in the test's temporary directory.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner, Result

from cli.main import app
from graph_schema.events import parse_event
from lineage_service.demo.history import REPO, V123_DIGEST, V123_SHA, demo_events
from lineage_service.query.references import resolve
from lineage_service.query.trace import trace
from lineage_service.store import open_store
from lineage_service.store.base import NewEvent

Json = dict[str, Any]
LINEAGE = Path(sys.executable).parent / "lineage"
RUNNER = CliRunner()
# Settings a developer may have exported; each test says which store it means.
AMBIENT = ("LINEAGE_STORE", "LINEAGE_URL", "LINEAGE_TOKEN")


@pytest.fixture(autouse=True)
def no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AMBIENT:
        monkeypatch.delenv(name, raising=False)


def invoke(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Result:
    """Run the CLI in-process; whatever happens, it must not end in an unhandled exception."""
    result = RUNNER.invoke(app, list(args), input=stdin, env={"COLUMNS": "200", **(env or {})})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stdout + result.stderr
    return result


def run(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed ``lineage`` script with its output on pipes."""
    clean = {k: v for k, v in os.environ.items() if k not in AMBIENT}
    completed = subprocess.run([str(LINEAGE), *args], input=stdin, capture_output=True, text=True,
                               env={**clean, **(env or {})}, timeout=120, check=False)
    assert "Traceback" not in completed.stdout + completed.stderr
    return completed


@pytest.fixture
def store_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'lineage.db'}"


@pytest.fixture
def demo_uri(store_uri: str) -> str:
    result = invoke("demo", "--quiet", "--store", store_uri)
    assert result.exit_code == 0, result.stderr
    return store_uri


def event(event_id: str, sha: str = V123_SHA, **extra: Any) -> Json:
    """One lineage event: a commit and its author."""
    commit = {"kind": "commit", "key": {"repo": REPO, "sha": sha}, "props": {"message": f"change {event_id}"}}
    person = {"kind": "person", "key": {"id": "tom.dewulf@example.com"}}
    return {"schema": "lineage-event/1", "id": event_id, "time": "2026-11-20T10:00:00Z", "source": "git",
            "nodes": [commit, person],
            "edges": [{"source": {"kind": "commit", "key": commit["key"]}, "target": person}], **extra}


def stats(uri: str) -> Json:
    result = invoke("store", "stats", "--format", "json", "--store", uri)
    assert result.exit_code == 0
    parsed: Json = json.loads(result.stdout)
    return parsed


# demo --------------------------------------------------------------------------------------------

def test_demo_loads_every_event_once_and_a_second_run_applies_none(store_uri: str) -> None:
    total = len(demo_events())
    first = invoke("demo", "--quiet", "--store", store_uri)
    assert first.exit_code == 0
    assert f"{total} events applied, 0 already there" in first.stderr
    counts = stats(store_uri)
    second = invoke("demo", "--quiet", "--store", store_uri)
    assert second.exit_code == 0
    assert f"0 events applied, {total} already there" in second.stderr
    again = stats(store_uri)
    assert (again["nodes"], again["edges"], again["events"]) == (counts["nodes"], counts["edges"], {"applied": total})


def test_demo_on_a_pipe_prints_the_trace_as_json(store_uri: str) -> None:
    result = invoke("demo", "--store", store_uri)
    assert result.exit_code == 0
    answer = json.loads(result.stdout)  # the message went to stderr, so stdout is pure JSON
    assert answer["root"]["label"] == "taxi-api v1.2.3"


def test_demo_as_a_tree_traces_v123_and_suggests_what_to_try_next(store_uri: str) -> None:
    result = invoke("demo", "--format", "tree", "--store", store_uri)
    assert result.exit_code == 0
    assert "Trace of api taxi-api v1.2.3" in result.stdout
    assert "Try next:  lineage impact dataset green-taxi-data:5" in result.stdout
    assert f"export LINEAGE_STORE={store_uri}" in result.stdout


# trace -------------------------------------------------------------------------------------------

def test_trace_json_is_the_answer_of_the_query_engine(demo_uri: str) -> None:
    result = invoke("trace", "api", "v1.2.3", "--format", "json", "--store", demo_uri)
    assert result.exit_code == 0
    with open_store(demo_uri) as store:
        expected = trace(store, resolve(store, "api", "v1.2.3").node)
    assert json.loads(result.stdout) == json.loads(json.dumps(expected, default=str))


def test_reference_given_as_several_words_is_joined(demo_uri: str) -> None:
    result = invoke("trace", "api", "taxi-api", "v1.2.3", "--store", demo_uri)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["root"]["label"] == "taxi-api v1.2.3"


def test_trace_tree_names_commit_data_and_evidence(demo_uri: str) -> None:
    result = invoke("trace", "api", "v1.2.3", "--format", "tree", "--store", demo_uri)
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith("Trace of api taxi-api v1.2.3")
    assert re.search(r"Code\s+05ee055\s+tom\.dewulf@example\.com\s+2026-11-10\s+\"api: return a fare interval", out)
    assert "green-taxi-data:5  (asked for latest)" in out
    assert "served_by → deployment prod/taxi-api#8  prod live  [observed · kubernetes]" in out
    assert "bundles → model taxi-model:3  [declared · github-actions]" in out
    assert "\x1b[" not in out  # no colour codes when the output is not a terminal
    assert "warning:" not in out


def test_trace_tree_prints_the_note_of_a_resolved_reference(demo_uri: str) -> None:
    result = invoke("trace", "model", "taxi-model", "--format", "tree", "--store", demo_uri)
    assert result.exit_code == 0
    assert "note: model taxi-model resolved to taxi-model:3, the latest version" in result.stdout


def test_trace_as_of_a_time_is_said_in_the_tree(demo_uri: str) -> None:
    result = invoke("trace", "api", "v1.2.3", "--at", "2026-11-11T00:00:00Z", "-f", "tree", "--store", demo_uri)
    assert result.exit_code == 0
    assert "as of 2026-11-11T00:00:00Z" in result.stdout.splitlines()[0]
    assert "dev/taxi-api#13" in result.stdout and "prod/taxi-api#8" not in result.stdout


def test_time_without_zone_is_taken_as_utc(demo_uri: str) -> None:
    result = invoke("trace", "api", "v1.2.3", "--as-of", "2026-11-11", "--store", demo_uri)
    assert result.exit_code == 0
    answer = json.loads(result.stdout)
    assert answer["at"] == "2026-11-11T00:00:00Z"
    assert [d["label"] for d in answer["summary"]["deployments"]] == ["dev/taxi-api#13"]


def test_depth_option_cuts_the_answer(demo_uri: str) -> None:
    result = invoke("trace", "api", "v1.2.3", "--depth", "1", "--store", demo_uri)
    assert result.exit_code == 0
    assert {n["kind"] for n in json.loads(result.stdout)["nodes"]} == {"api", "deployment"}


def test_trace_mermaid_is_a_left_to_right_flowchart_of_the_answer(demo_uri: str) -> None:
    answer = json.loads(invoke("trace", "api", "v1.2.3", "--format", "json", "--store", demo_uri).stdout)
    result = invoke("trace", "api", "v1.2.3", "--format", "mermaid", "--store", demo_uri)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "graph LR"
    declared = [line for line in lines if re.fullmatch(r'  n\d+\[".*"\]', line)]
    links = [line for line in lines if "-->" in line]
    assert len(declared) == len(answer["nodes"]) and len(links) == len(answer["edges"])
    assert '["commit<br/>05ee055"]' in result.stdout
    # '#' starts a Mermaid entity, so a deployment revision is escaped.
    assert '["deployment<br/>prod/taxi-api#35;8"]' in result.stdout
    assert "-->|served_by · observed|" in result.stdout


def test_trace_dot_is_a_digraph_whose_edges_join_declared_nodes(demo_uri: str) -> None:
    answer = json.loads(invoke("trace", "api", "v1.2.3", "--format", "json", "--store", demo_uri).stdout)
    result = invoke("trace", "api", "v1.2.3", "--format", "dot", "--store", demo_uri)
    assert result.exit_code == 0
    text = result.stdout.strip()
    assert text.startswith("digraph lineage {") and text.endswith("}")
    nodes = set(re.findall(r'^  "([^"]+)" \[label=', text, flags=re.MULTILINE))
    edges = re.findall(r'^  "([^"]+)" -> "([^"]+)" \[label="([^"]+)"\];$', text, flags=re.MULTILINE)
    assert nodes == {n["id"] for n in answer["nodes"]}
    assert len(edges) == len(answer["edges"])
    assert all(source in nodes and target in nodes for source, target, _ in edges)
    assert "served_by (observed)" in {label for _, _, label in edges}
    assert text.count('"') % 2 == 0


# impact, show, search ----------------------------------------------------------------------------

def test_impact_of_green_taxi_data_5_reaches_v123(demo_uri: str) -> None:
    result = invoke("impact", "dataset", "green-taxi-data:5", "--store", demo_uri)
    assert result.exit_code == 0
    answer = json.loads(result.stdout)
    assert answer["direction"] == "downstream"
    assert [a["label"] for a in answer["summary"]["apis"]] == ["taxi-api v1.2.3"]


def test_impact_tree_reads_downstream(demo_uri: str) -> None:
    result = invoke("impact", "dataset", "green-taxi-data:latest", "--format", "tree", "--store", demo_uri)
    assert result.exit_code == 0
    assert result.stdout.startswith("Impact of dataset green-taxi-data:5")
    assert "note: dataset green-taxi-data:latest resolved to green-taxi-data:5" in result.stdout
    assert "served_by ← api taxi-api v1.2.3" in result.stdout


def test_impact_mermaid_draws_arrows_in_the_direction_of_the_question(demo_uri: str) -> None:
    result = invoke("impact", "model", "taxi-model:3", "--format", "mermaid", "--depth", "1", "--store", demo_uri)
    assert result.exit_code == 0
    ids = dict(re.findall(r'  (n\d+)\["\w+<br/>([^"]+)"\]', result.stdout))
    by_label = {label: node for node, label in ids.items()}
    assert f"{by_label['taxi-model:3']} -->|bundles · declared| {by_label['sha256:3f49a154a09c']}" in result.stdout


def test_show_deployment_resolves_the_live_revision_with_its_links(demo_uri: str) -> None:
    result = invoke("show", "deployment", "prod/taxi-api", "--format", "json", "--store", demo_uri)
    assert result.exit_code == 0
    shown = json.loads(result.stdout)
    assert shown["node"]["label"] == "prod/taxi-api#8"
    assert shown["notes"] == ["deployment prod/taxi-api resolved to its live revision, prod/taxi-api#8; "
                              "add #<revision> for another"]
    assert {(u["kind"], u["node"]["label"]) for u in shown["upstream"]} == {
        ("runs_image", "sha256:3f49a154a09c"), ("serves_model", "taxi-model:3")}
    assert [(d["kind"], d["node"]["label"]) for d in shown["downstream"]] == [("served_by", "taxi-api v1.2.3")]


def test_show_as_a_tree_lists_properties_and_links_with_evidence(demo_uri: str) -> None:
    result = invoke("show", "deployment", "prod/taxi-api", "--format", "tree", "--store", demo_uri)
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith("deployment prod/taxi-api#8\nnote: deployment prod/taxi-api resolved to its live revision")
    assert "'MODEL_VERSION': '3'" in out
    assert "runs_image → image sha256:3f49a154a09c  [observed · kubernetes]" in out
    assert "served_by ← api taxi-api v1.2.3  [observed · kubernetes]" in out


def test_search_finds_demo_nodes_by_part_of_their_name(demo_uri: str) -> None:
    result = invoke("search", "taxi", "--format", "json", "--store", demo_uri)
    assert result.exit_code == 0
    found = {(n["kind"], n["label"]) for n in json.loads(result.stdout)["results"]}
    assert {("api", "taxi-api v1.2.3"), ("model", "taxi-model:3"), ("dataset", "green-taxi-data:5")} <= found


def test_search_by_kind_returns_only_that_kind(demo_uri: str) -> None:
    result = invoke("search", "taxi", "--kind", "model", "--store", demo_uri)
    assert result.exit_code == 0
    assert [n["label"] for n in json.loads(result.stdout)["results"]] == ["taxi-model:2", "taxi-model:3"]


def test_search_finds_an_image_by_its_tag(demo_uri: str) -> None:
    result = invoke("search", "azure-mlops-api:v1.2.3", "--store", demo_uri)
    assert result.exit_code == 0
    assert [n["key"]["digest"] for n in json.loads(result.stdout)["results"]] == [V123_DIGEST]


def test_search_as_a_tree_prints_a_table(demo_uri: str) -> None:
    result = invoke("search", "green-taxi", "--format", "tree", "--store", demo_uri)
    assert result.exit_code == 0
    assert re.search(r"dataset\s+green-taxi-data:5\s+name=green-taxi-data version=5", result.stdout)


def test_search_without_results_exits_1_with_only_the_error(demo_uri: str) -> None:
    result = invoke("search", "no-such-thing", "--format", "tree", "--store", demo_uri)
    assert result.exit_code == 1
    assert result.stdout == ""  # no empty table
    assert result.stderr == "error: nothing matches 'no-such-thing'\n"
    as_json = invoke("search", "no-such-thing", "--kind", "model", "--store", demo_uri)
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout) == {"query": "no-such-thing", "results": []}
    assert "nothing matches 'no-such-thing' among model nodes" in as_json.stderr


# exit codes and error messages -------------------------------------------------------------------

@pytest.mark.parametrize(("args", "message"), [
    (("trace", "api", "v9.9.9"), "error: no api matches 'v9.9.9'; known: taxi-api v1.2.2, taxi-api v1.2.3"),
    (("trace", "deployment", "taxi-api"), "error: deployment 'taxi-api' exists in 2 places"),
    (("trace", "job", "bold_river"), "error: job 'bold_river' matches 5 nodes"),
    (("impact", "commit", "ffff"), "error: no commit matches 'ffff'; known: "),
    (("show", "model", "taxi-model:9"), "error: model taxi-model has no version 9; known versions: 2, 3"),
    (("trace", "commit", "05e"), "expected 4 to 40 hexadecimal characters of a commit SHA"),
])
def test_not_found_ambiguous_or_malformed_reference_exits_1(demo_uri: str, args: tuple[str, ...], message: str) -> None:
    result = invoke(*args, "--store", demo_uri)
    assert result.exit_code == 1
    assert message in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(("args", "message"), [
    (("trace", "release", "v1.2.3"), "unknown node kind 'release'; expected one of: api, deployment"),
    (("trace", "api", "v1.2.3", "--at", "last tuesday"), "--at 'last tuesday' is not a time; expected ISO 8601"),
    (("search", "taxi", "--kind", "release"), "unknown node kind 'release'"),
    (("events", "list", "--status", "done"), "--status 'done': expected pending, applied or failed"),
])
def test_usage_errors_exit_2_with_a_message(demo_uri: str, args: tuple[str, ...], message: str) -> None:
    result = invoke(*args, "--store", demo_uri)
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("trace", "api", "v1.2.3", "--depth", "0"), "0 is not in the range 1<=x<=50"),
    (("trace", "api", "v1.2.3", "--format", "xml"), "'xml' is not one of"),
    (("show", "api", "v1.2.3", "--format", "dot"), "dot draws trace and impact answers"),
    (("search", "taxi", "--format", "mermaid"), "mermaid draws trace and impact answers"),
    (("trace", "api"), "Missing argument"),
])
def test_invalid_options_exit_2(demo_uri: str, args: tuple[str, ...], message: str) -> None:
    result = invoke(*args, "--store", demo_uri)
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.parametrize(("uri", "message"), [
    ("mysql://localhost/lineage", "unknown store URI scheme 'mysql'"),
    ("sqlite:///", "has no file path; expected sqlite:///path/to/lineage.db"),
])
def test_unusable_store_uri_exits_2(uri: str, message: str) -> None:
    result = invoke("trace", "api", "v1.2.3", "--store", uri)
    assert result.exit_code == 2
    assert message in result.stderr


def test_store_that_is_not_a_database_exits_2_without_traceback(tmp_path: Path) -> None:
    not_a_store = tmp_path / "notes.db"
    not_a_store.write_text("these are my notes\n")
    completed = run("trace", "api", "v1.2.3", "--store", f"sqlite:///{not_a_store}")
    assert completed.returncode == 2
    assert completed.stderr.startswith(f"error: cannot open the SQLite store at {not_a_store}: file is not a database")


def test_empty_store_says_how_to_load_the_demo(store_uri: str) -> None:
    result = invoke("trace", "api", "v1.2.3", "--store", store_uri)
    assert result.exit_code == 1
    assert "the store has no api nodes yet (load some with `lineage ingest` or `lineage demo`)" in result.stderr


# real processes: exit codes and JSON on a pipe ---------------------------------------------------

def test_lineage_on_a_pipe_prints_json_and_exits_0(demo_uri: str) -> None:
    completed = run("trace", "api", "v1.2.3", "--store", demo_uri)
    assert completed.returncode == 0
    answer = json.loads(completed.stdout)
    assert answer["summary"]["commits"][0]["short"] == "05ee055"
    assert completed.stderr == ""


@pytest.mark.parametrize(("args", "code"), [
    (("trace", "api", "v9.9.9"), 1),
    (("trace", "deployment", "taxi-api"), 1),
    (("trace", "widget", "x"), 2),
    (("trace", "api", "v1.2.3", "--at", "soon"), 2),
    (("trace", "api", "v1.2.3", "--store", "ftp://example.com/lineage.db"), 2),
])
def test_lineage_process_exit_codes(demo_uri: str, args: tuple[str, ...], code: int) -> None:
    completed = run(*args, env={"LINEAGE_STORE": demo_uri})
    assert completed.returncode == code
    assert completed.stdout == ""
    assert completed.stderr.startswith("error: ")


def test_lineage_store_environment_variable_is_honoured(demo_uri: str) -> None:
    completed = run("show", "commit", "05ee055", env={"LINEAGE_STORE": demo_uri})
    assert completed.returncode == 0
    assert json.loads(completed.stdout)["node"]["key"]["sha"] == V123_SHA
    in_process = invoke("store", "stats", env={"LINEAGE_STORE": demo_uri})
    assert json.loads(in_process.stdout)["store"] == demo_uri


def test_store_option_wins_over_the_environment_variable(demo_uri: str, tmp_path: Path) -> None:
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    result = invoke("trace", "api", "v1.2.3", "--store", empty, env={"LINEAGE_STORE": demo_uri})
    assert result.exit_code == 1
    assert "the store has no api nodes yet" in result.stderr


def test_ingest_from_stdin_in_a_process(store_uri: str) -> None:
    completed = run("ingest", "-", "--store", store_uri, stdin=json.dumps(event("piped-1")))
    assert completed.returncode == 0
    assert json.loads(completed.stdout)["event_ids"] == ["piped-1"]


# ingest ------------------------------------------------------------------------------------------

def test_ingest_a_file_records_and_applies_its_event(store_uri: str, tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event("git-push-1")))
    result = invoke("ingest", str(path), "--store", store_uri)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"accepted": 1, "duplicates": 0, "failed": {}, "nodes": 2, "edges": 1,
                                         "event_ids": ["git-push-1"]}
    shown = json.loads(invoke("show", "commit", "05ee055", "--store", store_uri).stdout)
    assert shown["node"]["props"]["message"] == "change git-push-1"
    assert [u["node"]["label"] for u in shown["upstream"]] == ["tom.dewulf@example.com"]


def test_ingesting_the_same_event_again_changes_nothing(store_uri: str, tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event("git-push-1")))
    assert invoke("ingest", str(path), "--store", store_uri).exit_code == 0
    before = stats(store_uri)
    again = invoke("ingest", str(path), "--format", "tree", "--store", store_uri)
    assert again.exit_code == 0
    assert again.stdout == "0 events recorded and applied (0 nodes, 0 edges), 1 already known\n"
    assert stats(store_uri)["nodes"] == before["nodes"]


def test_ingest_reads_stdin_given_as_dash(store_uri: str) -> None:
    result = invoke("ingest", "-", "--store", store_uri, stdin=json.dumps([event("a"), event("b", sha="1" * 40)]))
    assert result.exit_code == 0
    assert json.loads(result.stdout)["event_ids"] == ["a", "b"]
    assert stats(store_uri)["nodes"] == {"commit": 2, "person": 1}


def test_ingest_reads_json_lines(store_uri: str, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(event(f"line-{n}", sha=f"{n:040x}")) for n in range(1, 4)) + "\n\n")
    result = invoke("ingest", str(path), "--store", store_uri)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["event_ids"] == ["line-1", "line-2", "line-3"]
    assert stats(store_uri)["nodes"]["commit"] == 3


def test_ingest_of_several_files_takes_them_all(store_uri: str, tmp_path: Path) -> None:
    paths = []
    for n in (1, 2):
        paths.append(tmp_path / f"e{n}.json")
        paths[-1].write_text(json.dumps(event(f"file-{n}", sha=f"{n:040x}")))
    result = invoke("ingest", *map(str, paths), "--store", store_uri)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["accepted"] == 2


def test_rejected_batch_names_each_problem_and_stores_nothing(store_uri: str, tmp_path: Path) -> None:
    short_sha = event("gha-1", sha="05ee055")
    bad_digest = event("gha-2")
    bad_digest["nodes"].append({"kind": "image", "key": {"digest": "sha256:abc"}})
    no_zone = {**event("gha-3", sha="2" * 40), "time": "2026-11-10T14:50:00"}
    path = tmp_path / "events.json"
    path.write_text(json.dumps([short_sha, event("fine", sha="3" * 40), bad_digest, no_zone]))
    result = invoke("ingest", str(path), "--store", store_uri)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "error: 3 of 4 events rejected; nothing was stored"
    assert lines[1].startswith("  event 'gha-1' (#1) rejected: nodes[0].key.sha: expected a full 40-character "
                               "hexadecimal git SHA, got '05ee055' (short SHAs are accepted in queries")
    assert lines[2] == ("  event 'gha-2' (#3) rejected: nodes[2].key.digest: expected an image digest like "
                        "'sha256:<64 hex characters>', got 'sha256:abc'")
    assert lines[3].startswith("  event 'gha-3' (#4) rejected: time: ")
    assert len(lines) == 4
    assert result.stdout == ""
    after = stats(store_uri)
    assert (after["nodes"], after["edges"], after["events"]) == ({}, {}, {})


def test_ingest_of_text_that_is_not_json_exits_1_and_says_where(store_uri: str) -> None:
    result = invoke("ingest", "-", "--store", store_uri, stdin='{"id": "x",\n  "time": }')
    assert result.exit_code == 1
    assert "error: stdin: line 1 is not valid JSON" in result.stderr
    empty = invoke("ingest", "-", "--store", store_uri, stdin="  \n")
    assert empty.exit_code == 1
    assert "error: stdin: empty; expected a lineage event as JSON" in empty.stderr


def test_ingest_of_a_missing_file_is_a_usage_error(store_uri: str, tmp_path: Path) -> None:
    result = invoke("ingest", str(tmp_path / "nowhere.json"), "--store", store_uri)
    assert result.exit_code == 2
    assert f"error: cannot read {tmp_path / 'nowhere.json'}" in result.stderr


# events ------------------------------------------------------------------------------------------

def test_events_list_shows_the_demo_events_in_order_all_applied(demo_uri: str) -> None:
    result = invoke("events", "list", "--store", demo_uri)
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [r["id"] for r in rows] == [e["id"] for e in demo_events()]
    assert {r["status"] for r in rows} == {"applied"}
    assert all(r["error"] is None for r in rows)


def test_events_list_pages_after_an_id_and_filters_by_status(demo_uri: str) -> None:
    ids = [e["id"] for e in demo_events()]
    page = json.loads(invoke("events", "list", "--after", ids[1], "--limit", "2", "--store", demo_uri).stdout)
    assert [r["id"] for r in page] == ids[2:4]
    pending = invoke("events", "list", "--status", "pending", "--store", demo_uri)
    assert json.loads(pending.stdout) == []


def test_events_list_as_text_has_one_line_per_event(demo_uri: str) -> None:
    result = invoke("events", "list", "--format", "tree", "--store", demo_uri)
    lines = result.stdout.splitlines()
    assert len(lines) == len(demo_events())
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  applied  git\s+demo-git-push-main", lines[0])


@pytest.fixture
def recorded_not_applied(store_uri: str) -> Iterator[str]:
    """A store whose log holds an event that was recorded but never applied (a crash in between)."""
    parsed = parse_event(event("crashed-1"))
    with open_store(store_uri) as store:
        assert store.append_events([NewEvent(parsed.id, parsed.source, parsed.time,
                                             parsed.model_dump_json(by_alias=True))]) == [True]
    yield store_uri


def test_events_apply_applies_what_was_recorded_but_not_applied(recorded_not_applied: str) -> None:
    uri = recorded_not_applied
    pending = json.loads(invoke("events", "list", "--status", "pending", "--store", uri).stdout)
    assert [e["id"] for e in pending] == ["crashed-1"]
    assert invoke("show", "commit", "05ee055", "--store", uri).exit_code == 1
    result = invoke("events", "apply", "--format", "tree", "--store", uri)
    assert result.exit_code == 0
    assert result.stdout == "1 events applied again, 0 still failing\n"
    assert invoke("show", "commit", "05ee055", "--store", uri).exit_code == 0
    assert json.loads(invoke("events", "list", "--status", "pending", "--store", uri).stdout) == []
    assert json.loads(invoke("events", "apply", "--store", uri).stdout)["accepted"] == 0


# store stats -------------------------------------------------------------------------------------

def test_store_stats_json_counts_the_demo(demo_uri: str) -> None:
    counted = stats(demo_uri)
    assert counted["store"] == demo_uri
    # v1.2.2, v1.2.3 and the release candidate v1.2.4-rc1 (with its commit and two dev revisions).
    assert counted["nodes"]["api"] == 3
    assert counted["nodes"]["deployment"] == 6
    assert counted["nodes"]["commit"] == 5
    assert counted["nodes"]["model"] == 2
    assert counted["edges"]["parent"] == 4
    assert counted["events"] == {"applied": len(demo_events())}
    assert counted["bytes"] > 0


def test_store_stats_text_has_a_line_per_section(demo_uri: str) -> None:
    result = invoke("store", "stats", "--format", "tree", "--store", demo_uri)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"store   {demo_uri}  (")
    assert re.fullmatch(r"nodes\s+\d+\s+api 3, commit 5, dataset 9, deployment 6, .*", lines[1])
    assert lines[3].split()[:3] == ["events", str(len(demo_events())), "applied"]


# help --------------------------------------------------------------------------------------------

def subcommands(command: Any) -> dict[str, Any]:
    """The commands of a group (typer builds groups on its own copy of click), or none."""
    found: dict[str, Any] = getattr(command, "commands", {})
    return found


def command_paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, sub in subcommands(command).items():
        paths += command_paths(sub, (*prefix, name))
    return paths


COMMANDS = command_paths(typer.main.get_command(app))


def test_every_documented_command_exists() -> None:
    names = {" ".join(path) for path in COMMANDS}
    assert {"trace", "impact", "show", "search", "ingest", "demo", "store stats", "events list",
            "events apply"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(path) or "lineage")
def test_help_of_every_command_exits_0_and_describes_it(path: tuple[str, ...]) -> None:
    result = invoke(*path, "--help")
    assert result.exit_code == 0
    assert f"Usage: lineage {' '.join(path)}".rstrip() in result.stdout
    command = typer.main.get_command(app)
    for name in path:
        command = subcommands(command)[name]
    # The first paragraph of the docstring, without rich markup, is printed as written.
    first_paragraph = " ".join(re.sub(r"\[/?[a-z ]+\]", "", command.help or "").split("\n\n")[0].split())
    assert first_paragraph
    assert first_paragraph in " ".join(result.stdout.split())


def test_top_level_help_lists_each_command_with_a_one_line_summary() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    rows = {match.group(1): match.group(2) for match in re.finditer(r"│ (\w+)\s{2,}(.+?)\s*│", result.stdout)}
    assert rows["ingest"] == "Record lineage events and apply them to the graph."
    assert rows["trace"].startswith("What produced it")
    assert rows["impact"].startswith("What was made from it")


def test_trace_help_explains_kinds_references_and_the_store_variable() -> None:
    result = invoke("trace", "--help")
    assert "api, deployment, image, model, job, dataset, run, commit, repo, person" in result.stdout
    assert "LINEAGE_STORE" in result.stdout
    assert "lineage trace api v1.2.3" in result.stdout


def test_tree_flags_a_dirty_training_job_and_prints_the_warning(store_uri: str) -> None:
    model = {"kind": "model", "key": {"name": "taxi-model", "version": "4"}}
    job = {"kind": "job", "key": {"system": "azureml", "id": "calm_sea_train_model"},
           "props": {"display_name": "train_model", "properties": {"azureml.git.dirty": "True"}}}
    commit = {"kind": "commit", "key": {"repo": REPO, "sha": V123_SHA}}
    data = {"kind": "dataset", "key": {"name": "green-taxi-data", "version": "6"}}
    edges = [{"source": {"kind": a["kind"], "key": a["key"]}, "target": {"kind": b["kind"], "key": b["key"]}}
             for a, b in ((model, job), (job, commit), (job, data))]
    dirty = {"id": "dirty-1", "time": "2026-11-20T10:00:00Z", "source": "azureml",
             "nodes": [model, job, commit, data], "edges": edges}
    assert invoke("ingest", "-", "--store", store_uri, stdin=json.dumps(dirty)).exit_code == 0
    result = invoke("trace", "model", "taxi-model:4", "--format", "tree", "--store", store_uri)
    assert result.exit_code == 0  # a warning is part of the answer, not a failure
    assert re.search(r"Jobs\s+azureml/calm_sea_train_model  train_model  DIRTY TREE", result.stdout)
    assert result.stdout.rstrip().splitlines()[-1] == (
        "warning: job azureml/calm_sea_train_model ran from a dirty working tree (azureml.git.dirty): "
        "its commit does not fully describe the code")
