"""Azure ML online and batch deployments → ``deployment`` nodes: pure functions of SDK entities.

A deployment node is keyed ``{platform: azureml-online | azureml-batch, cluster: <workspace>,
namespace: <endpoint>, name: <deployment>, revision}``. Azure ML keeps no revision number for a
deployment, so **the revision is a hash of what decides what runs**: the model reference, the
environment (reference or image), the code configuration, the instance type (online) or compute
(batch) and the environment variables, 12 hex characters. Updating any of these is a new revision;
scaling (instance count) or a traffic change is not, as a ReplicaSet keeps its revision across
scaling. Hashing rather than using the provisioning time also means reading the same deployment
twice gives the same node.

Links: ``serves_model`` → ``model`` (observed, from the deployment's model reference),
``runs_image`` → ``image`` when the environment's image is pinned by digest (an alias records the
reference; a tag alone cannot name an image node, so it stays in the ``image`` prop), and, when
the deployment sets ``API_VERSION`` in its environment variables, ``api {service: <endpoint>,
version}`` ``served_by`` → it (declared, as on Kubernetes). Only lineage-relevant environment
variables (``*_VERSION``, ``*_SHA``, ``MODEL_NAME``…) are kept, never the others, which may hold
secrets. A revision that was replaced or removed is reported again with ``active_to``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from collectors.azureml_refs import asset_ref, image_digest
from collectors.azureml_values import EventBuilder, Mapped, Workspace, context_time, plain

Json = dict[str, Any]
ONLINE, BATCH = "azureml-online", "azureml-batch"
ANONYMOUS_ENVIRONMENT = "CliV2AnonymousEnvironment"  # what the SDK names an environment given inline
# Environment variables worth keeping: they name versions, not secrets.
_LINEAGE_ENV = re.compile(r"(^|_)(VERSION|SHA|COMMIT|REVISION|MODEL|MODEL_NAME)$")


@dataclass(frozen=True)
class DeploymentState:
    """What the cursor remembers of a live revision, to report its end when it is replaced."""

    key: Json
    active_from: str | None
    api: Json | None  # the api key it served, if any

    def as_dict(self) -> Json:
        return {"key": self.key, "active_from": self.active_from, "api": self.api}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeploymentState:
        return cls(dict(data["key"]), data.get("active_from"), data.get("api"))


def reference(value: object) -> str | None:
    """A model or environment reference as ``name:version``, or its text; inline entities by name/version."""
    if value is None:
        return None
    if isinstance(value, str):
        ref = asset_ref(value)
        return str(ref) if ref else value
    name, version = getattr(value, "name", None), getattr(value, "version", None)
    image = getattr(value, "image", None)
    if name and name != ANONYMOUS_ENVIRONMENT:
        return f"{name}:{version}" if version else str(name)
    # An inline environment is registered under a generated name and hash: its image says more.
    return str(image) if image else None


def _asset(environment: object) -> str | None:
    """The environment asset a deployment names (``taxi-train-env:2``); None when given inline by image."""
    text = reference(environment)
    return text if text and text != inline_image(environment) else None


def inline_image(environment: object) -> str | None:
    """The image of an environment given inline in the deployment (not by reference)."""
    image = getattr(environment, "image", None) if not isinstance(environment, str) else None
    return image if isinstance(image, str) and image else None


def revision(deployment: object, image: str | None) -> str:
    code = getattr(deployment, "code_configuration", None)
    fingerprint = {
        "model": reference(getattr(deployment, "model", None)),
        "environment": reference(getattr(deployment, "environment", None)), "image": image,
        "code": reference(getattr(code, "code", None)), "scoring_script": getattr(code, "scoring_script", None),
        "instance_type": getattr(deployment, "instance_type", None), "compute": getattr(deployment, "compute", None),
        "env": dict(sorted((getattr(deployment, "environment_variables", None) or {}).items())),
    }
    text = json.dumps(fingerprint, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def deployment_key(platform: str, workspace: Workspace, endpoint: str, name: str, rev: str) -> Json:
    return {"platform": platform, "cluster": workspace.name, "namespace": endpoint, "name": name, "revision": rev}


def deployment_event(endpoint: object, deployment: object, *, platform: str, workspace: Workspace,
                     image: str | None, time: str) -> tuple[Mapped, DeploymentState]:
    """One deployment revision, live; and what the cursor keeps to end it later."""
    builder = EventBuilder(workspace)
    endpoint_name, name = str(getattr(endpoint, "name", "")), str(getattr(deployment, "name", ""))
    rev = revision(deployment, image)
    env = getattr(deployment, "environment_variables", None) or {}
    active_from = context_time(deployment, "last_modified_at") or context_time(deployment, "created_at")
    traffic = getattr(endpoint, "traffic", None) or {}
    model_text = reference(getattr(deployment, "model", None))
    props = {
        "endpoint": endpoint_name, "workspace": workspace.name, "active_from": active_from,
        "provisioning_state": getattr(deployment, "provisioning_state", None),
        "model": model_text, "environment_asset": _asset(getattr(deployment, "environment", None)),
        "image": image, "instance_type": getattr(deployment, "instance_type", None),
        "instance_count": getattr(deployment, "instance_count", None) or getattr(
            getattr(deployment, "resources", None), "instance_count", None),
        "compute": getattr(deployment, "compute", None),
        "traffic": traffic.get(name) if isinstance(traffic, Mapping) else None,
        "scoring_uri": getattr(endpoint, "scoring_uri", None), "tags": plain(getattr(deployment, "tags", None)),
        "env": {k: str(v) for k, v in sorted(env.items()) if _LINEAGE_ENV.search(str(k))} or None,
    }
    key = deployment_key(platform, workspace, endpoint_name, name, rev)
    node = builder.node("deployment", key, props)
    warnings = []
    model = asset_ref(model_text) if model_text else None
    if model and model.version:
        target = builder.node("model", {"name": model.name, "version": model.version})
        builder.edge(node, target, "serves_model", valid_from=active_from)
    elif model_text:
        warnings.append(f"deployment {endpoint_name}/{name}: model {model_text} names no version")
    digest = image_digest(image)
    if digest and image:
        builder.edge(node, builder.node("image", {"digest": digest}, aliases=[image]), "runs_image",
                     valid_from=active_from)
    api = None
    if env.get("API_VERSION"):
        api = {"service": endpoint_name, "version": str(env["API_VERSION"])}
        builder.edge(builder.node("api", api), node, "served_by", evidence="declared", valid_from=active_from,
                     env_var="API_VERSION")
    mapped = Mapped(builder.build(platform, f"{endpoint_name}-{name}-{rev}", time), warnings)
    return mapped, DeploymentState(key, active_from, api)


def ended_event(state: DeploymentState, ended: str, workspace: Workspace, time: str) -> Mapped:
    """A revision that is no longer live (replaced by another, or deleted) gets its ``active_to``."""
    builder = EventBuilder(workspace)
    node = builder.node("deployment", state.key, {"active_to": ended})
    if state.api:
        builder.edge(builder.node("api", state.api), node, "served_by", evidence="declared",
                     valid_from=state.active_from, valid_to=ended, env_var="API_VERSION")
    key = state.key
    return Mapped(builder.build(f"{key['platform']}-ended", f"{key['namespace']}-{key['name']}-{key['revision']}",
                                time))
