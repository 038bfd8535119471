"""What changed between two nodes of one kind: ``lineage diff api v1.2.2 v1.2.3``.

Each side's upstream chain comes from one walk. The commits between the two code commits come from
two more walks over ``parent`` links only (trace skips them), bounded at ``RANGE_DEPTH`` commits:
the range is ancestors(B) − ancestors(A), as ``git log A..B`` lists it.

The answer (JSON, shared by ``lineage diff --format json`` and ``GET /v1/diff``)::

    {
      "kind": "api",
      "a": {"id", "kind", "label", "key"}, "b": {…},
      "summary": "taxi-api v1.2.2 → taxi-api v1.2.3: code changed in 2 commits by 2 authors …",
      "deployments": {"a": [{"label", "environment", "live"}], "b": […]},
      "image": {"a": [{"digest", "short", "reference", "references"}], "b": […], "changed": bool,
                "tags_added": [ref…], "tags_removed": [ref…]},
      "code": {"a": [commit], "b": [commit], "changed": bool,
               "range": {"status": "same" | "ahead" | "behind" | "diverged" | "unknown" | "none",
                         "commits": [commit], "authors": [email…], "complete": bool,
                         "reason": str | null, "fix": str | null}},
      "model": {"a": [model], "b": [model], "changed": bool, "retrained": bool,
                "versions": [{"name", "a": [version…], "b": […], "change"}],
                "metrics": [{"name", "a", "b"}], "parameters": [{"name", "a", "b"}]},
      "datasets": [{"name", "a": [version…], "b": […], "change": "changed" | "added" | "removed" | "same",
                    "requested_as": {"a": str | null, "b": str | null}}],
      "env": [{"name", "a": str | null, "b": str | null, "change"}],
      "warnings": [str], "notes": [str]
    }

A commit is ``{"sha", "short", "repo", "author", "message", "committed_at"}``; a model is
``{"label", "name", "version", "metrics", "job": {"label", "name", "commit", "parameters", "metrics"} | null}``.
``change`` is ``changed``, ``added`` (only in B), ``removed`` (only in A) or ``same``.
"""

from __future__ import annotations

from typing import Any

from graph_schema.edges import EdgeKind
from graph_schema.kinds import parse_kind
from lineage_service.query.chain import Chain, commit_json, image_json, plural, prop_dict, ref_json, walk_chain
from lineage_service.query.references import resolve
from lineage_service.query.trace import gaps
from lineage_service.query.windows import deployment_window, environment
from lineage_service.store.base import Direction, GraphStore, Node

Json = dict[str, Any]

RANGE_DEPTH = 1000  # commits walked back from each side; a release rarely spans more
RANGE_LIMIT = 5000
_ONLY_PARENTS = frozenset(kind.value for kind in EdgeKind if kind is not EdgeKind.PARENT)
GIT_COLLECTOR_FIX = ("record commit parents with the git collector: `lineage collect git --repo <clone of {repo}>` "
                     "(or its webhook), then diff again")


def diff(store: GraphStore, kind: str, a_ref: str, b_ref: str) -> Json:
    node_kind = parse_kind(kind)
    a, b = resolve(store, node_kind.value, a_ref), resolve(store, node_kind.value, b_ref)
    left, right = walk_chain(store, a.node), walk_chain(store, b.node)
    code = _code(store, left, right)
    model = _models(left, right)
    datasets = _datasets(left, right)
    image = _images(left, right)
    env = _env(left, right)
    answer: Json = {
        "kind": node_kind.value, "a": ref_json(a.node), "b": ref_json(b.node),
        "summary": "",
        "deployments": {"a": _deployments(left), "b": _deployments(right)},
        "image": image, "code": code, "model": model, "datasets": datasets, "env": env,
        "warnings": [f"{chain.root.label}: {w}" for chain in (left, right)
                     for w in gaps(chain.graph, chain.depth)],
        "notes": [note for note in (a.note, b.note) if note],
    }
    answer["summary"] = _summary(a.node, b.node, answer)
    return answer


# Sections --------------------------------------------------------------------------------------

