"""Latency samples and their summary, and the fresh process the query measurements run in."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Timings:
    """Milliseconds per call; summarised as percentiles by nearest rank."""

    samples: list[float] = field(default_factory=list)

    def add(self, seconds: float) -> None:
        self.samples.append(seconds * 1e3)

    def summary(self) -> dict[str, Any]:
        if not self.samples:
            return {"n": 0}
        ordered = sorted(self.samples)

        def rank(q: float) -> float:
            return round(ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))], 3)

        return {"n": len(ordered), "p50": rank(0.50), "p90": rank(0.90), "p99": rank(0.99),
                "max": round(ordered[-1], 3), "mean": round(statistics.fmean(ordered), 3)}


def sizes(values: list[int]) -> dict[str, int]:
    return {"median": int(statistics.median(values)), "max": max(values)} if values else {}


def own_peak_rss_mib() -> float | None:
    """Peak RSS of this address space (VmHWM): unlike rusage, not inherited from the parent over exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def in_child(module: str, request: dict[str, Any], what: str) -> dict[str, Any]:
    """Run ``python -m <module>`` with ``request`` as JSON on stdin and return the JSON it prints.

    The measurements run in a fresh interpreter that only opens the store, as an API worker or the
    CLI would: the benchmark process itself holds the generated world and the networkx graph.
    """
    done = subprocess.run([sys.executable, "-m", module], input=json.dumps(request).encode(),
                          capture_output=True, cwd=Path(__file__).resolve().parent.parent, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the {what} process failed:\n{done.stderr.decode()[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result
