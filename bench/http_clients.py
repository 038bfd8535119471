"""The load generators of ``bench.http`` and the checks made while they run.

- Reads: ``wrk`` (Debian's package; C, one thread drives every connection) with ``bench/trace.lua``.
  Its own CPU time comes from ``wait4``.
- Writes: an asyncio HTTP/1.1 client with one keep-alive connection per sender, which sends a
  fixed list of events and so knows exactly which were acknowledged (wrk stops on a clock and
  abandons requests in flight, whose events the service may still record). It writes the request
  bytes itself and reads ``Content-Length`` bodies, which is all uvicorn sends here: measured at
  ~40 µs of client CPU per request, against ~4.4 ms for ``httpx.AsyncClient`` with 50 connections,
  which would have been the bottleneck on two cores.
- ``Sampler``: while wrk loads the service, one request at a time from Python, each answer checked
  against the release it asked for (wrk can only check that a root is one of the expected ones).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import random
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from bench.timings import Timings

LUA = Path(__file__).with_name("trace.lua")


@dataclass(frozen=True)
class Release:
    reference: str  # service@vX.Y.Z, as `lineage trace api` takes it
    root_id: str  # the api node's id, computed from its key (not read from the service)
    label: str  # the root label the answer must carry
    route: str = "trace"  # or "impact"
    kind: str = "api"

    def query(self) -> str:
        return f"{self.path()}{quote(self.reference, safe='')}"

    def path(self) -> str:
        """The request without the reference: what trace.lua's $LINEAGE_PATH prefixes each reference with."""
        return f"/v1/{self.route}?kind={self.kind}&ref="


def write_references(releases: Sequence[Release], path: Path) -> None:
    """The file trace.lua reads: the URL-encoded reference and the expected root label, tab-separated."""
    path.write_text("".join(f"{quote(r.reference, safe='')}\t{r.label}\n" for r in releases))


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("bench.http needs wrk, the HTTP load generator: `apt-get install -y wrk` on Debian/Ubuntu, "
                         "`brew install wrk` on macOS")
    return found


