"""As-of answers: with ``at``, "live" means live at that time, not live now (issue 10).

The demo timeline (lineage_service/demo/history.py), UTC:

- v1.2.2: dev/taxi-api#12 from 2026-10-06T10:20 to 2026-11-10T15:10, prod/taxi-api#7 from
  2026-10-08T09:00 to 2026-11-12T09:30; both have ended now.
- v1.2.3: dev/taxi-api#13 from 2026-11-10T15:10, prod/taxi-api#8 from 2026-11-12T09:30; both live now.

So on 2026-11-11 v1.2.2 was live in prod (a revision that has an end *now*) and v1.2.3 only in dev;
on 2026-10-20 v1.2.3 was deployed nowhere. A summary that read "no end reported" would call prod#7
not live then, and would call a revision live before it started.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from rich.console import Console

from cli.render import summary_table
from graph_schema.edges import UNTRAVERSED
from lineage_service.demo.history import demo_events
from lineage_service.query.answers import lineage
from lineage_service.query.references import resolve
from lineage_service.query.trace import summarize
from lineage_service.settings import Settings
from lineage_service.store.base import Direction, GraphStore
from tests.incident_support import deployment, invoke, link, load, node
from tests.servers import live_server

Json = dict[str, Any]

BETWEEN = "2026-11-11T00:00:00Z"  # v1.2.2 live in prod, v1.2.3 only in dev
BEFORE_V123 = "2026-10-20T00:00:00Z"  # v1.2.3 deployed nowhere yet
AFTER_ALL = "2026-12-01T00:00:00Z"  # v1.2.2 ended everywhere


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def states(answer: Json) -> dict[str, tuple[bool, str]]:
    return {d["label"]: (d["live"], d["state"]) for d in answer["summary"]["deployments"]}


def apis(answer: Json) -> dict[str, bool]:
    return {a["label"]: a["live"] for a in answer["summary"]["apis"]}


# trace and impact in process ---------------------------------------------------------------------

def test_a_revision_that_has_ended_now_was_live_then(demo_store: GraphStore) -> None:
    answer = lineage(demo_store, Direction.UPSTREAM, "api", "v1.2.2", at=at(BETWEEN))
    [prod] = answer["summary"]["deployments"]
    assert (prod["label"], prod["live"], prod["state"]) == ("prod/taxi-api#7", True, "live")
    assert (prod["active_from"], prod["active_to"]) == ("2026-10-08T09:00:00Z", "2026-11-12T09:30:00Z")


def test_between_rollouts_v123_is_live_in_dev_and_prod_is_not_reached(demo_store: GraphStore) -> None:
    answer = lineage(demo_store, Direction.UPSTREAM, "api", "v1.2.3", at=at(BETWEEN))
    assert states(answer) == {"dev/taxi-api#13": (True, "live")}
    assert "prod/taxi-api#8" not in {n["label"] for n in answer["nodes"]}


def test_before_v123_was_deployed_nothing_of_it_is_live(demo_store: GraphStore) -> None:
    answer = lineage(demo_store, Direction.UPSTREAM, "api", "v1.2.3", at=at(BEFORE_V123))
    assert answer["summary"]["deployments"] == []
    impact = lineage(demo_store, Direction.DOWNSTREAM, "model", "taxi-model:3", at=at(BEFORE_V123))
    assert impact["summary"]["apis"] == [] and impact["summary"]["deployments"] == []


def test_impact_marks_an_api_live_when_one_of_its_deployments_was(demo_store: GraphStore) -> None:
    answer = lineage(demo_store, Direction.DOWNSTREAM, "dataset", "green-taxi-data:4", at=at(BETWEEN))
    assert apis(answer) == {"taxi-api v1.2.2": True}
    # The walk reaches dev#12 through its model link, which has no end; its window says it had ended.
    assert states(answer) == {"dev/taxi-api#12": (False, "ended"), "prod/taxi-api#7": (True, "live")}
    # The summary and the live section of the same answer agree.
    assert [d["label"] for d in answer["summary"]["live"]["deployments"]] == ["prod/taxi-api#7"]
    later = lineage(demo_store, Direction.DOWNSTREAM, "dataset", "green-taxi-data:4", at=at(AFTER_ALL))
    # Both links from the API have ended by then, so it is not reached; both revisions are, and had ended.
    assert apis(later) == {}
    assert states(later) == {"dev/taxi-api#12": (False, "ended"), "prod/taxi-api#7": (False, "ended")}


def test_without_a_time_live_still_means_live_now(demo_store: GraphStore) -> None:
    old = lineage(demo_store, Direction.UPSTREAM, "api", "v1.2.2")
    assert states(old) == {"dev/taxi-api#12": (False, "ended"), "prod/taxi-api#7": (False, "ended")}
    new = lineage(demo_store, Direction.UPSTREAM, "api", "v1.2.3")
    assert states(new) == {"dev/taxi-api#13": (True, "live"), "prod/taxi-api#8": (True, "live")}
    # Live now reads the reported props as they are, as before.
    assert {d["label"]: d["active_to"] for d in old["summary"]["deployments"]} == {
        "dev/taxi-api#12": "2026-11-10T15:10:00Z", "prod/taxi-api#7": "2026-11-12T09:30:00Z"}
    impact = lineage(demo_store, Direction.DOWNSTREAM, "dataset", "green-taxi-data:4")
    assert apis(impact) == {"taxi-api v1.2.2": False}


def test_summarize_keeps_its_two_argument_form(demo_store: GraphStore) -> None:
    root = resolve(demo_store, "api", "v1.2.2").node
    graph = demo_store.walk([root.id], Direction.UPSTREAM, 12, skip_edge_kinds=UNTRAVERSED, at=at(BETWEEN))
    then, now = summarize(graph, root.id, at(BETWEEN)), summarize(graph, root.id)
    assert [d["live"] for d in then["deployments"]] == [True]
    assert [d["live"] for d in now["deployments"]] == [False]


# a walk that reaches a revision outside its window -----------------------------------------------

def _reported_without_link_validity(store: GraphStore) -> None:
    """Links without valid_from/valid_to hold from when first reported (2026-11-20T10:00Z) on, so an
    as-of walk reaches both revisions at any later time; only their windows tell them apart."""
    api = node("api", service="fares", version="v3.0.0")
    ended = deployment(1, active_from="2026-11-01T00:00:00Z", active_to="2026-11-21T00:00:00Z")
    scheduled = deployment(2, active_from="2026-11-23T00:00:00Z")
    load(store, [api, ended, scheduled], [link(api, ended, "served_by"), link(api, scheduled, "served_by")])


@pytest.mark.parametrize(("moment", "expected"), [
    ("2026-11-20T12:00:00Z", {"prod/fares-api#1": (True, "live"), "prod/fares-api#2": (False, "not started")}),
    ("2026-11-22T00:00:00Z", {"prod/fares-api#1": (False, "ended"), "prod/fares-api#2": (False, "not started")}),
    ("2026-11-24T00:00:00Z", {"prod/fares-api#1": (False, "ended"), "prod/fares-api#2": (True, "live")}),
])
def test_a_reached_revision_is_live_only_inside_its_window(store: GraphStore, moment: str,
                                                           expected: dict[str, tuple[bool, str]]) -> None:
    _reported_without_link_validity(store)
    answer = lineage(store, Direction.UPSTREAM, "api", "v3.0.0", at=at(moment))
    assert states(answer) == expected
    # Now, both are reached and #2 alone has no end: the live-now answer is unchanged.
    assert states(lineage(store, Direction.UPSTREAM, "api", "v3.0.0")) == {
        "prod/fares-api#1": (False, "ended"), "prod/fares-api#2": (True, "live")}


def test_a_not_yet_started_revision_is_not_live_then_in_the_tree(store: GraphStore) -> None:
    _reported_without_link_validity(store)
    answer = lineage(store, Direction.UPSTREAM, "api", "v3.0.0", at=at("2026-11-22T00:00:00Z"))
    console = Console(width=200, record=True)
    console.print(summary_table(answer))
    text = console.export_text()
    assert "prod/fares-api#1  aks-1  not live at 2026-11-22T00:00:00Z: ended 2026-11-21T00:00:00Z" in text
    assert "prod/fares-api#2  aks-1  not live at 2026-11-22T00:00:00Z: started 2026-11-23T00:00:00Z" in text


# the CLI tree ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    uri = f"sqlite:///{tmp_path_factory.mktemp('as-of') / 'demo.db'}"
    assert invoke("demo", "--quiet", "--store", uri).exit_code == 0
    return uri


def test_tree_says_live_at_the_time_asked(demo_uri: str) -> None:
    out = invoke("trace", "api", "v1.2.2", "--at", BETWEEN, "--format", "tree", "--store", demo_uri).stdout
    assert (f"Running  prod/taxi-api#7  aks-mlops-prod  live at {BETWEEN} "
            "(since 2026-10-08T09:00:00Z, until 2026-11-12T09:30:00Z)") in out
    assert f"deployment prod/taxi-api#7  prod live at {BETWEEN}  [observed" in out
    assert "until 2026-11-12T09:30:00Z since" not in out  # the live-now wording of an ended revision


def test_tree_before_the_rollout_claims_nothing_live(demo_uri: str) -> None:
    out = invoke("trace", "api", "v1.2.3", "--at", BEFORE_V123, "--format", "tree", "--store", demo_uri).stdout
    assert "Running" not in out and " live" not in out
    assert f"warning: api taxi-api v1.2.3 has no deployment recorded at {BEFORE_V123}" in out
    # Asked for by revision, a deployment that started later is shown with its window, not as live.
    root = invoke("trace", "deployment", "prod/taxi-api#8", "--at", BEFORE_V123, "--format", "tree",
                  "--store", demo_uri).stdout
    assert root.startswith("Trace of deployment prod/taxi-api#8  prod active 2026-11-12T09:30:00Z → no end reported")


def test_impact_tree_as_of_a_time(demo_uri: str) -> None:
    out = invoke("impact", "dataset", "green-taxi-data:4", "--at", BETWEEN, "--format", "tree",
                 "--store", demo_uri).stdout
    assert f"Live at {BETWEEN}: prod/taxi-api#7 serving taxi-api v1.2.2" in out
    assert "Not live then: dev/taxi-api#12  (dev, 2026-10-06 10:20 → 2026-11-10 15:10)" in out
    assert f"taxi-api v1.2.2  live at {BETWEEN}" in out
    assert f"dev/taxi-api#12  aks-mlops-dev  not live at {BETWEEN}: ended 2026-11-10T15:10:00Z" in out
    gone = invoke("impact", "dataset", "green-taxi-data:4", "--at", AFTER_ALL, "--format", "tree",
                  "--store", demo_uri).stdout
    assert f"Live at {AFTER_ALL}: nothing built from it was running (2 deployments of it were not live then)" in gone


def test_tree_without_a_time_is_unchanged(demo_uri: str) -> None:
    out = invoke("trace", "api", "v1.2.3", "--format", "tree", "--store", demo_uri).stdout
    assert "Running  dev/taxi-api#13  aks-mlops-dev  live since 2026-11-10T15:10:00Z" in out
    assert "deployment prod/taxi-api#8  prod live  [observed" in out
    old = invoke("trace", "api", "v1.2.2", "--format", "tree", "--store", demo_uri).stdout
    assert ("prod/taxi-api#7  aks-mlops-prod  until 2026-11-12T09:30:00Z since 2026-10-08T09:00:00Z") in old


# over HTTP, and the CLI against the service ------------------------------------------------------

@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("as-of-http") / "lineage.db"
    with live_server(Settings(store=f"sqlite:///{path}")) as base:
        assert httpx.post(f"{base}/v1/events", json=demo_events(), timeout=60).status_code == 200
        yield base


def test_http_trace_and_impact_as_of_a_time(service: str) -> None:
    trace = httpx.get(f"{service}/v1/trace", params={"kind": "api", "ref": "v1.2.2", "at": BETWEEN}).json()
    assert states(trace) == {"prod/taxi-api#7": (True, "live")}
    dev_only = httpx.get(f"{service}/v1/trace", params={"kind": "api", "ref": "v1.2.3", "at": BETWEEN}).json()
    assert states(dev_only) == {"dev/taxi-api#13": (True, "live")}
    nothing = httpx.get(f"{service}/v1/trace", params={"kind": "api", "ref": "v1.2.3", "at": BEFORE_V123}).json()
    assert nothing["summary"]["deployments"] == []
    impact = httpx.get(f"{service}/v1/impact", params={"kind": "dataset", "ref": "green-taxi-data:4",
                                                        "at": BETWEEN}).json()
    assert apis(impact) == {"taxi-api v1.2.2": True}
    now = httpx.get(f"{service}/v1/trace", params={"kind": "api", "ref": "v1.2.2"}).json()
    assert states(now) == {"dev/taxi-api#12": (False, "ended"), "prod/taxi-api#7": (False, "ended")}


def test_cli_tree_from_the_service_says_live_then(service: str) -> None:
    out = invoke("trace", "api", "v1.2.2", "--at", BETWEEN, "--format", "tree", env={"LINEAGE_URL": service}).stdout
    assert f"prod/taxi-api#7  aks-mlops-prod  live at {BETWEEN}" in out

