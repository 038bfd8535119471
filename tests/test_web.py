"""The web explorer in a real headless chromium, against a live service holding the demo history.

tools/web-test/explore.cjs drives the page with playwright-core (Debian's chromium, no browser
download) and prints what it saw as JSON; these tests assert on it. Screenshots go to .artifacts/web/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph_schema.facts import edge_fact, node_fact
from lineage_service.demo.history import demo_events
from lineage_service.query.cursors import DEFAULT_FANOUT
from lineage_service.settings import Settings
from lineage_service.store import open_store
from lineage_service.store.base import Batch
from lineage_service.tokens import hash_token
from tests.components import require
from tests.servers import live_server

ROOT = Path(__file__).resolve().parent.parent
WEB_TEST = ROOT / "tools" / "web-test"
ARTIFACTS = ROOT / ".artifacts" / "web"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
READER = "reader-token-for-the-web-test-0123456789"
# A dataset with more consumers than a walk follows (DEFAULT_FANOUT), few enough to build in well under a second.
WIDE_JOBS = 250
PER_BATCH = 50

pytestmark = pytest.mark.slow


def _browser_tools() -> str:
    node = shutil.which("node")
    require(node is not None, "node is not installed (the web tests drive chromium through playwright-core)")
    require(Path(CHROMIUM).is_file(), f"{CHROMIUM} is missing: run `make test-services` (apt-get install chromium)")
    require((WEB_TEST / "node_modules" / "playwright-core").is_dir(),
            "playwright-core is not installed: run `make web-test-tools`")
    assert node is not None
    return node


@contextmanager
def _serve(tmp_path: Path, **settings: Any) -> Iterator[str]:
    with live_server(Settings(store=f"sqlite:///{tmp_path / 'lineage.db'}", **settings)) as base:
        headers = {"authorization": f"Bearer {READER}"} if settings.get("tokens") else {}
        # The demo goes in over HTTP, as any collector's events would; with tokens, an admin's.
        response = httpx.post(f"{base}/v1/events", json=demo_events(), headers=headers, timeout=60)
        assert response.status_code == 200, response.text
        yield base


def _explore(scenario: str, base: str, *extra: str) -> dict[str, Any]:
    node = _browser_tools()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([node, str(WEB_TEST / "explore.cjs"), scenario, base, str(ARTIFACTS), *extra],
                            capture_output=True, text=True, timeout=180, cwd=WEB_TEST,
                            env={**os.environ, "CHROMIUM": CHROMIUM})
    try:
        report: dict[str, Any] = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"explore.cjs printed no report (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    assert report["ok"], f"{report['failure']}\nseen so far: {json.dumps(report['seen'], indent=1)}"
    seen: dict[str, Any] = report["seen"]
    # Uncaught exceptions, and any request to another origin (a CDN, a font), fail every scenario.
    assert seen["console_errors"] == []
    assert seen["failed_requests"] == []
    return seen


@pytest.fixture(scope="module")
def seen_open(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One browser session through the whole open scenario; the tests below each check a part of it."""
    _browser_tools()  # skip before ingesting when the browser is not there
    with _serve(tmp_path_factory.mktemp("open")) as base:
        return _explore("open", base)


@pytest.fixture
def secured_service(tmp_path: Path) -> Iterator[str]:
    _browser_tools()
    with _serve(tmp_path, tokens=f"oncall read,ingest {hash_token(READER)}") as base:
        yield base


