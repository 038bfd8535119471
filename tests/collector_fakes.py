"""Collectors written for the runner's tests: real ``Collector`` subclasses with scripted output.

They are registered under test names (``monkeypatch.setitem(COLLECTORS, …)``), which exercises
the registry and the runner exactly as a real collector does, without a system to read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from pydantic import Field

from collectors.base import Collector, CollectorConfig, CollectorError, Event


class ScriptedConfig(CollectorConfig):
    events: list[Any] = Field(default_factory=list)  # yielded as given, valid or not
    crash_after: int | None = None  # raise after yielding this many events
    crash_with: str = "bug"  # "bug": a RuntimeError; "source": a CollectorError
    cursor: str = "done"


class ScriptedCollector(Collector[ScriptedConfig]):
    name: ClassVar[str] = "scripted"
    config_class: ClassVar[type[CollectorConfig]] = ScriptedConfig

    def collect(self, cursor: str | None) -> Iterator[Event]:
        for number, event in enumerate(self.config.events):
            if self.config.crash_after is not None and number == self.config.crash_after:
                break
            self.report.seen += 1
            self.report.emitted += 1
            yield event
            self.cursor = f"{self.config.cursor}-{number}"  # moves as it goes, as the contract says
        if self.config.crash_after is not None:
            if self.config.crash_with == "source":
                raise CollectorError("the source went away; check its URL")
            raise RuntimeError("a bug in the collector")
        self.cursor = self.config.cursor


class NeedsSdkCollector(Collector[ScriptedConfig]):
    name: ClassVar[str] = "needs-sdk"
    config_class: ClassVar[type[CollectorConfig]] = ScriptedConfig
    requires: ClassVar[tuple[str, ...]] = ("lineage_test_sdk_that_is_not_installed",)
    install_hint: ClassVar[str] = "pip install 'lineage-service[test-sdk]'"

    def collect(self, cursor: str | None) -> Iterator[Event]:
        import lineage_test_sdk_that_is_not_installed  # type: ignore[import-not-found]  # noqa: F401

        yield from ()


def commit_event(event_id: str, number: int) -> Event:
    """A valid event: one commit of a test repository."""
    return {"schema": "lineage-event/1", "id": event_id, "time": "2026-11-20T10:00:00Z", "source": "scripted",
            "nodes": [{"kind": "commit", "key": {"repo": "https://github.com/org/scripted",
                                                 "sha": f"{number:040x}"}, "props": {"message": event_id}}]}