def _deployments(chain: Chain) -> list[Json]:
    return [{"label": d.label, "environment": environment(d), "live": deployment_window(d).open}
            for d in chain.deployments()]


def _images(left: Chain, right: Chain) -> Json:
    a, b = left.images(), right.images()
    tags_a = {ref for image in a for ref in image.aliases}
    tags_b = {ref for image in b for ref in image.aliases}
    return {"a": [image_json(i) for i in a], "b": [image_json(i) for i in b],
            "changed": {i.id for i in a} != {i.id for i in b},
            "tags_added": sorted(tags_b - tags_a), "tags_removed": sorted(tags_a - tags_b)}


def _code(store: GraphStore, left: Chain, right: Chain) -> Json:
    a, b = left.code_commits(), right.code_commits()
    section: Json = {"a": [commit_json(c) for c in a], "b": [commit_json(c) for c in b],
                     "changed": {c.id for c in a} != {c.id for c in b}}
    if len(a) == 1 and len(b) == 1:
        section["range"] = commit_range(store, a[0], b[0])
    else:
        reason = ("no code commit is recorded for " + " or ".join(
            chain.root.label for chain, commits in ((left, a), (right, b)) if not commits)) if not (a and b) else (
            "several code commits on one side; diff the images or commits themselves")
        section["range"] = {"status": "none" if not (a and b) else "unknown", "commits": [], "authors": [],
                            "complete": False, "reason": reason, "fix": None}
    return section


def commit_range(store: GraphStore, a: Node, b: Node) -> Json:
    """The commits in B's history that are not in A's, newest first, or why they are unknown."""
    result: Json = {"status": "same", "commits": [], "authors": [], "complete": True, "reason": None, "fix": None}
    if a.id == b.id:
        return result
    ancestors_b = store.walk([b.id], Direction.UPSTREAM, RANGE_DEPTH, skip_edge_kinds=_ONLY_PARENTS,
                             limit=RANGE_LIMIT)
    ancestors_a = store.walk([a.id], Direction.UPSTREAM, RANGE_DEPTH, skip_edge_kinds=_ONLY_PARENTS,
                             limit=RANGE_LIMIT)
    in_a, in_b = set(ancestors_a.depth_of), set(ancestors_b.depth_of)
    if a.id in in_b:
        status, only, graph = "ahead", in_b - in_a, ancestors_b
    elif b.id in in_a:
        # B is older than A: list what going from A back to B takes away.
        status, only, graph = "behind", in_a - in_b, ancestors_a
    elif in_a & in_b:
        status, only, graph = "diverged", in_b - in_a, ancestors_b
    else:
        return {**result, "status": "unknown", "complete": False, **_why_unknown(a, b, ancestors_a.truncated
                                                                                 or ancestors_b.truncated,
                                                                                 len(in_a), len(in_b))}
    by_id = {n.id: n for n in graph.nodes}
    commits = sorted((by_id[i] for i in only if i in by_id),
                     key=lambda n: (graph.depth_of[n.id], str(n.props.get("committed_at") or "")))
    listed = [commit_json(c) for c in commits]
    result.update(status=status, commits=listed, authors=sorted({c["author"] for c in listed if c["author"]}),
                  complete=not (ancestors_a.truncated or ancestors_b.truncated))
    if status == "diverged":
        result["reason"] = (f"{a.label} is not an ancestor of {b.label} (different branches): listed are the "
                            f"commits of {b.label} since their common history")
    if not result["complete"]:
        result["reason"] = f"more than {RANGE_DEPTH} commits apart: the list is cut"
    return result


def _why_unknown(a: Node, b: Node, truncated: bool, count_a: int, count_b: int) -> Json:
    if a.key["repo"] != b.key["repo"]:
        return {"reason": f"{a.label} and {b.label} are in different repositories ({a.key['repo']}, "
                          f"{b.key['repo']})", "fix": None}
    if truncated:
        return {"reason": f"no common history within {RANGE_DEPTH} commits", "fix": None}
    lacking = [c.label for c, count in ((b, count_b), (a, count_a)) if count <= 1]
    if lacking:
        reason = f"the graph has no parent links for {' and '.join(lacking)}"
    else:
        reason = f"the parent links recorded do not connect {a.label} and {b.label}"
    return {"reason": reason, "fix": GIT_COLLECTOR_FIX.format(repo=b.key["repo"])}


