"""What the numbers were measured on: CPU, cores, memory, Python, SQLite, the disk and its fsync latency.

A store that commits with ``synchronous=FULL`` is bounded by fsync, so the disk's fsync latency is
measured here rather than guessed from the device name.
"""

from __future__ import annotations

import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _mount_of(path: Path) -> dict[str, str]:
    """The filesystem holding ``path``: the longest mount point that prefixes it."""
    best = {"device": "unknown", "mount": "/", "type": "unknown"}
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return best
    resolved = str(path.resolve())
    for line in mounts:
        device, mount, fs_type, *_ = line.split()
        inside = resolved == mount or resolved.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best["mount"]):
            best = {"device": device, "mount": mount, "type": fs_type}
    return best


def _rotational(device: str) -> bool | None:
    """The kernel's rotational flag; virtual disks often claim 1, so read it beside the fsync time."""
    name = Path(device).name.rstrip("0123456789")
    try:
        return Path(f"/sys/block/{name}/queue/rotational").read_text().strip() == "1"
    except OSError:
        return None


def fsync_ms(directory: Path, rounds: int = 50) -> float:
    """Median time of a 4 KiB write plus fsync: the floor of every durable commit."""
    probe = directory / "fsync-probe.tmp"
    samples = []
    with probe.open("wb") as handle:
        for _ in range(rounds):
            handle.write(b"\0" * 4096)
            handle.flush()
            start = time.perf_counter()
            os.fsync(handle.fileno())
            samples.append((time.perf_counter() - start) * 1e3)
    probe.unlink()
    return round(statistics.median(samples), 3)


def _git_revision(root: Path) -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)
        return done.stdout

    # Porcelain lines are "XY path": the status takes exactly three characters, leading blank included.
    changed = git("status", "--porcelain", "--", "graph_schema", "lineage_service", "cli")
    return {"commit": git("rev-parse", "--short", "HEAD").strip() or None,
            "uncommitted_changes_in": sorted({line[3:] for line in changed.splitlines() if line.strip()})}


def describe(results_dir: Path, root: Path) -> dict[str, Any]:
    mount = _mount_of(results_dir)
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "disk": {**mount, "rotational": _rotational(mount["device"]), "fsync_ms_median": fsync_ms(results_dir),
                 "free_gib": round(shutil.disk_usage(results_dir).free / 2**30)},
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "code": _git_revision(root),
    }


def peak_rss_mib() -> float:
    """Peak resident memory of this process."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # kilobytes on Linux
