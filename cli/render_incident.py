"""Tree renderings of the incident answers (diff, history, running, verify, gaps) and impact's live lines.

Each takes the JSON answer, the same a remote service returns, so local and remote print alike.
Times are shown in UTC as ``2026-11-12 09:30``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from cli.render import KIND_STYLE

Json = dict[str, Any]

_SEVERITY_STYLE = {"fail": "bold red", "warn": "yellow", "ok": "green"}
_CHANGE_STYLE = {"changed": "yellow", "added": "green", "removed": "red", "same": "dim"}


def _when(value: object) -> str:
    text = str(value or "")
    return text[:16].replace("T", " ") if len(text) >= 16 else text


def _span(start: object, end: object, live: bool) -> str:
    return f"{_when(start) or '?'} → {'live' if live else _when(end) or '?'}"


def _image(image: Json | None) -> str:
    if not image:
        return "no image recorded"
    reference = image.get("reference")
    return str(image["short"]) + (f" ({reference.rpartition(':')[2]})" if reference else "")


_MIN_WIDTH = {"active": 16, "live": 16, "pointed to": 16, "since": 10, "image": 19, "digest": 19, "API": 10,
              "model": 12}


def _table(*headers: str, keep: tuple[int, ...] = ()) -> Table:
    """A borderless table; the ``keep`` columns (names) never wrap, the others wrap down to a readable width."""
    table = Table(*headers, box=None, padding=(0, 1), show_edge=False)
    for index, column in enumerate(table.columns):
        column.no_wrap = index in keep
        column.min_width = _MIN_WIDTH.get(str(column.header), len(str(column.header)))
    return table


def _grid() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    return table


# Impact: what is live ----------------------------------------------------------------------------

def live_lines(answer: Json) -> list[Text]:
    """For impact answers: the deployments live now (or at --at), then those that ended."""
    live = answer.get("summary", {}).get("live")
    if not isinstance(live, dict):
        return []
    title = f"Live at {live['at']}:" if live.get("at") else "Live now:"
    lines = []
    for i, entry in enumerate(live["deployments"]):
        serving = f" serving {', '.join(entry['apis'])}" if entry["apis"] else ""
        # Live then may have ended since: say until when (live now has no end, so reads as before).
        until = f", until {_when(entry['active_to'])}" if entry.get("active_to") else ""
        lines.append(Text.assemble((title if i == 0 else " " * len(title), "bold"), " ",
                                   (entry["label"], KIND_STYLE["deployment"]), serving,
                                   (f"  ({entry['environment']}, {entry['cluster']}, since "
                                    f"{_when(entry['active_from'])}{until})", "dim")))
    # An answer from a server older than `complete` was never capped per node: read it as complete.
    complete = live.get("complete", True)
    if not live["deployments"]:
        ended = "were not live then" if live.get("at") else "ended"
        ended_note = f" ({len(live['historical'])} deployments of it {ended})" if live["historical"] else ""
        if complete:
            running = "was running" if live.get("at") else "is running"
            lines.append(Text.assemble((title, "bold"), f" nothing built from it {running}{ended_note}"))
        else:
            # A capped walk did not reach everything: "nothing running" would be a false all-clear.
            lines.append(Text.assemble((title, "bold"), (
                f" none found, but the answer is incomplete: the walk was capped (see the warnings), so "
                f"something built from it may be live{' then' if live.get('at') else ''}{ended_note}", "yellow")))
    elif not complete:
        lines.append(Text(f"at least these {len(live['deployments'])}: the answer is incomplete (the walk was capped, "
                          f"see the warnings), more built from it may be live{' then' if live.get('at') else ''}",
                          style="yellow"))
    for entry in live["historical"]:
        serving = f" served {', '.join(entry['apis'])}" if entry["apis"] else ""
        if live.get("at"):
            # Not live then: it had ended, or it started later (and may be live now: no end).
            span = _span(entry["active_from"], entry["active_to"], not entry["active_to"])
            lines.append(Text(f"Not live then: {entry['label']}{serving}  ({entry['environment']}, {span})",
                              style="dim"))
            continue
        lines.append(Text(f"Ended:   {entry['label']}{serving}  ({entry['environment']}, "
                          f"{_span(entry['active_from'], entry['active_to'], False)})", style="dim"))
    return lines


# diff --------------------------------------------------------------------------------------------

def print_diff(console: Console, answer: Json) -> None:
    a, b = answer["a"], answer["b"]
    console.print(Text.assemble(("Diff of ", "bold"), (f"{answer['kind']} ", "dim"),
                                (a["label"], KIND_STYLE.get(a["kind"], "")), " → ",
                                (b["label"], KIND_STYLE.get(b["kind"], ""))))
    for note in answer["notes"]:
        console.print(Text(f"note: {note}", style="cyan"))
    console.print(Text(answer["summary"]))
    console.print()
    table = Table(box=None, padding=(0, 1), show_edge=False)
    table.add_column("", style="bold", no_wrap=True)
    table.add_column(a["label"], overflow="fold")
    table.add_column(b["label"], overflow="fold")
    table.add_column("", no_wrap=True)

    def row(title: str, left: list[str], right: list[str], change: str = "") -> None:
        table.add_row(title, "\n".join(left) or "-", "\n".join(right) or "-",
                      Text(change, style=_CHANGE_STYLE.get(change, "yellow")))

    deployments = answer["deployments"]
    row("Running", [d["label"] + ("  live" if d["live"] else "") for d in deployments["a"]],
        [d["label"] + ("  live" if d["live"] else "") for d in deployments["b"]])
    image = answer["image"]
    row("Image", [_image(i) for i in image["a"]], [_image(i) for i in image["b"]],
        "rebuilt" if image["changed"] else "retagged" if image["tags_added"] or image["tags_removed"] else "same")
    code = answer["code"]
    row("Code", [c["short"] for c in code["a"]], [c["short"] for c in code["b"]],
        "changed" if code["changed"] else "same")
    model = answer["model"]

    def model_text(m: Json) -> str:
        metrics = m["metrics"] or ((m["job"] or {}).get("metrics") or {})
        return str(m["label"]) + (f"  {' '.join(f'{k}={v}' for k, v in metrics.items())}" if metrics else "")

    row("Model", [model_text(m) for m in model["a"]], [model_text(m) for m in model["b"]],
        "retrained" if model["retrained"] else "changed" if model["changed"] else "same")
    def job_text(m: Json) -> str:  # the job's id without its system, and the code it ran
        job = m["job"]
        return str(job["label"]).partition("/")[2] + (f"\ncode {job['commit']}" if job["commit"] else "")

    row("Training", [job_text(m) for m in model["a"] if m["job"]], [job_text(m) for m in model["b"] if m["job"]])
    for parameter in model["parameters"]:
        row("  param", [f"{parameter['name']}={parameter['a']}"], [f"{parameter['name']}={parameter['b']}"],
            "changed")
    for i, data in enumerate(answer["datasets"]):
        asked = data["requested_as"]
        row("Data" if i == 0 else "",
            [f"{data['name']}:{v}" + (f" (asked for {asked['a']})" if asked["a"] else "") for v in data["a"]],
            [f"{data['name']}:{v}" + (f" (asked for {asked['b']})" if asked["b"] else "") for v in data["b"]],
            data["change"])
    changed_env = [e for e in answer["env"] if e["change"] != "same"]
    for i, env in enumerate(changed_env):
        row("Env" if i == 0 else "", [f"{env['name']}={env['a']}"] if env["a"] is not None else [],
            [f"{env['name']}={env['b']}"] if env["b"] is not None else [], env["change"])
    console.print(table)
    span = code.get("range")
    if span and span["status"] not in ("same", "none"):
        console.print()
        ends = f"{'/'.join(c['short'] for c in code['a'])}..{'/'.join(c['short'] for c in code['b'])}"
        if span["status"] == "unknown":
            console.print(Text(f"Commits {ends}: unknown, {span['reason']}", style="yellow"))
            if span["fix"]:
                console.print(Text(f"  fix: {span['fix']}", style="dim"))
        else:
            heading = {"ahead": "newest first", "behind": "in A, not in B: B is older",
                       "diverged": "on B's branch only"}[span["status"]]
            console.print(Text(f"Commits {ends} ({len(span['commits'])}, {heading})", style="bold"))
            commits = Table.grid(padding=(0, 2))
            commits.add_column(style=KIND_STYLE["commit"], no_wrap=True)
            commits.add_column(no_wrap=True)
            commits.add_column(style="dim", no_wrap=True)
            commits.add_column()
            for c in span["commits"]:
                commits.add_row(f"  {c['short']}", c["author"] or "?", str(c["committed_at"] or "")[:10],
                                f'"{c["message"] or ""}"')
            console.print(commits)
            if span["reason"]:
                console.print(Text(f"  note: {span['reason']}", style="dim"))
    for warning in answer["warnings"]:
        console.print(Text(f"warning: {warning}", style="yellow"))


# history and running -----------------------------------------------------------------------------

def print_history(console: Console, answer: Json) -> None:
    kind = answer["kind"]
    if kind == "deployment":
        rows = answer["revisions"]
        console.print(Text.assemble(("History of deployment ", "bold"), (answer["subject"], KIND_STYLE["deployment"]),
                                    f"  ({len(rows)} revisions, UTC)"))
        table = _table("revision", "active", "API", "image", "model", keep=(0,))
        for r in rows:
            table.add_row(Text(r["label"], style=KIND_STYLE["deployment"]),
                          _span(r["active_from"], r["active_to"], r["live"]),
                          ", ".join(a.rpartition(" ")[2] for a in r["apis"]) or str(r["api_version"] or "-"),
                          _image(r["image"]),
                          ", ".join(r["models"]) or (f"MODEL_VERSION={r['model_version']}" if r["model_version"]
                                                     else "-"))
        console.print(table)
    elif kind == "api":
        releases = answer["releases"]
        console.print(Text.assemble(("Releases of ", "bold"), (answer["service"], KIND_STYLE["api"]),
                                    f"  ({len(releases)}, UTC)"))
        table = _table("release", "where", "live", "then", "revisions", keep=(0, 1))
        for release in releases:
            if not release["deployments"]:
                table.add_row(Text(release["version"], style=KIND_STYLE["api"]), "-", "never deployed", "", "")
            for i, place in enumerate(release["deployments"]):
                where = place["place"].partition("/")[2]  # namespace/name; the cluster is in --format json
                table.add_row(Text(release["version"] if i == 0 else "", style=KIND_STYLE["api"]), where,
                              _span(place["from"], place["to"], place["live"]),
                              Text(f"replaced by {place['replaced_by'].rpartition(' ')[2]}" if place["replaced_by"]
                                   else "", style="yellow"),
                              Text(", ".join(r.rpartition("#")[2] and "#" + r.rpartition("#")[2]
                                             for r in place["revisions"]), style="dim"))
        console.print(table)
    else:
        console.print(Text.assemble(("Digests of ", "bold"), (answer["subject"], KIND_STYLE["image"]), "  (UTC)"))
        table = _table("digest", "pointed to", "built by", "from commit", keep=(0,))
        for d in answer["digests"]:
            table.add_row(Text(d["short"], style=KIND_STYLE["image"]), _span(d["from"], d["to"], d["current"]),
                          ", ".join(d["built_by"]) or "no CI run recorded",
                          ", ".join(d["built_from"]) or "no commit recorded")
        console.print(table)
    for note in answer.get("notes", []):
        console.print(Text(f"note: {note}", style="dim"))


def print_running(console: Console, answer: Json) -> None:
    when = f"at {answer['at']}" if answer["at"] else "now"
    where = f" in {answer['env']}" if answer["env"] else ""
    rows = answer["deployments"]
    console.print(Text(f"Running {when}{where}: {len(rows)} deployment{'' if len(rows) == 1 else 's'}", style="bold"))
    table = _table("deployment", "since", "API", "image", "model", keep=(0,))
    for r in rows:
        table.add_row(Text(f"{r['label']}", style=KIND_STYLE["deployment"]), _when(r["active_from"]),
                      ", ".join(r["apis"]) or str(r["api_version"] or "-"), _image(r["image"]),
                      ", ".join(r["models"]) or (f"MODEL_VERSION={r['model_version']}" if r["model_version"] else "-"))
    if rows:
        console.print(table)
    for note in answer["notes"]:
        console.print(Text(f"note: {note}", style="dim"))


# verify and gaps ---------------------------------------------------------------------------------

def print_verify(console: Console, answer: Json) -> None:
    counts, root = answer["counts"], answer["root"]
    verdict = Text("passed", style="bold green") if answer["passed"] else Text("FAILED", style="bold red")
    console.print(Text.assemble(("Verify ", "bold"), (f"{root['kind']} ", "dim"),
                                (root["label"], KIND_STYLE.get(root["kind"], "")), ": ", verdict,
                                f"  ({counts['fail']} fail, {counts['warn']} warn, {counts['ok']} ok)"))
    for note in answer["notes"]:
        console.print(Text(f"note: {note}", style="cyan"))
    table = _grid()
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for finding in answer["findings"]:
        severity = finding["severity"]
        lines: list[Text] = [Text(finding["message"])]
        if severity != "ok":
            if finding["fix"]:
                lines.append(Text(f"fix: {finding['fix']}", style="cyan"))
            for edge in finding["evidence"]["edges"]:
                lines.append(Text(f"{edge['source']} {edge['kind']} → {edge['target']}  "
                                  f"[{edge['evidence']} · {', '.join(edge['sources'])}]", style="dim"))
        table.add_row(Text(severity.upper() if severity != "ok" else "ok", style=_SEVERITY_STYLE[severity]),
                      Text(finding["check"], style="dim"), Group(*lines))
    console.print(table)


def print_gaps(console: Console, answer: Json) -> None:
    console.print(Text.assemble(("Coverage ", "bold"), answer["summary"]))
    for release in answer["releases"]:
        state = Text("complete", style="green") if release["complete"] else Text("incomplete", style="bold yellow")
        console.print(Text.assemble((release["label"], KIND_STYLE["api"]), "  ", state,
                                    (f"  ({', '.join(release['deployments'])})", "dim")))
        _print_gap_lines(console, release["gaps"])
    orphans = [d for d in answer["deployments"] if not d["apis"]]
    for deployment in orphans:
        state = Text("complete", style="green") if deployment["complete"] else Text("incomplete", style="bold yellow")
        console.print(Text.assemble((deployment["label"], KIND_STYLE["deployment"]), "  ", state,
                                    ("  (serves no recorded API release)", "dim")))
        _print_gap_lines(console, deployment["gaps"])
    for note in answer["notes"]:
        console.print(Text(f"note: {note}", style="dim"))


def _print_gap_lines(console: Console, gaps: list[Json]) -> None:
    table = _grid()
    table.add_column(overflow="fold")
    for gap in gaps:
        table.add_row(Text(f"  {gap['gap']}", style="yellow"),
                      Group(Text(gap["message"]), Text(f"fix: {gap['fix']}", style="cyan")))
    if gaps:
        console.print(table)


RENDERERS: dict[str, Callable[[Console, Json], None]] = {
    "diff": print_diff, "history": print_history, "running": print_running, "verify": print_verify,
    "gaps": print_gaps,
}
