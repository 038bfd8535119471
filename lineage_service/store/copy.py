"""Copy a whole store, graph and event log, into another: ``lineage store copy SRC DST``.

SQLite → Neo4j to go to production, Neo4j → SQLite for an offline snapshot. The source is read in
pages (``export_nodes``, ``export_edges``, ``list_events``) and each page written as it is with
``import_batch``: times, sources, evidence, validity and event states stay those of the source,
which ``apply`` would re-stamp. Nodes go first, because an edge needs both of its ends; the
collectors' cursors last, so that collectors continue in the copy where they stopped.

Resuming: after each page the destination keeps a checkpoint (phase, last id copied, counts) as
the cursor ``copy:<hash of the source>``. A run that finds one continues after it. A crash between
writing a page and saving its checkpoint writes that page again on the next run, which changes
nothing since ``import_batch`` replaces rather than merges. The checkpoint is saved before the
first page, so that a destination holding part of a copy is told apart from one holding another
graph, which is refused: a copy would overwrite its nodes with the source's versions.

The end is checked by counting both stores (nodes by kind, edges by kind, events by status). A
source written to during the copy may differ from what was copied: stop writers first.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lineage_service.store import NEO4J_SCHEMES
from lineage_service.store.base import GraphStore

PAGED = ("nodes", "edges", "events")  # in this order: an edge needs its nodes
CURSORS = "cursors"
STEPS = (*PAGED, CURSORS)
DONE = "done"
CHECKPOINT_PREFIX = "copy:"
DEFAULT_BATCH = 5_000
COUNTED = ("nodes", "edges", "events")  # the sections of stats() compared at the end


class CopyRefused(ValueError):
    """A copy that must not start: onto the store itself, or over another graph."""


@dataclass(frozen=True)
class Progress:
    phase: str  # nodes, edges or events
    copied: int  # of this phase, by this run and the runs it resumes
    total: int  # in the source when the phase started (it may grow while copying)


@dataclass
class Checkpoint:
    source: str
    phase: str = STEPS[0]
    # The last node id, edge [source, kind, target] or event id copied in this phase.
    after: Any = None
    copied: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STEPS, 0))

    def dumps(self) -> str:
        return json.dumps({"source": self.source, "phase": self.phase, "after": self.after, "copied": self.copied})

    @classmethod
    def loads(cls, text: str) -> Checkpoint:
        data = json.loads(text)
        return cls(data["source"], data["phase"], data["after"], {p: int(data["copied"].get(p, 0)) for p in STEPS})


@dataclass(frozen=True)
class CountRow:
    section: str  # nodes, edges or events
    name: str  # a node kind, an edge kind or an event status
    source: int
    destination: int

    @property
    def ok(self) -> bool:
        return self.source == self.destination


@dataclass(frozen=True)
class CopyResult:
    source: str
    destination: str
    resumed: bool  # continued an interrupted copy
    finished_before: bool  # a previous run had finished: nothing copied, only checked
    copied: dict[str, int]  # rows written per phase (and collector cursors), over every run of this copy
    counts: list[CountRow]

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.counts)


def store_identity(uri: str) -> str:
    """What a store URI points at, to refuse copying a store onto itself under another spelling.

    A SQLite file by its real path (relative paths, ``..`` and symlinks resolved); a Neo4j store by
    host and port, whatever the scheme: both ends share NEO4J_DATABASE, so one server is one store.
    """
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme == "sqlite":
        path = uri if not sep else (rest[1:] if rest.startswith("/") else rest)
        return "sqlite:" + os.path.realpath(Path(path).expanduser())
    if scheme.lower() in NEO4J_SCHEMES:
        try:
            parts = urlsplit(uri)
            return f"neo4j:{(parts.hostname or '').lower()}:{parts.port or 7687}"
        except ValueError:
            return uri  # malformed: opening it will say so
    return uri


def checkpoint_name(source_uri: str) -> str:
    return CHECKPOINT_PREFIX + hashlib.sha256(store_identity(source_uri).encode()).hexdigest()[:16]


def same_store(one_uri: str, other_uri: str) -> bool:
    """Whether two URIs name one store, judged without opening either (see ``store_identity``)."""
    return store_identity(one_uri) == store_identity(other_uri)


def check_distinct(source_uri: str, destination_uri: str) -> None:
    if same_store(source_uri, destination_uri):
        raise CopyRefused(f"{source_uri} and {destination_uri} are the same store; copy to another one")


def is_empty(store: GraphStore) -> tuple[bool, str]:
    """Whether ``store`` holds no nodes, edges or events, and its counts ("2 nodes, 1 edges, 0 events").

    Shared by ``copy_store`` and ``replay``: both refuse a target that already holds something, and
    the counts tell the user what is in it.
    """
    stats = store.stats()
    counts = {section: sum(stats[section].values()) for section in COUNTED}
    return not any(counts.values()), ", ".join(f"{count} {section}" for section, count in counts.items())


def _next(step: str) -> str:
    position = STEPS.index(step) + 1
    return STEPS[position] if position < len(STEPS) else DONE


def _copy_page(source: GraphStore, destination: GraphStore, phase: str, after: Any, batch: int) -> tuple[int, Any]:
    """One page of ``phase`` after ``after``: how many rows were copied, and the new cursor."""
    if phase == "nodes":
        nodes = source.export_nodes(after, batch)
        if nodes:
            destination.import_batch(nodes, [], [])
        return len(nodes), nodes[-1].id if nodes else after
    if phase == "edges":
        edges = source.export_edges((after[0], after[1], after[2]) if after else None, batch)
        if edges:
            destination.import_batch([], edges, [])
        return len(edges), [edges[-1].source, edges[-1].kind, edges[-1].target] if edges else after
    events = source.list_events(after=after, limit=batch)
    if events:
        destination.import_batch([], [], events)
    return len(events), events[-1].id if events else after


def compare_counts(source: GraphStore, destination: GraphStore) -> list[CountRow]:
    """Nodes by kind, edges by kind, events by status, in both stores."""
    theirs, ours = source.stats(), destination.stats()
    return [CountRow(section, name, theirs[section].get(name, 0), ours[section].get(name, 0))
            for section in COUNTED for name in sorted(set(theirs[section]) | set(ours[section]))]


@dataclass
class _Copy:
    """One run of a copy: the two stores, the checkpoint and where it is kept."""

    source: GraphStore
    destination: GraphStore
    name: str
    state: Checkpoint
    batch: int
    on_progress: Callable[[Progress], None] | None

    def save(self) -> None:
        self.destination.set_cursor(self.name, self.state.dumps())

    def report(self, phase: str, total: int) -> None:
        if self.on_progress:
            copied = self.state.copied[phase]
            self.on_progress(Progress(phase, copied, max(total, copied)))

    def pages(self, phase: str, total: int) -> None:
        """Every page of ``phase`` from the checkpoint on, saving the checkpoint after each."""
        self.report(phase, total)
        while True:
            count, self.state.after = _copy_page(self.source, self.destination, phase, self.state.after, self.batch)
            self.state.copied[phase] += count
            last_page = count < self.batch
            if last_page:  # a run interrupted from here on starts with the next step
                self.state.phase, self.state.after = _next(phase), None
            self.save()
            if count:
                self.report(phase, total)
            if last_page:
                return

    def cursors(self) -> None:
        # Collectors resume in the copy where they stopped. Checkpoints of copies into the source
        # stay behind: they describe those copies, not this store.
        cursors = {n: v for n, v in self.source.list_cursors().items() if not n.startswith(CHECKPOINT_PREFIX)}
        for name, value in cursors.items():
            self.destination.set_cursor(name, value)
        self.state.copied[CURSORS], self.state.phase = len(cursors), DONE
        self.save()


def copy_store(source: GraphStore, destination: GraphStore, *, batch: int = DEFAULT_BATCH,
               on_progress: Callable[[Progress], None] | None = None) -> CopyResult:
    """Copy everything ``source`` holds into ``destination``, continuing an interrupted copy.

    Raises ``CopyRefused`` for the same store on both ends, or a destination that holds a graph or
    events that are not an earlier run of this copy. ``on_progress`` is called when a phase starts
    and after each page; an exception it raises stops the copy with the checkpoint saved.
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    check_distinct(source.uri, destination.uri)
    name = checkpoint_name(source.uri)
    saved = destination.get_cursor(name)
    run = _Copy(source, destination, name, Checkpoint.loads(saved) if saved else Checkpoint(source.uri), batch,
                on_progress)
    if saved is None:
        empty, counts = is_empty(destination)
        if not empty:
            raise CopyRefused(f"{destination.uri} already holds a graph or events ({counts}; not an earlier copy "
                              f"of {source.uri}): copy into an empty store")
        run.save()  # from here on, what is in the destination is this copy's
    resumed, finished_before = saved is not None and run.state.phase != DONE, run.state.phase == DONE
    if run.state.phase in PAGED:
        totals = source.stats()
        for phase in PAGED[PAGED.index(run.state.phase):]:
            run.pages(phase, sum(totals[phase].values()))
    if run.state.phase == CURSORS:
        run.cursors()
    return CopyResult(source.uri, destination.uri, resumed, finished_before, dict(run.state.copied),
                      compare_counts(source, destination))
