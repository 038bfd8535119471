"""``python -m bench.collectors [--images N] [--repositories R]``: how fast the registry and docker collectors read.

Starts the same real services as the tests (``tests/services.py``): a ``docker-registry`` on loopback
and a podman engine with its Docker API on a unix socket, in a temporary directory, stopped at the end.
Then:

1. writes N small distinct images (one layer, OCI labels) into R repositories of the registry through
   the distribution API, and has podman pull every tag (``podman pull --all-tags``), so the engine holds
   the same N images under the registry's digests;
2. times the **registry** collector's first run (tags, HEAD per tag, manifest, config blob: items/s and
   HTTP requests/s), a run with nothing new (tag lists and one HEAD per tag), and one with no tag
   declared mutable (tag lists only);
3. times the **docker** collector's first run and a run with nothing new (one image listing);
4. times both first runs again end to end into a fresh SQLite store (validation, event log, graph).

Prints a table (and ``--json``); nothing is written to ``bench/results``. Needs podman and
docker-registry (``make test-services``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from collectors import create
from collectors.base import Collector
from lineage_service.collect import run_into_store
from lineage_service.store import open_store
from tests.registry_writes import push_image
from tests.services import Podman, Registry, ServiceFailed, podman_service, registry_service

REVISION = "05ee055698af2171294615a1e423f71f4098628e"
SOURCE = "https://github.com/nathansegers/mlops-2.0"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.collectors", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=200, help="images to collect (default 200)")
    parser.add_argument("--repositories", type=int, default=4, help="repositories they are spread over")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lineage-bench-collectors-") as temporary, ExitStack() as stack:
        directory = Path(temporary)
        try:
            registry = stack.enter_context(registry_service(directory / "registry"))
            podman = stack.enter_context(podman_service(directory / "podman"))
        except ServiceFailed as exc:
            print(f"cannot start the services: {exc}", file=sys.stderr)
            return 2
        results = measure(podman, registry, args.images, max(1, args.repositories), directory)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        table(results)
    return 0


def measure(podman: Podman, registry: Registry, count: int, repositories: int, directory: Path) -> dict[str, Any]:
    names = [f"bench/api-{index}" for index in range(repositories)]
    results: dict[str, Any] = {"images": count, "repositories": repositories,
                               "startup_seconds": {"registry": round(registry.started_in, 3),
                                                   "podman": round(podman.started_in, 3)}}
    started = time.perf_counter()
    for index in range(count):
        labels = {"org.opencontainers.image.revision": REVISION, "org.opencontainers.image.source": SOURCE,
                  "org.opencontainers.image.version": f"1.{index}.0"}
        push_image(registry, names[index % repositories], f"v1.{index}.0", labels, content=f"image {index}")
    results["setup_push_seconds"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    podman.trust(registry.host)
    for name in names:
        podman.run("pull", "--quiet", "--all-tags", f"{registry.host}/{name}")
    results["setup_pull_seconds"] = round(time.perf_counter() - started, 2)

    def registry_collector(**extra: Any) -> Collector[Any]:
        return create("registry", {"registry": registry.url, "insecure_http": True, "repositories": names, **extra})

    def docker_collector() -> Collector[Any]:
        return create("docker", {"base_url": podman.base_url, "repositories": [f"*/{n}" for n in names]})

    first, cursor = timed(registry_collector())
    nothing_new, _ = timed(registry_collector(), cursor)
    tags_only, _ = timed(registry_collector(mutable_tags=[]), cursor)
    results["registry"] = {"first_run": first, "nothing_new": nothing_new, "nothing_new_immutable_tags": tags_only}
    first, cursor = timed(docker_collector())
    results["docker"] = {"first_run": first, "nothing_new": timed(docker_collector(), cursor)[0]}
    for name, make in (("registry", registry_collector), ("docker", docker_collector)):
        with open_store(f"sqlite:///{directory / f'{name}.db'}") as store:
            run_started = time.perf_counter()
            result = run_into_store(make(), store)
            seconds = time.perf_counter() - run_started
        assert result.ok, result.as_dict()
        results[name]["into_store"] = {"seconds": round(seconds, 3), "events": result.delivered.accepted,
                                       "items_per_second": round(result.report.seen / seconds, 1)}
    return results


def timed(collector: Collector[Any], cursor: str | None = None) -> tuple[dict[str, Any], str | None]:
    started = time.perf_counter()
    events = sum(1 for _ in collector.collect(cursor))
    seconds = time.perf_counter() - started
    report = collector.report.as_dict()
    assert not report["failed"], report["failures"]
    found: dict[str, Any] = {"seconds": round(seconds, 3), "items": report["seen"], "events": events,
                             "items_per_second": round(report["seen"] / seconds, 1) if seconds else None}
    requests = report.get("requests")
    if requests:
        found["requests"] = requests
        found["requests_per_second"] = round(requests["total"] / seconds, 1)
    return found, collector.cursor


def table(results: dict[str, Any], write: Callable[[str], None] = print) -> None:
    write(f"{results['images']} images in {results['repositories']} repositories; services up in "
          f"{results['startup_seconds']['registry']} s (registry), {results['startup_seconds']['podman']} s "
          f"(podman); setup: push {results['setup_push_seconds']} s, pull {results['setup_pull_seconds']} s")
    write(f"{'collector / run':<42}{'seconds':>9}{'items/s':>10}{'events':>8}{'HTTP requests':>15}")
    for collector in ("registry", "docker"):
        for run, measured in results[collector].items():
            requests = measured.get("requests", {})
            shown = (f"{requests['total']} ({measured['requests_per_second']}/s)" if requests else "")
            write(f"{collector + ' ' + run.replace('_', ' '):<42}{measured['seconds']:>9}"
                  f"{measured['items_per_second'] or '':>10}{measured['events']:>8}{shown:>15}")


if __name__ == "__main__":
    sys.exit(main())
