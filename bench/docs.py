"""``python -m bench.docs``: regenerate docs/benchmarks.md from bench/results/suite.json and the template.

The template (bench/benchmarks.template.md) holds the prose: how to run, what is measured, what
bounds each number, the findings. Every published number comes from suite.json through a
placeholder on a line of the template, ``{{name}}``:

- ``{{machine}}``, ``{{runtime}}``: what it ran on, how long each size took;
- ``{{targets}}``: every target beside its value at 1,000,000 nodes (or the largest size run), met or missed;
- ``{{table:<group>}}``: one table per group of ``bench.measures.GROUPS``, a column per size;
- ``{{ladybug}}``, ``{{fanout}}``: whether those comparisons ran, and why not;
- ``{{reference_size}}``: the size the targets are judged at ("1,000,000 nodes");
- ``{{value:<measure>}}``, ``{{target:<measure>}}``, ``{{verdict:<measure>}}``: one measure of
  ``bench.measures.MEASURES`` in the prose, at that size: its value, its target, "met" or "missed".
  The prose's verdicts come from the run they describe, so a new run cannot contradict its text.

An unknown placeholder is an error, so a typo cannot publish a literal ``{{…}}``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench.measures import GROUPS, MEASURES, Measure
from bench.run import RESULTS, ROOT

TEMPLATE = ROOT / "bench" / "benchmarks.template.md"
OUT = ROOT / "docs" / "benchmarks.md"
REFERENCE_SIZE = 1_000_000  # targets are stated for a million nodes
PLACEHOLDER = re.compile(r"\{\{([a-z_]+(?::[a-z0-9_]+)?)\}\}")
Suite = dict[str, Any]


class TemplateProblem(ValueError):
    """The template or the suite results cannot make a document; the message says which and why."""


def number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value < 10:
            return f"{value:.2f}"
        return f"{value:.1f}" if value < 100 else f"{round(value):,}"
    return str(value)


def _sizes(suite: Suite) -> list[str]:
    return sorted(suite["sizes"], key=int)


def reference_size(suite: Suite) -> str:
    """The size the targets are judged at: a million nodes when run, else the largest."""
    sizes = _sizes(suite)
    return str(REFERENCE_SIZE) if str(REFERENCE_SIZE) in sizes else sizes[-1]


def _verdict(measure: Measure, suite: Suite) -> str:
    if measure.target is None:
        return ""
    met = measure.met(suite["sizes"][reference_size(suite)]["summary"].get(measure.name))
    return "–" if met is None else "**met**" if met else "**missed**"


def _verdict_heading(suite: Suite) -> str:
    size = int(reference_size(suite))
    return f"verdict at {size:,}" + ("" if size == REFERENCE_SIZE else " (1,000,000 not run)")


def _title(measure: Measure) -> str:
    return f"{measure.title} ({measure.unit})" if measure.unit and measure.unit != "×" else \
        f"{measure.title}{' (×)' if measure.unit == '×' else ''}"


def table(group: str, suite: Suite) -> str:
    if group not in GROUPS:
        raise TemplateProblem(f"{{{{table:{group}}}}}: no such group; the groups are {', '.join(GROUPS)}")
    sizes = _sizes(suite)
    targets = any(measure.target for measure in GROUPS[group])
    head = ["measure", *(f"{int(size):,} nodes" for size in sizes)]
    head += ["target", _verdict_heading(suite)] if targets else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for measure in GROUPS[group]:
        cells = [_title(measure), *(number(suite["sizes"][size]["summary"].get(measure.name)) for size in sizes)]
        if targets:
            cells += [measure.target.describe() if measure.target else "", _verdict(measure, suite)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(suite: Suite) -> str:
    size = reference_size(suite)
    lines = [f"| target | at {int(size):,} nodes | wanted | {_verdict_heading(suite)} |", "|---|---|---|---|"]
    for group in GROUPS.values():
        for measure in group:
            if measure.target is not None:
                value = suite["sizes"][size]["summary"].get(measure.name)
                lines.append(f"| {_title(measure)} | {number(value)} | {measure.target.describe()} | "
                             f"{_verdict(measure, suite)} |")
    return "\n".join(lines)


def machine(suite: Suite) -> str:
    m, disk = suite["machine"], suite["machine"]["disk"]
    code = suite.get("code") or {}
    dirty = code.get("uncommitted_changes_in") or []
    rows = [("CPU", f"{m['cpu']}, {m['usable_cores']} usable cores of {m['cores']}"),
            ("memory", f"{m['memory_gib']} GiB"), ("OS", m["os"]), ("Python", m["python"]), ("SQLite", m["sqlite"]),
            ("disk", f"`{disk['device']}` {disk['type']}, {disk['free_gib']} GiB free, 4 KiB write + fsync "
                     f"{disk['fsync_ms_median']} ms (median{_rounds(disk)}) at the start"),
            ("load average", f"{m['load_average_at_start'][0]} at the start, "
                             f"{(m.get('load_average_at_end') or ['–'])[0]} at the end (other work on the machine "
                             "only adds time)"),
            ("code", f"`{code.get('commit')}`" + (f", with uncommitted changes in {len(dirty)} files of "
                                                   "graph_schema/, lineage_service/, cli/" if dirty else ""))]
    return "\n".join(["| | |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)])


def _rounds(disk: dict[str, Any]) -> str:
    # The probe's round count is printed only when the JSON records it, so the doc never states a
    # count the run did not report.
    rounds = disk.get("fsync_rounds")
    return f" of {rounds:,}" if isinstance(rounds, int) and not isinstance(rounds, bool) else ""


def runtime(suite: Suite) -> str:
    parts = []
    for size in _sizes(suite):
        spent = suite["sizes"][size]["elapsed_seconds"]
        parts.append(f"{int(size):,} nodes {_duration(spent['total'])} (bench.run {_duration(spent['core'])}, "
                     f"diff/as-of {_duration(spent['temporal'])}, HTTP {_duration(spent['http'])})")
    mode = "`--quick`" if suite["params"]["quick"] else "full"
    return (f"This {mode} run of `python -m bench.suite --sizes {','.join(_sizes(suite))}` took "
            f"{_duration(suite['elapsed_seconds'])} in all, finishing {suite['finished_at'][:16].replace('T', ' ')} "
            f"UTC: {'; '.join(parts)}.")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def ladybug(suite: Suite) -> str:
    statuses = {size: suite["sizes"][size]["core"].get("ladybug") or {} for size in _sizes(suite)}
    missing = [(size, status.get("reason", "")) for size, status in statuses.items()
               if status.get("status") != "measured"]
    if not missing:
        versions = {str(status.get("version")) for status in statuses.values()}
        return f"ladybug {', '.join(sorted(versions))} ran at every size."
    return "ladybug did not run at " + ", ".join(f"{int(size):,} nodes ({reason or 'no result'})"
                                                for size, reason in missing) + "; its rows are empty there."


def fanout(suite: Suite) -> str:
    wide = [suite["sizes"][size].get("temporal", {}).get("wide", {}) for size in _sizes(suite)]
    capped = [w for w in wide if w.get("fanout_parameter")]
    if not capped:
        return ("`trace()` had no `fanout` parameter in the measured revision: the walk had no per-node cap, "
                "and the rows with the default cap are empty.")
    caps = sorted({str(w.get("fanout")) for w in capped})
    widest = sorted({str(w.get("uncapped_fanout")) for w in capped})
    return (f"`trace()` caps the links of each kind followed from any node (default `fanout={', '.join(caps)}`, "
            f"with \"more\" markers for the rest); the \"no fan-out cap\" rows pass the largest cap it accepts "
            f"(`fanout={', '.join(widest)}`), as close to the walk without a cap as it allows.")


def _measure(placeholder: str, name: str) -> Measure:
    if name not in MEASURES:
        raise TemplateProblem(f"{{{{{placeholder}:{name}}}}}: no such measure; the measures are in bench/measures.py "
                              f"({', '.join(MEASURES)})")
    return MEASURES[name]


def value(name: str, suite: Suite) -> str:
    """One measure's value at the reference size, formatted as in the tables (an en dash when not measured)."""
    return number(suite["sizes"][reference_size(suite)]["summary"].get(_measure("value", name).name))


