"""``lineage.yaml``: the sources one ``lineage collect --config`` run reads, and ``--every`` durations.

    sources:
      - collector: git            # a name from ``collectors.COLLECTORS``
        name: mlops-repo          # the instance: its cursor and its report line (default: the collector)
        config:                   # the collector's own config; unknown keys are errors
          path: /src/mlops-2.0
          branches: [main]

Every problem is a ``ConfigProblem`` whose message names the file, the entry and the key, and
what was expected; nothing in a file is ignored silently. Collector configs are validated by the
collector's pydantic class, so ``lineage.yaml`` and ``lineage collect git --repo …`` accept the
same fields.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

    from collectors.base import Collector

_ENTRY_KEYS = ("collector", "name", "config")
_INSTANCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@-]{0,99}")
_DURATION_PART = re.compile(r"(\d+)(s|m|h|d)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigProblem(ValueError):
    """A config file or option that cannot be used; the message names where and what to write."""


@dataclass(frozen=True)
class Source:
    collector: str
    name: str
    config: dict[str, Any] = field(default_factory=dict)


def parse_duration(text: str) -> int:
    """Seconds in ``30s``, ``5m``, ``1h``, ``1h30m``, ``1d``; at least one second."""
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION_PART.findall(compact)
    if not compact or "".join(number + unit for number, unit in parts) != compact:
        raise ConfigProblem(f"expected a duration like 30s, 5m, 1h or 1h30m, got {text!r}")
    seconds = sum(int(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    if seconds < 1:
        raise ConfigProblem(f"expected a duration of at least 1s, got {text!r}")
    return seconds


def check_name(name: object) -> str:
    """A source's name: it keys the cursor, so it is short and plain."""
    if not isinstance(name, str) or not _INSTANCE.fullmatch(name):
        raise ConfigProblem(f"expected 1 to 100 letters, digits or ._:/@- (the name keys the source's cursor), "
                            f"got {name!r}")
    return name


def load_sources(path: Path) -> list[Source]:
    """The sources of a config file (YAML, or JSON), checked entry by entry."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigProblem(f"cannot read {path}: {exc}") from None
    return parse_sources(_parse(text, path), str(path))


def _parse(text: str, path: Path) -> object:
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ConfigProblem(f"{path}: invalid JSON: {exc}") from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigProblem(f"{path}: invalid YAML{where}: {problem}") from None


def parse_sources(data: object, origin: str = "config") -> list[Source]:
    if not isinstance(data, dict) or "sources" not in data:
        raise ConfigProblem(f"{origin}: expected a mapping with a 'sources' list, e.g.\n"
                            f"sources:\n  - collector: git\n    name: my-repo\n    config: {{path: .}}")
    unknown = sorted(set(data) - {"sources"})
    if unknown:
        raise ConfigProblem(f"{origin}: unknown key(s) {unknown}; the file has one key, 'sources'")
    entries = data["sources"]
    if not isinstance(entries, list) or not entries:
        raise ConfigProblem(f"{origin}: 'sources' must be a non-empty list of sources")
    sources = [_source(entry, f"{origin}: sources[{index}]") for index, entry in enumerate(entries)]
    seen: dict[str, int] = {}
    for index, source in enumerate(sources):
        if source.name in seen:
            # Two sources with one name would share (and overwrite) one cursor.
            raise ConfigProblem(f"{origin}: sources[{index}]: name {source.name!r} is also used by "
                                f"sources[{seen[source.name]}]; give each source its own name")
        seen[source.name] = index
    return sources


def _source(entry: object, where: str) -> Source:
    from collectors import COLLECTORS

    if not isinstance(entry, dict):
        raise ConfigProblem(f"{where}: expected a mapping with {', '.join(_ENTRY_KEYS)}")
    unknown = sorted(set(entry) - set(_ENTRY_KEYS))
    if unknown:
        raise ConfigProblem(f"{where}: unknown key(s) {unknown}; an entry has {', '.join(_ENTRY_KEYS)}"
                            + (" (the collector's settings go under 'config')" if "collector" in entry else ""))
    collector = entry.get("collector")
    if not isinstance(collector, str) or not collector:
        raise ConfigProblem(f"{where}: 'collector' is required, one of {', '.join(COLLECTORS)}")
    if collector not in COLLECTORS:
        close = difflib.get_close_matches(collector, COLLECTORS, n=1)
        raise ConfigProblem(f"{where}: unknown collector {collector!r}"
                            + (f" (did you mean {close[0]!r}?)" if close else "")
                            + f"; known: {', '.join(COLLECTORS)}")
    name = entry.get("name", collector)
    try:
        check_name(name)
    except ConfigProblem as exc:
        raise ConfigProblem(f"{where}: name: {exc}") from None
    config = entry.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigProblem(f"{where} ({name}): 'config' must be a mapping of the {collector} collector's settings")
    return Source(collector, name, config)


def build(source: Source, where: str = "", names: Mapping[str, str] | None = None) -> Collector[Any]:
    """The configured collector of a source; ``ConfigProblem`` if it is unavailable or misconfigured.

    ``where`` prefixes messages (``lineage.yaml: sources[0] ``); ``names`` maps config fields to
    the options that set them, for messages about command-line options.
    """
    from pydantic import ValidationError

    from collectors import CollectorUnavailable, load

    label = f"{where}({source.name})" if where else source.name
    try:
        cls = load(source.collector)
    except CollectorUnavailable as exc:
        raise ConfigProblem(f"{label}: {exc}") from None
    try:
        return cls(cls.config_class.model_validate(source.config), source.name)
    except ValidationError as exc:
        problems = describe_config_error(exc, cls.config_class, f"the {source.collector} collector", names)
        raise ConfigProblem(f"{label}: " + "; ".join(problems)) from None


def describe_config_error(error: ValidationError, model: type[BaseModel], what: str,
                          names: Mapping[str, str] | None = None) -> list[str]:
    """Pydantic errors as ``key: problem`` lines, without echoing values (they may hold secrets).

    ``names`` maps field names to what the user typed instead (``path`` → ``--repo``).
    """
    fields = ", ".join(model.model_fields)
    lines = []
    for item in error.errors(include_url=False, include_input=False):
        key = ".".join(str(part) for part in item["loc"]) or "config"
        top = str(item["loc"][0]) if item["loc"] else ""
        shown = (names or {}).get(top, f"config.{key}")
        if item["type"] == "extra_forbidden":
            lines.append(f"{shown}: unknown key; {what} takes {fields}")
        elif item["type"] == "missing":
            lines.append(f"{shown}: required")
        else:
            lines.append(f"{shown}: {item['msg'].removeprefix('Value error, ')}")
    return lines
