"""Renderings of trace and impact answers: a readable tree, Mermaid, Graphviz DOT, JSON."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

Json = dict[str, Any]

KIND_STYLE = {
    "api": "bold magenta", "deployment": "magenta", "image": "cyan", "model": "green", "job": "yellow",
    "dataset": "bright_green", "run": "blue", "commit": "bold blue", "repo": "dim", "person": "dim",
}
_KIND_ORDER = {kind: i for i, kind in enumerate(KIND_STYLE)}


# The natural key of a deployment revision, to find a tree node's entry in the summary.
_DEPLOYMENT_KEY = ("platform", "cluster", "namespace", "name", "revision")


def _deployment_key(fields: Json) -> tuple[str, ...]:
    return tuple(str(fields.get(name)) for name in _DEPLOYMENT_KEY)


def _deployment_entries(answer: Json) -> dict[tuple[str, ...], Json]:
    return {_deployment_key(d): d for d in answer.get("summary", {}).get("deployments", [])}


def as_of_state(entry: Json, at: str, *, window: bool = True) -> str:
    """A summary deployment as of ``at``: live then, or why not, with its window (never "live" for
    a revision that is live now but was not yet, or had ended, at that time)."""
    # Answers from a service without "state" still say "live"; not live is then read as ended.
    state = entry.get("state") or ("live" if entry.get("live") else "ended")
    start, end = entry.get("active_from"), entry.get("active_to")
    if state == "live":
        span = ", ".join(part for part in (f"since {start}" if start else "", f"until {end}" if end else "") if part)
        return f"live at {at}" + (f" ({span})" if span and window else "")
    if state == "not started":
        return f"not live at {at}: started {start or '?'}"
    return f"not live at {at}: ended {end or '?'}"


def _deployment_state(props: Json, at: str | None, entry: Json | None) -> str:
    if at is None:
        return "live" if not props.get("active_to") else f"until {props['active_to']}"
    if entry is None:
        # The root: the summary lists what the walk reached, not where it started, so state the
        # reported window and claim nothing about liveness at ``at``.
        return f"active {props.get('active_from') or '?'} → {props.get('active_to') or 'no end reported'}"
    return as_of_state(entry, at, window=False)  # the summary above gives the window


def _node_text(node: Json, at: str | None = None, entry: Json | None = None) -> Text:
    """One node on one line; ``at`` and the node's summary ``entry`` word a deployment as of a time."""
    text = Text()
    text.append(f"{node['kind']} ", style="dim")
    text.append(node["label"], style=KIND_STYLE.get(node["kind"], ""))
    props = node.get("props", {})
    if node["kind"] == "commit":
        author = props.get("author")
        message = (props.get("message") or "").splitlines()[0:1]
        if message:
            text.append(f'  "{message[0][:72]}"')
        if author:
            text.append(f"  {author}", style="dim")
    elif node["kind"] == "image" and node.get("aliases"):
        text.append(f"  {_best_reference(node['aliases'])}", style="dim")
    elif node["kind"] == "job" and props.get("display_name"):
        text.append(f"  {props['display_name']}", style="dim")
    elif node["kind"] == "deployment":
        state = _deployment_state(props, at, entry)
        text.append(f"  {props.get('environment') or ''} {state}".rstrip(), style="dim")
    return text


def _best_reference(references: list[str]) -> str:
    """The most telling tag: a semver tag first, else the first one; registries before Docker Hub."""
    references = sorted(references, key=lambda reference: reference.startswith("docker.io/"))
    for reference in references:
        tag = reference.rpartition(":")[2]
        if tag[:1] == "v" and tag[1:2].isdigit():
            return reference + (f" (+{len(references) - 1} more)" if len(references) > 1 else "")
    return references[0] + (f" (+{len(references) - 1} more)" if len(references) > 1 else "")


def _edge_text(edge: Json, forward: bool) -> tuple[Text, Text]:
    """The link's kind before the node, its evidence and sources after it."""
    props = edge["props"]
    return (Text(f"{edge['kind']} {'→' if forward else '←'} ", style="dim"),
            Text(f"  [{props['evidence']} · {', '.join(props['sources'])}]", style="dim italic"))


