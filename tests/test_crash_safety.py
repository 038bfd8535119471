"""Crash safety: what got a 2xx survives SIGKILL, once; an interrupted bulk run completes without copies.

A real ``lineage serve`` process on a real port and a SQLite file takes a continuous load from
concurrent senders (threads with httpx): lineage events (single and in arrays), signed GitHub
``workflow_run`` deliveries and Azure DevOps ``build.complete`` notifications (the shared sample
payloads, each varied to name its own run and commit). The server is SIGKILLed at seeded random
moments (after a random number of acknowledgements) and restarted on the same file (on a fresh
port each time: tests/serve_process.py); a sender retries what failed, with the same ids, until it
gets a 2xx. At the end every acknowledged event is in the log exactly once and applied, its nodes
exist, nothing else was counted twice, the file passes ``PRAGMA integrity_check``, and a replay of
the log into an empty store has the same hash.

Power-cut style: a ``lineage collect git`` run over a real repository of 2,000 commits is
SIGKILLed after some of its transactions committed; re-running it gives the facts and the log of
an uninterrupted run. (A killed ``lineage store copy`` is tests/test_store_copy.py's
``test_killed_cli_copy_resumes_on_the_next_run``: not repeated here.)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph_schema.events import parse_event
from lineage_service.replay import replay
from lineage_service.store.fingerprint import fingerprint
from lineage_service.store.sqlite import SQLiteGraphStore
from lineage_service.webhooks import azure_devops, github
from tests.events import commit_event
from tests.github_payloads import loaded
from tests.gitrepo import Repo
from tests.serve_process import ServeProcess

LINEAGE = Path(sys.executable).parent / "lineage"
ADO_SAMPLE = Path(__file__).parent / "fixtures" / "azure-devops" / "build.complete.json"
GITHUB_SECRET = "crash-test-github-secret-0123456789"
ADO_SECRET = "crash-test-azure-devops-secret-0123"
# LINEAGE_CRASH_KILLS and LINEAGE_CRASH_SEED make a longer or a different run (docs/reliability.md).
SEED = int(os.environ.get("LINEAGE_CRASH_SEED", "20261123"))
KILLS = int(os.environ.get("LINEAGE_CRASH_KILLS", "6"))
# Tries per request: the server is down only between a kill and a restart, when senders wait on
# Load.up instead of trying, so this many failures in a row means something else is wrong.
MAX_ATTEMPTS = 200
COLLECT_SECONDS = 300


@dataclass(frozen=True)
class Item:
    """One request a sender must get acknowledged, and what the store must then hold."""

    path: str
    body: bytes
    headers: dict[str, str]
    event_ids: tuple[str, ...]
    node_ids: tuple[str, ...]


def _node_ids(events: list[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(node.id for raw in events for node in parse_event(raw).facts()[0])


def events_item(number: int, size: int) -> Item:
    raws = [commit_event(number * 10 + offset, source="load") for offset in range(size)]
    body = json.dumps(raws if size > 1 else raws[0]).encode()
    return Item("/v1/events", body, {"content-type": "application/json"}, tuple(r["id"] for r in raws),  # type: ignore[misc]
                _node_ids(raws))


def github_item(number: int) -> Item:
    payload = loaded("workflow_run.completed.json")
    payload["workflow_run"]["id"] = 600_000_000 + number
    payload["workflow_run"]["head_sha"] = f"{0xA0000000 + number:040x}"
    body, delivery = json.dumps(payload).encode(), f"crash-{number}"
    translated = github.translate("workflow_run", delivery, payload, datetime.now(UTC))
    assert translated.event is not None
    signature = "sha256=" + hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"content-type": "application/json", "x-github-event": "workflow_run", "x-github-delivery": delivery,
               "x-hub-signature-256": signature}
    return Item("/v1/webhooks/github", body, headers, (translated.event["id"],), _node_ids([translated.event]))


def azure_devops_item(number: int) -> Item:
    payload = json.loads(ADO_SAMPLE.read_text(encoding="utf-8"))
    payload["id"] = f"crash-{number}"
    payload["resource"]["id"] = 700_000 + number
    payload["resource"]["sourceVersion"] = f"{0xB0000000 + number:040x}"
    translated = azure_devops.translate(payload, datetime.now(UTC), "unused")
    assert translated.event is not None
    headers = {"content-type": "application/json", "x-lineage-secret": ADO_SECRET}
    return Item("/v1/webhooks/azure-devops", json.dumps(payload).encode(), headers, (translated.event["id"],),
                _node_ids([translated.event]))


def lineage_server(store: Path) -> ServeProcess:
    """``lineage serve`` on ``store`` as a child process, started again (on a fresh port) after each kill."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
    env.update(LINEAGE_GITHUB_WEBHOOK_SECRET=GITHUB_SECRET, LINEAGE_AZURE_DEVOPS_WEBHOOK_SECRET=ADO_SECRET)
    # stdout is uvicorn's access log, thousands of lines here: only stderr is kept.
    return ServeProcess([str(LINEAGE), "serve", "--store", f"sqlite:///{store}"], env, keep_stdout=False)


