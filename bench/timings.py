"""Latency samples and their summary."""

from __future__ import annotations

import statistics
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