def target(name: str, suite: Suite) -> str:
    measure = _measure("target", name)
    if measure.target is None:
        raise TemplateProblem(f"{{{{target:{name}}}}}: that measure has no target")
    return measure.target.describe()


def verdict(name: str, suite: Suite) -> str:
    """"met" or "missed" at the reference size, from the measure's own target; "not measured" without a value."""
    measure = _measure("verdict", name)
    if measure.target is None:
        raise TemplateProblem(f"{{{{verdict:{name}}}}}: that measure has no target to be met or missed")
    met = measure.met(suite["sizes"][reference_size(suite)]["summary"].get(measure.name))
    return "not measured" if met is None else "met" if met else "missed"


def reference(suite: Suite) -> str:
    size = int(reference_size(suite))
    return f"{size:,} nodes" + ("" if size == REFERENCE_SIZE else ", the largest size run")


_FILLERS: dict[str, Callable[[Suite], str]] = {"machine": machine, "runtime": runtime, "targets": targets,
                                               "ladybug": ladybug, "fanout": fanout, "reference_size": reference}
_ARGUMENT_FILLERS: dict[str, Callable[[str, Suite], str]] = {"table": table, "value": value, "target": target,
                                                             "verdict": verdict}


def render(template: str, suite: Suite) -> str:
    if not suite.get("sizes"):
        raise TemplateProblem("the suite results hold no size: run `python -m bench.suite` first")

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        kind, colon, argument = name.partition(":")
        if colon and kind in _ARGUMENT_FILLERS:
            return _ARGUMENT_FILLERS[kind](argument, suite)
        if name not in _FILLERS:
            known = ", ".join([*_FILLERS, *(f"table:{group}" for group in GROUPS), "value:<measure>",
                               "target:<measure>", "verdict:<measure>"])
            raise TemplateProblem(f"{{{{{name}}}}}: unknown placeholder; known: {known}")
        return _FILLERS[name](suite)

    return PLACEHOLDER.sub(fill, template)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.docs", description=__doc__.split("\n")[0])
    parser.add_argument("--suite", type=Path, default=RESULTS / "suite.json", help="default bench/results/suite.json")
    parser.add_argument("--template", type=Path, default=TEMPLATE, help="default bench/benchmarks.template.md")
    parser.add_argument("--out", type=Path, default=OUT, help="default docs/benchmarks.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    for path, what in ((args.suite, "suite results (run `python -m bench.suite`)"), (args.template, "template")):
        if not path.exists():
            print(f"bench.docs: no {what} at {path}", file=sys.stderr)
            return 2
    try:
        suite = orjson.loads(args.suite.read_bytes())
        text = render(args.template.read_text(), suite)
    except (orjson.JSONDecodeError, KeyError, TemplateProblem) as exc:
        problem = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        print(f"bench.docs: cannot render {args.template} from {args.suite}: {problem}", file=sys.stderr)
        return 2
    args.out.write_text(text)
    print(f"bench.docs: wrote {args.out} from {args.suite}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
