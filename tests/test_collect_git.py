"""The git collector on real repositories made with the git command (``tests/gitrepo.py``).

The golden file ``tests/golden/git-collector.json`` holds the events collected from
``release_history``. SHAs are fixed by the pinned authors and dates, so the only volatile field
is each event's ``time`` (when it was collected), replaced by ``<collected-at>``. After a change
that alters what the collector emits on purpose, regenerate it and review the diff:

    LINEAGE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_collect_git.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from collectors import create
from collectors.base import CollectorError
from collectors.git import GitCollector, GitConfig
from lineage_service.collect import run_into_store
from lineage_service.store import open_store
from lineage_service.store.base import GraphStore
from tests.gitrepo import TOM, Repo, release_history

GOLDEN = Path(__file__).parent / "golden" / "git-collector.json"
REPO_URL = "https://github.com/nathansegers/mlops-2.0"
Json = dict[str, Any]


def collect(path: Path, cursor: str | None = None, **config: Any) -> tuple[list[Json], GitCollector]:
    collector = GitCollector(GitConfig(path=path, **config))
    return list(collector.collect(cursor)), collector


def commits(events: list[Json]) -> dict[str, Json]:
    """Commit nodes that carry props (parents are declared bare), by SHA."""
    return {n["key"]["sha"]: n for e in events for n in e["nodes"] if n["kind"] == "commit" and n.get("props")}


def edges(events: list[Json], kind: str) -> list[tuple[str, str, Json]]:
    def name(key: Json) -> str:
        return str(key.get("sha") or next(iter(key.values())))

    return [(name(e["source"]["key"]), name(e["target"]["key"]), e.get("props", {}))
            for event in events for e in event["edges"] if e["kind"] == kind]


def commit_node(store: GraphStore, sha: str) -> Any:
    [node] = store.find_nodes("commit", lookup=sha)
    return node


@pytest.fixture
def history(tmp_path: Path) -> tuple[Repo, dict[str, str]]:
    return release_history(tmp_path / "mlops-2.0")


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with open_store(f"sqlite:///{tmp_path / 'lineage.db'}") as opened:
        yield opened


def test_facts_of_a_history_with_a_merge_and_tags(history: tuple[Repo, dict[str, str]]) -> None:
    repo, sha = history
    events, collector = collect(repo.path)
    normalised = [{**event, "time": "<collected-at>"} for event in events]
    if os.environ.get("LINEAGE_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(normalised, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert normalised == json.loads(GOLDEN.read_text(encoding="utf-8")), "regenerate: LINEAGE_UPDATE_GOLDEN=1"

    # What the golden file must say, spelled out so that a wrong golden file cannot pass.
    found = commits(events)
    assert set(found) == set(sha.values()) and collector.report.seen == 5
    assert all(n["key"]["repo"] == REPO_URL for n in found.values())
    merge = found[sha["merge"]]["props"]
    assert merge["git_tags"] == {"release-candidate": True, "v1.2.3": True}  # annotated tag peeled to its commit
    assert found[sha["initial"]]["props"]["git_tags"] == {"v0.1.0": True}
    assert "git_tags" not in found[sha["api"]]["props"]
    assert sorted((s, p, props["index"]) for s, p, props in edges(events, "parent") if s == sha["merge"]) == sorted(
        [(sha["merge"], sha["api"], 0), (sha["merge"], sha["model"], 1)])
    assert len(edges(events, "parent")) == 5  # initial has none, the merge two
    prep = found[sha["prep"]]["props"]
    assert prep == {"author": "zoe@example.com", "author_name": "Zoë Janssens",
                    "message": "prep: drop zero-distance trips\n\nFares above 250 are capped too.",
                    # written at 10:xx+02:00, stored in UTC
                    "committed_at": prep["committed_at"], "authored_at": prep["committed_at"]}
    assert prep["committed_at"].endswith("Z") and prep["committed_at"][11:13] == "06"
    authors = {person for _, person, _ in edges(events, "authored_by")}
    assert authors == {"ava.peeters@example.com", "tom.dewulf@example.com", "zoe@example.com"}
    assert {repo_url for _, repo_url, _ in edges(events, "in_repo")} == {REPO_URL}
    assert len(edges(events, "in_repo")) == 5
    assert len(events) == 1 and events[0]["source"] == "git"
    assert events[0]["id"].startswith(f"git-mlops-2.0-commits-{sha['merge'][:12]}-")
    cursor = json.loads(collector.cursor or "")
    assert cursor["branches"] == {"main": sha["merge"], "feature": sha["model"]}
    assert cursor["tags"] == {"v0.1.0": sha["initial"], "v1.2.3": sha["merge"], "release-candidate": sha["merge"]}


def test_events_are_deterministic_and_batched(history: tuple[Repo, dict[str, str]]) -> None:
    repo, sha = history
    first, _ = collect(repo.path, commits_per_event=2)
    again, _ = collect(repo.path, commits_per_event=2)
    assert [e["id"] for e in first] == [e["id"] for e in again]
    assert [len(commits([e])) for e in first] == [2, 2, 1]
    assert len({e["id"] for e in first}) == 3
    # Oldest first: a parent is read before its children.
    order = [s for e in first for s in commits([e])]
    assert order.index(sha["initial"]) == 0 and order.index(sha["merge"]) == 4


def test_all_events_are_accepted_by_ingestion(history: tuple[Repo, dict[str, str]], store: GraphStore) -> None:
    repo, sha = history
    result = run_into_store(create("git", {"path": repo.path}), store)
    assert result.ok and result.cursor_saved and result.delivered.accepted == 1
    node = commit_node(store, sha["merge"])
    assert node.props["git_tags"] == {"release-candidate": True, "v1.2.3": True} and node.sources == ["git"]
    upstream, _ = store.neighbours(node.id)
    assert sorted(edge.kind for edge in upstream) == ["authored_by", "in_repo", "parent", "parent"]
    assert {edge.evidence for edge in upstream} == {"observed"}


def test_second_run_reads_nothing_new_then_only_the_new_commit(history: tuple[Repo, dict[str, str]],
                                                               store: GraphStore) -> None:
    repo, sha = history
    first = run_into_store(create("git", {"path": repo.path}), store)
    assert first.report.seen == 5
    second = run_into_store(create("git", {"path": repo.path}), store)
    assert (second.report.seen, second.report.emitted, second.delivered.accepted) == (0, 0, 0)
    assert second.cursor_saved and second.ok

    new = repo.commit("api: validate the pickup time", TOM)
    third = run_into_store(create("git", {"path": repo.path}), store)
    assert third.report.seen == 1 and third.delivered.accepted == 1 and not third.report.warnings
    [event] = [json.loads(e.payload) for e in store.list_events(limit=10)][-1:]
    assert set(commits([event])) == {new}
    assert edges([event], "parent") == [(new, sha["merge"], {"index": 0})]
    assert commit_node(store, new).props["author"] == "tom.dewulf@example.com"


def test_tags_added_and_removed_later_reach_collected_commits(history: tuple[Repo, dict[str, str]],
                                                              store: GraphStore) -> None:
    repo, sha = history
    run_into_store(create("git", {"path": repo.path}), store)
    repo.git("tag", "v1.2.2", sha["api"])  # the usual flow: a release tag on a commit already collected
    repo.git("tag", "-d", "v0.1.0")
    result = run_into_store(create("git", {"path": repo.path}), store)
    assert result.ok and result.report.seen == 0 and result.report.emitted == 1
    assert commit_node(store, sha["api"]).props["git_tags"] == {"v1.2.2": True}
    assert not commit_node(store, sha["initial"]).props.get("git_tags")  # null for that name: deleted
    assert commit_node(store, sha["initial"]).props["message"] == "initial commit"  # the rest is kept
    quiet = run_into_store(create("git", {"path": repo.path}), store)
    assert quiet.report.emitted == 0


def test_a_force_push_falls_back_to_reading_the_branch_in_full(tmp_path: Path, store: GraphStore) -> None:
    repo = Repo(tmp_path / "repo")
    for number in range(4):
        repo.commit(f"change {number}")
    run_into_store(create("git", {"path": repo.path}), store)
    old_tip = repo.head()
    repo.git("reset", "--quiet", "--hard", "HEAD~2")
    rewritten = repo.commit("change 2, rewritten")
    result = run_into_store(create("git", {"path": repo.path}), store)
    [warning] = result.report.warnings
    assert "branch main" in warning and old_tip[:12] in warning and "force-push" in warning
    assert result.report.seen == 3  # the whole branch again, not only the rewritten commit
    assert result.ok and result.cursor_saved
    assert json.loads(store.get_cursor("git") or "")["branches"] == {"main": rewritten}
    # The next run is incremental again.
    assert run_into_store(create("git", {"path": repo.path}), store).report.seen == 0


def test_a_cursor_of_another_repository_is_not_trusted(history: tuple[Repo, dict[str, str]]) -> None:
    repo, _ = history
    _, first = collect(repo.path)
    events, other = collect(repo.path, cursor=first.cursor, repo_url="https://github.com/org/other")
    assert other.report.seen == 5 and len(events) == 1
    assert "is for https://github.com/nathansegers/mlops-2.0, not https://github.com/org/other" in (
        other.report.warnings[0])


def test_a_repository_without_a_remote_needs_repo_url(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "local", remote=None)
    sha = repo.commit("first")
    with pytest.raises(CollectorError, match=r"no remote 'origin'.*set repo_url.*--repo-url"):
        collect(repo.path)
    events, _ = collect(repo.path, repo_url="git@github.com:Org/Local.git")
    assert commits(events)[sha]["key"]["repo"] == "https://github.com/org/local"


def test_credentials_in_a_remote_url_are_never_shown(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "local", remote="https://oauth2:glpat-s3cr3t@localhost")  # no path: not usable
    repo.commit("first")
    with pytest.raises(CollectorError) as caught:
        collect(repo.path)
    assert "s3cr3t" not in str(caught.value) and "***@localhost" in str(caught.value)


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(CollectorError, match=r"cannot read .* as a git repository"):
        collect(tmp_path)
    with pytest.raises(CollectorError, match="is not a directory"):
        collect(tmp_path / "missing")


def test_branches_and_since_limit_what_is_read(history: tuple[Repo, dict[str, str]]) -> None:
    repo, sha = history
    events, collector = collect(repo.path, branches=["feature", "no-such-branch"])
    assert set(commits(events)) == {sha["initial"], sha["prep"], sha["model"]}
    assert [f.item for f in collector.report.failures] == ["branch no-such-branch"]
    # A branch that goes away (and its commits with it) is a failure, not a broken run; it keeps
    # its place in the cursor for when it comes back.
    repo.git("checkout", "--quiet", "-b", "short-lived")
    gone = repo.commit("short-lived work")
    _, first = collect(repo.path, branches=["main", "short-lived"])
    repo.git("checkout", "--quiet", "main")
    repo.git("branch", "-D", "short-lived")
    repo.git("reflog", "expire", "--expire=now", "--all")
    repo.git("gc", "--quiet", "--prune=now")
    assert repo.git("cat-file", "-t", gone, check=False) == ""  # the object is gone
    events, later = collect(repo.path, cursor=first.cursor, branches=["main", "short-lived"])
    assert events == [] and [f.item for f in later.report.failures] == ["branch short-lived"]
    assert json.loads(later.cursor or "")["branches"]["short-lived"] == gone
    # The test clock gives every git call the next minute from 08:01Z: the initial commit is older.
    events, _ = collect(repo.path, since="2026-11-01T08:11:00Z")
    assert sha["initial"] not in commits(events) and sha["merge"] in commits(events)
    # A date is that day from midnight UTC (git alone would read it as that day at the current time).
    assert len(commits(collect(repo.path, since="2026-11-01")[0])) == 5
    assert commits(collect(repo.path, since="2026-11-02")[0]) == {}


def test_cli_collect_then_trace_a_short_sha(history: tuple[Repo, dict[str, str]], tmp_path: Path) -> None:
    repo, sha = history
    uri = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    env = {"LINEAGE_URL": "", "COLUMNS": "200"}
    collected = runner.invoke(app, ["collect", "git", "--repo", str(repo.path), "--store", uri, "--format", "json"],
                              env=env)
    assert collected.exit_code == 0, collected.output
    [source] = json.loads(collected.stdout)["sources"]
    assert (source["name"], source["seen"], source["accepted"], source["ok"]) == ("git", 5, 1, True)
    traced = runner.invoke(app, ["trace", "commit", sha["api"][:7], "--store", uri, "--format", "json"], env=env)
    assert traced.exit_code == 0, traced.output
    answer = json.loads(traced.stdout)
    assert answer["root"]["key"] == {"repo": REPO_URL, "sha": sha["api"]}
    assert answer["root"]["props"]["message"] == "api: return a fare interval from /predict"
    assert answer["summary"]["authors"] == ["tom.dewulf@example.com"]
    assert {n["kind"] for n in answer["nodes"]} == {"commit", "person", "repo"}
    assert not [e for e in answer["edges"] if e["kind"] == "parent"]  # trace does not walk history


def test_cli_repository_without_remote_exits_1_naming_the_fix(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "local", remote=None)
    repo.commit("first")
    uri = f"sqlite:///{tmp_path / 'cli.db'}"
    result = CliRunner().invoke(app, ["collect", "git", "--repo", str(repo.path), "--store", uri,
                                      "--format", "json"], env={"LINEAGE_URL": ""})
    assert result.exit_code == 1
    [source] = json.loads(result.stdout)["sources"]
    assert "--repo-url" in source["error"] and not source["cursor_saved"]
    fixed = CliRunner().invoke(app, ["collect", "git", "--repo", str(repo.path), "--store", uri,
                                     "--repo-url", "https://github.com/org/local"], env={"LINEAGE_URL": ""})
    assert fixed.exit_code == 0, fixed.output