def lineage_tree(answer: Json) -> Tree:
    """The subgraph as a tree from the root; a node reached twice is shown once, then referred to."""
    upstream = answer["direction"] == "upstream"
    nodes = {n["id"]: n for n in answer["nodes"]}
    children: dict[str, list[Json]] = defaultdict(list)
    for edge in answer["edges"]:
        parent, child = (edge["source"], edge["target"]) if upstream else (edge["target"], edge["source"])
        children[parent].append({**edge, "child": child})
    for links in children.values():
        links.sort(key=lambda e: (_KIND_ORDER.get(nodes[e["child"]]["kind"], 99), nodes[e["child"]]["label"]))
    root = answer["root"]
    at, entries = answer.get("at"), _deployment_entries(answer)

    def text_of(node: Json) -> Text:
        # The summary leaves the root out: the root deployment gets its window, not a state.
        is_other = node["kind"] == "deployment" and node["id"] != root["id"]
        entry = entries.get(_deployment_key(node["key"])) if is_other else None
        return _node_text(node, at, entry)

    # Expand each node once, under the parent that reaches it first breadth-first (its nearest
    # parent); everywhere else it is a one-line reference, so shared upstream shows once.
    home: dict[str, str] = {root["id"]: ""}
    frontier = [root["id"]]
    while frontier:
        following = []
        for parent in frontier:
            for link in children.get(parent, []):
                if link["child"] not in home:
                    home[link["child"]] = parent
                    following.append(link["child"])
        frontier = following
    tree = Tree(text_of(root))
    # Links a fan-out cap left unfollowed, shown under their node after the ones that were followed.
    capped: dict[str, list[Json]] = defaultdict(list)
    for more in answer.get("more", []):
        capped[more["node"]].append(more)

    def grow(branch: Tree, node_id: str) -> None:
        for link in children.get(node_id, []):
            child = nodes[link["child"]]
            prefix, evidence = _edge_text(link, upstream)
            label = Text.assemble(prefix, text_of(child), evidence)
            if home.get(child["id"]) != node_id:
                branch.add(Text.assemble(label, Text("  (expanded elsewhere)", style="dim")))
            else:
                grow(branch.add(label), child["id"])
        for more in capped.get(node_id, []):
            branch.add(Text(f"… and {more['total'] - more['shown']:,} more {more['edge_kind']} "
                            f"({more['see']} to page)", style="dim italic"))

    grow(tree, root["id"])
    return tree


def summary_table(answer: Json) -> Table:
    summary = answer["summary"]
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()

    def row(title: str, lines: list[Text | str]) -> None:
        if lines:
            table.add_row(title, Group(*lines))

    at = answer.get("at")
    if at:  # as of a time: live then, not now
        row("API", [Text(a["label"] + (f"  live at {at}" if a["live"] else f"  not live at {at}"),
                         style=KIND_STYLE["api"]) for a in summary["apis"]])
        row("Running", [Text(f"{d['label']}  {d['cluster']}  {as_of_state(d, at)}", style=KIND_STYLE["deployment"])
                        for d in summary["deployments"]])
    else:
        row("API", [Text(a["label"] + ("  live" if a["live"] else ""), style=KIND_STYLE["api"])
                    for a in summary["apis"]])
        row("Running", [Text(f"{d['label']}  {d['cluster']}  " + ("live" if d["live"] else f"until {d['active_to']}")
                             + (f" since {d['active_from']}" if d["active_from"] else ""),
                             style=KIND_STYLE["deployment"])
                        for d in summary["deployments"]])
    row("Image", [Text(f"{i['digest'][:19]}  {_best_reference(i['references'])}" if i["references"]
                       else i["digest"], style=KIND_STYLE["image"]) for i in summary["images"]])
    row("Code", [Text.assemble((c["short"], KIND_STYLE["commit"]), f"  {c['author'] or '?'}  ",
                               (str(c["committed_at"] or "")[:10], "dim"),
                               f'  "{(c["message"] or "").splitlines()[0][:60] if c["message"] else ""}"',
                               (f"  ← {', '.join(c['via'][:3])}" if c["via"] else "", "dim"))
                 for c in summary["commits"]])
    row("Model", [Text(m["label"] + (f"  {_metrics(m['metrics'])}" if m["metrics"] else ""), style=KIND_STYLE["model"])
                  for m in summary["models"]])
    row("Data", [Text(d["label"] + (f"  (asked for {d['requested_as']})" if d["requested_as"] else ""),
                      style=KIND_STYLE["dataset"]) for d in summary["datasets"]])
    row("Jobs", [Text(f"{j['label']}  {j['name'] or ''}" + ("  DIRTY TREE" if j["dirty"] else ""),
                      style=KIND_STYLE["job"]) for j in summary["jobs"]])
    row("CI runs", [Text(f"{r['label']}  {r['workflow'] or ''}  {r['conclusion'] or ''}  {r['url'] or ''}",
                         style=KIND_STYLE["run"]) for r in summary["runs"]])
    row("Authors", [", ".join(summary["authors"])] if summary["authors"] else [])
    return table


