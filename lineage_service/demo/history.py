"""The demo history: the taxi-fare regression project of the MLOps v2 accelerator.

Two releases of the taxi fare API, told as the lineage events the pipelines and collectors of
that project would send: a git push, Azure ML data assets (yellow and green taxi data), two runs
of the prep → train → evaluate → register pipeline submitted from GitHub Actions, images tagged
with the git SHA and a semver (the ``docker images`` table of the course), and Kubernetes
deployments in dev and prod whose environment carries ``API_VERSION`` and ``MODEL_VERSION``.

v1.2.3 changed both the code (commit 05ee055) and the model: taxi-model:3 was retrained after
the prep code changed, on green-taxi-data:5, which the pipeline asked for as ``latest``.

A release candidate, v1.2.4-rc1, runs beside them in dev as its own deployment (``dev/taxi-api-rc``),
so that v1.2.2 and v1.2.3 answer exactly as before. It carries what ``lineage verify`` and
``lineage gaps`` exist to find: a drift (a hotfix rebuilt on a laptop and pushed over the CI-built
tag, which the next rollout pulled) and a gap (its build recorded no model, so no training job or
data can be found for it).
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

REPO = "https://github.com/nathansegers/mlops-2.0"
IMAGE = "ghcr.io/nathansegers/azure-mlops-api"
DOCKER_HUB_IMAGE = "nathansegers/azure-mlops-api"
WORKSPACE = "mlw-taxi-prod"

COMMITS = [
    # sha, author, when, message
    ("8d1f2e0b6c4a7d9e1f3b5a7c9e0d2f4a6b8c1e3d", "nathan.segers@example.com", "2026-10-02T09:14:00Z",
     "Add prep, train, evaluate and register components"),
    ("a3c97f1d2e4b6a8c0e2d4f6a8b0c2e4d6f8a1b3c", "nathan.segers@example.com", "2026-10-05T16:40:00Z",
     "Tag data assets, jobs and models with the GitHub SHA"),
    ("5b7e2c9a1f3d5e7b9c1a3e5f7d9b1c3a5e7f9d2b", "ava.peeters@example.com", "2026-11-03T11:02:00Z",
     "prep: drop zero-distance trips and cap fares at 250"),
    ("05ee055698af2171294615a1e423f71f4098628e", "tom.dewulf@example.com", "2026-11-10T13:27:00Z",
     "api: return a fare interval from /predict"),
]
V122_SHA, V123_SHA = COMMITS[1][0], COMMITS[3][0]
PREP_CHANGE_SHA = COMMITS[2][0]
RC_SHA = "6045a20cfdd25bae1a41b26b604602ab032be0e9"
RC_DIGEST = "sha256:11dd084447d8841eefd47e15492b7ccd8e1292007dc1bb35d8a27ba7c08f73f3"  # what CI built
HOTFIX_DIGEST = "sha256:0df72004f5b8313ea09ddd0bc943fe4853c3b9bf5b87fe9c0efaf8fb19c1132d"  # pushed by hand
RC_VERSION = "v1.2.4-rc1"
V122_DIGEST = "sha256:9a1c0e7f3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a"
V123_DIGEST = "sha256:3f49a154a09c6e2b8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b"


def commit(sha: str) -> Json:
    return {"kind": "commit", "key": {"repo": REPO, "sha": sha}}


def node(kind: str, key: Json, props: Json | None = None, aliases: list[str] | None = None) -> Json:
    result: Json = {"kind": kind, "key": key}
    if props:
        result["props"] = props
    if aliases:
        result["aliases"] = aliases
    return result


def ref(n: Json) -> Json:
    return {"kind": n["kind"], "key": n["key"]}


def edge(source: Json, target: Json, evidence: str = "declared", **props: Any) -> Json:
    result: Json = {"source": ref(source), "target": ref(target), "evidence": evidence}
    for name in ("kind", "valid_from", "valid_to"):
        if name in props:
            result[name] = props.pop(name)
    if props:
        result["props"] = props
    return result


def event(event_id: str, time: str, source: str, nodes: list[Json], edges: list[Json]) -> Json:
    # Endpoints must be declared; declare each once, keeping the richest description.
    declared: dict[str, Json] = {}
    for n in nodes + [e[end] for e in edges for end in ("source", "target")]:
        declared.setdefault(repr((n["kind"], sorted(n["key"].items()))), n)
    return {"schema": "lineage-event/1", "id": event_id, "time": time, "source": source,
            "nodes": list(declared.values()), "edges": edges}


def git_push() -> Json:
    repo = node("repo", {"url": REPO}, {"default_branch": "main"})
    nodes, edges, parent = [repo], [], None
    for sha, author, when, message in COMMITS:
        c = node("commit", commit(sha)["key"], {"author": author, "message": message, "committed_at": when,
                                                "branch": "main"})
        person = node("person", {"id": author})
        nodes += [c, person]
        edges += [edge(c, repo, "observed"), edge(c, person, "observed")]
        if parent:
            edges.append(edge(c, parent, "observed"))
        parent = c
    return event("demo-git-push-main", COMMITS[-1][2], "git", nodes, edges)


def dataset(name: str, version: int, **props: Any) -> Json:
    return node("dataset", {"name": name, "version": str(version)}, props or None)


def raw_data_assets() -> Json:
    nodes = [
        dataset(name, version, uri=f"azureml://datastores/workspaceblobstore/paths/taxi/{name}/v{version}/",
                type="uri_folder", created=created)
        for name, version, created in [
            ("green-taxi-data", 3, "2026-09-01T00:00:00Z"), ("green-taxi-data", 4, "2026-10-01T00:00:00Z"),
            ("green-taxi-data", 5, "2026-11-01T00:00:00Z"), ("yellow-taxi-data", 2, "2026-09-15T00:00:00Z"),
            ("yellow-taxi-data", 3, "2026-11-01T00:00:00Z"),
        ]
    ]
    return event("demo-azureml-data-assets", "2026-11-01T06:00:00Z", "azureml", nodes, [])


def training_pipeline(
    *, run_id: str, pipeline_job: str, sha: str, when: str, green: int, yellow: int, prepped: int,
    model_version: int, metrics: Json, green_requested_as: str | None = None,
) -> Json:
    """One GitHub Actions run submitting the Azure ML pipeline prep → train → evaluate → register."""
    run = node("run", {"system": "github-actions", "id": run_id}, {
        "workflow": "MLOps Azure", "repository": "nathansegers/mlops-2.0", "attempt": 1, "trigger": "workflow_dispatch",
        "inputs": {"data_prep": "true", "ai_training": "true", "api_creation": "false"}, "conclusion": "success",
        "url": f"https://github.com/nathansegers/mlops-2.0/actions/runs/{run_id}"})
    code = commit(sha)
    git_props = {"azureml.git.commit": sha, "azureml.git.repository_uri": REPO, "azureml.git.dirty": "False",
                 "mlflow.source.git.commit": sha}
    pipeline = node("job", {"system": "azureml", "id": pipeline_job}, {
        "type": "pipeline", "display_name": "taxi-training-pipeline", "experiment": "taxi-fare-regression",
        "status": "Completed", "workspace": WORKSPACE, "tags": {"git_sha": sha}, "properties": git_props})

    def step(name: str, **props: Any) -> Json:
        return node("job", {"system": "azureml", "id": f"{pipeline_job}_{name}"}, {
            "type": "command", "display_name": name, "status": "Completed", "workspace": WORKSPACE,
            "component": f"{name}:1", "properties": git_props, "tags": {"git_sha": sha}, **props})

    prep, train = step("prep_data"), step("train_model", compute="cpu-cluster", parameters={"fit_intercept": True})
    evaluate, register = step("evaluate_model", metrics=metrics), step("register_model")
    green_data, yellow_data = dataset("green-taxi-data", green), dataset("yellow-taxi-data", yellow)
    train_data = dataset("taxi-train-data", prepped, tags={"git_sha": sha}, type="uri_folder")
    test_data = dataset("taxi-test-data", prepped, tags={"git_sha": sha}, type="uri_folder")
    model = node("model", {"name": "taxi-model", "version": str(model_version)}, {
        "type": "mlflow_model", "tags": {"git_sha": sha}, "metrics": metrics, "registered_at": when,
        "workspace": WORKSPACE})
    green_props = {"requested_as": green_requested_as} if green_requested_as else {}
    edges = [
        edge(run, code, "observed"),
        edge(pipeline, run, "declared"), edge(pipeline, code, "observed"),
        *[edge(s, pipeline, "observed") for s in (prep, train, evaluate, register)],
        *[edge(s, code, "observed") for s in (prep, train, evaluate, register)],
        edge(prep, green_data, "observed", **green_props), edge(prep, yellow_data, "observed"),
        edge(train_data, prep, "observed"), edge(test_data, prep, "observed"),
        edge(train_data, green_data, "observed"), edge(train_data, yellow_data, "observed"),
        edge(train, train_data, "observed"), edge(evaluate, test_data, "observed"),
        edge(model, train, "observed"),
    ]
    nodes = [run, pipeline, prep, train, evaluate, register, green_data, yellow_data, train_data, test_data, model]
    return event(f"demo-gha-{run_id}-train", when, "github-actions", nodes, edges)


def image_build(*, run_id: str, sha: str, digest: str, version: str, model_version: int, when: str) -> Json:
    short = sha[:7]
    tags = [f"{IMAGE}:{sha}", f"{IMAGE}:{short}", f"{IMAGE}:{version}",
            f"{DOCKER_HUB_IMAGE}:{version}", f"{DOCKER_HUB_IMAGE}:{sha}"]
    if version == "v1.2.3":
        tags += [f"{IMAGE}:customer-release", f"{IMAGE}:latest"]
    image = node("image", {"digest": digest}, {
        "repositories": [IMAGE, f"docker.io/{DOCKER_HUB_IMAGE}"], "created": when, "size": 998_000_000,
        "labels": {"org.opencontainers.image.revision": sha, "org.opencontainers.image.version": version,
                   "org.opencontainers.image.source": REPO}}, aliases=tags)
    run = node("run", {"system": "github-actions", "id": run_id}, {
        "workflow": "MLOps Azure", "repository": "nathansegers/mlops-2.0", "attempt": 1, "trigger": "push",
        "conclusion": "success", "url": f"https://github.com/nathansegers/mlops-2.0/actions/runs/{run_id}"})
    model = node("model", {"name": "taxi-model", "version": str(model_version)})
    edges = [edge(image, commit(sha), "declared"), edge(image, run, "declared"),
             edge(image, model, "declared"), edge(run, commit(sha), "observed")]
    return event(f"demo-gha-{run_id}-image", when, "github-actions", [image, run, model], edges)


def deployment(*, env: str, cluster: str, revision: int, version: str, digest: str, model_version: int | None,
               active_from: str, active_to: str | None = None, name: str = "taxi-api",
               pinned: bool = True) -> list[Json]:
    """What the cluster collector reports: the revision when it goes live, and again when it is replaced.

    Two reports, as a collector watching the cluster would send them: a link is first seen when
    it starts, so an as-of query for a time inside the window finds it. Without ``model_version``
    the pods carry no MODEL_VERSION; unless ``pinned`` the spec pulls the image by tag alone.
    """

    def report(event_id: str, time: str, ended: str | None) -> Json:
        model_env = {"MODEL_VERSION": str(model_version), "MODEL_NAME": "taxi-model"} if model_version else {}
        deploy = node("deployment", {"platform": "kubernetes", "cluster": cluster, "namespace": env,
                                     "name": name, "revision": str(revision)}, {
            "environment": env, "replicas": 3 if env == "prod" else 1, "active_from": active_from,
            **({"active_to": ended} if ended else {}),
            "env": {"API_VERSION": version, **model_env},
            "containers": [{"name": "api", "image": f"{IMAGE}:{version}" + (f"@{digest}" if pinned else "")}]})
        api = node("api", {"service": "taxi-api", "version": version}, {"released_at": active_from})
        image = node("image", {"digest": digest})
        window = {"valid_from": active_from, **({"valid_to": ended} if ended else {})}
        edges = [edge(api, deploy, "observed", **window), edge(deploy, image, "observed")]
        nodes = [api, deploy, image]
        if model_version:
            model = node("model", {"name": "taxi-model", "version": str(model_version)})
            edges.append(edge(deploy, model, "declared", env_var="MODEL_VERSION"))
            nodes.append(model)
        return event(event_id, time, "kubernetes", nodes, edges)

    event_id = f"demo-k8s-{cluster}-{env}-{name}-{revision}"
    return [report(event_id, active_from, None)] + (
        [report(f"{event_id}-replaced", active_to, active_to)] if active_to else [])


def demo_events() -> list[Json]:
    """The whole demo history, oldest first."""
    return [
        git_push(),
        raw_data_assets(),
        training_pipeline(run_id="7001122334", pipeline_job="amusing_lamp_7c9d1kq2xv", sha=V122_SHA,
                          when="2026-10-06T08:30:00Z", green=4, yellow=2, prepped=7, model_version=2,
                          metrics={"r2": 0.79, "rmse": 4.12}),
        image_build(run_id="7001122399", sha=V122_SHA, digest=V122_DIGEST, version="v1.2.2", model_version=2,
                    when="2026-10-06T10:05:00Z"),
        *deployment(env="dev", cluster="aks-mlops-dev", revision=12, version="v1.2.2", digest=V122_DIGEST,
                    model_version=2, active_from="2026-10-06T10:20:00Z", active_to="2026-11-10T15:10:00Z"),
        *deployment(env="prod", cluster="aks-mlops-prod", revision=7, version="v1.2.2", digest=V122_DIGEST,
                    model_version=2, active_from="2026-10-08T09:00:00Z", active_to="2026-11-12T09:30:00Z"),
        training_pipeline(run_id="7004455667", pipeline_job="bold_river_4t6w9p3m1s", sha=PREP_CHANGE_SHA,
                          when="2026-11-04T07:45:00Z", green=5, yellow=3, prepped=8, model_version=3,
                          metrics={"r2": 0.83, "rmse": 3.61}, green_requested_as="latest"),
        image_build(run_id="7004455701", sha=V123_SHA, digest=V123_DIGEST, version="v1.2.3", model_version=3,
                    when="2026-11-10T14:50:00Z"),
        *deployment(env="dev", cluster="aks-mlops-dev", revision=13, version="v1.2.3", digest=V123_DIGEST,
                    model_version=3, active_from="2026-11-10T15:10:00Z"),
        *deployment(env="prod", cluster="aks-mlops-prod", revision=8, version="v1.2.3", digest=V123_DIGEST,
                    model_version=3, active_from="2026-11-12T09:30:00Z"),
        *release_candidate(),
    ]


def release_candidate() -> list[Json]:
    """v1.2.4-rc1 in dev: built by CI, then replaced by a hand-made image pushed over the same tag.

    The CI build recorded no model (``lineage emit image`` without ``--model``) and the rc's pods set
    no MODEL_VERSION: the gap. The registry then saw a second digest under ``v1.2.4-rc1``, with no
    CI run and no commit, and the next rollout (the spec pulls by tag) runs it: the drift.
    """
    rc_commit = node("commit", commit(RC_SHA)["key"], {
        "author": "ava.peeters@example.com", "message": "api: accept a list of trips in /predict",
        "committed_at": "2026-11-16T09:12:00Z", "branch": "release/1.2.4"})
    person, repo = node("person", {"id": "ava.peeters@example.com"}), node("repo", {"url": REPO})
    push = event("demo-git-push-release-1.2.4", "2026-11-16T09:12:00Z", "git", [rc_commit, person, repo], [
        edge(rc_commit, repo, "observed"), edge(rc_commit, person, "observed"),
        edge(rc_commit, commit(V123_SHA), "observed")])
    run = node("run", {"system": "github-actions", "id": "7007788001"}, {
        "workflow": "MLOps Azure", "repository": "nathansegers/mlops-2.0", "attempt": 1, "trigger": "push",
        "conclusion": "success", "url": "https://github.com/nathansegers/mlops-2.0/actions/runs/7007788001"})
    built = node("image", {"digest": RC_DIGEST}, {
        "repositories": [IMAGE], "created": "2026-11-16T10:40:00Z", "size": 1_002_000_000,
        "labels": {"org.opencontainers.image.revision": RC_SHA, "org.opencontainers.image.version": RC_VERSION,
                   "org.opencontainers.image.source": REPO}},
        aliases=[f"{IMAGE}:{RC_VERSION}", f"{IMAGE}:{RC_SHA}", f"{IMAGE}:{RC_SHA[:7]}"])
    build = event("demo-gha-7007788001-image", "2026-11-16T10:40:00Z", "github-actions", [built, run], [
        edge(built, commit(RC_SHA), "declared"), edge(built, run, "declared"), edge(run, commit(RC_SHA), "observed")])
    hotfix = node("image", {"digest": HOTFIX_DIGEST}, {
        "repositories": [IMAGE], "created": "2026-11-17T16:30:00Z", "size": 1_004_000_000,
        "labels": {"org.opencontainers.image.version": RC_VERSION}}, aliases=[f"{IMAGE}:{RC_VERSION}"])
    pushed = event("demo-registry-ghcr-azure-mlops-api-v1.2.4-rc1", "2026-11-17T16:31:00Z", "registry", [hotfix], [])
    rollouts = [
        *deployment(env="dev", cluster="aks-mlops-dev", name="taxi-api-rc", revision=1, version=RC_VERSION,
                    digest=RC_DIGEST, model_version=None, pinned=False, active_from="2026-11-16T11:00:00Z",
                    active_to="2026-11-17T16:45:00Z"),
        *deployment(env="dev", cluster="aks-mlops-dev", name="taxi-api-rc", revision=2, version=RC_VERSION,
                    digest=HOTFIX_DIGEST, model_version=None, pinned=False, active_from="2026-11-17T16:45:00Z"),
    ]
    # Oldest first, as they happened: the rc#1 rollout, the hand-made push, then its replacement.
    return [push, build, rollouts[0], pushed, rollouts[1], rollouts[2]]
