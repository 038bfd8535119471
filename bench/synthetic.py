"""A synthetic lineage history shaped like a large MLOps organisation, at any scale.

The demo history (``lineage_service.demo.history``) is one service with two releases; a benchmark
needs the same shape repeated until the graph has the requested number of nodes. Each service has
its own repository and team, a linear git history with CI runs, raw dataset versions (each derived
from the previous one), Azure ML training pipelines (a pipeline job with prep/train/evaluate/register
steps, submitted by a CI run) that register model versions, image builds tagged with the SHA and the
semver, and Kubernetes or Azure ML deployments in dev and prod whose env carries ``API_VERSION`` and
``MODEL_VERSION``. A data platform publishes weekly snapshots of a few shared datasets that many
services train on, so impact questions fan out across services as they do in real organisations.
And, as in real organisations, a few nodes are very wide: a reference dataset that every training
step reads and a dependency bot that authors ~30% of all commits, both with neighbours in
proportion to the size (docs/benchmarks.md's graph table has the counts of each run), where a
walk's per-node fan-out matters.

Everything is seeded per service, so a given (scale, seed) always yields the same graph, and the
history is produced as a stream of ``Report``s: what one source said at one time. A report becomes
a store ``Batch`` (the bulk path) or a ``lineage-event/1`` dict (the event path).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from graph_schema.canonical import display_version
from graph_schema.edges import EdgeKind, Evidence
from graph_schema.facts import EdgeFact, NodeFact, edge_fact, node_fact
from graph_schema.kinds import NodeKind
from lineage_service.store.base import Batch

Json = dict[str, Any]
EPOCH = datetime(2023, 1, 2, tzinfo=UTC)
SHARED_WEEKS = 80  # the data platform's snapshot history covers the services' whole timeline
REFERENCE_DATASET = ("platform-reference", "1")  # name, version: read by every training step
BOT_AUTHOR = "deps-bot@example.com"

_DOMAINS = ("taxi-fare", "churn", "fraud", "pricing", "eta", "recsys", "search-rank", "demand", "credit-risk",
            "ad-ctr", "forecast", "anomaly", "ocr", "sentiment", "routing", "inventory")
_ADJECTIVES = ("amusing", "bold", "calm", "eager", "frosty", "gentle", "honest", "keen", "lucid", "mellow")
_NOUNS = ("lamp", "river", "pear", "falcon", "garden", "kettle", "orbit", "pepper", "quartz", "tulip")
_STEPS = ("prep_data", "train_model", "evaluate_model", "register_model")


@dataclass(frozen=True)
class Shape:
    """Fan-out of the synthetic world; the defaults make about 16 nodes and 36 edges per release."""

    releases_median: float = 20.0  # log-normal, so a few services have hundreds of releases
    commits_per_release: float = 3.0  # pushes between two releases (geometric)
    ci_run_per_commit: float = 0.5  # not every push runs CI
    retrain: float = 0.5  # share of releases that ship a newly trained model
    with_model: float = 0.85  # the rest are plain APIs, without a model
    new_raw_version: float = 0.6  # each raw dataset gets a new version before a retraining
    uses_shared_data: float = 0.3  # services that also train on a data-platform dataset
    prod_promotion: float = 0.8  # releases that reach prod after dev
    dirty_tree: float = 0.02  # jobs submitted from a dirty working tree
    people_per_node: float = 1 / 300  # size of the global pool of authors
    # Very wide nodes, as real organisations have: a dependency bot authors a large share of all
    # commits, and every training step reads one reference dataset of the data platform, so at a
    # million nodes both have ~100k neighbours (impact through them is where a walk's fan-out hurts).
    bot_commits: float = 0.3
    reads_reference_data: bool = True


@dataclass
class Report:
    """What one source reported at one time: the unit of both the bulk path and the event path.

    ``nodes`` are described by this report; ``refs`` are edge endpoints that an earlier report
    described (a batch may leave them out, an event must declare them, with empty props).
    """

    id: str
    source: str
    time: datetime
    nodes: list[NodeFact] = field(default_factory=list)
    refs: list[NodeFact] = field(default_factory=list)
    edges: list[EdgeFact] = field(default_factory=list)
    _declared: set[str] = field(default_factory=set, repr=False)

    def describe(self, fact: NodeFact) -> NodeFact:
        self.nodes.append(fact)
        self._declared.add(fact.id)
        return fact

    def link(self, source: NodeFact, target: NodeFact, kind: EdgeKind, evidence: Evidence = Evidence.OBSERVED, *,
             props: Json | None = None, valid_from: datetime | None = None, valid_to: datetime | None = None) -> None:
        for end in (source, target):
            if end.id not in self._declared:
                self.refs.append(end)
                self._declared.add(end.id)
        self.edges.append(edge_fact(source, target, kind, evidence, props, valid_from, valid_to))

    @property
    def facts(self) -> int:
        return len(self.nodes) + len(self.edges)

    def batch(self) -> Batch:
        return Batch(self.nodes, self.edges, seen_at=self.time, source=self.source)

    def event(self) -> Json:
        """The report as a ``lineage-event/1`` document, as a CI step or collector would send it."""
        by_id = {n.id: n for n in [*self.nodes, *self.refs]}
        nodes = [_node_json(n) for n in self.nodes] + [{"kind": n.kind.value, "key": n.key} for n in self.refs]
        return {"schema": "lineage-event/1", "id": self.id, "time": _iso(self.time), "source": self.source,
                "nodes": nodes, "edges": [_edge_json(e, by_id) for e in self.edges]}


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_json(fact: NodeFact) -> Json:
    result: Json = {"kind": fact.kind.value, "key": fact.key, "props": fact.props}
    if fact.aliases:
        result["aliases"] = list(fact.aliases)
    return result


def _edge_json(edge: EdgeFact, by_id: dict[str, NodeFact]) -> Json:
    source, target = by_id[edge.source], by_id[edge.target]
    result: Json = {"source": {"kind": source.kind.value, "key": source.key},
                    "target": {"kind": target.kind.value, "key": target.key},
                    "kind": edge.kind.value, "evidence": edge.evidence.label, "props": edge.props}
    if edge.valid_from:
        result["valid_from"] = _iso(edge.valid_from)
    if edge.valid_to:
        result["valid_to"] = _iso(edge.valid_to)
    return result


@dataclass
class Census:
    """What the generator produced, for the report and for picking query samples."""

    nodes: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    services: int = 0
    releases: list[tuple[str, str]] = field(default_factory=list)  # (service, display version)
    datasets: list[tuple[str, str, bool]] = field(default_factory=list)  # raw versions: (name, version, shared)
    largest_version_share: int = 0  # most services that released the same version
    wide: dict[str, int] = field(default_factory=dict)  # neighbours of the very wide nodes, by reference

    def count(self, fact: NodeFact) -> NodeFact:
        self.nodes += 1
        self.by_kind[fact.kind.value] = self.by_kind.get(fact.kind.value, 0) + 1
        return fact


class World:
    """The synthetic organisation; iterate ``reports()`` once, then read ``census``."""

    def __init__(self, target_nodes: int, seed: int = 7, shape: Shape | None = None, first_service: int = 0) -> None:
        self.target_nodes = target_nodes
        self.seed = seed
        self.shape = shape or Shape()
        self.first_service = first_service
        self.census = Census()
        self.people = max(20, int(target_nodes * self.shape.people_per_node))
        self.described_people: set[str] = set()
        self.shared = max(3, target_nodes // 25_000)  # shared datasets of the data platform
        # CI run ids are global and increasing, as on GitHub; worlds that start at another service
        # (the event sample, the sweep) count from elsewhere, so their runs are new nodes too.
        self.next_run = 7_000_000_000 + first_service * 1_000
        self._versions_seen: dict[str, int] = {}

    def reports(self) -> Iterator[Report]:
        """The whole history: the data platform's snapshots, then one service after another."""
        if self.first_service == 0:
            yield from self._shared_snapshots()
        index = self.first_service
        while self.census.nodes < self.target_nodes:
            yield from ServiceHistory(self, index).reports()
            self.census.services += 1
            index += 1

    def person(self, rng: random.Random) -> NodeFact:
        return node_fact(NodeKind.PERSON, {"id": f"dev{rng.randrange(self.people):05d}@example.com"})

    @staticmethod
    def reference_dataset() -> NodeFact:
        """The data platform's reference dataset that every training step reads (a very wide node)."""
        return node_fact(NodeKind.DATASET, {"name": REFERENCE_DATASET[0], "version": REFERENCE_DATASET[1]})

    @staticmethod
    def bot() -> NodeFact:
        """The dependency bot that authors a large share of all commits (a very wide node)."""
        return node_fact(NodeKind.PERSON, {"id": BOT_AUTHOR})

    def widen(self, reference: str) -> None:
        self.census.wide[reference] = self.census.wide.get(reference, 0) + 1

    def shared_dataset(self, number: int, week: int) -> NodeFact:
        return node_fact(NodeKind.DATASET, {"name": f"platform-events-{number:03d}", "version": str(week + 1)})

    def released(self, service: str, version: str) -> None:
        self.census.releases.append((service, version))
        share = self._versions_seen[version] = self._versions_seen.get(version, 0) + 1
        self.census.largest_version_share = max(self.census.largest_version_share, share)

    def _shared_snapshots(self) -> Iterator[Report]:
        """Weekly snapshots of the platform datasets, each derived from the week before."""
        for week in range(SHARED_WEEKS):
            when = EPOCH + timedelta(weeks=week)
            report = Report(f"platform-snapshots-{week}", "azureml", when)
            if week == 0 and self.shape.reads_reference_data:
                self.census.count(report.describe(node_fact(
                    NodeKind.DATASET, self.reference_dataset().key,
                    {"uri": "abfss://lake@platform.dfs.core.windows.net/reference/", "type": "mltable",
                     "created": _iso(when)})))
            for number in range(self.shared):
                uri = f"abfss://lake@platform.dfs.core.windows.net/events/{number:03d}/{when:%Y-%m-%d}/"
                snapshot = self.census.count(report.describe(node_fact(
                    NodeKind.DATASET, self.shared_dataset(number, week).key,
                    {"uri": uri, "type": "mltable", "created": _iso(when), "rows": 10_000_000 + week * 13_000})))
                self.census.datasets.append((snapshot.key["name"], snapshot.key["version"], True))
                if week:
                    report.link(snapshot, self.shared_dataset(number, week - 1), EdgeKind.DERIVED_FROM)
            yield report


