"""``lineage trace api <ref> --format json`` as a new process, the way an on-call engineer runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.timings import Timings

# Runs the CLI in a fresh interpreter and prints its own peak RSS (VmHWM, per address space): the
# rusage of a child is useless here, since Linux carries the parent's peak over a vfork + exec.
_RSS_PROBE = """import sys
from cli.main import main
sys.argv = ["lineage", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")), file=sys.stderr)
"""


def _run(command: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=env, check=False)
    return time.perf_counter() - start, done


def _peak_rss_mib(arguments: list[str], env: dict[str, str]) -> float | None:
    done = subprocess.run([sys.executable, "-c", _RSS_PROBE, *arguments], capture_output=True, env=env, check=False)
    words = done.stderr.decode().split()
    return round(int(words[-1]) / 1024, 1) if words and words[-1].isdigit() else None


def cold_cli(store_uri: str, references: Sequence[str], runs: int) -> dict[str, Any]:
    """Wall time of the command for ``runs`` references, and of its floors: Python's start, the CLI's imports."""
    lineage = Path(sys.executable).with_name("lineage")
    command = [str(lineage)] if lineage.exists() else [sys.executable, "-m", "cli.main"]
    # A set LINEAGE_URL would send the command to a service; this measures the local store.
    env = {k: v for k, v in os.environ.items() if k not in {"LINEAGE_URL", "LINEAGE_STORE"}}
    cli, startup, imports, errors = Timings(), Timings(), Timings(), []
    arguments: list[str] = []
    for reference in references[:runs]:
        arguments = ["trace", "api", reference, "--format", "json", "--store", store_uri]
        seconds, done = _run([*command, *arguments], env)
        if done.returncode != 0 or not json.loads(done.stdout).get("root"):
            errors.append(f"{reference}: exit {done.returncode}: {done.stderr.decode()[:200]}")
            continue
        cli.add(seconds)
    for _ in range(runs):
        startup.add(_run([sys.executable, "-c", "pass"], env)[0])
        imports.add(_run([sys.executable, "-c", "import cli.main"], env)[0])
    return {"command": " ".join([Path(command[0]).name, *command[1:], "trace", "api", "<ref>", "--format", "json"]),
            "trace_ms": cli.summary(), "errors": errors[:5],
            "peak_rss_mib": _peak_rss_mib(arguments, env) if arguments else None,
            "python_startup_ms": startup.summary(), "import_cli_ms": imports.summary()}