def _model_json(chain: Chain, model: Node) -> Json:
    jobs = chain.targets(model.id, "produced_by")
    job = jobs[0] if jobs else None
    job_json = None
    if job is not None:
        commits = chain.job_commits(job)
        job_json = {"label": job.label, "name": job.props.get("display_name"),
                    "commit": commits[0].key["sha"][:7] if commits else None,
                    "parameters": _mapping(job.props.get("parameters")), "metrics": _mapping(job.props.get("metrics"))}
    return {"label": model.label, "name": model.key["name"], "version": model.key["version"],
            "metrics": _mapping(model.props.get("metrics")), "job": job_json}


def _mapping(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _models(left: Chain, right: Chain) -> Json:
    a = [_model_json(left, m) for m in left.models()]
    b = [_model_json(right, m) for m in right.models()]
    versions = _by_name([(m["name"], m["version"]) for m in a], [(m["name"], m["version"]) for m in b])
    section: Json = {"a": a, "b": b, "changed": any(v["change"] != "same" for v in versions),
                     "retrained": any(v["change"] == "changed" for v in versions),
                     "versions": versions, "metrics": [], "parameters": []}
    if len(a) == 1 and len(b) == 1:
        def metrics(model: Json) -> dict[str, Any]:
            return {**((model["job"] or {}).get("metrics") or {}), **model["metrics"]}

        section["metrics"] = _changed_values(metrics(a[0]), metrics(b[0]))
        section["parameters"] = _changed_values((a[0]["job"] or {}).get("parameters") or {},
                                                (b[0]["job"] or {}).get("parameters") or {})
    return section


def _changed_values(a: dict[str, Any], b: dict[str, Any]) -> list[Json]:
    return [{"name": name, "a": a.get(name), "b": b.get(name)} for name in sorted(set(a) | set(b))
            if a.get(name) != b.get(name)]


def _by_name(a: list[tuple[str, str]], b: list[tuple[str, str]]) -> list[Json]:
    names = sorted({name for name, _ in a} | {name for name, _ in b})
    rows = []
    for name in names:
        left = sorted({v for n, v in a if n == name}, key=_version_order)
        right = sorted({v for n, v in b if n == name}, key=_version_order)
        change = "added" if not left else "removed" if not right else "same" if left == right else "changed"
        rows.append({"name": name, "a": left, "b": right, "change": change})
    return rows


def _version_order(version: str) -> tuple[int, int | str]:
    return (0, int(version)) if version.isdigit() else (1, version)


def _datasets(left: Chain, right: Chain) -> list[Json]:
    rows = _by_name([(d.key["name"], d.key["version"]) for d in left.datasets()],
                    [(d.key["name"], d.key["version"]) for d in right.datasets()])
    asked = {side: {d.key["name"]: chain.requested_as(d) for d in chain.datasets() if chain.requested_as(d)}
             for side, chain in (("a", left), ("b", right))}
    # Nearest the release first (the training data), then what it was derived from.
    depth = {d.key["name"]: chain.graph.depth_of.get(d.id, 0) for chain in (right, left) for d in chain.datasets()}
    rows.sort(key=lambda row: (depth.get(row["name"], 0), row["name"]))
    return [{**row, "requested_as": {"a": asked["a"].get(row["name"]), "b": asked["b"].get(row["name"])}}
            for row in rows]


def _env(left: Chain, right: Chain) -> list[Json]:
    def values(chain: Chain) -> dict[str, str]:
        seen: dict[str, set[str]] = {}
        for deployment in chain.deployments():
            for name, value in prop_dict(deployment, "env").items():
                seen.setdefault(str(name), set()).add(str(value))
        # Deployments of one release normally agree; when they do not, both values show.
        return {name: " | ".join(sorted(found)) for name, found in seen.items()}

    a, b = values(left), values(right)
    rows = []
    for name in sorted(set(a) | set(b)):
        change = "added" if name not in a else "removed" if name not in b else "same" if a[name] == b[name] \
            else "changed"
        rows.append({"name": name, "a": a.get(name), "b": b.get(name), "change": change})
    return rows


# The one-paragraph summary -----------------------------------------------------------------------

def _summary(a: Node, b: Node, answer: Json) -> str:
    if a.id == b.id:
        return f"{a.label} and {b.label} are the same node: nothing changed."
    parts = [_code_phrase(answer["code"]), _model_phrase(answer["model"], answer["datasets"]),
             _image_phrase(answer["image"]), _env_phrase(answer["env"])]
    return f"{a.label} → {b.label}: " + "; ".join(p for p in parts if p) + "."


def _code_phrase(code: Json) -> str:
    a, b, span = code["a"], code["b"], code["range"]
    if not a and not b:
        return ""
    if span["status"] == "none":
        return f"code: {span['reason']}"
    ends = f"{', '.join(c['short'] for c in a)} → {', '.join(c['short'] for c in b)}"
    match span["status"]:
        case "same":
            return f"same code ({b[0]['short']})"
        case "ahead" | "diverged":
            authors = len(span["authors"])
            text = (f"code changed in {plural(len(span['commits']), 'commit')}"
                    + (f" by {plural(authors, 'author')}" if authors else "") + f" ({ends})")
            return text + (" on another branch" if span["status"] == "diverged" else "") + (
                ", more not listed" if not span["complete"] else "")
        case "behind":
            return f"code went back {plural(len(span['commits']), 'commit')} ({ends})"
    return f"code changed ({ends}; the commits between are unknown: {span['reason']})"


def _model_phrase(model: Json, datasets: list[Json]) -> str:
    rows = model["versions"]
    if not rows:
        return ""
    changed = [r for r in rows if r["change"] != "same"]
    if not changed:
        return "same model (" + ", ".join(f"{r['name']}:{'/'.join(r['b'])}" for r in rows) + ")"
    pieces = []
    for row in changed:
        if row["change"] == "changed":
            pieces.append(f"{row['name']} {'/'.join(row['a'])} → {'/'.join(row['b'])}")
        elif row["change"] == "added":
            pieces.append(f"{row['name']}:{'/'.join(row['b'])} added")
        else:
            pieces.append(f"{row['name']}:{'/'.join(row['a'])} removed")
    text = ("model retrained: " if model["retrained"] else "model changed: ") + ", ".join(pieces)
    moved = [d for d in datasets if d["change"] == "changed"]
    if moved and model["retrained"]:
        text += " on " + ", ".join(f"{d['name']} {'/'.join(d['a'])} → {'/'.join(d['b'])}"
                                   + (f" (asked for {d['requested_as']['b']})" if d["requested_as"]["b"] else "")
                                   for d in moved)
    metrics = [m for m in model["metrics"] if m["a"] is not None and m["b"] is not None]
    if metrics:
        text += " (" + ", ".join(f"{m['name']} {m['a']} → {m['b']}" for m in metrics) + ")"
    return text


def _image_phrase(image: Json) -> str:
    a, b = image["a"], image["b"]
    if not a and not b:
        return ""
    if image["changed"]:
        return f"image rebuilt: {', '.join(i['short'] for i in a) or 'none'} → {', '.join(i['short'] for i in b)}" \
            if b else f"no image recorded for B (A ran {', '.join(i['short'] for i in a)})"
    if image["tags_added"] or image["tags_removed"]:
        return f"same image {b[0]['short']}, retagged"
    return f"same image {b[0]['short']}"


def _env_phrase(env: list[Json]) -> str:
    changed = [e for e in env if e["change"] != "same"]
    if not changed:
        return ""
    return "env " + ", ".join(f"{e['name']} {e['a'] if e['a'] is not None else '(unset)'} → "
                              f"{e['b'] if e['b'] is not None else '(unset)'}" for e in changed)
