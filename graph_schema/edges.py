"""Edge kinds and evidence levels.

Edges point upstream, from a thing to what it was made from, so a trace follows outgoing edges
and an impact query follows incoming ones. Each edge kind allows a fixed set of
(source kind, target kind) pairs; when a pair has exactly one edge kind, an event may leave the
kind out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from graph_schema.canonical import InvalidValue
from graph_schema.kinds import NodeKind as K


class EdgeKind(StrEnum):
    SERVED_BY = "served_by"
    RUNS_IMAGE = "runs_image"
    SERVES_MODEL = "serves_model"
    BUILT_FROM = "built_from"
    BUILT_BY = "built_by"
    BUNDLES = "bundles"
    PRODUCED_BY = "produced_by"
    CONSUMED = "consumed"
    RAN_CODE = "ran_code"
    TRIGGERED_BY = "triggered_by"
    PART_OF = "part_of"
    DERIVED_FROM = "derived_from"
    AT_COMMIT = "at_commit"
    AUTHORED_BY = "authored_by"
    IN_REPO = "in_repo"
    PARENT = "parent"


class Evidence(IntEnum):
    """How sure we are of a link, weakest first; merging two reports keeps the stronger."""

    INFERRED = 0  # derived by us from naming or timing
    DECLARED = 1  # stated by a pipeline step or a tag
    OBSERVED = 2  # read from a live system (cluster, registry, Azure ML)
    ATTESTED = 3  # from signed provenance

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Evidence:
        try:
            return cls[value.strip().upper()]
        except KeyError:
            names = ", ".join(member.label for member in cls)
            raise InvalidValue(f"unknown evidence {value!r}; expected one of: {names}") from None


@dataclass(frozen=True)
class EdgeSpec:
    kind: EdgeKind
    pairs: frozenset[tuple[K, K]]
    describe: str
    # Walking commit parents from a release would list the whole repository history, so
    # trace and impact skip such edges; diff uses them explicitly.
    traversed: bool = True


def _spec(kind: EdgeKind, describe: str, *pairs: tuple[K, K], traversed: bool = True) -> EdgeSpec:
    return EdgeSpec(kind, frozenset(pairs), describe, traversed)


SPECS: dict[EdgeKind, EdgeSpec] = {
    spec.kind: spec
    for spec in (
        _spec(EdgeKind.SERVED_BY, "API release is served by a deployment", (K.API, K.DEPLOYMENT)),
        _spec(EdgeKind.RUNS_IMAGE, "deployment runs an image", (K.DEPLOYMENT, K.IMAGE)),
        _spec(EdgeKind.SERVES_MODEL, "deployment serves a model version", (K.DEPLOYMENT, K.MODEL)),
        _spec(EdgeKind.BUILT_FROM, "image was built from a commit", (K.IMAGE, K.COMMIT)),
        _spec(EdgeKind.BUILT_BY, "image was built by a CI run", (K.IMAGE, K.RUN)),
        _spec(EdgeKind.BUNDLES, "image bundles a model version", (K.IMAGE, K.MODEL)),
        _spec(EdgeKind.PRODUCED_BY, "model or dataset version was produced by a job",
              (K.MODEL, K.JOB), (K.DATASET, K.JOB)),
        _spec(EdgeKind.CONSUMED, "job read a dataset version", (K.JOB, K.DATASET)),
        _spec(EdgeKind.RAN_CODE, "job ran the code of a commit", (K.JOB, K.COMMIT)),
        _spec(EdgeKind.TRIGGERED_BY, "job was submitted by a CI run", (K.JOB, K.RUN)),
        _spec(EdgeKind.PART_OF, "job is a step of a pipeline job", (K.JOB, K.JOB)),
        _spec(EdgeKind.DERIVED_FROM, "dataset version was derived from another", (K.DATASET, K.DATASET)),
        _spec(EdgeKind.AT_COMMIT, "CI run checked out a commit", (K.RUN, K.COMMIT)),
        _spec(EdgeKind.AUTHORED_BY, "commit was authored by a person", (K.COMMIT, K.PERSON)),
        _spec(EdgeKind.IN_REPO, "commit belongs to a repository", (K.COMMIT, K.REPO)),
        _spec(EdgeKind.PARENT, "commit's parent commit", (K.COMMIT, K.COMMIT), traversed=False),
    )
}

EDGE_KIND_NAMES = ", ".join(kind.value for kind in EdgeKind)
UNTRAVERSED = frozenset(kind.value for kind, spec in SPECS.items() if not spec.traversed)


def parse_edge_kind(value: str) -> EdgeKind:
    try:
        return EdgeKind(value.strip().lower())
    except ValueError:
        raise InvalidValue(f"unknown edge kind {value!r}; expected one of: {EDGE_KIND_NAMES}") from None


# Every (source, target) pair's edge kinds, computed once: checking each edge of each event
# against all the specs (hashing enum pairs) was a sixth of validating an event.
_KINDS_BY_PAIR: dict[tuple[K, K], list[EdgeKind]] = {}
for _spec_item in SPECS.values():
    for _pair in _spec_item.pairs:
        _KINDS_BY_PAIR.setdefault(_pair, []).append(_spec_item.kind)


def allowed_kinds(source: K, target: K) -> list[EdgeKind]:
    return list(_KINDS_BY_PAIR.get((source, target), ()))


def check_edge(kind: EdgeKind | None, source: K, target: K) -> EdgeKind:
    """The edge kind for a (source, target) pair: checks a given kind, or infers the only one."""
    candidates = allowed_kinds(source, target)
    if kind is None:
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise InvalidValue(
                f"no edge goes from {source.value} to {target.value}; edges point upstream "
                f"(from a thing to what it was made from), did you swap source and target?"
            )
        raise InvalidValue(f"kind: required, one of {[c.value for c in candidates]}")
    if kind not in candidates:
        pairs = ", ".join(f"{s.value}->{t.value}" for s, t in sorted(SPECS[kind].pairs))
        raise InvalidValue(
            f"kind: a {kind.value!r} edge goes {pairs}, not {source.value}->{target.value}"
        )
    return kind
