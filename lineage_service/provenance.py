"""Build provenance as lineage events: the contract of ``POST /v1/provenance`` and ``lineage ingest``.

``translate(data)`` takes one parsed document and returns a ``TranslatedProvenance``: ``event`` is a
``lineage-event/1`` dict for the one ingestion path (``graph_schema.events.parse_event`` accepts every
dict returned here), or ``None`` when the document holds nothing the graph can use; ``notes`` say what
was approximated or skipped. A malformed document raises ``ProvenanceRejected`` listing each
``field: problem`` by its name in the document. Pure: no I/O, no web framework.

Accepted documents (``is_provenance`` tells them from lineage events):

- an in-toto Statement (``_type`` ``https://in-toto.io/Statement/v1`` or ``v0.1``);
- a DSSE envelope (``payloadType`` ``application/vnd.in-toto+json``, base64 ``payload``,
  ``signatures``): one line of the ``.intoto.jsonl`` files that cosign and slsa-github-generator write;
  problems inside are named ``payload.<field>``;
- a Sigstore bundle (``mediaType`` ``application/vnd.dev.sigstore.bundle…``) with a ``dsseEnvelope``,
  what ``actions/attest-build-provenance`` and ``gh attestation download`` produce
  (``dsseEnvelope.payload.<field>``).

Predicates: SLSA provenance v1 (``https://slsa.dev/provenance/v1``) and v0.2. Statements of other
predicate types (SBOMs, vulnerability scans, …) are valid but are not build provenance: ``event`` is
``None`` with a note, so a cosign download of every attestation of an image still goes through.

Mapping (v1 field, then the v0.2 one):

- each ``subject`` with a ``sha256`` digest → ``image`` node ``{digest: sha256:…}``; a subject name that
  is a registry image reference (``ghcr.io/org/api``, first component a host) becomes an alias.
  Subjects without sha256, and names like ``hello`` or ``_``, are noted, not mapped.
- ``runDetails.builder.id`` (``builder.id``) → the run's ``system``: ``github-actions`` for GitHub
  builders (host github.com, a ``/.github/workflows/`` path as on GitHub Enterprise, or
  ``/actions/runner``), else the builder's host (``cloudbuild.googleapis.com``).
- ``runDetails.metadata.invocationId`` (``metadata.buildInvocationID``) → the run's ``id``. On GitHub
  ``https://github.com/OWNER/REPO/actions/runs/123/attempts/1`` gives id ``123`` (the id the GitHub
  collector and webhooks use), ``attempt``, ``url`` and ``repository``; v0.2 takes
  ``environment.github_run_id``, or a ``<run>-<attempt>`` invocation id. No invocation id, no run.
- ``buildDefinition.resolvedDependencies`` (``invocation.configSource`` and ``materials``) entries
  that are git (a ``git+`` URI, or a ``gitCommit`` digest) with a ``gitCommit``/``sha1`` digest →
  ``commit`` node ``{repo: the URI before @, sha}``; the part after ``@`` is the ``ref``.
  Other dependencies (base images, tool downloads) have no node kind here and are counted in a note.
- run props: ``builder_id``, ``build_type``, ``started_at``/``finished_at``, and from
  ``externalParameters``: ``workflow_ref``, ``workflow_repository``, ``workflow_path``, ``inputs``,
  the rest as ``external_parameters`` (v0.2: ``configSource.entryPoint`` → ``workflow_path``,
  ``parameters`` → ``inputs``); ``trigger`` from the GitHub event name.
- edges: image —built_from→ commit, image —built_by→ run, run —at_commit→ commit, evidence
  ``attested``, props ``verified: false`` and ``predicate_type`` (and ``ref``). Signatures are NOT
  checked: no Sigstore or DSSE verification library is a dependency of this project. ``attested``
  says where the link comes from, ``verified`` whether anyone here checked it; verify with
  ``gh attestation verify``, ``cosign verify-attestation`` or ``slsa-verifier`` before relying on it.

The event ``id`` is ``slsa-<hash of the statement>``: the same statement sent again, plain or in any
envelope, is a duplicate. Its ``time`` is ``finishedOn``/``startedOn`` (``buildFinishedOn``/
``buildStartedOn``), else the time it was received (``actions/attest-build-provenance`` records none).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from graph_schema import canonical
from graph_schema.canonical import InvalidValue
from graph_schema.events import MAX_FACTS_PER_EVENT, SCHEMA_VERSION
from graph_schema.kinds import NodeKind
from lineage_service.json_reader import FieldReader
from lineage_service.json_reader import json_type as _type

SOURCE = "slsa-provenance"
EVIDENCE = "attested"
STATEMENT_TYPES = ("https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1")
SLSA_V1 = "https://slsa.dev/provenance/v1"
SLSA_V02 = "https://slsa.dev/provenance/v0.2"
DSSE_PAYLOAD_TYPE = "application/vnd.in-toto+json"
BUNDLE_MEDIA_PREFIX = "application/vnd.dev.sigstore.bundle"

# https://github.com/OWNER/REPO/actions/runs/123/attempts/1 (any host: GitHub Enterprise too).
_GITHUB_RUN_URL = re.compile(r"(?P<url>https?://[^/\s]+/(?P<repo>[^/\s]+/[^/\s]+)/actions/runs/(?P<run>\d+))"
                             r"(?:/attempts/(?P<attempt>\d+))?/?")
# slsa-github-generator v0.2: buildInvocationID "<run_id>-<run_attempt>".
_GITHUB_INVOCATION = re.compile(r"(?P<run>\d+)-(?P<attempt>\d+)")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_MAX_EXTERNAL_CHARS = 4096  # externalParameters beyond this are not worth a node property
_MAX_ALIAS_CHARS = 512

Json = dict[str, Any]


class ProvenanceRejected(ValueError):
    """A document that cannot be mapped; ``problems`` lists ``field: what was expected``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("provenance rejected: " + "; ".join(problems))


