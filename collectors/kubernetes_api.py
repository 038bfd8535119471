"""The Kubernetes API through the official client, as the Kubernetes collector reads it.

Imported only inside ``KubernetesCollector.collect``: this module imports ``kubernetes``.

The client does the connecting: a kubeconfig (file, context, token, client certificate, exec
plugins) or the in-cluster service account, TLS, and errors as ``ApiException``. Lists are read
with ``_preload_content=False`` and parsed as the JSON the API server sent (``apps/v1``
``DeploymentList``/``ReplicaSetList``, ``v1`` ``PodList``, camelCase as documented), in chunks of
``limit`` items followed by ``metadata.continue``, so a large namespace is never one huge answer.
``kubernetes.config`` has no type hints: it is reached through ``Any``, here only.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client as k8s

Json = dict[str, Any]


class KubeError(Exception):
    """A request that failed: ``status`` (None when the API server was not reached) and its message."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(f"{status} {message}" if status else message)
        self.status, self.message = status, message


@dataclass
class Connection:
    api: k8s.ApiClient
    cluster: str | None  # the kubeconfig context's cluster name; None in-cluster
    where: str  # for messages: the kubeconfig and context, or "in-cluster"

    def close(self) -> None:
        api: Any = self.api  # ApiClient.close has no type hints
        api.close()


def in_cluster() -> bool:
    """Whether this process runs in a pod (the service account's API address is in the environment)."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def connect(kubeconfig: Path | None, context: str | None) -> Connection:
    """A client from the kubeconfig (default: ``$KUBECONFIG`` or ``~/.kube/config``) or, in a pod, in-cluster."""
    config: Any = importlib.import_module("kubernetes.config")  # untyped: the one Any boundary
    try:
        if kubeconfig is None and context is None and in_cluster():
            configuration = _configuration()
            config.load_incluster_config(client_configuration=configuration)
            return Connection(k8s.ApiClient(configuration), None, "in-cluster")
        path = str(kubeconfig.expanduser()) if kubeconfig else None
        contexts, active = config.list_kube_config_contexts(config_file=path)
        chosen = next((c for c in contexts if c.get("name") == context), None) if context else active
        if chosen is None:
            names = ", ".join(sorted(str(c.get("name")) for c in contexts))
            raise KubeError(None, f"no context {context!r} in {path or 'the kubeconfig'} (contexts: {names})")
        configuration = _configuration()
        # persist_config=False: refreshed auth-provider tokens are not written back into the kubeconfig.
        api: k8s.ApiClient = config.new_client_from_config(config_file=path, context=chosen["name"],
                                                           persist_config=False, client_configuration=configuration)
        cluster = (chosen.get("context") or {}).get("cluster")
        return Connection(api, str(cluster) if cluster else None, f"{path or 'kubeconfig'} context {chosen['name']}")
    except config.ConfigException as exc:
        raise KubeError(None, f"cannot load the Kubernetes configuration: {exc}") from None
    except OSError as exc:
        raise KubeError(None, f"cannot read the kubeconfig: {exc.strerror}: {exc.filename}") from None


def _configuration() -> k8s.Configuration:
    configuration = k8s.Configuration()
    # Read when the connection pool is built: one retry of a dropped connection, so that a cluster
    # that is down fails the run in seconds rather than after urllib3's default three.
    configuration.retries = 1
    return configuration


class Reader:
    """The three lists the collector needs, per namespace or across all of them."""

    def __init__(self, connection: Connection, timeout: int, chunk: int) -> None:
        self.apps, self.core = k8s.AppsV1Api(connection.api), k8s.CoreV1Api(connection.api)
        self.timeout, self.chunk, self.host = timeout, chunk, connection.api.configuration.host

    def deployments(self, namespace: str | None, selector: str | None) -> list[Json]:
        if namespace is None:
            return self._list(self.apps.list_deployment_for_all_namespaces, selector)
        return self._list(self.apps.list_namespaced_deployment, selector, namespace)

    def replica_sets(self, namespace: str | None) -> list[Json]:
        if namespace is None:
            return self._list(self.apps.list_replica_set_for_all_namespaces, None)
        return self._list(self.apps.list_namespaced_replica_set, None, namespace)

    def pods(self, namespace: str | None) -> list[Json]:
        if namespace is None:
            return self._list(self.core.list_pod_for_all_namespaces, None)
        return self._list(self.core.list_namespaced_pod, None, namespace)

    def _list(self, call: Callable[..., Any], selector: str | None, *args: str) -> list[Json]:
        items: list[Json] = []
        token: str | None = None
        while True:
            try:
                # The generated methods are annotated with the model they deserialize to; with
                # _preload_content=False they return the raw urllib3 response instead.
                response: Any = call(*args, label_selector=selector, limit=self.chunk, _continue=token,
                                     _preload_content=False, _request_timeout=self.timeout)
                data = json.loads(response.data)
            except k8s.ApiException as exc:
                raise KubeError(exc.status, _status_message(exc)) from None
            except urllib3.exceptions.HTTPError as exc:
                raise KubeError(None, f"cannot reach the API server at {self.host}: {type(exc).__name__}") from None
            except ValueError:
                raise KubeError(None, f"the API server at {self.host} did not answer JSON") from None
            items += [item for item in data.get("items") or [] if isinstance(item, dict)]
            token = (data.get("metadata") or {}).get("continue") or None
            if not token:
                return items


def _status_message(exc: k8s.ApiException) -> str:
    """The ``message`` of the ``Status`` object the API server answers errors with."""
    try:
        status = json.loads(exc.body or "")
    except ValueError:
        status = None
    if isinstance(status, dict) and isinstance(status.get("message"), str):
        return str(status["message"])[:300]
    return str(exc.reason or "no message")
