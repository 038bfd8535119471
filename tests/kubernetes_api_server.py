"""A local stand-in for a Kubernetes API server, serving ``tests/fixtures/kubernetes-api`` as lists.

What it does as an API server does (see ``tests/fixtures/kubernetes-api/SOURCES.md``):

- ``GET /apis/apps/v1/namespaces/{ns}/deployments`` and ``…/replicasets``, ``GET /api/v1/namespaces/
  {ns}/pods``, and their cluster-wide forms (``/apis/apps/v1/deployments``…), answered with a
  ``DeploymentList``/``ReplicaSetList``/``PodList`` (``metadata.resourceVersion``, ``items``); a
  namespace without objects is an empty list, as a namespace that does not exist is;
- ``labelSelector`` (equality terms, ``k=v,k2=v2``), and ``limit`` with ``metadata.continue`` and
  ``remainingItemCount`` for chunked lists;
- bearer tokens: another token is ``401`` with a ``Status``; a namespace in ``forbidden`` is ``403``
  with the ``Status`` RBAC gives (``… cannot list resource "deployments" … in the namespace …``).

Tests change ``data`` (a new ReplicaSet, pods of a rollout) between runs.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from tests.fixture_http import Request, Response

FIXTURES = Path(__file__).parent / "fixtures" / "kubernetes-api"
KINDS = {"deployments": ("apps/v1", "DeploymentList"), "replicasets": ("apps/v1", "ReplicaSetList"),
         "pods": ("v1", "PodList")}
_NAMESPACED = re.compile(r"/(?:apis/apps/v1|api/v1)/namespaces/([^/]+)/(deployments|replicasets|pods)")
_CLUSTER = re.compile(r"/(?:apis/apps/v1|api/v1)/(deployments|replicasets|pods)")


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


class FakeKubernetes:
    def __init__(self, token: str) -> None:
        self.token = token
        self.data: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for path in sorted(FIXTURES.glob("*/*.json")):
            if path.parent.name != "errors":
                listing = json.loads(path.read_text(encoding="utf-8"))
                self.data[(path.parent.name, path.stem)] = listing["items"]
        self.forbidden = {"locked"}
        self.cluster_wide_forbidden = False
        self.resource_version = 48213377

    def handle(self, request: Request, base: str) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Response(401, status(401, "Unauthorized", "Unauthorized"))
        if match := _NAMESPACED.fullmatch(request.path):
            namespace, kind = match.groups()
            if namespace in self.forbidden:
                return Response(403, self._forbidden(kind, namespace))
            items = self.data.get((namespace, kind), [])
        elif match := _CLUSTER.fullmatch(request.path):
            kind = match.group(1)
            if self.cluster_wide_forbidden:
                return Response(403, self._forbidden(kind, None))
            items = [item for (_, each), listed in sorted(self.data.items()) if each == kind for item in listed]
        else:
            return Response(404, status(404, "NotFound", "the server could not find the requested resource"))
        items = [item for item in copy.deepcopy(items) if _selected(item, request.query.get("labelSelector"))]
        start = int(request.query.get("continue") or 0)
        limit = int(request.query.get("limit") or 0) or len(items) or 1
        chunk, rest = items[start:start + limit], items[start + limit:]
        api_version, list_kind = KINDS[kind]
        metadata: dict[str, Any] = {"resourceVersion": str(self.resource_version)}
        if rest:  # an opaque token to the client; here, where the next chunk starts
            metadata.update({"continue": str(start + limit), "remainingItemCount": len(rest)})
        return Response(200, {"kind": list_kind, "apiVersion": api_version, "metadata": metadata, "items": chunk})

    @staticmethod
    def _forbidden(kind: str, namespace: str | None) -> dict[str, Any]:
        group = "" if kind == "pods" else ".apps"
        where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        return status(403, "Forbidden", f'{kind}{group} is forbidden: User "system:serviceaccount:lineage:collector" '
                                        f'cannot list resource "{kind}" in API group "{group.strip(".")}" {where}')


def _selected(item: dict[str, Any], selector: str | None) -> bool:
    labels = (item.get("metadata") or {}).get("labels") or {}
    return all(labels.get(key) == value for key, _, value in
               (term.partition("=") for term in (selector or "").split(",") if term))


def kubeconfig(path: Path, server: str, token: str, cluster: str = "aks-mlops-prod") -> Path:
    """A kubeconfig whose current context points at ``server`` with a bearer token."""
    path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: {cluster}
  cluster:
    server: {server}
- name: another-cluster
  cluster:
    server: {server}
contexts:
- name: {cluster}-collector
  context:
    cluster: {cluster}
    user: lineage-collector
- name: elsewhere
  context:
    cluster: another-cluster
    user: lineage-collector
current-context: {cluster}-collector
users:
- name: lineage-collector
  user:
    token: {token}
""", encoding="utf-8")
    return path
