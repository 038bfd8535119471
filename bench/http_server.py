"""``lineage serve`` as a separate process: start it, wait for ``/readyz``, read its CPU, stop it.

With ``--workers N`` uvicorn's supervisor starts N worker processes; CPU time and memory are read
from ``/proc`` for the whole process tree and each worker, because a child's rusage only becomes
available once it has exited, and the benchmark needs numbers per phase of a running server.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _children(pid: int) -> list[int]:
    """Direct children, from each thread's ``children`` file (procfs, CONFIG_PROC_CHILDREN)."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(word) for word in (task / "children").read_text().split()]
    except OSError:
        pass
    return found


def process_tree(pid: int) -> list[int]:
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending += _children(current)
    return tree


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14 and 15 of stat)


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Server:
    """``lineage serve --store … --port … --workers …`` in its own session, so that stopping it
    reaches the workers too and nothing else."""

    def __init__(self, store_uri: str, port: int, workers: int, log: Path,
                 settings: dict[str, str] | None = None) -> None:
        lineage = Path(sys.executable).with_name("lineage")
        launcher = [str(lineage)] if lineage.exists() else [sys.executable, "-m", "cli.main"]
        self.command = [*launcher, "serve", "--store", store_uri, "--port", str(port), "--workers", str(workers)]
        self.port, self.workers, self.log = port, workers, log
        self.settings = settings or {}  # LINEAGE_* variables for the service, e.g. to compare settings
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def start(self, deadline_seconds: float = 120.0) -> None:
        # Tokens or a LINEAGE_URL from the caller's shell would change what is measured: the
        # benchmark serves loopback without tokens, as `lineage serve` does by default.
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")} | self.settings
        started = time.perf_counter()
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        deadline = started + deadline_seconds
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self._log_tail()}")
            if self._ready():
                self.startup_seconds = time.perf_counter() - started
                self._wait_for_workers(deadline)
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the server was not ready within {deadline_seconds:.0f} s:\n{self._log_tail()}")

    def _ready(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", "/readyz")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def _wait_for_workers(self, deadline: float) -> None:
        """With several workers, /readyz answers as soon as one is up: wait until all have said so in the log."""
        while self.workers > 1 and time.perf_counter() < deadline:
            if self.log.read_text(errors="replace").count("Application startup complete") >= self.workers:
                return
            time.sleep(0.1)

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and its workers so far."""
        return sum(self.cpu_by_process().values())

    def cpu_by_process(self) -> dict[int, float]:
        return {pid: _cpu_seconds(pid) for pid in self.pids()}

    def runqueue_wait_seconds(self) -> float:
        """Time the server's threads spent runnable but waiting for a core (schedstat's second field).

        On a shared machine this is the latency other processes add: a request that is ready to
        run but not running. Threads that have exited are not counted.
        """
        total = 0
        for pid in self.pids():
            try:
                for task in Path(f"/proc/{pid}/task").iterdir():
                    total += int((task / "schedstat").read_text().split()[1])
            except (OSError, IndexError, ValueError):
                continue
        return total / 1e9

    def pids(self) -> list[int]:
        return process_tree(self.process.pid) if self.process and self.process.poll() is None else []

    def memory(self) -> dict[str, Any]:
        """Memory of each process that holds the store: resident now, at its peak, and the anonymous part.

        Resident memory includes the store's memory-mapped pages (``mmap_size``, shared with the OS
        page cache); ``RssAnon`` is what the process itself allocated (page caches, Python objects).
        """
        pids = self.pids()
        # With workers, the supervisor and multiprocessing's resource tracker hold no store.
        holders = [pid for pid in pids if "spawn_main" in _cmdline(pid)] if self.workers > 1 else pids[:1]
        return {field: [round(_status_kib(pid, key) / 1024, 1) for pid in holders]
                for field, key in (("rss_mib", "VmRSS"), ("peak_rss_mib", "VmHWM"), ("anon_rss_mib", "RssAnon"))}

    def stop(self, grace_seconds: float = 30.0) -> None:
        """SIGTERM (uvicorn's graceful shutdown: the group-commit writer finishes its queue), then SIGKILL."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(grace_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # our own session: the server and its workers
            self.process.wait()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