@dataclass
class Load:
    up: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    progress: threading.Condition = field(default_factory=threading.Condition)
    acknowledged: list[Item] = field(default_factory=list)
    # Items a sender gave up on when the load stopped, after an attempt that may have reached the log.
    unsettled: list[Item] = field(default_factory=list)
    sent: int = 0  # requests sent, retries included
    failed_attempts: int = 0
    errors: list[str] = field(default_factory=list)


def sender(server: ServeProcess, load: Load, make: Any) -> None:
    with httpx.Client(timeout=30) as client:
        number = 0
        while not load.stop.is_set():
            item: Item = make(number)
            number += 1
            for _ in range(MAX_ATTEMPTS):  # the same request, same ids, until acknowledged
                load.up.wait()
                with load.progress:
                    load.sent += 1
                try:
                    # The URL is read per attempt: a restart may have moved the server to another port.
                    response = client.post(server.url + item.path, content=item.body, headers=item.headers)
                except httpx.TransportError:  # killed mid-request, or not listening yet
                    response = None
                if response is not None and response.status_code in (200, 202) and response.json().get(
                        "accepted", 0) + response.json().get("duplicates", 0) == len(item.event_ids):
                    break
                if response is not None and response.status_code < 500:  # anything but "try again" is a bug
                    load.errors.append(f"{item.path}: {response.status_code} {response.text[:300]}")
                    load.stop.set()
                    return
                with load.progress:
                    load.failed_attempts += 1
                if load.stop.is_set():  # the test is over (or failed): give up on this one, and say so
                    with load.progress:
                        load.unsettled.append(item)
                    return
            else:
                load.errors.append(f"{item.path}: not acknowledged after {MAX_ATTEMPTS} attempts")
                load.stop.set()
                return
            with load.progress:
                load.acknowledged.append(item)
                load.progress.notify_all()


@pytest.mark.slow
def test_acknowledged_events_survive_sigkill_under_concurrent_load(tmp_path: Path) -> None:
    path = tmp_path / "lineage.db"
    server, load, rng = lineage_server(path), Load(), random.Random(SEED)
    makers = [lambda n: events_item(n, 1), lambda n: events_item(100_000 + n, 3), github_item, azure_devops_item]
    server.start()
    load.up.set()
    # Daemons: a sender stuck in a request must not keep the test process alive.
    threads = [threading.Thread(target=sender, args=(server, load, make), daemon=True) for make in makers]
    for thread in threads:
        thread.start()
    kills_done = 0

    def acknowledged(count: int) -> bool:
        with load.progress:
            return load.progress.wait_for(lambda: len(load.acknowledged) >= count or load.stop.is_set(),
                                          timeout=120)

    try:
        for _ in range(KILLS):
            # A random moment: after a random number of further acknowledgements.
            assert acknowledged(len(load.acknowledged) + rng.randint(3, 30)), "no progress"
            if load.stop.is_set():
                break
            load.up.clear()  # senders that fail from here wait for the restart instead of spinning
            assert server.kill() == -signal.SIGKILL
            kills_done += 1
            server.start()
            load.up.set()
        assert acknowledged(len(load.acknowledged) + 10), "no progress after the last restart"
    finally:
        load.stop.set()
        load.up.set()
        for thread in threads:
            thread.join(timeout=120)
        server.stop()
    assert not load.errors, load.errors
    assert not any(thread.is_alive() for thread in threads), "a sender did not stop"

    acknowledged_ids = [event_id for item in load.acknowledged for event_id in item.event_ids]
    expected_nodes = {node_id for item in load.acknowledged for node_id in item.node_ids}
    with SQLiteGraphStore(path) as store:
        logged = store.list_events(limit=1_000_000)
        found = [event.id for event in logged]
        print(f"\ncrash safety: {kills_done} SIGKILLs, {server.starts} starts; {load.sent} requests sent "
              f"({load.failed_attempts} failed and retried), {len(load.acknowledged)} acknowledged holding "
              f"{len(acknowledged_ids)} events; {len(set(acknowledged_ids) & set(found))} of them found, "
              f"{len(found)} events in the log, {sum(store.stats()['nodes'].values())} nodes")
        assert kills_done == KILLS
        assert len(found) == len(set(found))  # never logged twice
        # Every request was retried until acknowledged, so what is logged is exactly what was
        # acknowledged, plus at most the requests still unsettled when the load stopped.
        settled = load.acknowledged + [item for item in load.unsettled if set(item.event_ids) & set(found)]
        assert sorted(found) == sorted(event_id for item in settled for event_id in item.event_ids)
        assert {event.status for event in logged} == {"applied"}
        assert {node.id for node in store.get_nodes(expected_nodes)} == expected_nodes
        stats = store.stats()
        # Applied once: one commit per logged event (the load commits and each run's head) ...
        assert stats["nodes"]["commit"] == len(found)
        # ... one run per webhook, one edge of each kind per event that reports it.
        assert stats["nodes"]["run"] == sum(item.path != "/v1/events" for item in settled)
        assert store.integrity_check() == ["ok"]
        with SQLiteGraphStore(tmp_path / "replayed.db") as rebuilt:
            result = replay(store, rebuilt)
            assert result.failed == {} and result.applied == len(found)
            assert fingerprint(rebuilt).differences(fingerprint(store)) == []