def _metrics(metrics: Any) -> str:
    if isinstance(metrics, dict):
        return " ".join(f"{k}={v}" for k, v in metrics.items())
    return str(metrics)


def print_answer(console: Console, answer: Json) -> None:
    title = "Trace of" if answer["direction"] == "upstream" else "Impact of"
    console.print(Text.assemble((f"{title} ", "bold"), _node_text(answer["root"], answer.get("at")),
                                (f"  as of {answer['at']}" if answer.get("at") else "", "dim")))
    for note in answer.get("notes", []):
        console.print(Text(f"note: {note}", style="cyan"))
    if answer["direction"] == "downstream":
        from cli.render_incident import live_lines  # the blast radius leads an impact answer

        for line in live_lines(answer):
            console.print(line)
    console.print(summary_table(answer))
    console.print()
    console.print(lineage_tree(answer))
    for warning in answer["warnings"]:
        console.print(Text(f"warning: {warning}", style="yellow"))


def mermaid(answer: Json) -> str:
    """A Mermaid flowchart, left to right in the direction of the question."""
    ids = {node["id"]: f"n{i}" for i, node in enumerate(answer["nodes"])}
    lines = ["graph LR"]
    for node in answer["nodes"]:
        # Mermaid reads '#…;' as an entity, so '#' itself is escaped first (deployment revisions use it).
        text = f"{node['kind']}<br/>{node['label']}".replace("#", "#35;").replace('"', "#quot;")
        label = text
        lines.append(f'  {ids[node["id"]]}["{label}"]')
    for edge in answer["edges"]:
        source, target = ids[edge["source"]], ids[edge["target"]]
        if answer["direction"] != "upstream":
            source, target = target, source
        lines.append(f"  {source} -->|{edge['kind']} · {edge['props']['evidence']}| {target}")
    for kind, style in (("api", "#f3e5f5"), ("commit", "#e3f2fd"), ("dataset", "#e8f5e9"), ("model", "#f1f8e9")):
        members = [ids[n["id"]] for n in answer["nodes"] if n["kind"] == kind]
        if members:
            lines.append(f"  classDef {kind} fill:{style}")
            lines.append(f"  class {','.join(members)} {kind}")
    return "\n".join(lines)


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot(answer: Json) -> str:
    """A Graphviz digraph; render with ``dot -Tsvg``."""
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [shape=box, style=rounded, fontname="Helvetica"];']
    for node in answer["nodes"]:
        lines.append(f"  {_dot_quote(node['id'])} [label={_dot_quote(node['kind'] + chr(10) + node['label'])}];")
    for edge in answer["edges"]:
        source, target = edge["source"], edge["target"]
        if answer["direction"] != "upstream":
            source, target = target, source
        label = f"{edge['kind']} ({edge['props']['evidence']})"
        lines.append(f"  {_dot_quote(source)} -> {_dot_quote(target)} [label={_dot_quote(label)}];")
    lines.append("}")
    return "\n".join(lines)
