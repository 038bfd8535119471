"""Human references: ``api v1.2.3``, ``model taxi-model:3``, ``commit 05ee055``, ``image ghcr.io/org/api:v1.2.3``.

A reference resolves to exactly one node, or fails with an error that lists the candidates (when
ambiguous) or what is known that is close (when unknown). Where a reference is resolved by a rule
(``latest``, the live revision of a deployment) the answer says so in ``note``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from graph_schema import canonical
from graph_schema.canonical import InvalidValue
from graph_schema.kinds import SPECS, NodeKind, canonical_key, node_id, parse_kind
from lineage_service.store.base import GraphStore, Node

CANDIDATE_LIMIT = 10


class ReferenceProblem(LookupError):
    """Base of reference errors; ``candidates`` are nodes the user may have meant."""

    def __init__(self, message: str, candidates: list[Node] | None = None) -> None:
        super().__init__(message)
        self.candidates = candidates or []


class NotFound(ReferenceProblem):
    pass


class InvalidReference(InvalidValue):
    """A reference that cannot name a node of its kind (as opposed to a bad parameter: a fanout, a
    limit, a cursor): the HTTP API titles its 400 "Invalid reference" rather than "Invalid parameter"."""


class Ambiguous(ReferenceProblem):
    pass


@dataclass(frozen=True)
class Resolved:
    node: Node
    note: str | None = None


EXAMPLES = {
    NodeKind.API: "v1.2.3, 1.2.3 or taxi-api@v1.2.3",
    NodeKind.DEPLOYMENT: "prod/taxi-api (the live revision) or prod/taxi-api#8",
    NodeKind.IMAGE: "ghcr.io/org/api:v1.2.3, …@sha256:<digest>, sha256:<digest or prefix>",
    NodeKind.MODEL: "taxi-model:3 or taxi-model (the latest version)",
    NodeKind.JOB: "an Azure ML job name, or azureml/<name>",
    NodeKind.DATASET: "green-taxi-data:5 or green-taxi-data:latest",
    NodeKind.RUN: "a CI run id, or github-actions/<id>",
    NodeKind.COMMIT: "a SHA or a unique prefix of at least 4 characters",
    NodeKind.REPO: "https://github.com/org/repo",
    NodeKind.PERSON: "a login or an e-mail address",
}


def resolve(store: GraphStore, kind: str, reference: str) -> Resolved:
    """Resolve ``reference`` (text a person typed) to one node of ``kind``."""
    node_kind = parse_kind(kind)
    text = reference.strip()
    if not text:
        raise NotFound(f"empty {node_kind.value} reference; expected {EXAMPLES[node_kind]}")
    try:
        return _RESOLVERS[node_kind](store, text)
    except InvalidValue as exc:
        raise NotFound(f"{node_kind.value} {text!r}: {exc}") from None


def _one(kind: NodeKind, text: str, found: list[Node], store: GraphStore, hint: str = "") -> Node:
    if len(found) == 1:
        return found[0]
    if found:
        listing = ", ".join(n.label for n in found[:CANDIDATE_LIMIT])
        # Callers fetch one more than they list, so a cut list does not claim an exact count.
        count = str(len(found)) if len(found) <= CANDIDATE_LIMIT else f"more than {CANDIDATE_LIMIT}"
        raise Ambiguous(f"{kind.value} {text!r} matches {count} nodes: {listing}; {hint or 'be more specific'}",
                        found[:CANDIDATE_LIMIT])
    raise _not_found(store, kind, text)


def _not_found(store: GraphStore, kind: NodeKind, text: str) -> NotFound:
    close = _close_to(store, kind, text)
    message = f"no {kind.value} matches {text!r}"
    if close:
        message += "; known: " + ", ".join(n.label for n in close)
    else:
        message += f"; the store has no {kind.value} nodes yet (load some with `lineage ingest` or `lineage demo`)"
    return NotFound(message, close)


# Shortening a word that matched nothing stops at half its length, and never below this: shorter
# prefixes match too much to be "close".
_SHORTEST_PREFIX = 3
# Prefix lookups for one unknown reference, in all: a 1,000-character or many-word reference is a
# 404, and its suggestions must not cost hundreds of index searches.
MAX_CLOSE_LOOKUPS = 24


def _close_to(store: GraphStore, kind: NodeKind, text: str) -> list[Node]:
    """Nodes of ``kind`` whose lookup value starts like a word of ``text``, else the first few of the kind.

    Only prefix searches, which the lookup index serves (a substring search scanned every node
    and alias of the kind: over half a second at a million nodes). Each word is tried whole, then
    shortened to the longest prefix that matches, so a typo late in a name still finds it
    (taxi-modle: taxi-mod). At most ``MAX_CLOSE_LOOKUPS`` searches in all.
    """
    fragments = re.split(r"[:@#/ ]", text.removeprefix("v"))
    words = [w for w in fragments if len(w) >= 2] or [text]
    # Lookup values are canonical: mostly lower case, release versions without their "v".
    prefixes = list(dict.fromkeys(
        form[1:] if re.match(r"[vV]\d", form) else form for w in words for form in (w, w.lower())))
    budget = [MAX_CLOSE_LOOKUPS]

    def lookup(prefix: str) -> list[Node]:
        budget[0] -= 1
        return store.find_nodes(kind.value, lookup_prefix=prefix, limit=CANDIDATE_LIMIT)

    close: dict[str, Node] = {}
    for prefix in prefixes[:MAX_CLOSE_LOOKUPS // 2]:  # leave half the budget for shortening
        _add(close, lookup(prefix))
    for prefix in prefixes if not close else ():
        if budget[0] <= 0 or _add(close, _longest_match(prefix, lookup, budget)):
            break
    if not close:
        _add(close, store.find_nodes(kind.value, limit=CANDIDATE_LIMIT))
    return list(close.values())[:CANDIDATE_LIMIT]


def _longest_match(word: str, lookup: Callable[[str], list[Node]], budget: list[int]) -> list[Node]:
    """The nodes of the longest prefix of ``word`` (shorter than it, down to half of it) that matches.

    A prefix that matches has every shorter prefix matching too, so a bisection finds the same
    prefix as shortening a character at a time, in log2(len) searches instead of len / 2.
    """
    low, high = max(_SHORTEST_PREFIX, len(word) // 2), len(word) - 1  # lengths still to try
    best: list[Node] = []
    while low <= high and budget[0] > 0:
        middle = (low + high + 1) // 2
        found = lookup(word[:middle])
        if found:
            best, low = found, middle + 1
        else:
            high = middle - 1
    return best


def _add(close: dict[str, Node], found: list[Node]) -> bool:
    for node in found:
        close.setdefault(node.id, node)
    return bool(found)


def _split_name_version(text: str) -> tuple[str, str | None]:
    for separator in ("@", ":"):
        if separator in text:
            name, _, version = text.rpartition(separator)
            return name, version
    return text, None


def _latest(nodes: list[Node]) -> Node:
    def order(node: Node) -> tuple[int, int | str, str]:
        version = node.key["version"]
        return (1, int(version), "") if version.isdigit() else (0, version, node.last_seen.isoformat())

    return max(nodes, key=order)


def _api(store: GraphStore, text: str) -> Resolved:
    service, version = "", text
    for separator in (" ", "@", ":"):
        if separator in text:
            service, _, version = text.rpartition(separator)
            break
    if service:
        # The id follows from the key: one primary-key read, however many services share the version.
        key = canonical_key(NodeKind.API, {"service": service, "version": version})
        found = store.get_nodes([node_id(NodeKind.API, key)])
    else:
        # One more than the candidates listed: enough to tell "exactly one" from "ambiguous".
        found = store.find_nodes(NodeKind.API.value, lookup=canonical.release_version(version),
                                 limit=CANDIDATE_LIMIT + 1)
    hint = "name the service, e.g. " + (f"{found[0].key['service']}@{version}" if found else "taxi-api@v1.2.3")
    return Resolved(_one(NodeKind.API, text, found, store, hint))


def _versioned(kind: NodeKind) -> Callable[[GraphStore, str], Resolved]:
    def resolve_versioned(store: GraphStore, text: str) -> Resolved:
        name, version = _split_name_version(text)
        name = canonical.name(name, f"{kind.value} name")
        if version is not None and version != "latest":
            # The id follows from the key: one primary-key lookup, however many versions exist.
            exact = store.get_nodes([node_id(kind, {"name": name, "version": canonical.asset_version(version)})])
            if exact:
                return Resolved(exact[0])
        versions = store.find_nodes(kind.value, lookup=name, limit=10_000)
        if version is not None and version != "latest":
            if versions:
                known = ", ".join(sorted((n.key["version"] for n in versions), key=_version_order))
                raise NotFound(f"{kind.value} {name} has no version {version}; known versions: {known}", versions)
            raise _not_found(store, kind, text)
        if not versions:
            raise _not_found(store, kind, text)
        latest = _latest(versions)
        return Resolved(latest, f"{kind.value} {text} resolved to {latest.label}, the latest version")

    return resolve_versioned


def _version_order(version: str) -> tuple[int, int | str]:
    return (0, int(version)) if version.isdigit() else (1, version)


def _image(store: GraphStore, text: str) -> Resolved:
    bare = text.lstrip("@")
    if canonical.is_digest(bare):
        return Resolved(_one(NodeKind.IMAGE, text, store.find_nodes("image", lookup=canonical.digest(bare)), store))
    prefix = bare.lower().removeprefix("sha256:")
    if re.fullmatch(r"[0-9a-f]{6,63}", prefix):
        found = store.find_nodes("image", lookup_prefix="sha256:" + prefix, limit=CANDIDATE_LIMIT + 1)
        return Resolved(_one(NodeKind.IMAGE, text, found, store, "give more characters of the digest"))
    if re.fullmatch(r"[0-9a-f]{1,5}", prefix) and (
            bare.lower().startswith("sha256:") or store.find_nodes("image", lookup_prefix="sha256:" + prefix)):
        raise NotFound(f"image {text!r}: a digest prefix needs at least 6 hexadecimal characters; expected "
                       f"{EXAMPLES[NodeKind.IMAGE]}")
    reference = canonical.image_reference(text)
    if reference.digest:
        return Resolved(_one(NodeKind.IMAGE, text, store.find_nodes("image", lookup=reference.digest), store))
    if reference.tag is None:
        reference = canonical.ImageReference(reference.registry, reference.repository, "latest")
    found = store.find_nodes("image", alias=str(reference), limit=CANDIDATE_LIMIT + 1)
    if not found:
        raise _no_such_tag(store, text, reference)
    # Aliases are history: a tag that moved is an alias of every digest it named. The docker and
    # registry collectors keep a `tags` map where a moved tag is null on the old digest.
    current = [n for n in found if (n.props.get("tags") or {}).get(str(reference))] if len(found) > 1 else []
    if len(current) == 1:
        earlier = ", ".join(n.label for n in found if n is not current[0])
        return Resolved(current[0], f"image {text} has moved; resolved to the digest it names now, "
                                    f"{current[0].label} (earlier: {earlier})")
    return Resolved(_one(NodeKind.IMAGE, text, found, store))


def _no_such_tag(store: GraphStore, text: str, reference: canonical.ImageReference) -> NotFound:
    """Name the reference that was looked for, with the registry and the default tag filled in."""
    message = f"no image is tagged {reference}" + (f" (you typed {text!r})" if str(reference) != text else "")
    close = _not_found(store, NodeKind.IMAGE, text)
    return NotFound(message + str(close).removeprefix(f"no image matches {text!r}"), close.candidates)


def _commit(store: GraphStore, text: str) -> Resolved:
    prefix = canonical.sha_prefix(text)
    found = store.find_nodes("commit", lookup_prefix=prefix, limit=CANDIDATE_LIMIT + 1)
    if len(found) > 1:
        # The 7-character label may not tell the candidates apart (a long shared prefix, or the
        # same commit in a fork), so list as many characters as needed, and the repository.
        shas = [n.key["sha"] for n in found]
        width = max(7, len(os.path.commonprefix(shas)) + 1)  # noqa: RUF071 (SHAs, not paths)
        listing = ", ".join(f"{n.key['sha'][:width]} in {n.key['repo'].removeprefix('https://')}"
                            for n in found[:CANDIDATE_LIMIT])
        count = str(len(found)) if len(found) <= CANDIDATE_LIMIT else f"more than {CANDIDATE_LIMIT}"
        hint = "give more characters of the SHA" if len(set(shas)) > 1 else "the commit is in several repositories"
        raise Ambiguous(f"commit {text!r} matches {count} commits: {listing}; {hint}", found[:CANDIDATE_LIMIT])
    return Resolved(_one(NodeKind.COMMIT, text, found, store, "give more characters of the SHA"))


def _deployment(store: GraphStore, text: str) -> Resolved:
    path, _, revision = text.partition("#")
    parts = path.split("/")
    if len(parts) > 3 or not all(parts):
        raise NotFound(f"deployment {text!r}: expected {EXAMPLES[NodeKind.DEPLOYMENT]}")
    name = parts[-1]
    found = store.find_nodes("deployment", lookup=name, limit=10_000)
    if len(parts) >= 2:
        found = [n for n in found if n.key["namespace"] == parts[-2]]
    if len(parts) == 3:
        found = [n for n in found if n.key["cluster"] == parts[0]]
    if revision:
        found = [n for n in found if n.key["revision"] == revision]
        return Resolved(_one(NodeKind.DEPLOYMENT, text, found, store))
    places = {(n.key["platform"], n.key["cluster"], n.key["namespace"]) for n in found}
    if len(places) > 1:
        hint = "name the namespace (and cluster), e.g. " + ", ".join(
            sorted({f"{c}/{ns}/{name}" for _, c, ns in places}))
        raise Ambiguous(f"deployment {text!r} exists in {len(places)} places; {hint}", found[:CANDIDATE_LIMIT])
    if not found:
        raise _not_found(store, NodeKind.DEPLOYMENT, text)
    live = [n for n in found if not n.props.get("active_to")]
    current = max(live or found, key=lambda n: (_version_order(n.key["revision"]), n.last_seen))
    which = "its live revision" if live else (
        f"its latest revision (none is live; it ended {current.props['active_to']})")
    note = None if len(found) == 1 and live else (
        f"deployment {text} resolved to {which}, {current.label}; add #<revision> for another")
    return Resolved(current, note)


def _system_id(kind: NodeKind) -> Callable[[GraphStore, str], Resolved]:
    def resolve_system_id(store: GraphStore, text: str) -> Resolved:
        system, _, job_id = text.rpartition("/") if re.match(r"[\w.-]+/", text) else ("", "", text)
        found = store.find_nodes(kind.value, lookup=job_id, limit=CANDIDATE_LIMIT + 1)
        if not found:
            found = store.find_nodes(kind.value, lookup_prefix=job_id, limit=CANDIDATE_LIMIT + 1)
        if system:
            found = [n for n in found if n.key["system"] == system.lower()]
        return Resolved(_one(kind, text, found, store))

    return resolve_system_id


def _by_key(kind: NodeKind) -> Callable[[GraphStore, str], Resolved]:
    field = SPECS[kind].lookup_field

    def resolve_by_key(store: GraphStore, text: str) -> Resolved:
        value = SPECS[kind].canonicalizers[field](text)
        return Resolved(_one(kind, text, store.find_nodes(kind.value, lookup=value), store))

    return resolve_by_key


_RESOLVERS: dict[NodeKind, Callable[[GraphStore, str], Resolved]] = {
    NodeKind.API: _api,
    NodeKind.DEPLOYMENT: _deployment,
    NodeKind.IMAGE: _image,
    NodeKind.MODEL: _versioned(NodeKind.MODEL),
    NodeKind.DATASET: _versioned(NodeKind.DATASET),
    NodeKind.JOB: _system_id(NodeKind.JOB),
    NodeKind.RUN: _system_id(NodeKind.RUN),
    NodeKind.COMMIT: _commit,
    NodeKind.REPO: _by_key(NodeKind.REPO),
    NodeKind.PERSON: _by_key(NodeKind.PERSON),
}