def wrk(port: int, references: Path, connections: int, seconds: float, seed: int, threads: int = 1,
        path: str = "/v1/trace?kind=api&ref=") -> dict[str, Any]:
    """One wrk run of ``trace.lua`` (requests ``path`` + a reference): its JSON summary, plus the
    throughput and wrk's own CPU time."""
    command = [require_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
               "-s", str(LUA), f"http://127.0.0.1:{port}"]
    env = {**os.environ, "LINEAGE_REFS": str(references), "LINEAGE_SEED": str(seed), "LINEAGE_PATH": path}
    load_before = os.getloadavg()[0]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert process.stdout is not None and process.stderr is not None
    stdout, stderr = process.stdout.read(), process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    lines = [line for line in stdout.decode().splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({process.returncode}): {stderr.decode()[-2000:]}{stdout.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    seconds_run = result.pop("duration_us") / 1e6
    latency = result.pop("latency_us")
    cpu = usage.ru_utime + usage.ru_stime
    return {"connections": connections, "threads": threads, "seconds": round(seconds_run, 2),
            "requests": result["requests"], "requests_per_s": round(result["requests"] / seconds_run),
            "latency_ms": {key: round(value / 1e3, 3) for key, value in latency.items()},
            "errors": result["errors"], "answered": result["answered"], "wrong_status": result["wrong_status"],
            "wrong_root": result["wrong_root"], "mib_per_s": round(result["bytes"] / seconds_run / 2**20, 1),
            "generator_cpu_seconds": round(cpu, 2), "generator_cpu_share": round(cpu / seconds_run, 3),
            "load_average_at_start": round(load_before, 2)}


class Sampler(threading.Thread):
    """Exact checks while wrk runs: status 200, and the root id and label of the release asked for."""

    def __init__(self, port: int, releases: Sequence[Release], seed: int, interval: float = 0.05) -> None:
        super().__init__(name="trace-sampler", daemon=True)
        self.port, self.releases, self.interval = port, releases, interval
        self.rng = random.Random(seed)
        self.stopping = threading.Event()
        self.checked = 0
        self.problems: list[str] = []

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self.stopping.wait(self.interval):
            release = self.rng.choice(self.releases)
            try:
                connection.request("GET", release.query())
                response = connection.getresponse()
                body = response.read()
            except OSError as exc:
                self.problems.append(f"{release.reference}: {type(exc).__name__}: {exc}")
                connection.close()
                continue
            self.checked += 1
            if response.status != 200:
                self.problems.append(f"{release.reference}: HTTP {response.status}: {body[:200]!r}")
                continue
            root = orjson.loads(body).get("root") or {}
            if (root.get("id"), root.get("label")) != (release.root_id, release.label):
                self.problems.append(f"{release.reference}: root {root.get('id')} {root.get('label')!r}")
        connection.close()

    def summary(self) -> dict[str, Any]:
        return {"checked": self.checked, "problems": len(self.problems), "examples": self.problems[:5]}


@dataclass
class _Posted:
    latency: Timings = field(default_factory=Timings)
    statuses: Counter[int] = field(default_factory=Counter)
    acknowledged: set[str] = field(default_factory=set)
    accepted: int = 0
    duplicates: int = 0
    not_applied: int = 0
    errors: list[str] = field(default_factory=list)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    return status, await reader.readexactly(int(headers.get("content-length", "0")))


async def _send_all(port: int, events: Sequence[tuple[str, bytes]], senders: int, posted: _Posted) -> None:
    queue = iter(events)  # shared: each sender takes the next event when its previous one is answered

    async def sender() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for event_id, body in queue:
            request = (b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                       b"Content-Length: %d\r\n\r\n" % len(body)) + body
            start = time.perf_counter()
            try:
                writer.write(request)
                status, answer = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                posted.errors.append(f"{event_id}: {type(exc).__name__}: {exc}")
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            posted.latency.add(time.perf_counter() - start)
            posted.statuses[status] += 1
            if status in (200, 202):
                result = orjson.loads(answer)
                posted.accepted += result["accepted"]
                posted.duplicates += result["duplicates"]
                posted.not_applied += len(result["failed"])
                posted.acknowledged.add(event_id)
            elif len(posted.errors) < 20:
                posted.errors.append(f"{event_id}: HTTP {status}: {answer[:200]!r}")
        writer.close()

    await asyncio.gather(*(sender() for _ in range(senders)))


def post_events(port: int, events: Sequence[tuple[str, bytes]], senders: int) -> tuple[dict[str, Any], set[str]]:
    """POST each ``(id, body)`` once, one event per request, from ``senders`` concurrent connections.

    Returns the summary and the ids whose request was acknowledged (2xx).
    """
    run: Callable[[Coroutine[Any, Any, None]], None] = asyncio.run
    with contextlib.suppress(ImportError):  # uvicorn[standard] brings uvloop; asyncio only costs more client CPU
        import uvloop

        run = uvloop.run
    posted = _Posted()
    load_before = os.getloadavg()[0]
    cpu, start = time.process_time(), time.perf_counter()
    run(_send_all(port, events, senders, posted))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    requests = sum(posted.statuses.values())
    return {"events": len(events), "senders": senders, "seconds": round(seconds, 2), "requests": requests,
            "events_per_s": round(posted.accepted / seconds), "latency_ms": posted.latency.summary(),
            "statuses": {str(k): v for k, v in sorted(posted.statuses.items())}, "accepted": posted.accepted,
            "duplicates": posted.duplicates, "not_applied": posted.not_applied,
            "acknowledged_requests": len(posted.acknowledged), "errors": len(posted.errors),
            "error_examples": posted.errors[:5], "generator_cpu_seconds": round(cpu, 2),
            "generator_cpu_share": round(cpu / seconds, 3), "load_average_at_start": round(load_before, 2)}, \
        posted.acknowledged


def get(port: int, path: str) -> tuple[int, bytes]:
    """One request on a new connection (with several workers, each connection may reach another)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