# Power cut during a bulk collector run -----------------------------------------------------------

@contextmanager
def collecting(repo: Path, store: Path, config: Path) -> Iterator[subprocess.Popen[str]]:
    """A ``lineage collect`` run; killed and reaped on the way out, so a failed test leaves none behind."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
    process = subprocess.Popen([str(LINEAGE), "collect", "--config", str(config), "--store", f"sqlite:///{store}",
                                "--format", "json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=60)  # reaps it and closes the pipes


def events_logged(store: Path) -> int:
    """Events the running collector has committed so far, read as any other reader would."""
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30) as db:
            return int(db.execute("SELECT count(*) FROM events").fetchone()[0])
    except sqlite3.OperationalError:  # no file, or no schema yet
        return 0


@pytest.fixture
def repository(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    repo = tmp_path / "repo"
    Repo(repo).fast_import(2_000)
    config = tmp_path / "lineage.yaml"
    # One commit per event, so the run is many transactions of 500 events: a kill lands between them.
    config.write_text(json.dumps({"sources": [{"collector": "git", "name": "mlops-repo",
                                               "config": {"path": str(repo), "commits_per_event": 1}}]}))
    yield repo, config


@pytest.mark.slow
def test_a_collector_run_killed_mid_way_completes_on_the_next_run_without_copies(
        repository: tuple[Path, Path], tmp_path: Path) -> None:
    repo, config = repository
    whole, killed = tmp_path / "whole.db", tmp_path / "killed.db"
    with collecting(repo, whole, config) as uninterrupted:
        _, err = uninterrupted.communicate(timeout=COLLECT_SECONDS)
        assert uninterrupted.returncode == 0, err

    with collecting(repo, killed, config) as running:
        # A seeded moment after the first committed batch and before the last (4 batches of 500 events).
        after = random.Random(SEED).randint(1, 2) * 500
        # Polled: the condition is the store's own committed state; the interval only spares the CPU.
        deadline = time.monotonic() + COLLECT_SECONDS
        while running.poll() is None and events_logged(killed) < after:
            assert time.monotonic() < deadline, f"fewer than {after} events logged in {COLLECT_SECONDS} s"
            time.sleep(0.005)
        running.send_signal(signal.SIGKILL)
        running.communicate(timeout=60)
        assert running.returncode == -signal.SIGKILL, "the run finished before the kill: nothing was interrupted"
    with SQLiteGraphStore(killed) as store:
        at_kill = store.stats()["events"]
        assert store.get_cursor("mlops-repo") is None  # not saved: the next run reads everything again
    with collecting(repo, killed, config) as rerun:
        out, err = rerun.communicate(timeout=COLLECT_SECONDS)
        assert rerun.returncode == 0, f"{err}\n{out}"
    [report] = json.loads(out)["sources"]
    with SQLiteGraphStore(killed) as store, SQLiteGraphStore(whole) as reference:
        done, expected = fingerprint(store), fingerprint(reference)
        print(f"\ncollector kill: {sum(at_kill.values())} of {sum(expected.events.values())} events logged at the "
              f"kill ({at_kill}); the re-run accepted {report['accepted']} and found {report['duplicates']} "
              f"duplicates")
        assert report["accepted"] + report["duplicates"] == sum(expected.events.values())
        assert report["duplicates"] == sum(at_kill.values())  # what was logged is not logged again
        # The same facts and log as the uninterrupted run; only the times of the reads differ.
        assert (done.nodes, done.edges, done.events) == (expected.nodes, expected.edges, expected.events)
        assert done.facts_sha256 == expected.facts_sha256
        assert done.integrity == ["ok"]
        assert [e.id for e in store.list_events(limit=10_000)] == [e.id for e in reference.list_events(limit=10_000)]
        assert store.get_cursor("mlops-repo") == reference.get_cursor("mlops-repo")