@dataclass(frozen=True)
class TranslatedProvenance:
    """What a document became: a lineage event dict, or ``None`` with notes saying why."""

    envelope: Literal["statement", "dsse", "sigstore-bundle"]
    event: Json | None
    notes: tuple[str, ...] = ()


def is_provenance(item: object) -> bool:
    """Whether a parsed JSON item is an in-toto statement, DSSE envelope or Sigstore bundle.

    Lineage events forbid unknown fields, so none of these keys can appear in one.
    """
    if not isinstance(item, dict):
        return False
    kind, media = item.get("_type"), item.get("mediaType")
    return ((isinstance(kind, str) and kind.startswith("https://in-toto.io/Statement/"))
            or "payloadType" in item or "dsseEnvelope" in item
            or (isinstance(media, str) and media.startswith(BUNDLE_MEDIA_PREFIX)))


def translate(data: object, *, received_at: datetime | None = None) -> TranslatedProvenance:
    """Map one statement, envelope or bundle; raises ``ProvenanceRejected`` naming every problem."""
    if not isinstance(data, dict):
        raise ProvenanceRejected([f"expected an in-toto statement, DSSE envelope or Sigstore bundle as a JSON "
                                  f"object, got {_type(data)}"])
    reader = _Reader()
    envelope, statement = _unwrap(reader, data)
    reader.raise_problems()
    if statement is None:  # unreachable: every path without a statement reported a problem
        raise ProvenanceRejected(["payload: no statement"])
    event = _statement(reader, statement, received_at or datetime.now(UTC))
    reader.raise_problems()
    return TranslatedProvenance(envelope, event, tuple(reader.notes))


def translate_all(items: Sequence[object], *, received_at: datetime | None = None) -> tuple[list[Json], list[str]]:
    """Translate several documents: their events and notes, or one rejection naming ``[index] field: …``."""
    events: list[Json] = []
    notes: list[str] = []
    problems: list[str] = []
    for index, item in enumerate(items):
        where = f"[{index}] " if len(items) > 1 else ""
        try:
            translated = translate(item, received_at=received_at)
        except ProvenanceRejected as exc:
            problems += [where + problem for problem in exc.problems]
            continue
        except RecursionError:
            problems.append(where + "the document nests too deeply to be provenance")
            continue
        notes += [where + note for note in translated.notes]
        if translated.event is not None:
            events.append(translated.event)
    if problems:
        raise ProvenanceRejected(problems)
    return events, notes


# Envelopes ------------------------------------------------------------------------------------------