@pytest.fixture
def wide_service(tmp_path: Path) -> Iterator[str]:
    """A service over a store where dataset base-data:1 is consumed by WIDE_JOBS jobs, batch b first
    seen b minutes in: the impact draws the newest DEFAULT_FANOUT and marks the rest as "more"."""
    _browser_tools()
    uri = f"sqlite:///{tmp_path / 'lineage.db'}"
    base_data = node_fact("dataset", {"name": "base-data", "version": "1"})
    built = datetime(2026, 11, 1, tzinfo=UTC)
    batches = []
    for start in range(0, WIDE_JOBS, PER_BATCH):
        jobs = [node_fact("job", {"system": "azureml", "id": f"prep-{n:03d}"}) for n in range(start, start + PER_BATCH)]
        batches.append(Batch([base_data, *jobs], [edge_fact(job, base_data) for job in jobs],
                             seen_at=built + timedelta(minutes=start // PER_BATCH), source="azureml"))
    with open_store(uri) as store:
        store.apply(batches)
    with live_server(Settings(store=uri)) as base:
        yield base


def test_searching_a_release_draws_its_commit_and_data(seen_open: dict[str, Any]) -> None:
    seen = seen_open
    assert seen["search_badges"] == 0  # nothing in the demo is wide enough to be capped
    assert "api v1.2.3" in seen["hint"]
    assert "taxi-api v1.2.3" in seen["suggestions"]
    assert {"05ee055", "green-taxi-data:5", "taxi-model:3", "prod/taxi-api#8"} <= set(seen["search_nodes"])
    assert "taxi-api v1.2.2" not in seen["search_nodes"]
    assert seen["search_url"].endswith("/?kind=api&ref=v1.2.3")
    assert "tom.dewulf@example.com" in seen["summary"] and "return a fare interval" in seen["summary"]
    assert "Verify: passed" in seen["verify"]


def test_a_node_shows_its_properties_and_recentres_with_history(seen_open: dict[str, Any]) -> None:
    seen = seen_open
    assert "05ee055698af2171294615a1e423f71f4098628e" in seen["details"]
    assert "Re-centre" in seen["details"]
    assert seen["recentre_url"].endswith("/?kind=commit&ref=05ee055") and seen["recentre_root"] == "05ee055"
    assert seen["back_url"].endswith("/?kind=api&ref=v1.2.3")
    assert seen["toggle_url"].endswith("/?kind=api&ref=v1.2.3&direction=impact")


def test_deep_link_to_a_datasets_impact_shows_the_release(seen_open: dict[str, Any]) -> None:
    seen = seen_open
    assert "taxi-api v1.2.3" in seen["deep_link_nodes"]
    assert "taxi-api v1.2.2" not in seen["deep_link_nodes"]
    assert seen["deep_link_pressed"] == "true"


def test_errors_read_well_and_candidates_are_clickable(seen_open: dict[str, Any]) -> None:
    seen = seen_open
    assert "Not found" in seen["not_found"] and "v9.9.9" in seen["not_found"]
    assert set(seen["candidates"]) == {"taxi-api v1.2.2", "taxi-api v1.2.3", "taxi-api v1.2.4-rc1"}
    assert seen["candidate_url"].endswith("/?kind=api&ref=taxi-api+v1.2.3") and seen["message_hidden_after"]
    assert "Ambiguous reference" in seen["ambiguous"] and "prod/taxi-api" in seen["ambiguous"]
    assert "taxi-model 2 → 3" in seen["diff"]


def test_without_a_token_the_page_says_one_is_needed(secured_service: str) -> None:
    seen = _explore("token", secured_service, READER)
    assert "This service needs a token with the read scope." in seen["auth_message"]
    assert seen["graph_hidden"]
    assert "05ee055" in seen["after_token_nodes"]
    assert seen["stored"] and seen["local_storage_keys"] == []


def test_a_capped_node_shows_a_badge_and_pages_its_hidden_links(wide_service: str) -> None:
    seen = _explore("wide", wide_service)
    hidden = WIDE_JOBS - DEFAULT_FANOUT
    # The graph draws the newest DEFAULT_FANOUT consumers; the root carries one badge for the rest.
    drawn_jobs = {label for label in seen["graph_nodes"] if label.startswith("azureml/prep-")}
    assert len(drawn_jobs) == DEFAULT_FANOUT
    [badge] = seen["badges"]
    assert (badge["node"], badge["edge_kind"], badge["count"]) == ("base-data:1", "consumed", str(hidden))
    assert badge["text"] == f"+{hidden} more consumed" and f"of {WIDE_JOBS} consumed links" in badge["title"]
    assert badge["width"] > 0  # the pill was sized to its text
    assert f"{hidden} more consumed" in seen["panel_heading"]
    # Two pages of 50 from /v1/neighbours: distinct, none of them already drawn, the count growing.
    first, second = seen["first_page"], seen["second_page"]
    assert len(first) == 50 and seen["first_count"] == f"50 of {hidden} listed"
    assert second[:50] == first and len(second) == 100 and seen["second_count"] == f"100 of {hidden} listed"
    assert len(set(second)) == 100 and not set(second) & drawn_jobs
    assert set(second) <= {f"azureml/prep-{n:03d}" for n in range(hidden)}  # the older ones the walk left out
    assert seen["load_more_visible"]  # 50 are still to come
    # A listed job re-centres the graph on itself, keeping the direction, as a deep link.
    picked = seen["picked"]
    assert seen["picked_root"] == picked
    assert seen["picked_url"].endswith(f"/?kind=job&ref={picked.replace('/', '%2F')}&direction=impact")
