"""``lineage serve`` as a child process on a real loopback port, for tests that need the whole process.

The port is picked free, but the child binds it later, so another process may take it first: a
start that fails with "address already in use" is retried on a new port (so ``url`` can change
from one start to the next, and callers read it after each start). Readiness is uvicorn's own
"Uvicorn running on" line, read from the child's output by a thread that also keeps the pipe from
filling; the output is kept whole in ``lines``.
"""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

from tests.services import free_port, stop

READY_SECONDS = 120.0  # a cold start on a loaded 2-core CI machine; a live process is never waited on longer
BIND_ATTEMPTS = 3


class ServeProcess:
    """Starts ``command + ["--port", PORT]``; started again (on a fresh port) after a kill."""

    def __init__(self, command: Sequence[str], env: dict[str, str], cwd: Path | None = None,
                 keep_stdout: bool = True) -> None:
        self.command, self.env, self.cwd = list(command), env, cwd
        # stdout holds uvicorn's access log: a busy test that never reads it can leave it out.
        self.keep_stdout = keep_stdout
        self.process: subprocess.Popen[str] | None = None
        self.port = 0
        self.lines: list[str] = []  # everything the process wrote (stderr, and stdout if kept), every start
        self.starts = 0
        self._reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def start(self) -> None:
        for attempt in range(BIND_ATTEMPTS):
            port, first_line = free_port(), len(self.lines)
            process = subprocess.Popen([*self.command, "--port", str(port)], cwd=self.cwd, env=self.env, text=True,
                                       stdout=subprocess.PIPE if self.keep_stdout else subprocess.DEVNULL,
                                       stderr=subprocess.STDOUT if self.keep_stdout else subprocess.PIPE)
            stream = process.stdout if self.keep_stdout else process.stderr
            assert stream is not None
            listening, settled = threading.Event(), threading.Event()

            def drain(stream: object = stream, listening: threading.Event = listening,
                      settled: threading.Event = settled) -> None:
                for line in stream:  # type: ignore[attr-defined]
                    self.lines.append(line)
                    if "Uvicorn running on" in line:
                        listening.set()
                        settled.set()
                settled.set()  # the output ended: the process exited

            reader = threading.Thread(target=drain, daemon=True)
            reader.start()
            if not settled.wait(READY_SECONDS):
                self._end(process, reader)
                raise AssertionError(f"lineage serve neither listened nor exited in {READY_SECONDS:.0f} s:\n"
                                     + "".join(self.lines[first_line:])[-4000:])
            if listening.is_set() and process.poll() is None:
                self.process, self._reader, self.port, self.starts = process, reader, port, self.starts + 1
                return
            self._end(process, reader)
            started = "".join(self.lines[first_line:])
            if "address already in use" not in started.lower() or attempt == BIND_ATTEMPTS - 1:
                raise AssertionError(f"lineage serve did not start:\n{started[-4000:]}")

    def kill(self) -> int:
        """SIGKILL, as a power cut would; the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        code = self.process.wait(timeout=60)
        self._join()
        return code

    def stop(self) -> None:
        """SIGTERM (graceful: the writer finishes its queue), SIGKILL if that hangs; the output is then whole."""
        if self.process is not None:
            self._end(self.process, self._reader)
            self.process, self._reader = None, None

    @staticmethod
    def _end(process: subprocess.Popen[str], reader: threading.Thread | None) -> None:
        stop(process, timeout=60)
        if reader is not None:
            reader.join(timeout=30)

    def _join(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=30)