def _unwrap(reader: _Reader, data: Json) -> tuple[Literal["statement", "dsse", "sigstore-bundle"], Json | None]:
    if "_type" in data:
        return "statement", data
    media = data.get("mediaType")
    if "dsseEnvelope" in data or (isinstance(media, str) and media.startswith(BUNDLE_MEDIA_PREFIX)):
        if "dsseEnvelope" not in data and "messageSignature" in data:
            reader.problem("messageSignature", "this Sigstore bundle signs a file, not an attestation; expected a "
                                               "bundle with dsseEnvelope (e.g. from actions/attest-build-provenance)")
            return "sigstore-bundle", None
        envelope = reader.obj(data, "dsseEnvelope", "dsseEnvelope", required=True)
        statement = _open_envelope(reader, envelope, "dsseEnvelope.") if envelope is not None else None
        return "sigstore-bundle", statement
    if "payloadType" in data or "payload" in data:
        return "dsse", _open_envelope(reader, data, "")
    reader.problem("_type", "required: expected an in-toto statement (_type, subject, predicateType, predicate), "
                            "a DSSE envelope (payloadType, payload, signatures) or a Sigstore bundle (dsseEnvelope)")
    return "statement", None


def _open_envelope(reader: _Reader, envelope: Json, at: str) -> Json | None:
    """The statement inside a DSSE envelope; problems inside it are named ``<at>payload.<field>``."""
    payload_type = envelope.get("payloadType")
    if payload_type != DSSE_PAYLOAD_TYPE:
        reader.problem(f"{at}payloadType", f"expected {DSSE_PAYLOAD_TYPE!r} (an in-toto attestation), "
                                           f"got {json.dumps(payload_type)}")
    signatures = envelope.get("signatures")
    if signatures is not None and not isinstance(signatures, list):
        reader.problem(f"{at}signatures", f"expected an array of signatures, got {_type(signatures)}")
    count = len(signatures) if isinstance(signatures, list) else 0
    where = at.rstrip(".") or "envelope"
    reader.notes.append(f"{where}: {count} signature(s), not verified (edges carry verified: false)" if count
                        else f"{where}: unsigned (edges carry verified: false)")
    payload = envelope.get("payload")
    if not isinstance(payload, str) or not payload.strip():
        reader.problem(f"{at}payload", f"required, the base64-encoded statement, got {_type(payload)}")
        return None
    try:
        # DSSE allows standard or URL-safe base64, with or without padding.
        text = payload.strip().replace("-", "+").replace("_", "/")
        decoded = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        reader.problem(f"{at}payload", f"not valid base64 ({exc})")
        return None
    try:
        statement = json.loads(decoded)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reader.problem(f"{at}payload", f"the decoded payload is not a JSON statement ({type(exc).__name__})")
        return None
    if not isinstance(statement, dict):
        reader.problem(f"{at}payload", f"the decoded payload is {_type(statement)}, expected a statement object")
        return None
    reader.prefix = f"{at}payload."
    return statement


# The statement --------------------------------------------------------------------------------------

@dataclass
class _Build:
    """What a predicate says about one build, whatever its SLSA version."""

    builder_id: str | None = None
    invocation_id: str | None = None
    # Where those two were read, to name them in a problem.
    builder_at: str = "predicate.runDetails.builder.id"
    invocation_at: str = "predicate.runDetails.metadata.invocationId"
    github_run: tuple[str, str | None] | None = None  # (run id, attempt) from v0.2's environment
    source_repo: str | None = None  # the repository whose workflow ran, for a run URL v0.2 does not give
    commits: list[tuple[Json, str | None]] = field(default_factory=list)  # commit node, ref
    props: Json = field(default_factory=dict)
    time: datetime | None = None


