"""The collector contract, written once for every source.

A collector reads one system of record and yields **lineage events** (``lineage-event/1`` dicts,
the project's own push format) that the runner sends through the one ingestion path; it never
writes to a store itself. The rules, as DataHub's sources and OpenLineage's plugins keep them:

- **Config**: a pydantic model, ``extra="forbid"`` (a typo in ``lineage.yaml`` is an error, not a
  silently ignored key), secrets as ``SecretStr`` so they never print.
- **Laziness**: ``requires`` names the modules of its SDK; they are imported inside ``collect``,
  so ``lineage`` starts fast and a missing extra makes the collector *unavailable* with
  ``install_hint`` instead of breaking the CLI.
- **Incremental**: ``collect`` receives the cursor it left last time (``None`` on the first run)
  and sets ``self.cursor`` to the new one; the runner stores it only after every event of the run
  was recorded, so a crashed run is read again rather than skipped.
- **Report**: ``self.report`` counts what was seen, emitted and skipped, and lists failures. One
  bad item or one unreachable namespace is a failure in the report, not an exception that
  aborts the run; only a failure that makes the whole source unreadable raises
  ``CollectorError``.
- **Determinism**: event ids derive from what was read (e.g. ``git-<repo>-<sha>``), so collecting
  the same thing twice is a duplicate in the event log, never a second copy.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

Event = dict[str, Any]


class CollectorConfig(BaseModel):
    """Base of every collector's config: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class CollectorError(RuntimeError):
    """The whole source could not be read (unreachable, unauthorised); the message names the fix."""


@dataclass
class Failure:
    item: str  # what could not be read: a namespace, a commit, a package
    error: str  # why, without secrets


@dataclass
class Report:
    source: str
    seen: int = 0  # items read from the source
    emitted: int = 0  # lineage events yielded
    skipped: int = 0  # items read but not relevant or already known
    failures: list[Failure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def fail(self, item: str, error: str) -> None:
        self.failures.append(Failure(item, error))

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "seen": self.seen, "emitted": self.emitted, "skipped": self.skipped,
                "failed": len(self.failures), "failures": [vars(f) for f in self.failures],
                "warnings": self.warnings}


ConfigT = TypeVar("ConfigT", bound=CollectorConfig)


class Collector(ABC, Generic[ConfigT]):
    """One source. Subclasses set the class attributes and implement ``collect``."""

    name: ClassVar[str]  # as typed in `lineage collect NAME` and in lineage.yaml
    config_class: ClassVar[type[CollectorConfig]]
    requires: ClassVar[tuple[str, ...]] = ()  # importable module names of its SDK
    install_hint: ClassVar[str] = ""  # e.g. "pip install 'lineage-service[github]'"

    def __init__(self, config: ConfigT, instance: str | None = None) -> None:
        self.config = config
        # Several instances of one collector (two clusters) keep separate cursors.
        self.instance = instance or self.name
        self.report = Report(self.instance)
        self.cursor: str | None = None

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this collector cannot run here (a missing SDK), or None; imports nothing."""
        missing = [module for module in cls.requires if importlib.util.find_spec(module) is None]
        if missing:
            return f"needs {', '.join(missing)}: {cls.install_hint}"
        return None

    @abstractmethod
    def collect(self, cursor: str | None) -> Iterator[Event]:
        """Yield lineage events for what changed since ``cursor``; set ``self.cursor`` as you go."""
