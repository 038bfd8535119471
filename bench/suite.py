"""``python -m bench.suite [--sizes 10000,100000,1000000] [--quick]``: every benchmark, at every size.

For each size, smallest first:

1. ``python -m bench.run --nodes N``: build the store, bulk and event ingest, trace and impact in
   process, the networkx floor, the ladybug comparison when installed, the cold CLI;
2. ``python -m bench.temporal`` on that store: diff of consecutive releases, trace ``at=`` a past
   time, impact through the very wide nodes (with the fan-out cap when ``trace()`` has one);
3. ``python -m bench.http --nodes N``: the service over HTTP (trace and impact from 1 and 50 clients,
   events with a durable ack from 50 senders), one worker then two (``--quick``: one).

Each step runs in its own process, as it does alone, so a size's memory is gone before the next
starts. Everything goes to ``bench/results/suite.json`` (machine, code revision, per size the full
records and a ``summary`` of the published measures, see ``bench/measures.py``), which
``python -m bench.docs`` turns into docs/benchmarks.md. 10,000,000 nodes runs only when asked for
with ``--sizes``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import measures, temporal
from bench.machine import describe
from bench.run import RESULTS, ROOT, shown

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
LARGEST_WITHOUT_ASKING = 1_000_000
MIN_SIZE = 1_000


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--sizes takes node counts separated by commas, e.g. 10000,100000; got {text!r}") from None
    if not sizes or sizes[0] < MIN_SIZE:
        raise argparse.ArgumentTypeError(f"--sizes: each size must be at least {MIN_SIZE:,} nodes; got {text!r}")
    return sizes


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.suite", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=_sizes, default=list(DEFAULT_SIZES),
                        help="graph sizes in nodes, comma-separated (default 10000,100000,1000000; "
                             "10000000 only when given here)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer samples, one server configuration, short HTTP phases: a smoke run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--results", type=Path, default=RESULTS, help="directory of stores and results")
    parser.add_argument("--out", type=Path, help="suite results (default <results>/suite.json)")
    parser.add_argument("--http-seconds", type=float, help="length of each HTTP load phase (default 20, --quick 2)")
    parser.add_argument("--events", type=int, help="events posted per server configuration "
                                                    "(default 20,000, --quick 1,000)")
    parser.add_argument("--traces", type=int, help="random releases traced in process (default 2,000, --quick 300)")
    parser.add_argument("--cli-runs", type=int, help="cold CLI runs (default 15, --quick 3)")
    parser.add_argument("--pairs", type=int, help="release pairs for diff and as-of (default 500, --quick 100)")
    return parser.parse_args(argv)


def _say(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] suite: {message}", file=sys.stderr, flush=True)


def _step(module: str, arguments: list[str]) -> float:
    """Run ``python -m <module> …`` as its own process (its table to our stdout); its wall time."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", module, *arguments], cwd=ROOT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench.suite: `python -m {module} {' '.join(arguments)}` failed with exit code "
                         f"{done.returncode}; its output is above")
    return round(time.perf_counter() - start, 1)


def _size(nodes: int, args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    common = ["--nodes", str(nodes), "--seed", str(args.seed), "--results", str(args.results)]
    core_out = args.results / f"nodes-{nodes}.json"
    http_out = args.results / f"http-{nodes}.json"
    seconds: dict[str, float] = {}
    _say(f"{nodes:,} nodes: bench.run")
    seconds["core"] = _step("bench.run", [*common, *(["--quick"] if quick else []),
                                          "--traces", str(args.traces or (300 if quick else 2_000)),
                                          "--cli-runs", str(args.cli_runs or (3 if quick else 15)),
                                          "--out", str(core_out)])
    _say(f"{nodes:,} nodes: diff, as-of and the wide nodes")
    start = time.perf_counter()
    record: dict[str, Any] = {"core": json.loads(core_out.read_text())}
    record["temporal"] = temporal.measure(args.results / f"bench-{nodes}-seed{args.seed}.db", args.seed,
                                          args.pairs or (100 if quick else 500), 3 if quick else 10)
    seconds["temporal"] = round(time.perf_counter() - start, 1)
    _say(f"{nodes:,} nodes: bench.http")
    phase = args.http_seconds or (2.0 if quick else 20.0)
    seconds["http"] = _step("bench.http", [*common, "--workers", "1" if quick else "1,2",
                                           "--seconds", f"{phase:g}", "--warmup", f"{max(1.0, phase / 2):g}",
                                           "--events", str(args.events or (1_000 if quick else 20_000)),
                                           "--out", str(http_out)])
    record["http"] = json.loads(http_out.read_text())
    record["derived"] = measures.derived(record)
    record["summary"] = measures.summary(record)
    record["elapsed_seconds"] = {**seconds, "total": round(sum(seconds.values()), 1)}
    return record


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.out or args.results / "suite.json"
    machine = describe(args.results, ROOT)
    started = time.perf_counter()
    suite: dict[str, Any] = {"suite": 1, "started_at": datetime.now(UTC).isoformat(), "machine": machine,
                             "code": machine["code"],
                             "params": {"sizes": args.sizes, "quick": args.quick, "seed": args.seed},
                             "sizes": {}}
    if max(args.sizes) > LARGEST_WITHOUT_ASKING:
        _say(f"{max(args.sizes):,} nodes asked for: expect hours and several GB of disk per size")
    for nodes in args.sizes:
        suite["sizes"][str(nodes)] = _size(nodes, args)
        # Written after every size, so that a long run that fails late keeps what it measured.
        suite["elapsed_seconds"] = round(time.perf_counter() - started, 1)
        suite["finished_at"] = datetime.now(UTC).isoformat()
        out.write_text(json.dumps(suite, indent=2, default=str) + "\n")
    suite["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out.write_text(json.dumps(suite, indent=2, default=str) + "\n")
    print(f"\nsuite results: {shown(out)} ({suite['elapsed_seconds']:.0f} s); "
          "`python -m bench.docs` regenerates docs/benchmarks.md from it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