def _statement(reader: _Reader, data: Json, received_at: datetime) -> Json | None:
    statement_type = data.get("_type")
    if statement_type not in STATEMENT_TYPES:
        reader.problem("_type", f"expected one of {', '.join(map(repr, STATEMENT_TYPES))}, "
                                f"got {json.dumps(statement_type)}")
    images = _subjects(reader, data)
    predicate_type = reader.text(data, "predicateType")
    if predicate_type is None:
        reader.raise_problems()  # without it the predicate cannot be read
    if predicate_type not in (SLSA_V1, SLSA_V02):
        reader.raise_problems()
        reader.notes.append(f"predicateType {predicate_type!r} is not SLSA build provenance ({SLSA_V1} or "
                            f"{SLSA_V02}); nothing was mapped")
        return None
    predicate = reader.obj(data, "predicate", "predicate", required=True)
    build = _Build()
    if predicate is not None:
        (_slsa_v1 if predicate_type == SLSA_V1 else _slsa_v02)(reader, predicate, build)
    run = _run(reader, build)
    reader.raise_problems()

    commits: dict[str, tuple[Json, str | None]] = {}
    for commit, ref in build.commits:  # configSource and materials often name the same commit
        commits.setdefault(json.dumps(commit["key"], sort_keys=True), (commit, ref))
    nodes = [*images, *([run] if run else []), *(commit for commit, _ in commits.values())]
    if not nodes:
        reader.notes.append("no sha256 subject, run or git commit to map; nothing was recorded")
        return None
    base: Json = {"verified": False, "predicate_type": predicate_type}
    edges = []
    for image in images:
        edges += [_edge(image, commit, "built_from", base, ref) for commit, ref in commits.values()]
        if run is not None:
            edges.append(_edge(image, run, "built_by", base, None))
    if run is not None:
        edges += [_edge(run, commit, "at_commit", base, ref) for commit, ref in commits.values()]
    if len(nodes) > MAX_FACTS_PER_EVENT or len(edges) > MAX_FACTS_PER_EVENT:
        raise ProvenanceRejected([f"subject: {len(nodes)} nodes and {len(edges)} edges; at most "
                                  f"{MAX_FACTS_PER_EVENT} of each per statement"])
    if build.time is None:
        reader.notes.append("the statement records no build time; recorded at the time it was received")
    time = build.time or received_at
    return {"schema": SCHEMA_VERSION, "id": f"slsa-{_content_hash(data)}", "time": time.isoformat(),
            "source": SOURCE, "nodes": nodes, "edges": edges}


def _subjects(reader: _Reader, data: Json) -> list[Json]:
    items = data.get("subject")
    if not isinstance(items, list) or not items:
        reader.problem("subject", f"required, a non-empty array of {{name, digest}}, got {_type(items)}")
        return []
    images: dict[str, Json] = {}
    for index, item in enumerate(items):
        at = f"subject[{index}]"
        if not isinstance(item, dict):
            reader.problem(at, f"expected an object with name and digest, got {_type(item)}")
            continue
        name = reader.text(item, f"{at}.name", required=False)
        digests = _digests(reader, item, at, required=True)
        if digests is None:
            continue
        if "sha256" not in digests:
            reader.notes.append(f"{at} ({name}): no sha256 digest ({', '.join(digests) or 'none'}); not mapped")
            continue
        try:
            digest = canonical.digest("sha256:" + digests["sha256"])
        except InvalidValue:
            reader.problem(f"{at}.digest.sha256", f"expected 64 hexadecimal characters, got {digests['sha256']!r}")
            continue
        image = images.setdefault(digest, {"kind": "image", "key": {"digest": digest}, "props": {}, "aliases": []})
        if name is not None and (alias := _alias(reader, name, digest, at)) and alias not in image["aliases"]:
            image["aliases"].append(alias)
    return list(images.values())


def _alias(reader: _Reader, name: str, digest: str, at: str) -> str | None:
    """The subject name as an image reference, when it names one in a registry (``ghcr.io/org/api``)."""
    first = name.partition("/")[0]
    if "/" not in name or not ("." in first or ":" in first or first == "localhost"):
        if name != "_":  # "_" is in-toto's "no name"
            reader.notes.append(f"{at}.name: {name!r} is not a registry image reference; recorded by digest only")
        return None
    try:
        reference = canonical.image_reference(name)
    except InvalidValue:
        reader.notes.append(f"{at}.name: {name!r} is not a valid image reference; recorded by digest only")
        return None
    if reference.digest not in (None, digest):
        reader.notes.append(f"{at}.name: names digest {reference.digest}, not the subject's; no alias")
        return None
    alias = str(canonical.ImageReference(reference.registry, reference.repository, reference.tag))
    return alias if len(alias) <= _MAX_ALIAS_CHARS else None


