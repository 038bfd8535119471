"""Coverage: which live deployments and releases have an incomplete chain, and what would fill each gap.

``lineage gaps`` and ``GET /v1/gaps``. A live deployment's chain is complete when each link an
on-call engineer needs is recorded:

- ``no-image-digest``: the deployment has a ``runs_image`` link (the digest it runs);
- ``no-commit``: each image it runs was ``built_from`` a commit (or ``built_by`` a run ``at_commit``);
- ``no-model``: it names a model (``serves_model``, or its image ``bundles`` one);
- ``no-training-job``: each such model was ``produced_by`` a job;
- ``no-dataset``: each training job (or its pipeline's steps) ``consumed`` a dataset.

A live release (an API served by a live deployment) is complete when all its live deployments are.
``coverage`` is the share of live releases (and of live deployments) with a complete chain. All
live deployments are walked upstream at once, in one store query.
"""

from __future__ import annotations

from typing import Any

from graph_schema.edges import UNTRAVERSED
from lineage_service.query.chain import Chain, ref_json
from lineage_service.query.timeline import SCAN_LIMIT, served_by_links
from lineage_service.query.trace import DEFAULT_DEPTH
from lineage_service.query.windows import deployment_window, environment, iso
from lineage_service.store.base import Direction, GraphStore, Node

Json = dict[str, Any]

FIXES = {
    "no-image-digest": "report the running digest: a cluster collector, or `lineage emit deployment --image "
                       "REF@DIGEST …` in the deploy step",
    "no-commit": "record the build: `lineage emit image REF@DIGEST --tag …` in the CI step that pushes it (it links "
                 "the commit and the run)",
    "no-model": "name the model: MODEL_NAME and MODEL_VERSION in the deployment's env (`lineage emit deployment "
                "--model NAME:VERSION`), or `lineage emit image … --model NAME:VERSION` in the build step",
    "no-training-job": "record the training: `lineage emit training --job ID --model {model} --input DATA:VERSION` "
                       "in the training pipeline (or collect the Azure ML job that registered it)",
    "no-dataset": "record what it read: `lineage emit training --job {job} --input NAME:VERSION …` (NAME:latest "
                  "asks the service which version that is)",
}
WALK_LIMIT = 100_000


def gaps(store: GraphStore, env: str | None = None) -> Json:
    candidates = store.find_nodes("deployment", limit=SCAN_LIMIT)
    if env:
        candidates = [n for n in candidates if env in (environment(n), n.key["namespace"])]
    served = served_by_links(store, candidates)
    live = sorted((n for n in candidates if deployment_window(n, served[n.id]).open),
                  key=lambda n: (environment(n), n.key["cluster"], n.label))
    notes = []
    deployments: list[Json] = []
    if live:
        graph = store.walk([n.id for n in live], Direction.UPSTREAM, DEFAULT_DEPTH, skip_edge_kinds=UNTRAVERSED,
                           limit=WALK_LIMIT)
        if graph.truncated:
            notes.append(f"the walk stopped at {WALK_LIMIT} nodes: links past it are not checked; narrow with --env")
        chain = Chain(live[0], graph)
        apis = {n.id: n for n in store.get_nodes({e.source for n in live for e in served[n.id]})}
        for deployment in live:
            found = _deployment_gaps(chain, deployment)
            current = sorted({apis[e.source].label for e in served[deployment.id]
                              if e.valid_to is None and e.source in apis})
            deployments.append({**ref_json(deployment), "environment": environment(deployment),
                                "cluster": deployment.key["cluster"],
                                "active_from": iso(deployment_window(deployment, served[deployment.id]).start),
                                "apis": current, "complete": not found, "gaps": found})
    releases: dict[str, Json] = {}
    for row in deployments:
        for api in row["apis"]:
            entry = releases.setdefault(api, {"label": api, "deployments": [], "complete": True, "gaps": []})
            entry["deployments"].append(row["label"])
            entry["complete"] = entry["complete"] and row["complete"]
            entry["gaps"] += [{**gap, "deployment": row["label"]} for gap in row["gaps"]]
    release_rows = sorted(releases.values(), key=lambda r: (r["complete"], r["label"]))
    answer: Json = {
        "env": env,
        "coverage": {"releases": _share(release_rows), "deployments": _share(deployments)},
        "summary": "",
        "releases": release_rows,
        "deployments": sorted(deployments, key=lambda r: (r["complete"], r["environment"], r["label"])),
        "notes": notes,
    }
    answer["summary"] = _summary(answer["coverage"], env)
    return answer


def _share(rows: list[Json]) -> Json:
    complete = sum(1 for row in rows if row["complete"])
    return {"live": len(rows), "complete": complete,
            "percent": round(100 * complete / len(rows), 1) if rows else None}


def _summary(coverage: Json, env: str | None) -> str:
    where = f" in {env}" if env else ""
    releases, deployments = coverage["releases"], coverage["deployments"]
    if not deployments["live"]:
        return f"nothing is live{where}: no deployment without an end (active_to) is recorded"
    return (f"{releases['complete']} of {releases['live']} live releases{where} have a complete chain"
            + (f" ({releases['percent']:g}%)" if releases["percent"] is not None else "")
            + f"; {deployments['complete']} of {deployments['live']} live deployments")


def _gap(kind: str, node: Node, message: str, **names: str) -> Json:
    return {"gap": kind, "node": ref_json(node), "message": message, "fix": FIXES[kind].format(**names)}


def _deployment_gaps(chain: Chain, deployment: Node) -> list[Json]:
    """The links missing from one deployment's chain; a node the walk did not expand proves nothing."""
    found: list[Json] = []
    if not chain.walked(deployment.id):
        return found
    images = chain.targets(deployment.id, "runs_image")
    if not images:
        found.append(_gap("no-image-digest", deployment, f"deployment {deployment.label} has no image digest "
                          f"recorded"))
    for image in images:
        if chain.walked(image.id) and not chain.image_commits(image):
            found.append(_gap("no-commit", image, f"image {image.label} has no source commit recorded"))
    models = {m.id: m for m in chain.served_models(deployment)}
    models.update((m.id, m) for i in images if chain.walked(i.id) for m in chain.bundled_models(i))
    if not models:
        found.append(_gap("no-model", deployment, f"deployment {deployment.label} names no model (no MODEL_VERSION "
                          f"link, none bundled in its image), so no training job or data can be found"))
    for model in sorted(models.values(), key=lambda n: n.label):
        if not chain.walked(model.id):
            continue
        jobs = chain.targets(model.id, "produced_by")
        if not jobs:
            found.append(_gap("no-training-job", model, f"model {model.label} has no training job recorded",
                              model=model.label))
        for job in jobs:
            if chain.walked(job.id) and not chain.job_inputs(job):
                found.append(_gap("no-dataset", job, f"training job {job.label} has no input datasets recorded",
                                  job=job.key["id"]))
    return found
