"""Node kinds, their natural keys, and how a key is made canonical, labelled and identified.

Every node is a version of something, identified by its kind plus the values of its key
fields. The node id is a hash of that canonical identity: stable across stores and machines,
and never parsed back (keys contain ``:`` and ``/``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from graph_schema import canonical
from graph_schema.canonical import InvalidValue


class NodeKind(StrEnum):
    API = "api"
    DEPLOYMENT = "deployment"
    IMAGE = "image"
    MODEL = "model"
    JOB = "job"
    DATASET = "dataset"
    RUN = "run"
    COMMIT = "commit"
    REPO = "repo"
    PERSON = "person"


Canonicalizer = Callable[[str], str]


def _text(what: str) -> Canonicalizer:
    return lambda value: canonical.name(value, what)


def _system(value: str) -> str:
    return canonical.name(value, "system name like 'azureml' or 'github-actions'").lower()


def _job_id(value: str) -> str:
    text = str(value).strip()
    if not text or len(text) > 512:
        raise InvalidValue(f"expected a job or run id (1 to 512 characters), got {value!r}")
    return text


def _person(value: str) -> str:
    text = value.strip()
    if not text or len(text) > 320:
        raise InvalidValue(f"expected a login or an e-mail address, got {value!r}")
    # E-mail addresses are case-insensitive in practice; logins on GitHub are too.
    return text.lower()


_PLATFORMS = {"kubernetes", "azureml-online", "azureml-batch"}


def _platform(value: str) -> str:
    text = value.strip().lower()
    if text not in _PLATFORMS:
        raise InvalidValue(f"expected a platform, one of {sorted(_PLATFORMS)}, got {value!r}")
    return text


@dataclass(frozen=True)
class KindSpec:
    """What identifies a node of one kind and how it is shown."""

    kind: NodeKind
    key_fields: tuple[str, ...]
    canonicalizers: Mapping[str, Canonicalizer]
    # The key field that human references and prefix searches look up first.
    lookup_field: str
    describe: str


SPECS: dict[NodeKind, KindSpec] = {
    spec.kind: spec
    for spec in (
        KindSpec(NodeKind.API, ("service", "version"),
                 {"service": _text("service name"), "version": canonical.release_version},
                 "version", "a released version of a service's API"),
        KindSpec(NodeKind.DEPLOYMENT, ("platform", "cluster", "namespace", "name", "revision"),
                 {"platform": _platform, "cluster": _text("cluster or workspace name"),
                  "namespace": _text("namespace or endpoint name"), "name": _text("deployment name"),
                  "revision": canonical.asset_version},
                 "name", "one revision of a deployment on Kubernetes or an Azure ML endpoint"),
        KindSpec(NodeKind.IMAGE, ("digest",), {"digest": canonical.digest},
                 "digest", "a container image, by content digest"),
        KindSpec(NodeKind.MODEL, ("name", "version"),
                 {"name": _text("model name"), "version": canonical.asset_version},
                 "name", "a registered model version"),
        KindSpec(NodeKind.JOB, ("system", "id"), {"system": _system, "id": _job_id},
                 "id", "a training, preparation or pipeline job (Azure ML job, pipeline step)"),
        KindSpec(NodeKind.DATASET, ("name", "version"),
                 {"name": _text("dataset name"), "version": canonical.asset_version},
                 "name", "a dataset version (Azure ML data asset, table, files)"),
        KindSpec(NodeKind.RUN, ("system", "id"), {"system": _system, "id": _job_id},
                 "id", "a CI pipeline run (GitHub Actions, Azure DevOps)"),
        KindSpec(NodeKind.COMMIT, ("repo", "sha"), {"repo": canonical.repo_url, "sha": canonical.git_sha},
                 "sha", "a git commit"),
        KindSpec(NodeKind.REPO, ("url",), {"url": canonical.repo_url}, "url", "a source repository"),
        KindSpec(NodeKind.PERSON, ("id",), {"id": _person}, "id", "a commit author, by login or e-mail"),
    )
}

KIND_NAMES = ", ".join(kind.value for kind in NodeKind)


# A dict lookup: calling the enum goes through EnumType.__call__, twice per edge of every event.
_KINDS_BY_VALUE = {kind.value: kind for kind in NodeKind}


def parse_kind(value: str) -> NodeKind:
    kind = _KINDS_BY_VALUE.get(value.strip().lower())
    if kind is None:
        raise InvalidValue(f"unknown node kind {value!r}; expected one of: {KIND_NAMES}")
    return kind


def canonical_key(kind: NodeKind, key: Mapping[str, object]) -> dict[str, str]:
    """The key with exactly the kind's fields, each in canonical form.

    Raises ``InvalidValue`` naming the field (``key.sha: expected …``) on the first problem.
    """
    # An event names each node again in every edge that touches it, and a stream of events names
    # the same commits, datasets and people over and over: remember recent answers. The value's
    # type is part of the cache key, or ``True`` would find the answer for ``1`` (they are equal).
    try:
        typed = tuple((name, type(value), value) for name, value in key.items())
        return dict(_cached_canonical_key(kind, typed))
    except TypeError:  # an unhashable value (a list, an object): not cached, and refused below
        return _canonical_key(kind, key)


@lru_cache(maxsize=8192)
def _cached_canonical_key(kind: NodeKind, typed: tuple[tuple[str, type, object], ...]) -> tuple[tuple[str, str], ...]:
    return tuple(_canonical_key(kind, {name: value for name, _, value in typed}).items())


def _canonical_key(kind: NodeKind, key: Mapping[str, object]) -> dict[str, str]:
    spec = SPECS[kind]
    unknown = sorted(set(key) - set(spec.key_fields))
    if unknown:
        raise InvalidValue(
            f"key: unexpected field(s) {unknown} for kind {kind.value!r}; its key is {list(spec.key_fields)}"
        )
    result: dict[str, str] = {}
    for field in spec.key_fields:
        value = key.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise InvalidValue(f"key.{field}: required for kind {kind.value!r} (key is {list(spec.key_fields)})")
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise InvalidValue(f"key.{field}: expected a string, got {type(value).__name__}")
        try:
            result[field] = spec.canonicalizers[field](str(value))
        except InvalidValue as exc:
            raise InvalidValue(f"key.{field}: {exc}") from None
    return result


def node_id(kind: NodeKind | str, key: Mapping[str, str]) -> str:
    """A stable id for a canonical key: the kind and a 12-byte hash of the key values.

    The hashed text is length-prefixed, so no value can be confused with a separator.
    """
    spec = SPECS[NodeKind(kind)]
    identity = "".join(f"{len(value)}:{value}" for value in (str(kind), *(key[f] for f in spec.key_fields)))
    return f"{kind}_{hashlib.blake2b(identity.encode(), digest_size=12).hexdigest()}"


def lookup_value(kind: NodeKind | str, key: Mapping[str, str]) -> str:
    return key[SPECS[NodeKind(kind)].lookup_field]


def label(kind: NodeKind | str, key: Mapping[str, str]) -> str:
    """A short human label: ``taxi-api v1.2.3``, ``taxi-model:3``, ``05ee055``, ``prod/taxi-api#8``."""
    match NodeKind(kind):
        case NodeKind.API:
            return f"{key['service']} {canonical.display_version(key['version'])}"
        case NodeKind.DEPLOYMENT:
            return f"{key['namespace']}/{key['name']}#{key['revision']}"
        case NodeKind.IMAGE:
            return key["digest"][:19]
        case NodeKind.MODEL | NodeKind.DATASET:
            return f"{key['name']}:{key['version']}"
        case NodeKind.JOB | NodeKind.RUN:
            return f"{key['system']}/{key['id']}"
        case NodeKind.COMMIT:
            return key["sha"][:7]
        case NodeKind.REPO:
            return key["url"].removeprefix("https://")
        case NodeKind.PERSON:
            return key["id"]