def _slsa_v1(reader: _Reader, predicate: Json, build: _Build) -> None:
    at = "predicate.buildDefinition"
    definition = reader.obj(predicate, "buildDefinition", at, required=True)
    details = reader.obj(predicate, "runDetails", "predicate.runDetails", required=True)
    if definition is not None:
        if build_type := reader.text(definition, f"{at}.buildType"):
            build.props["build_type"] = build_type
        external = reader.obj(definition, "externalParameters", f"{at}.externalParameters", required=True)
        if external is not None:
            _external_props(reader, external, build.props)
        internal = reader.obj(definition, "internalParameters", f"{at}.internalParameters")
        github = internal.get("github") if internal is not None else None
        for event_name in ((github or {}).get("event_name") if isinstance(github, dict) else None,
                           internal.get("GITHUB_EVENT_NAME") if internal is not None else None):
            if isinstance(event_name, str) and event_name:
                build.props["trigger"] = event_name
        build.commits += _dependencies(reader, definition.get("resolvedDependencies"), f"{at}.resolvedDependencies")
    if details is not None:
        builder = reader.obj(details, "builder", "predicate.runDetails.builder", required=True)
        build.builder_id = reader.text(builder, "predicate.runDetails.builder.id") if builder is not None else None
        metadata = reader.obj(details, "metadata", "predicate.runDetails.metadata")
        if metadata is not None:
            build.invocation_id = reader.text(metadata, "predicate.runDetails.metadata.invocationId", required=False)
            _times(reader, metadata, "predicate.runDetails.metadata", "startedOn", "finishedOn", build)


def _slsa_v02(reader: _Reader, predicate: Json, build: _Build) -> None:
    builder = reader.obj(predicate, "builder", "predicate.builder", required=True)
    build.builder_at = "predicate.builder.id"
    build.builder_id = reader.text(builder, build.builder_at) if builder is not None else None
    if build_type := reader.text(predicate, "predicate.buildType"):
        build.props["build_type"] = build_type
    invocation = reader.obj(predicate, "invocation", "predicate.invocation")
    config_commits: list[tuple[Json, str | None]] = []
    if invocation is not None:
        source = reader.obj(invocation, "configSource", "predicate.invocation.configSource")
        if source is not None:
            if entry_point := reader.text(source, "predicate.invocation.configSource.entryPoint", required=False):
                build.props["workflow_path"] = entry_point
            if "uri" in source or "digest" in source:
                config = _dependencies(reader, [source], "predicate.invocation.configSource", single=True)
                build.source_repo = config[0][0]["key"]["repo"] if config else None
                # After materials: they are the build's inputs, and name the ref more exactly.
                config_commits = config
        parameters = reader.obj(invocation, "parameters", "predicate.invocation.parameters")
        if parameters:
            build.props["inputs"] = parameters
        environment = reader.obj(invocation, "environment", "predicate.invocation.environment") or {}
        if isinstance(event := environment.get("github_event_name"), str) and event:
            build.props["trigger"] = event
        run_id, attempt = environment.get("github_run_id"), environment.get("github_run_attempt")
        if isinstance(run_id, str | int) and str(run_id).isdigit():
            build.github_run = (str(run_id), str(attempt) if isinstance(attempt, str | int) else None)
    metadata = reader.obj(predicate, "metadata", "predicate.metadata")
    if metadata is not None:
        # The v0.2 spec spells it buildInvocationId; in-toto-golang (so slsa-github-generator) buildInvocationID.
        for spelling in ("buildInvocationId", "buildInvocationID"):
            if spelling in metadata:
                build.invocation_at = f"predicate.metadata.{spelling}"
                build.invocation_id = reader.text(metadata, build.invocation_at, required=False)
        _times(reader, metadata, "predicate.metadata", "buildStartedOn", "buildFinishedOn", build)
    build.commits += _dependencies(reader, predicate.get("materials"), "predicate.materials") + config_commits