class ServiceHistory:
    """One service's releases, trainings and deployments, in time order, from its own seed."""

    def __init__(self, world: World, index: int) -> None:
        self.world, self.shape = world, world.shape
        self.rng = random.Random(f"{world.seed}/service/{index}")
        # The bot's draws come from their own stream, so the rest of the world is the same with or without it.
        self.bot_rng = random.Random(f"{world.seed}/bot/{index}")
        rng = self.rng
        self.name = f"{rng.choice(_DOMAINS)}-{index:05d}-api"
        org = f"org{index % 23:02d}"
        azure_devops = rng.random() < 0.3
        self.repo_url = (f"https://dev.azure.com/{org}/ml/_git/{self.name}" if azure_devops
                         else f"https://github.com/{org}/{self.name}")
        self.ci = "azure-devops" if azure_devops else "github-actions"
        self.registries = [f"ghcr.io/{org}/{self.name}", f"{org}acr.azurecr.io/{self.name}"][: rng.randint(1, 2)]
        self.platform = "kubernetes" if rng.random() < 0.8 else "azureml-online"
        self.cluster = {env: f"aks-{org}-{env}" if self.platform == "kubernetes" else f"mlw-{org}-{env}"
                        for env in ("dev", "prod")}
        self.team = [world.person(rng) for _ in range(rng.randint(3, 12))]
        self.with_model = rng.random() < self.shape.with_model
        self.raw = [f"{self.name.removesuffix('-api')}-raw-{source}" for source in
                    rng.sample(("trips", "events", "labels", "weather", "clicks"), rng.randint(1, 3))]
        self.shared = rng.randrange(world.shared) if rng.random() < self.shape.uses_shared_data else None
        self.now = EPOCH + timedelta(days=rng.uniform(0, 400), minutes=rng.randrange(1440))
        self.version = self._first_version()
        self.events = 0
        self.repo: NodeFact | None = None
        self.commits: list[NodeFact] = []
        self.pushed: list[NodeFact] = []  # the commits of the latest push
        self.image: NodeFact | None = None
        self.raw_latest: dict[str, NodeFact] = {}
        self.model: NodeFact | None = None
        self.model_version = 0
        self.prepped = 0
        self.revision = {"dev": 0, "prod": 0}
        self.live: dict[str, tuple[NodeFact, NodeFact, datetime]] = {}  # env -> (api, deployment, since)

    # The history -------------------------------------------------------------------------------
    def reports(self) -> Iterator[Report]:
        releases = max(2, min(400, int(self.rng.lognormvariate(0, 0.9) * self.shape.releases_median)))
        for number in range(releases):
            self._tick(hours=self.rng.expovariate(1 / 90))
            yield self._push()
            yield from self._ci_runs()
            if self.with_model and (number == 0 or self.rng.random() < self.shape.retrain):
                yield from self._raw_versions()
                yield self._training()
            yield self._image_build()
            yield self._deploy("dev")
            if self.rng.random() < self.shape.prod_promotion:
                self._tick(hours=self.rng.uniform(4, 72))
                yield self._deploy("prod")
            self._bump_version()

    # Helpers -----------------------------------------------------------------------------------
    def _tick(self, hours: float) -> datetime:
        self.now += timedelta(hours=hours)
        return self.now

    def _report(self, source: str) -> Report:
        self.events += 1
        return Report(f"{source}-{self.name}-{self.events}", source, self.now)

    def _new(self, report: Report, kind: NodeKind, key: Json, props: Json | None = None,
             aliases: list[str] | None = None) -> NodeFact:
        return self.world.census.count(report.describe(node_fact(kind, key, props, aliases or ())))

    def _hex(self, characters: int) -> str:
        return f"{self.rng.getrandbits(4 * characters):0{characters}x}"

    def _first_version(self) -> list[int]:
        # Many services start at 1.0.0 or 0.1.0, so some versions are shared by hundreds of services.
        roll = self.rng.random()
        if roll < 0.15:
            return [1, 0, 0]
        if roll < 0.25:
            return [0, 1, 0]
        return [self.rng.randint(0, 4), self.rng.randint(0, 15), 0]

    def _bump_version(self) -> None:
        roll = self.rng.random()
        major, minor, patch = self.version
        self.version = [major + 1, 0, 0] if roll < 0.05 else [major, minor + 1, 0] if roll < 0.25 else \
            [major, minor, patch + 1]

    @property
    def _semver(self) -> str:
        return display_version(".".join(map(str, self.version)))

    def _ci_run(self, report: Report, purpose: str, commit: NodeFact) -> NodeFact:
        self.world.next_run += self.rng.randint(1, 40)
        run_id = str(self.world.next_run)
        if self.ci == "github-actions":
            url = f"https://github.com/{self.repo_url.split('github.com/')[-1]}/actions/runs/{run_id}"
        else:
            url = f"{self.repo_url.split('/_git/')[0]}/_build/results?buildId={run_id}"
        run = self._new(report, NodeKind.RUN, {"system": self.ci, "id": run_id}, {
            "workflow": purpose, "trigger": "push" if purpose == "ci" else "workflow_dispatch", "attempt": 1,
            "conclusion": "success" if self.rng.random() < 0.9 else "failure", "url": url})
        report.link(run, commit, EdgeKind.AT_COMMIT)
        return run

    # Sources -----------------------------------------------------------------------------------
    def _push(self) -> Report:
        """A git push: a few commits on main, each with its author, repository and parent."""
        report = self._report("git")
        if self.repo is None:
            self.repo = self._new(report, NodeKind.REPO, {"url": self.repo_url}, {"default_branch": "main"})
        self.pushed = []
        for _ in range(1 + int(self.rng.expovariate(1 / (self.shape.commits_per_release - 1)))):
            author = self.rng.choice(self.team)
            if self.bot_rng.random() < self.shape.bot_commits:
                author = self.world.bot()
                self.world.widen(f"person {BOT_AUTHOR}")
            if author.key["id"] not in self.world.described_people:
                self.world.described_people.add(author.key["id"])
                self.world.census.count(report.describe(author))
            commit = self._new(report, NodeKind.COMMIT, {"repo": self.repo_url, "sha": self._hex(40)}, {
                "author": author.key["id"], "committed_at": _iso(self._tick(hours=self.rng.uniform(0.1, 8))),
                "message": f"{self.rng.choice(('fix', 'feat', 'chore', 'prep', 'api'))}: change {self._hex(6)}",
                "branch": "main"})
            report.link(commit, self.repo, EdgeKind.IN_REPO)
            report.link(commit, author, EdgeKind.AUTHORED_BY)
            if self.commits:
                report.link(commit, self.commits[-1], EdgeKind.PARENT)
            self.commits.append(commit)
            self.pushed.append(commit)
        return report

    def _ci_runs(self) -> Iterator[Report]:
        for commit in self.pushed:
            if self.rng.random() < self.shape.ci_run_per_commit:
                report = self._report(self.ci)
                self._ci_run(report, "ci", commit)
                yield report

    def _raw_versions(self) -> Iterator[Report]:
        """New versions of the service's raw data assets, each derived from the previous version."""
        report = self._report("azureml")
        for name in self.raw:
            previous = self.raw_latest.get(name)
            if previous is not None and self.rng.random() >= self.shape.new_raw_version:
                continue
            version = str(int(previous.key["version"]) + 1) if previous else "1"
            dataset = self._new(report, NodeKind.DATASET, {"name": name, "version": version}, {
                "uri": f"azureml://datastores/workspaceblobstore/paths/{name}/v{version}/", "type": "uri_folder",
                "created": _iso(self.now)})
            self.world.census.datasets.append((name, version, False))
            if previous is not None:
                report.link(dataset, previous, EdgeKind.DERIVED_FROM, Evidence.DECLARED)
            self.raw_latest[name] = dataset
        if report.nodes:
            yield report

    def _training(self) -> Report:
        """A CI run submits the Azure ML pipeline prep → train → evaluate → register."""
        self._tick(hours=self.rng.uniform(1, 24))
        report = self._report(self.ci)
        code = self.commits[-1]
        run = self._ci_run(report, "train", code)
        pipeline_id = f"{self.rng.choice(_ADJECTIVES)}_{self.rng.choice(_NOUNS)}_{self._hex(10)}"
        git = {"azureml.git.commit": code.key["sha"], "azureml.git.repository_uri": self.repo_url,
               "azureml.git.dirty": "True" if self.rng.random() < self.shape.dirty_tree else "False"}
        pipeline = self._new(report, NodeKind.JOB, {"system": "azureml", "id": pipeline_id}, {
            "type": "pipeline", "display_name": f"{self.name}-training", "status": "Completed", "properties": git})
        report.link(pipeline, run, EdgeKind.TRIGGERED_BY, Evidence.DECLARED)
        report.link(pipeline, code, EdgeKind.RAN_CODE)
        steps = {step: self._new(report, NodeKind.JOB, {"system": "azureml", "id": f"{pipeline_id}_{step}"}, {
            "type": "command", "display_name": step, "status": "Completed", "component": f"{step}:1",
            "properties": git}) for step in _STEPS}
        for step in steps.values():
            report.link(step, pipeline, EdgeKind.PART_OF)
            report.link(step, code, EdgeKind.RAN_CODE)
        self._prepare_data(report, steps)
        self.model_version += 1
        metrics = {"r2": round(self.rng.uniform(0.6, 0.95), 3), "rmse": round(self.rng.uniform(1, 6), 3)}
        self.model = self._new(
            report, NodeKind.MODEL, {"name": f"{self.name}-model", "version": str(self.model_version)},
            {"type": "mlflow_model", "tags": {"git_sha": code.key["sha"]}, "metrics": metrics,
             "registered_at": _iso(self.now)})
        report.link(self.model, steps["train_model"], EdgeKind.PRODUCED_BY)
        return report

    def _prepare_data(self, report: Report, steps: dict[str, NodeFact]) -> None:
        prep = steps["prep_data"]
        inputs = list(self.raw_latest.values())
        if self.shared is not None:
            week = min(SHARED_WEEKS - 1, (self.now - EPOCH).days // 7)
            inputs.append(self.world.shared_dataset(self.shared, week))
        for dataset in inputs:
            asked = {"requested_as": "latest"} if self.rng.random() < 0.3 else None
            report.link(prep, dataset, EdgeKind.CONSUMED, props=asked)
        self.prepped += 1
        if self.world.shape.reads_reference_data:
            reference = self.world.reference_dataset()
            for step in ("prep_data", "train_model", "evaluate_model"):
                report.link(steps[step], reference, EdgeKind.CONSUMED)
                self.world.widen("dataset {}:{}".format(*REFERENCE_DATASET))
        for split, consumer in (("train", "train_model"), ("test", "evaluate_model")):
            key = {"name": f"{self.name}-{split}", "version": str(self.prepped)}
            prepared = self._new(report, NodeKind.DATASET, key,
                                 {"type": "uri_folder", "tags": {"git_sha": self.commits[-1].key["sha"]}})
            report.link(prepared, prep, EdgeKind.PRODUCED_BY)
            if split == "train":
                for dataset in inputs:
                    report.link(prepared, dataset, EdgeKind.DERIVED_FROM)
            report.link(steps[consumer], prepared, EdgeKind.CONSUMED)

    def _image_build(self) -> Report:
        """CI builds the API image, tagged with the SHA, its short form and the semver, in each registry."""
        self._tick(hours=self.rng.uniform(0.2, 3))
        report = self._report(self.ci)
        code = self.commits[-1]
        sha = code.key["sha"]
        tags = [f"{registry}:{tag}" for registry in self.registries for tag in (sha, sha[:7], self._semver)]
        self.image = self._new(report, NodeKind.IMAGE, {"digest": "sha256:" + self._hex(64)}, {
            "repositories": self.registries, "created": _iso(self.now), "size": self.rng.randrange(300, 1500) * 10**6,
            "labels": {"org.opencontainers.image.revision": sha, "org.opencontainers.image.version": self._semver,
                       "org.opencontainers.image.source": self.repo_url}}, aliases=tags)
        run = self._ci_run(report, "build", code)
        report.link(self.image, code, EdgeKind.BUILT_FROM, Evidence.DECLARED)
        report.link(self.image, run, EdgeKind.BUILT_BY, Evidence.DECLARED)
        if self.model is not None:
            report.link(self.image, self.model, EdgeKind.BUNDLES, Evidence.DECLARED)
        return report

    def _deploy(self, env: str) -> Report:
        """A new deployment revision in ``env``; the one it replaces is reported as no longer live."""
        report = self._report("kubernetes" if self.platform == "kubernetes" else "azureml")
        assert self.image is not None, "a service deploys only after its first image build"
        self.revision[env] += 1
        key = {"platform": self.platform, "cluster": self.cluster[env], "namespace": env, "name": self.name,
               "revision": str(self.revision[env])}
        model_env = {"MODEL_NAME": self.model.key["name"], "MODEL_VERSION": self.model.key["version"]} \
            if self.model is not None else {}
        deployment = self._new(report, NodeKind.DEPLOYMENT, key, {
            "environment": env, "replicas": 3 if env == "prod" else 1, "active_from": _iso(self.now),
            "env": {"API_VERSION": self._semver, **model_env},
            "containers": [{"name": "api", "image": f"{self.registries[0]}@{self.image.key['digest']}"}]})
        api = node_fact(NodeKind.API, {"service": self.name, "version": self._semver})
        if env == "dev":
            self._new(report, NodeKind.API, api.key, {"released_at": _iso(self.now)})
            self.world.released(self.name, self._semver)
        report.link(api, deployment, EdgeKind.SERVED_BY, valid_from=self.now)
        report.link(deployment, self.image, EdgeKind.RUNS_IMAGE)
        if self.model is not None:
            report.link(deployment, self.model, EdgeKind.SERVES_MODEL, Evidence.DECLARED,
                        props={"env_var": "MODEL_VERSION"})
        if env in self.live:
            self._retire(report, *self.live[env])
        self.live[env] = (api, deployment, self.now)
        return report

    def _retire(self, report: Report, api: NodeFact, deployment: NodeFact, since: datetime) -> None:
        report.describe(node_fact(deployment.kind, deployment.key, {"active_to": _iso(self.now)}))
        report.link(api, deployment, EdgeKind.SERVED_BY, valid_from=since, valid_to=self.now)