def _external_props(reader: _Reader, external: Json, props: Json) -> None:
    """The workflow and its inputs as run props; other parameters kept whole when they are small."""
    rest = dict(external)
    workflow = rest.pop("workflow", None)
    if isinstance(workflow, dict):
        for theirs in ("ref", "repository", "path"):
            if isinstance(value := workflow.get(theirs), str) and value:
                props[f"workflow_{theirs}"] = value
    elif workflow is not None:
        rest["workflow"] = workflow
    inputs = rest.pop("inputs", None)
    if isinstance(inputs, dict) and inputs:
        props["inputs"] = inputs
    elif inputs:
        rest["inputs"] = inputs
    if rest:
        if len(json.dumps(rest, default=str)) <= _MAX_EXTERNAL_CHARS:
            props["external_parameters"] = rest
        else:
            reader.notes.append(f"predicate.buildDefinition.externalParameters: {sorted(rest)} larger than "
                                f"{_MAX_EXTERNAL_CHARS} characters; not kept on the run")


def _times(reader: _Reader, metadata: Json, at: str, started: str, finished: str, build: _Build) -> None:
    for theirs, ours in ((started, "started_at"), (finished, "finished_at")):
        text = reader.text(metadata, f"{at}.{theirs}", required=False)
        if text is None:
            continue
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            reader.problem(f"{at}.{theirs}", f"expected an RFC 3339 time like '2026-11-10T14:50:00Z', got {text!r}")
            continue
        if moment.tzinfo is None:
            # The store keeps the newest report of a property by this time; guessing a zone could reorder.
            reader.problem(f"{at}.{theirs}", f"needs a UTC offset (e.g. 'Z'), got {text!r}")
            continue
        build.props[ours] = moment.isoformat()
        build.time = moment  # finished is read last, so it wins when both are there


# Dependencies, commits and the run ------------------------------------------------------------------

def _dependencies(reader: _Reader, items: object, at: str, *, single: bool = False) -> list[tuple[Json, str | None]]:
    if items is None:
        return []
    if not isinstance(items, list):
        reader.problem(at, f"expected an array of resource descriptors, got {_type(items)}")
        return []
    found, skipped = [], 0
    for index, item in enumerate(items):
        commit = _git_dependency(reader, item, at if single else f"{at}[{index}]")
        if commit is None:
            skipped += 1
        else:
            found.append(commit)
    if skipped and not single:
        reader.notes.append(f"{at}: {skipped} of {len(items)} entries name no git commit (base images, tools, "
                            f"files) and were not mapped")
    return found


def _git_dependency(reader: _Reader, item: object, at: str) -> tuple[Json, str | None] | None:
    if not isinstance(item, dict):
        reader.problem(at, f"expected a resource descriptor object (uri, digest), got {_type(item)}")
        return None
    uri = reader.text(item, f"{at}.uri", required=False)
    digests = _digests(reader, item, at, required=False) or {}
    if not ((uri or "").startswith("git+") or "gitCommit" in digests):
        return None
    algorithm = "gitCommit" if "gitCommit" in digests else "sha1" if "sha1" in digests else None
    if algorithm is None:
        reader.notes.append(f"{at}: git dependency {uri} has no gitCommit or sha1 digest; no commit recorded")
        return None
    if _HEX64.fullmatch(digests[algorithm]):
        reader.notes.append(f"{at}.digest.{algorithm}: a SHA-256 git object id; only SHA-1 repositories are mapped")
        return None
    try:
        sha = canonical.git_sha(digests[algorithm])
    except InvalidValue as exc:
        reader.problem(f"{at}.digest.{algorithm}", str(exc))
        return None
    if uri is None:
        reader.notes.append(f"{at}: commit {sha[:7]} has no uri naming its repository; not mapped")
        return None
    try:
        repo, ref = _git_uri(uri)
    except InvalidValue as exc:
        reader.notes.append(f"{at}.uri: {exc}; commit {sha[:7]} not mapped")
        return None
    return {"kind": "commit", "key": {"repo": repo, "sha": sha}, "props": {}}, ref


def _git_uri(uri: str) -> tuple[str, str | None]:
    """``git+https://github.com/org/repo@refs/heads/main`` → (``https://github.com/org/repo``, the ref)."""
    text = uri.strip().removeprefix("git+")
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    if parts is None or not parts.scheme or not parts.netloc:
        raise InvalidValue(f"expected a git URI like 'git+https://github.com/org/repo@refs/heads/main', got {uri!r}")
    # The ref follows the first @ of the path (userinfo's @ is in the netloc).
    path, _, ref = parts.path.partition("@")
    # slsa-github-generator's container workflow writes configSource as …@refs/heads/main.git.
    ref = ref.removesuffix(".git")
    return canonical.repo_url(f"{parts.scheme}://{parts.netloc}{path}"), ref or None


def _run(reader: _Reader, build: _Build) -> Json | None:
    if build.builder_id is None:
        return None  # reported where it was read
    system = _builder_system(build.builder_id)
    props: Json = {"builder_id": build.builder_id, **build.props}
    run_id = build.invocation_id
    if system == "github-actions":
        invocation = build.invocation_id or ""
        attempt: str | None = None
        if url := _GITHUB_RUN_URL.fullmatch(invocation):
            run_id, attempt = url["run"], url["attempt"]
            props.update(url=url["url"], repository=url["repo"])
        elif build.github_run is not None:
            run_id, attempt = build.github_run
        elif pair := _GITHUB_INVOCATION.fullmatch(invocation):
            run_id, attempt = pair["run"], pair["attempt"]
        elif invocation:
            reader.notes.append(f"invocation id {invocation!r} is not a GitHub Actions run URL; kept as the run id, "
                                f"so it will not meet the run GitHub reports")
        if attempt and attempt.isdigit():
            props["attempt"] = int(attempt)
        if "url" not in props and run_id and run_id.isdigit() and build.source_repo:
            props.update(url=f"{build.source_repo}/actions/runs/{run_id}",
                         repository=build.source_repo.partition("://")[2].partition("/")[2])
    if not run_id:
        reader.notes.append("no invocation id: the build's run is unknown; the image is linked to its commits only")
        return None
    key_system = reader.key_field(NodeKind.RUN, "system", system, build.builder_at)
    key_id = reader.key_field(NodeKind.RUN, "id", run_id, build.invocation_at)
    if key_system is None or key_id is None:
        return None
    return {"kind": "run", "key": {"system": key_system, "id": key_id}, "props": props}


def _builder_system(builder_id: str) -> str:
    """``github-actions`` for GitHub's builders, else the builder's host, else the id made name-safe."""
    try:
        parts = urlsplit(builder_id.strip())
        host = (parts.hostname or "").lower()
    except ValueError:
        parts, host = None, ""
    if parts is not None and host:
        path = parts.path
        if host == "github.com" or "/.github/workflows/" in path or path.startswith("/actions/runner"):
            return "github-actions"
        return host
    # Not a URL (``mailto:builder@example.com``): a name without spaces or separators.
    return re.sub(r"[^a-z0-9._-]+", "-", builder_id.lower()).strip("-.")[:128] or "unknown-builder"


def _digests(reader: _Reader, item: Json, at: str, *, required: bool) -> dict[str, str] | None:
    """A ``digest`` object: algorithm → hex string, each value checked to be a string."""
    value = item.get("digest")
    if value is None:
        if required:
            reader.problem(f"{at}.digest", 'required, an object like {"sha256": "<64 hex>"}')
        return None
    if not isinstance(value, dict):
        reader.problem(f"{at}.digest", f'expected an object like {{"sha256": "<64 hex>"}}, got {_type(value)}')
        return None
    digests: dict[str, str] = {}
    for algorithm, hex_value in value.items():
        if not isinstance(hex_value, str) or not hex_value.strip():
            reader.problem(f"{at}.digest.{algorithm}", f"expected a hexadecimal string, got {_type(hex_value)}")
        else:
            digests[algorithm] = hex_value.strip()
    return digests


def _edge(source: Json, target: Json, kind: str, props: Json, ref: str | None) -> Json:
    return {"source": {"kind": source["kind"], "key": source["key"]},
            "target": {"kind": target["kind"], "key": target["key"]}, "kind": kind, "evidence": EVIDENCE,
            "props": {**props, **({"ref": ref} if ref else {})}}


def _content_hash(data: Json) -> str:
    # Sorted keys: the same statement is the same text however its producer ordered it.
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


class _Reader(FieldReader):
    """Reads a provenance document, collecting every problem instead of stopping at the first."""

    rejection = ProvenanceRejected
